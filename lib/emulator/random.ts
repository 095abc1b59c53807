import { randomFillSync } from 'node:crypto';

/**
 * Cryptographically random bytes served from a pool refilled 4 KiB at a time: the emulator asks for
 * a few random bytes several times per login (challenge, token, security key, account id), and one
 * `crypto.randomBytes` call per small request cost more than the rest of issuing a token.
 */
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let used = POOL_BYTES;

/** `n` fresh random bytes (a new Buffer), like crypto.randomBytes(n). */
export function pooledRandomBytes(n: number): Buffer {
  if (n > POOL_BYTES) return randomFillSync(Buffer.alloc(n));
  if (used + n > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const out = Buffer.from(pool.subarray(used, used + n));
  used += n;
  return out;
}
