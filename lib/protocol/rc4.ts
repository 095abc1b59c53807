import { MIMCError, ErrorCode } from '../errors.js';
import { rc4ContinueWasm, rc4RangeWasm, WASM_RC4_MIN } from './rc4-wasm.js';

/** The 256-entry RC4 permutation; Int32Array runs the byte loops about 15 % faster than Uint8Array. */
type State = Int32Array;

/**
 * State for one-shot use. Sharing it is safe: a call runs to completion synchronously, and
 * every worker thread has its own copy of this module.
 */
const scratch: State = new Int32Array(256);
const IDENTITY: State = Int32Array.from({ length: 256 }, (_, i) => i);

/** Runs the RC4 key schedule (KSA) of `key[0, keyLength)` into the 256-byte state `s`. */
function schedule(key: Uint8Array, keyLength: number, s: State): void {
  if (keyLength === 0) throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'RC4 key must not be empty');
  s.set(IDENTITY); // a memcpy: faster than 256 stores
  let j = 0;
  for (let i = 0, k = 0; i < 256; i++) {
    const si = s[i]!;
    j = (j + si + key[k]!) & 0xff;
    s[i] = s[j]!;
    s[j] = si;
    if (++k === keyLength) k = 0;
  }
}

/**
 * XORs `src[srcStart, srcStart + length)` with the keystream (PRGA) of state `s` from counters
 * `i`, `j`, consuming the state, into `dst` from `dstStart` (which may be the same bytes).
 * Offsets rather than subarrays: a view costs more than the XOR of a small frame.
 */
function crypt(s: State, src: Uint8Array, srcStart: number, length: number, dst: Uint8Array, dstStart: number, i = 0, j = 0): void {
  for (let n = 0; n < length; n++) {
    i = (i + 1) & 0xff;
    const si = s[i]!;
    j = (j + si) & 0xff;
    const sj = s[j]!;
    s[i] = sj;
    s[j] = si;
    dst[dstStart + n] = src[srcStart + n]! ^ s[(si + sj) & 0xff]!;
  }
}

/** Most keystream bytes one `Rc4` keeps: bounds a connection's idle memory (64 KiB). */
export const RC4_KEYSTREAM_CAP = 64 * 1024;

/** From this many bytes on, XOR-ing words (through an aligned copy if need be) beats the byte loop. */
const WORD_XOR_MIN = 256;

/** Where an unaligned range is XOR-ed word by word; grown on demand up to the keystream cap. */
let alignedScratch = new Uint8Array(0);
let alignedScratch32 = new Uint32Array(0);
const NO_WORDS = new Uint32Array(0);

/**
 * XORs `src[srcStart, +length)` with `stream[0, length)` into `dst` from `dstStart`. Long ranges
 * go four bytes at a time: in place through word views when both ends are word-aligned, else
 * through an aligned scratch copy (two memcpy and a word loop still beat a byte loop).
 * `stream32` views `stream` (at least ceil(length / 4) words).
 */
function xorRange(stream: Uint8Array, stream32: Uint32Array, src: Uint8Array, srcStart: number, length: number, dst: Uint8Array, dstStart: number): void {
  if (length < WORD_XOR_MIN) return xorBytes(stream, src, srcStart, length, dst, dstStart);
  const srcAt = src.byteOffset + srcStart;
  const dstAt = dst.byteOffset + dstStart;
  const words = length >>> 2;
  if (((srcAt | dstAt) & 3) === 0) {
    const d32 = new Uint32Array(src.buffer, srcAt, words);
    const o32 = dst === src && dstStart === srcStart ? d32 : new Uint32Array(dst.buffer, dstAt, words);
    for (let w = 0; w < words; w++) o32[w] = d32[w]! ^ stream32[w]!;
    const done = words << 2;
    return xorBytesFrom(stream, done, src, srcStart + done, length - done, dst, dstStart + done);
  }
  const padded = (words + 1) << 2;
  if (alignedScratch.length < padded) {
    alignedScratch = new Uint8Array(Math.max(padded, Math.min(2 * alignedScratch.length, RC4_KEYSTREAM_CAP + 4)));
    alignedScratch32 = new Uint32Array(alignedScratch.buffer);
  }
  const scratch = alignedScratch;
  const scratch32 = alignedScratch32;
  scratch.set(src.subarray(srcStart, srcStart + length));
  const all = (length + 3) >>> 2; // the tail word XORs a few bytes past `length`: scratch only, never copied out
  for (let w = 0; w < all; w++) scratch32[w] = scratch32[w]! ^ stream32[w]!;
  dst.set(scratch.subarray(0, length), dstStart);
}

/** The byte loop, four at a time (fewer loop checks). */
function xorBytes(stream: Uint8Array, src: Uint8Array, srcStart: number, length: number, dst: Uint8Array, dstStart: number): void {
  xorBytesFrom(stream, 0, src, srcStart, length, dst, dstStart);
}

function xorBytesFrom(stream: Uint8Array, at: number, src: Uint8Array, srcStart: number, length: number, dst: Uint8Array, dstStart: number): void {
  let k = 0;
  for (const end4 = length - 3; k < end4; k += 4) {
    const a = srcStart + k;
    const b = dstStart + k;
    const c = at + k;
    dst[b] = src[a]! ^ stream[c]!;
    dst[b + 1] = src[a + 1]! ^ stream[c + 1]!;
    dst[b + 2] = src[a + 2]! ^ stream[c + 2]!;
    dst[b + 3] = src[a + 3]! ^ stream[c + 3]!;
  }
  for (; k < length; k++) dst[dstStart + k] = src[srcStart + k]! ^ stream[at + k]!;
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
  private readonly state = new Uint8Array(256); // bytes: a connection keeps it for good
  private i = 0;
  private j = 0;
  private stream: Uint8Array = new Uint8Array(0);
  /** Word view of `stream`, made when a long range first needs it (most connections never do). */
  private stream32: Uint32Array | null = null;
  private generated = 0;
  /** Scratch state for the bytes past the cap (allocated only if a frame needs it). */
  private overflow: State | null = null;

  constructor(key: Uint8Array) {
    schedule(key, key.length, scratch);
    this.state.set(scratch);
  }

  /** Encrypts (or decrypts: it is the same) `data` into `out`, which may be `data` itself. */
  apply(data: Uint8Array, out: Uint8Array = new Uint8Array(data.length)): Uint8Array {
    this.applyRange(data, 0, data.length, out, 0);
    return out;
  }

  /** `apply` on `src[srcStart, +length)` into `dst` from `dstStart` (the same bytes for in place). */
  applyRange(src: Uint8Array, srcStart: number, length: number, dst: Uint8Array, dstStart: number): void {
    if (length > this.generated) this.extend(Math.min(length, RC4_KEYSTREAM_CAP));
    const stream32 = length < WORD_XOR_MIN ? NO_WORDS : (this.stream32 ??= new Uint32Array(this.stream.buffer));
    if (length <= this.generated) return xorRange(this.stream, stream32, src, srcStart, length, dst, dstStart);
    const head = this.generated;
    xorRange(this.stream, stream32, src, srcStart, head, dst, dstStart);
    const rest = length - head;
    if (rest >= WASM_RC4_MIN && rc4ContinueWasm(this.state, this.i, this.j, src, srcStart + head, rest, dst, dstStart + head)) return;
    const s = (this.overflow ??= new Int32Array(256));
    s.set(this.state);
    crypt(s, src, srcStart + head, rest, dst, dstStart + head, this.i, this.j);
  }

  /** Generates keystream up to at least `needed` bytes (capacity doubles, never past the cap). */
  private extend(needed: number): void {
    if (needed > this.stream.length) {
      let size = Math.max(256, this.stream.length);
      while (size < needed) size *= 2;
      const grown = new Uint8Array(Math.min(size, RC4_KEYSTREAM_CAP));
      grown.set(this.stream.subarray(0, this.generated));
      this.stream = grown;
      this.stream32 = null;
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
 * One-shot RC4 of `data` under `key`, into `out` (a new array by default; may be `data` itself).
 * For a key used once, such as a SECMSG payload key: nothing is allocated but the output.
 */
export function rc4(key: Uint8Array, data: Uint8Array, out: Uint8Array = new Uint8Array(data.length)): Uint8Array {
  rc4Range(key, key.length, data, 0, data.length, out, 0);
  return out;
}

/** One-shot RC4 under `key[0, keyLength)` of `src[srcStart, +length)` into `dst` from `dstStart` (may overlap exactly). */
export function rc4Range(key: Uint8Array, keyLength: number, src: Uint8Array, srcStart: number, length: number, dst: Uint8Array, dstStart: number): void {
  if (keyLength === 0) throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'RC4 key must not be empty');
  if (length >= WASM_RC4_MIN && rc4RangeWasm(key, keyLength, src, srcStart, length, dst, dstStart)) return;
  schedule(key, keyLength, scratch);
  crypt(scratch, src, srcStart, length, dst, dstStart);
}
