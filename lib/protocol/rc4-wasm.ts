/**
 * RC4 in WebAssembly: one-shot under a key used once (SECMSG payloads from {@link WASM_RC4_MIN}
 * bytes), and continued from a saved state (a frame body past the cached body keystream).
 *
 * Why: RC4 is a chain of dependent byte loads and stores. In JavaScript, TurboFan re-checks the
 * typed arrays' maps and reloads their base and length inside that chain, and how well it does so
 * varies by process (3–8 ns per byte measured in place). The same loop over linear memory runs at a
 * steady ~3.2 ns per byte. For short ranges the copies in and out cost more than they save, so
 * {@link rc4Range} in `rc4.ts` only comes here from {@link WASM_RC4_MIN} bytes on.
 *
 * The module (a few hundred bytes) is assembled below from its instructions, so the source is
 * the whole story: no binary blob, no build step. Memory layout (2 pages = 128 KiB):
 * - `[0, 1024)`: the RC4 permutation, 256 × i32 (word loads beat byte loads here, as in JS);
 * - `[1024, 1280)`: the key (the key schedule only reads its first 256 bytes);
 * - `[2048, 3072)`: the identity permutation, copied over S to start a key schedule;
 * - `[4096, 4096 + CHUNK)`: the data, crypted in place one chunk at a time.
 */

/**
 * From this length on, key schedule plus keystream in WebAssembly beat the JavaScript loops with
 * the copies in and out counted (a 41-byte key, one-shot, ns per call JS / WebAssembly: 64 B
 * 779 / 851, 96 B 868 / 1 073, 128 B 1 360 / 916, 170 B 1 573 / 1 020, 200 B 1 653 / 1 049).
 */
export const WASM_RC4_MIN = 128;

const KEY_AT = 1024;
const IDENTITY_AT = 2048;
const DATA_AT = 4096;
const CHUNK = 64 * 1024;
const MAX_KEY = 256;

// --- the few WebAssembly instructions this module needs (binary encoding, MVP spec) ---
const I32 = 0x7f;
const op = {
  /** Bulk memory (in V8 since 7.5): dst, src, length on the stack; memory 0 to memory 0. */
  memoryCopy: [0xfc, 0x0a, 0x00, 0x00],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: 0x0b,
  brIf: 0x0d,
  select: 0x1b,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Load: 0x28,
  i32Load8u: 0x2d,
  i32Store: 0x36,
  i32Store8: 0x3a,
  i32Const: 0x41,
  i32Eqz: 0x45,
  i32Eq: 0x46,
  i32LtU: 0x49,
  i32Add: 0x6a,
  i32And: 0x71,
  i32Or: 0x72,
  i32Xor: 0x73,
  i32Shl: 0x74,
  i32ShrU: 0x76,
} as const;

function unsignedLeb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function signedLeb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) return [...out, byte];
    out.push(byte | 0x80);
  }
}

const get = (local: number): number[] => [op.localGet, ...unsignedLeb(local)];
const set = (local: number): number[] => [op.localSet, ...unsignedLeb(local)];
const tee = (local: number): number[] => [op.localTee, ...unsignedLeb(local)];
const i32 = (n: number): number[] => [op.i32Const, ...signedLeb(n)];
/** Loads/stores with a static offset; alignment hints: 2 (4 bytes) for words, 0 for bytes. */
const loadWord = (offset = 0): number[] => [op.i32Load, 2, ...unsignedLeb(offset)];
const storeWord = (offset = 0): number[] => [op.i32Store, 2, ...unsignedLeb(offset)];
const loadByte = (offset = 0): number[] => [op.i32Load8u, 0, ...unsignedLeb(offset)];
const storeByte = (offset = 0): number[] => [op.i32Store8, 0, ...unsignedLeb(offset)];
/** `S[index]` where the index is on the stack: address = index × 4. */
const loadS = (): number[] => [...i32(2), op.i32Shl, ...loadWord()];
const byteOf = (): number[] => [...i32(0xff), op.i32And];

/**
 * `schedule(keyLength)`: the key schedule (KSA) of `key[0, keyLength)` into S.
 * Locals: 0 keyLength (param), 1 i, 2 j, 3 k (key index), 4 S[i].
 */
const schedule = [
  // S = identity: one copy, about ten times faster than a 256-step store loop
  ...i32(0), ...i32(IDENTITY_AT), ...i32(1024), ...op.memoryCopy,
  ...op.loop,
  ...get(1), ...loadS(), ...set(4),
  // j = (j + S[i] + key[k]) & 0xff
  ...get(2), ...get(4), op.i32Add, ...get(3), ...loadByte(KEY_AT), op.i32Add, ...byteOf(), ...set(2),
  // swap S[i], S[j]
  ...get(1), ...i32(2), op.i32Shl, ...get(2), ...loadS(), ...storeWord(),
  ...get(2), ...i32(2), op.i32Shl, ...get(4), ...storeWord(),
  // k = k + 1 === keyLength ? 0 : k + 1
  ...i32(0), ...get(3), ...i32(1), op.i32Add, ...tee(3), ...get(3), ...get(0), op.i32Eq, op.select, ...set(3),
  ...get(1), ...i32(1), op.i32Add, ...tee(1), ...i32(256), op.i32LtU, op.brIf, 0,
  op.end,
];

/**
 * `crypt(length, counters) -> counters`: XORs `data[0, length)` in place with the keystream,
 * from and back to the counters packed as `j << 8 | i` (so long inputs go chunk by chunk).
 * Locals: 0 length, 1 counters (params), 2 i, 3 j, 4 at, 5 end, 6 S[i], 7 S[j].
 */
const crypt = [
  ...get(1), ...byteOf(), ...set(2),
  ...get(1), ...i32(8), op.i32ShrU, ...set(3),
  ...i32(DATA_AT), ...set(4),
  ...get(0), ...i32(DATA_AT), op.i32Add, ...set(5),
  ...op.block,
  ...get(0), op.i32Eqz, op.brIf, 0,
  ...op.loop,
  // i = (i + 1) & 0xff; si = S[i]
  ...get(2), ...i32(1), op.i32Add, ...byteOf(), ...tee(2), ...loadS(), ...set(6),
  // j = (j + si) & 0xff; sj = S[j]
  ...get(3), ...get(6), op.i32Add, ...byteOf(), ...tee(3), ...loadS(), ...set(7),
  // S[i] = sj; S[j] = si
  ...get(2), ...i32(2), op.i32Shl, ...get(7), ...storeWord(),
  ...get(3), ...i32(2), op.i32Shl, ...get(6), ...storeWord(),
  // data[at] ^= S[(si + sj) & 0xff]
  ...get(4), ...get(4), ...loadByte(), ...get(6), ...get(7), op.i32Add, ...byteOf(), ...loadS(), op.i32Xor, ...storeByte(),
  ...get(4), ...i32(1), op.i32Add, ...tee(4), ...get(5), op.i32LtU, op.brIf, 0,
  op.end,
  op.end,
  ...get(3), ...i32(8), op.i32Shl, ...get(2), op.i32Or,
];

function functionBody(locals: number, code: number[]): number[] {
  const body = [1, ...unsignedLeb(locals), I32, ...code, op.end]; // one run of `locals` i32 locals
  return [...unsignedLeb(body.length), ...body];
}
const section = (id: number, content: number[]): number[] => [id, ...unsignedLeb(content.length), ...content];
const name = (text: string): number[] => [...unsignedLeb(text.length), ...Array.from(text, (c) => c.charCodeAt(0))];

const moduleBytes = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
  // types: 0 = (i32) -> (), 1 = (i32, i32) -> i32
  ...section(1, [2, 0x60, 1, I32, 0, 0x60, 2, I32, I32, 1, I32]),
  ...section(3, [2, 0, 1]), // functions: schedule has type 0, crypt type 1
  ...section(5, [1, 0x00, 2]), // one memory, 2 pages, no maximum
  ...section(7, [3, ...name('memory'), 0x02, 0, ...name('schedule'), 0x00, 0, ...name('crypt'), 0x00, 1]),
  ...section(10, [2, ...functionBody(4, schedule), ...functionBody(6, crypt)]),
]);

/**
 * The slice of the WebAssembly JS API used here. Node has it as a global; the tsconfig leaves out
 * the DOM typings that would declare it, and a library should not pull those in for three names.
 */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
};

interface Rc4Module {
  memory: Uint8Array;
  /** The permutation as the module reads it (256 × i32 at address 0). */
  permutation: Int32Array;
  schedule(keyLength: number): void;
  crypt(length: number, counters: number): number;
}

/** Compiled on first use; `null` where WebAssembly is unavailable (e.g. `--jitless`), and the JS loop serves. */
let instance: Rc4Module | null | undefined;

function load(): Rc4Module | null {
  try {
    const exports = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes)).exports;
    const buffer = (exports.memory as { buffer: ArrayBuffer }).buffer; // never grown: the views stay valid
    const identity = new Int32Array(buffer, IDENTITY_AT, 256);
    for (let i = 0; i < 256; i++) identity[i] = i;
    return {
      memory: new Uint8Array(buffer),
      permutation: new Int32Array(buffer, 0, 256),
      schedule: exports.schedule as Rc4Module['schedule'],
      crypt: exports.crypt as Rc4Module['crypt'],
    };
  } catch {
    return null;
  }
}

function loaded(): Rc4Module | null {
  if (instance === undefined) instance = load(); // once: `null` is an answer, not a retry
  return instance;
}

/** Crypts `src[srcStart, +length)` into `dst` from `dstStart`, chunk by chunk, from the loaded permutation and counters. */
function cryptChunks(rc4: Rc4Module, counters: number, src: Uint8Array, srcStart: number, length: number, dst: Uint8Array, dstStart: number): void {
  const memory = rc4.memory;
  for (let done = 0; done < length; done += CHUNK) {
    const n = Math.min(CHUNK, length - done);
    copyInto(memory, DATA_AT, src, srcStart + done, n);
    counters = rc4.crypt(n, counters);
    copyInto(dst, dstStart + done, memory, DATA_AT, n);
  }
}

/**
 * `set` over a `subarray` view: one memcpy. A JavaScript byte loop between the module's memory
 * and a Buffer measured ~1.8 ns per byte (437 ns against 113 for 128 bytes in and out).
 */
function copyInto(to: Uint8Array, toStart: number, from: Uint8Array, fromStart: number, n: number): void {
  to.set(from.subarray(fromStart, fromStart + n), toStart);
}

/**
 * RC4 under `key[0, keyLength)` (1 ≤ keyLength) of `src[srcStart, +length)` into `dst` from
 * `dstStart` (which may be the same bytes). Returns false, having done nothing, where
 * WebAssembly is unavailable.
 */
export function rc4RangeWasm(key: Uint8Array, keyLength: number, src: Uint8Array, srcStart: number, length: number, dst: Uint8Array, dstStart: number): boolean {
  const rc4 = loaded();
  if (rc4 === null) return false;
  // The schedule cycles the key over 256 steps, so bytes past 256 never matter.
  const scheduled = Math.min(keyLength, MAX_KEY);
  copyInto(rc4.memory, KEY_AT, key, 0, scheduled);
  rc4.schedule(scheduled);
  cryptChunks(rc4, 0, src, srcStart, length, dst, dstStart);
  return true;
}

/**
 * Continues an RC4 keystream from a saved generator state (`permutation`, counters `i`, `j`),
 * leaving that state untouched, over `src[srcStart, +length)` into `dst` from `dstStart`.
 * Returns false, having done nothing, where WebAssembly is unavailable.
 */
export function rc4ContinueWasm(permutation: Uint8Array, i: number, j: number, src: Uint8Array, srcStart: number, length: number, dst: Uint8Array, dstStart: number): boolean {
  const rc4 = loaded();
  if (rc4 === null) return false;
  rc4.permutation.set(permutation);
  cryptChunks(rc4, (j << 8) | i, src, srcStart, length, dst, dstStart);
  return true;
}
