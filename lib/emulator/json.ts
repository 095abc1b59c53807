/** JSON helpers for the HTTP side: exact 64-bit integers in, bigint-safe text out. */

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

/** Characters that may continue a JSON number after its first character. */
function isNumberChar(code: number): boolean {
  return isDigit(code) || code === 0x2e /* . */ || code === 0x65 /* e */ || code === 0x45 /* E */ || code === 0x2b /* + */ || code === 0x2d; /* - */
}

const BIG_INTEGER = /^-?[0-9]{16,}$/;

/**
 * Rewrites integer literals of 16 or more digits (outside strings) as JSON strings, so that
 * JSON.parse keeps them exact. appId values such as 2882303761517479657 exceed 2^53.
 */
export function quoteLargeIntegers(text: string): string {
  let out = '';
  let copied = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip a string literal, honouring backslash escapes.
      i++;
      while (i < text.length) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i += 2;
        else if (d === 0x22) {
          i++;
          break;
        } else i++;
      }
      continue;
    }
    if (c === 0x2d || isDigit(c)) {
      const start = i++;
      while (i < text.length && isNumberChar(text.charCodeAt(i))) i++;
      const token = text.slice(start, i);
      if (BIG_INTEGER.test(token)) {
        out += `${text.slice(copied, start)}"${token}"`;
        copied = i;
      }
      continue;
    }
    i++;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/** JSON.parse with large integer literals returned as decimal strings. */
export function parseJsonExact(text: string): unknown {
  return JSON.parse(quoteLargeIntegers(text));
}

/** JSON.stringify that writes bigint values as decimal strings. */
export function stringify(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** A 64-bit id given as bigint, decimal string, or safe-integer number; undefined otherwise. */
export function toBigId(value: unknown): bigint | undefined {
  if (typeof value === 'bigint') return value >= 0n && value < 1n << 64n ? value : undefined;
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? BigInt(value) : undefined;
  if (typeof value === 'string' && /^(0|[1-9][0-9]{0,19})$/.test(value)) {
    const v = BigInt(value);
    return v < 1n << 64n ? v : undefined;
  }
  return undefined;
}
