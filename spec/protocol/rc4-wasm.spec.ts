/**
 * The WebAssembly RC4 path (lib/protocol/rc4-wasm.ts) against the textbook reference: the lengths
 * where it takes over from the JavaScript loop, its 64 KiB chunk boundary, keys longer than the
 * 256 bytes the schedule reads, in place, and continuing past a cached keystream.
 */
import { rc4, Rc4, RC4_KEYSTREAM_CAP } from '../../lib/protocol/index.js';
import { rc4RangeWasm, WASM_RC4_MIN } from '../../lib/protocol/rc4-wasm.js';
import { referenceRc4 } from '../helpers/bytes.js';

const CHUNK = 64 * 1024;

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let k = 0; k < length; k++) out[k] = (k * 131 + seed * 7 + (k >>> 8)) & 0xff;
  return out;
}

const keys = [1, 5, 16, 255, 256, 257, 700].map((n) => pattern(n, n));
const lengths = [WASM_RC4_MIN - 1, WASM_RC4_MIN, 1000, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 333];

describe('RC4 in WebAssembly', () => {
  it('is byte-identical to the reference for every key length, across the chunk boundary', () => {
    for (const key of keys) {
      for (const length of lengths) {
        const data = pattern(length, key.length);
        const out = new Uint8Array(length + 3);
        expect(rc4RangeWasm(key, key.length, data, 0, length, out, 3)).toBe(true);
        expect(Buffer.from(out.subarray(3)).equals(referenceRc4(key, data))).toBe(true);
      }
    }
  });

  it('reads only key[0, keyLength) and works in place at an unaligned offset', () => {
    const key = pattern(40, 1);
    const backing = pattern(CHUNK + 500, 2);
    const expected = referenceRc4(key.subarray(0, 9), backing.subarray(1, 1 + CHUNK + 10));
    expect(rc4RangeWasm(key, 9, backing, 1, CHUNK + 10, backing, 1)).toBe(true);
    expect(Buffer.from(backing.subarray(1, 1 + CHUNK + 10)).equals(expected)).toBe(true);
  });

  it('serves rc4() and the cached-keystream cipher past its cap, leaving the cipher reusable', () => {
    const key = pattern(12, 3);
    const data = pattern(RC4_KEYSTREAM_CAP + CHUNK + 77, 4);
    const expected = referenceRc4(key, data);
    expect(Buffer.from(rc4(key, data)).equals(expected)).toBe(true);
    const cipher = new Rc4(key);
    // twice: the continuation must start from the saved state, not from where the last call stopped
    expect(Buffer.from(cipher.apply(data)).equals(expected)).toBe(true);
    expect(Buffer.from(cipher.apply(data)).equals(expected)).toBe(true);
    const inPlace = Uint8Array.from(data);
    cipher.apply(inPlace, inPlace);
    expect(Buffer.from(inPlace).equals(expected)).toBe(true);
  });
});
