const MOD_ADLER = 65521;
// Largest n such that 255n(n+1)/2 + (n+1)(MOD_ADLER-1) fits in 2^32 - 1: sums may be deferred that long.
const NMAX = 5552;

/** zlib's Adler-32 of `data[start, end)`, as an unsigned 32-bit number. */
export function adler32(data: Uint8Array, start = 0, end = data.length): number {
  let a = 1;
  let b = 0;
  let i = start;
  while (i < end) {
    const stop = Math.min(i + NMAX, end);
    for (; i < stop; i++) {
      a += data[i]!;
      b += a;
    }
    a %= MOD_ADLER;
    b %= MOD_ADLER;
  }
  return ((b << 16) | a) >>> 0;
}
