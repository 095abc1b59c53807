/**
 * A copy of `bytes` in memory of its own. `Buffer#slice` returns a view, so `.slice()` cannot be
 * trusted to copy; and the copy is always a Buffer (not from the shared pool), so the byte loops
 * of the codec (RC4, Adler-32) only ever see one kind of array, which V8 runs about twice as
 * fast as a mix of Buffer and plain Uint8Array.
 */
export function ownCopy(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafeSlow(bytes.length);
  out.set(bytes);
  return out;
}

/** `length` bytes of memory of its own (a Buffer, for the same reason as ownCopy); contents unset. */
export function ownBytes(length: number): Buffer {
  return Buffer.allocUnsafeSlow(length);
}

/**
 * A copy from Node's shared Buffer pool: about five times cheaper than {@link ownCopy} for small
 * sizes (no backing store of its own), but it pins its 8 KiB pool slab for as long as it lives.
 * Only for copies that die soon, such as a send waiting for its ack.
 */
export function transientCopy(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(bytes.length);
  out.set(bytes);
  return out;
}
