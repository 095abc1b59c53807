import Long from 'long';

const MASK32 = 0xffffffffn;

/** A bigint as a protobufjs Long, keeping all 64 bits (negative int64 values wrap as on the wire). */
export function toLong(value: bigint, unsigned: boolean): Long {
  const bits = BigInt.asUintN(64, value);
  return Long.fromBits(Number(bits & MASK32), Number(bits >> 32n), unsigned);
}

/** A decoded protobufjs integer (Long, or number for small values) as an exact bigint. */
export function fromLong(value: Long | number | null | undefined, unsigned: boolean): bigint {
  if (value === null || value === undefined) return 0n;
  if (typeof value === 'number') return BigInt(value);
  const bits = (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
  return unsigned ? bits : BigInt.asIntN(64, bits);
}

const DECIMAL = /^(0|[1-9][0-9]{0,19})$/;

/**
 * Parses a non-negative 64-bit id given as a bigint or a decimal string.
 * Numbers are refused on purpose: above 2^53 they have already lost precision.
 */
export function parseUint64(value: unknown): bigint | undefined {
  if (typeof value === 'bigint') return value >= 0n && value <= 0xffffffffffffffffn ? value : undefined;
  if (typeof value === 'string' && DECIMAL.test(value)) {
    const v = BigInt(value);
    return v <= 0xffffffffffffffffn ? v : undefined;
  }
  return undefined;
}

/**
 * A non-negative 64-bit id as JSON carries it (after parseJsonExact): a bigint, a decimal string,
 * or a safe-integer number (small ids arrive as plain numbers); undefined otherwise.
 */
export function parseJsonUint64(value: unknown): bigint | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? BigInt(value) : undefined;
  return parseUint64(value);
}
