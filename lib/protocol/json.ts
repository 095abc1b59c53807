// Strings and integer literals of 16+ digits (which may exceed 2^53) in JSON text; strings come
// first in the alternation so digits inside strings are left alone.
// The lookbehind keeps digit runs inside fractions and exponents (0.12345678901234567) as they are.
const TOKENS = /"(?:[^"\\]|\\.)*"|(?<![\d.eE+-])-?\d{16,}(?![.eE\d])/g;

/**
 * JSON.parse that keeps large integers exact: every integer literal of 16 or more digits is
 * parsed as a decimal string instead of a lossy number. Ids such as appId, miUserId and
 * topicId exceed 2^53, and servers send them both ways.
 */
export function parseJsonExact(text: string): unknown {
  return JSON.parse(text.replace(TOKENS, (token) => (token.startsWith('"') ? token : `"${token}"`)));
}

/** One value as JSON text; undefined for what JSON.stringify leaves out (undefined, functions, symbols). */
function writeJson(input: unknown): string | undefined {
  let value = input;
  if (typeof value === 'object' && value !== null && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON(): unknown }).toJSON();
  }
  if (value === null) return 'null';
  switch (typeof value) {
    case 'bigint':
      return value.toString();
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((item) => writeJson(item) ?? 'null').join(',')}]`;
      const fields: string[] = [];
      for (const [key, item] of Object.entries(value)) {
        const text = writeJson(item);
        if (text !== undefined) fields.push(`${JSON.stringify(key)}:${text}`);
      }
      return `{${fields.join(',')}}`;
    }
    default:
      return undefined;
  }
}

/**
 * JSON.stringify for values holding bigints: each bigint is written as a JSON integer made of
 * its exact decimal digits (MIMC's REST API takes appId, topicId and sequences as numbers,
 * and they exceed 2^53). Everything else is written as JSON.stringify would.
 */
export function stringifyExact(value: unknown): string {
  const text = writeJson(value);
  if (text === undefined) throw new TypeError('value has no JSON representation');
  return text;
}
