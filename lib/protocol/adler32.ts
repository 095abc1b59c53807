const MOD_ADLER = 65521;
// Largest n such that 255n(n+1)/2 + (n+1)(MOD_ADLER-1) fits in 2^32 - 1: sums may be deferred that long.
const NMAX = 5552;

/**
 * zlib's Adler-32 of `data[start, end)`, as an unsigned 32-bit number.
 *
 * Eight bytes per step: `b` gains 8a plus the bytes weighted 8..1, so the loop's dependency
 * chain is one add per eight bytes instead of two per byte. `| 0` keeps `b` in int32 registers;
 * it wraps modulo 2^32, which is exact because within NMAX bytes the true sum stays below 2^32
 * (read back with `>>> 0`). About twice as fast as the plain loop, which fell to float adds.
 */
export function adler32(data: Uint8Array, start = 0, end = data.length): number {
  let a = 1;
  let b = 0;
  let i = start;
  while (i < end) {
    const stop = Math.min(i + NMAX, end);
    for (const stop8 = stop - 7; i < stop8; i += 8) {
      const x0 = data[i]!;
      const x1 = data[i + 1]!;
      const x2 = data[i + 2]!;
      const x3 = data[i + 3]!;
      const x4 = data[i + 4]!;
      const x5 = data[i + 5]!;
      const x6 = data[i + 6]!;
      const x7 = data[i + 7]!;
      b = (b + (a << 3) + 8 * x0 + 7 * x1 + 6 * x2 + 5 * x3 + 4 * x4 + 3 * x5 + 2 * x6 + x7) | 0;
      a += x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7;
    }
    for (; i < stop; i++) {
      a += data[i]!;
      b = (b + a) | 0;
    }
    a %= MOD_ADLER;
    b = (b >>> 0) % MOD_ADLER;
  }
  return ((b << 16) | a) >>> 0;
}
