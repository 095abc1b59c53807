import { MIMCError, ErrorCode } from '../errors.js';

/**
 * Textbook RC4 with no keystream discard, as the MIMC protocol uses it. Each call to
 * `apply` starts from the freshly scheduled state: there is no stream continuity between
 * frames. The key schedule is computed once per key, so a connection's body key costs one
 * 256-byte copy per frame instead of a full schedule.
 */
export class Rc4 {
  private readonly initial: Uint8Array;
  private readonly work = new Uint8Array(256);

  constructor(key: Uint8Array) {
    if (key.length === 0) throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'RC4 key must not be empty');
    const s = new Uint8Array(256);
    for (let i = 0; i < 256; i++) s[i] = i;
    let j = 0;
    for (let i = 0; i < 256; i++) {
      const si = s[i]!;
      j = (j + si + key[i % key.length]!) & 0xff;
      s[i] = s[j]!;
      s[j] = si;
    }
    this.initial = s;
  }

  /** Encrypts (or decrypts: it is the same) `data` into `out`, which may be `data` itself. */
  apply(data: Uint8Array, out: Uint8Array = new Uint8Array(data.length)): Uint8Array {
    const s = this.work;
    s.set(this.initial);
    let i = 0;
    let j = 0;
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
}

/** One-shot RC4 of `data` under `key`. */
export function rc4(key: Uint8Array, data: Uint8Array): Uint8Array {
  return new Rc4(key).apply(data);
}
