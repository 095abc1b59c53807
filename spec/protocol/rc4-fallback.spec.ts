/**
 * Where WebAssembly is unavailable (`node --jitless`, locked-down embedders), RC4 falls back to the
 * JavaScript loop with the same bytes. This file runs in its own module registry, so removing the
 * global before the first long RC4 call is what the module sees when it loads.
 */
import { rc4, Rc4, RC4_KEYSTREAM_CAP } from '../../lib/protocol/index.js';
import { rc4RangeWasm } from '../../lib/protocol/rc4-wasm.js';
import { referenceRc4 } from '../helpers/bytes.js';

const global = globalThis as { WebAssembly?: unknown };

describe('RC4 without WebAssembly', () => {
  const saved = global.WebAssembly;
  beforeAll(() => {
    delete global.WebAssembly;
  });
  afterAll(() => {
    global.WebAssembly = saved;
  });

  it('reports the WebAssembly path unavailable without touching the output', () => {
    const out = new Uint8Array(1000);
    expect(rc4RangeWasm(Uint8Array.of(1, 2, 3), 3, new Uint8Array(1000).fill(9), 0, 1000, out, 0)).toBe(false);
    expect(out.every((b) => b === 0)).toBe(true);
  });

  it('still produces the reference keystream, one-shot and past the cached keystream', () => {
    const key = Uint8Array.from({ length: 20 }, (_, k) => k * 37);
    const data = Uint8Array.from({ length: RC4_KEYSTREAM_CAP + 5000 }, (_, k) => (k * 11) & 0xff);
    const expected = referenceRc4(key, data);
    expect(Buffer.from(rc4(key, data)).equals(expected)).toBe(true);
    expect(Buffer.from(new Rc4(key).apply(data)).equals(expected)).toBe(true);
  });
});
