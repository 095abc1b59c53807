/**
 * JSON for the SDK's values: they carry exact 64-bit ids as bigint and payloads as Uint8Array,
 * which plain JSON.stringify refuses (bigint) or spells out byte by byte (Uint8Array).
 * No imports: errors.ts and every layer may use it.
 */

/** Deepest nesting converted; deeper values are written as null (SDK values are a few levels deep). */
const MAX_DEPTH = 64;

/**
 * A copy of `value` that JSON.stringify writes without loss: bigint as its decimal string,
 * Uint8Array (Buffer included) as base64, arrays and objects converted member by member, an
 * object's own `toJSON` honoured (Date, MIMCError). A cyclic reference is written as
 * "[Circular]". Everything else is left as JSON.stringify would take it.
 */
export function toJsonSafe(value: unknown): unknown {
  return convert(value, new Set(), 0);
}

/**
 * Gives an SDK value a non-enumerable `toJSON` (so spreading, `Object.keys` and equality
 * checks see nothing new) that writes it as `toJsonSafe` does. Returns the same object.
 */
export function withJsonSafe<T extends object>(value: T): T {
  Object.defineProperty(value, 'toJSON', { value: jsonSafeToJSON, enumerable: false, writable: true, configurable: true });
  return value;
}

function jsonSafeToJSON(this: object): unknown {
  return toJsonSafe(this);
}

/**
 * Base class of the SDK's per-message values (received messages, server acks): the same
 * `toJSON` as `withJsonSafe` gives, but on the prototype, so creating one costs nothing extra.
 * (`Object.defineProperty` on each object costs about 20 times the object itself.)
 */
export class JsonSafeValue {}
Object.defineProperty(JsonSafeValue.prototype, 'toJSON', { value: jsonSafeToJSON, enumerable: false, writable: true, configurable: true });

function convert(value: unknown, ancestors: Set<object>, depth: number): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (ancestors.has(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return null;
  const own = (value as { toJSON?: unknown }).toJSON;
  if (typeof own === 'function' && own !== jsonSafeToJSON) return convert(own.call(value), ancestors, depth + 1);
  ancestors.add(value);
  let out: unknown;
  if (Array.isArray(value)) {
    out = value.map((item) => convert(item, ancestors, depth + 1));
  } else {
    const copy: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) copy[key] = convert(item, ancestors, depth + 1);
    out = copy;
  }
  ancestors.delete(value);
  return out;
}
