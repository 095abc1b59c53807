import { MIMCError, ErrorCode } from '../errors.js';

/** Runs the RC4 key schedule (KSA) of `key` into the 256-byte state `s`. */
function schedule(key: Uint8Array, s: Uint8Array): void {
  if (key.length === 0) throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'RC4 key must not be empty');
  for (let i = 0; i < 256; i++) s[i] = i;
  let j = 0;
  for (let i = 0, k = 0; i < 256; i++) {
    const si = s[i]!;
    j = (j + si + key[k]!) & 0xff;
    s[i] = s[j]!;
    s[j] = si;
    if (++k === key.length) k = 0;
  }
}

/** XORs `data` with the keystream (PRGA) of state `s` from counters `i`, `j`, consuming the state, into `out`. */
function crypt(s: Uint8Array, data: Uint8Array, out: Uint8Array, i = 0, j = 0): Uint8Array {
  for (let n = 0; n < data.length; n++) {
    i = (i + 1) & 0xff;
    const si = s[i]!;
    j = (j + si) & 0xff;
    const sj = s[j]!;
    s[i] = sj;
    s[j] = si;
    out[n] = data[n]! ^ s[(si + sj) & 0xff]!;
  }
  return out;
}

/** Most keystream bytes one `Rc4` keeps: bounds a connection's idle memory (64 KiB). */
export const RC4_KEYSTREAM_CAP = 64 * 1024;

/** XORs `data` with `stream` (at least as long) into `out`, four bytes at a time where the views are aligned. */
function xorInto(stream: Uint8Array, data: Uint8Array, out: Uint8Array): Uint8Array {
  const n = data.length;
  let k = 0;
  if (((data.byteOffset | out.byteOffset) & 3) === 0 && n >= 16) {
    const words = n >>> 2;
    const s32 = new Uint32Array(stream.buffer, stream.byteOffset, words);
    const d32 = new Uint32Array(data.buffer, data.byteOffset, words);
    const o32 = new Uint32Array(out.buffer, out.byteOffset, words);
    for (let w = 0; w < words; w++) o32[w] = d32[w]! ^ s32[w]!;
    k = words << 2;
  }
  for (; k < n; k++) out[k] = data[k]! ^ stream[k]!;
  return out;
}

/**
 * Textbook RC4 with no keystream discard, as the MIMC protocol uses it. Each call to
 * `apply` starts from the freshly scheduled state: there is no stream continuity between
 * frames, so every frame under one key is XOR-ed with the same keystream. That keystream is
 * generated once, grown on demand up to {@link RC4_KEYSTREAM_CAP} bytes, and reused; bytes
 * beyond the cap are generated per call from the state saved at the cap.
 */
export class Rc4 {
  /** Generator state positioned after the `generated` bytes of `stream`. */
  private readonly state = new Uint8Array(256);
  private i = 0;
  private j = 0;
  private stream: Uint8Array = new Uint8Array(0);
  private generated = 0;
  /** Scratch state for the bytes past the cap (allocated only if a frame needs it). */
  private overflow: Uint8Array | null = null;

  constructor(key: Uint8Array) {
    schedule(key, this.state);
  }

  /** Encrypts (or decrypts: it is the same) `data` into `out`, which may be `data` itself. */
  apply(data: Uint8Array, out: Uint8Array = new Uint8Array(data.length)): Uint8Array {
    const n = data.length;
    if (n > this.generated) this.extend(Math.min(n, RC4_KEYSTREAM_CAP));
    if (n <= this.generated) return xorInto(this.stream, data, out);
    xorInto(this.stream, data.subarray(0, this.generated), out);
    const s = (this.overflow ??= new Uint8Array(256));
    s.set(this.state);
    crypt(s, data.subarray(this.generated), out.subarray(this.generated), this.i, this.j);
    return out;
  }

  /** Generates keystream up to at least `needed` bytes (capacity doubles, never past the cap). */
  private extend(needed: number): void {
    if (needed > this.stream.length) {
      let size = Math.max(256, this.stream.length);
      while (size < needed) size *= 2;
      const grown = new Uint8Array(Math.min(size, RC4_KEYSTREAM_CAP));
      grown.set(this.stream.subarray(0, this.generated));
      this.stream = grown;
    }
    const s = this.state;
    let i = this.i;
    let j = this.j;
    const ks = this.stream;
    for (let n = this.generated; n < ks.length; n++) {
      i = (i + 1) & 0xff;
      const si = s[i]!;
      j = (j + si) & 0xff;
      const sj = s[j]!;
      s[i] = sj;
      s[j] = si;
      ks[n] = s[(si + sj) & 0xff]!;
    }
    this.i = i;
    this.j = j;
    this.generated = ks.length;
  }
}

/**
 * State for one-shot use. Sharing it is safe: a call runs to completion synchronously, and
 * every worker thread has its own copy of this module.
 */
const scratch = new Uint8Array(256);

/**
 * One-shot RC4 of `data` under `key`, into `out` (a new array by default; may be `data` itself).
 * For a key used once, such as a SECMSG payload key: nothing is allocated but the output.
 */
export function rc4(key: Uint8Array, data: Uint8Array, out: Uint8Array = new Uint8Array(data.length)): Uint8Array {
  schedule(key, scratch);
  return crypt(scratch, data, out);
}
