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

/** XORs `data` with the keystream (PRGA) of state `s`, which it consumes, into `out`. */
function crypt(s: Uint8Array, data: Uint8Array, out: Uint8Array): Uint8Array {
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

/**
 * Textbook RC4 with no keystream discard, as the MIMC protocol uses it. Each call to
 * `apply` starts from the freshly scheduled state: there is no stream continuity between
 * frames. The key schedule is computed once per key, so a connection's body key costs one
 * 256-byte copy per frame instead of a full schedule.
 */
export class Rc4 {
  private readonly initial = new Uint8Array(256);
  private readonly work = new Uint8Array(256);

  constructor(key: Uint8Array) {
    schedule(key, this.initial);
  }

  /** Encrypts (or decrypts: it is the same) `data` into `out`, which may be `data` itself. */
  apply(data: Uint8Array, out: Uint8Array = new Uint8Array(data.length)): Uint8Array {
    this.work.set(this.initial);
    return crypt(this.work, data, out);
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
