/**
 * The package's one JSON codec with exact 64-bit integers (client, REST helpers and emulator).
 *
 * parseJsonExact is a single forward walk over the text with an explicit stack: linear time in
 * the input whatever it holds (escape runs, digit runs, deep nesting), no recursion, and a
 * nesting cap so hostile text costs a typed error, never a stack overflow.
 */
import { ErrorCode, MIMCError } from '../errors.js';

/** Default cap on nested arrays and objects, for parsing and writing. */
export const JSON_MAX_DEPTH = 256;

/** Integer literals with at least this many digits are returned as their decimal text (2^53 has 16 digits). */
const BIG_DIGITS = 16;

export interface JsonParseOptions {
  /** Most arrays/objects open at once (default {@link JSON_MAX_DEPTH}). */
  maxDepth?: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/** The character each one-letter escape `\x` stands for, by the code of x. */
const SIMPLE_ESCAPES = new Map<number, string>([
  [QUOTE, '"'],
  [BACKSLASH, '\\'],
  [0x2f, '/'],
  [0x62, '\b'],
  [0x66, '\f'],
  [0x6e, '\n'],
  [0x72, '\r'],
  [0x74, '\t'],
]);

function hexValue(code: number): number {
  if (code >= ZERO && code <= NINE) return code - ZERO;
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

function isDigit(code: number): boolean {
  return code >= ZERO && code <= NINE;
}

/** An open container on the parser's stack; `key` is the pending member name of an object. */
interface Open {
  array: unknown[] | undefined;
  object: Record<string, unknown> | undefined;
  key: string;
}

/** Sets a member the way JSON.parse does: an own data property, even for "__proto__". */
function setMember(object: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
  else object[key] = value;
}

class Parser {
  private pos = 0;

  constructor(
    private readonly text: string,
    private readonly maxDepth: number,
  ) {}

  private fail(what: string, extra?: Record<string, unknown>): MIMCError {
    // The message names the place, never the text: a body may hold secrets.
    return new MIMCError(ErrorCode.INVALID_JSON, `invalid JSON at offset ${this.pos}: ${what}`, { details: { offset: this.pos, ...extra } });
  }

  private skipWhitespace(): void {
    const { text } = this;
    let i = this.pos;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    }
    this.pos = i;
  }

  /** The next non-whitespace character code (NaN at the end). */
  private peek(): number {
    this.skipWhitespace();
    return this.text.charCodeAt(this.pos);
  }

  private expect(code: number, what: string): void {
    if (this.peek() !== code) throw this.fail(`expected ${what}`);
    this.pos++;
  }

  parse(): unknown {
    const stack: Open[] = [];
    for (;;) {
      // A value starts here: either a scalar, or a container that is pushed.
      let value: unknown;
      const c = this.peek();
      if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
        if (stack.length >= this.maxDepth) throw this.fail(`nested deeper than ${this.maxDepth} levels`, { maxDepth: this.maxDepth });
        this.pos++;
        if (c === OPEN_ARRAY) {
          const array: unknown[] = [];
          if (this.peek() === CLOSE_ARRAY) {
            this.pos++;
            value = array;
          } else {
            stack.push({ array, object: undefined, key: '' });
            continue;
          }
        } else {
          const object: Record<string, unknown> = {};
          if (this.peek() === CLOSE_OBJECT) {
            this.pos++;
            value = object;
          } else {
            stack.push({ array: undefined, object, key: this.memberName() });
            continue;
          }
        }
      } else {
        value = this.scalar(c);
      }

      // Attach the finished value to its container; close containers as long as they end here.
      for (;;) {
        const top = stack[stack.length - 1];
        if (top === undefined) {
          this.skipWhitespace();
          if (this.pos < this.text.length) throw this.fail('unexpected text after the value');
          return value;
        }
        if (top.array !== undefined) top.array.push(value);
        else setMember(top.object!, top.key, value);
        const next = this.peek();
        if (next === COMMA) {
          this.pos++;
          if (top.object !== undefined) top.key = this.memberName();
          break;
        }
        if (next === (top.array !== undefined ? CLOSE_ARRAY : CLOSE_OBJECT)) {
          this.pos++;
          stack.pop();
          value = top.array ?? top.object;
          continue;
        }
        throw this.fail(top.array !== undefined ? "expected ',' or ']'" : "expected ',' or '}'");
      }
    }
  }

  /** `"name" :` of an object member. */
  private memberName(): string {
    if (this.peek() !== QUOTE) throw this.fail('expected a member name');
    const key = this.string();
    this.expect(COLON, "':'");
    return key;
  }

  private scalar(c: number): unknown {
    if (c === QUOTE) return this.string();
    if (c === MINUS || isDigit(c)) return this.number();
    if (this.literal('true')) return true;
    if (this.literal('false')) return false;
    if (this.literal('null')) return null;
    throw this.fail(Number.isNaN(c) ? 'unexpected end of text' : 'expected a value');
  }

  private literal(word: string): boolean {
    if (!this.text.startsWith(word, this.pos)) return false;
    this.pos += word.length;
    return true;
  }

  /** A string literal at pos (on its opening quote). Plain runs are sliced once; escapes are decoded in place. */
  private string(): string {
    const { text } = this;
    let i = this.pos + 1;
    let runStart = i;
    let parts: string[] | undefined;
    for (;;) {
      if (i >= text.length) {
        this.pos = i;
        throw this.fail('unterminated string');
      }
      const c = text.charCodeAt(i);
      if (c === QUOTE) break;
      if (c < 0x20) {
        this.pos = i;
        throw this.fail('control character in a string');
      }
      if (c !== BACKSLASH) {
        i++;
        continue;
      }
      parts ??= [];
      if (i > runStart) parts.push(text.slice(runStart, i));
      const e = text.charCodeAt(i + 1);
      const simple = SIMPLE_ESCAPES.get(e);
      if (simple !== undefined) {
        parts.push(simple);
        i += 2;
      } else if (e === 0x75 /* u */) {
        let unit = 0;
        for (let k = 2; k < 6; k++) {
          const h = hexValue(text.charCodeAt(i + k));
          if (h < 0) {
            this.pos = i;
            throw this.fail('bad \\u escape');
          }
          unit = unit * 16 + h;
        }
        parts.push(String.fromCharCode(unit));
        i += 6;
      } else {
        this.pos = i;
        throw this.fail(Number.isNaN(e) ? 'unterminated string' : 'unknown escape');
      }
      runStart = i;
    }
    this.pos = i + 1;
    if (parts === undefined) return text.slice(runStart, i);
    if (i > runStart) parts.push(text.slice(runStart, i));
    return parts.join('');
  }

  /** A number at pos; integer literals of 16+ digits come back as their exact decimal text. */
  private number(): number | string {
    const { text } = this;
    const start = this.pos;
    let i = start;
    if (text.charCodeAt(i) === MINUS) i++;
    const intStart = i;
    if (text.charCodeAt(i) === ZERO) i++;
    else if (isDigit(text.charCodeAt(i))) while (isDigit(text.charCodeAt(i))) i++;
    else {
      this.pos = i;
      throw this.fail('expected a digit');
    }
    const intDigits = i - intStart;
    let integer = true;
    if (text.charCodeAt(i) === DOT) {
      integer = false;
      i++;
      if (!isDigit(text.charCodeAt(i))) {
        this.pos = i;
        throw this.fail('expected a digit after the decimal point');
      }
      while (isDigit(text.charCodeAt(i))) i++;
    }
    const e = text.charCodeAt(i) | 0x20;
    if (e === 0x65 /* e */) {
      integer = false;
      i++;
      const sign = text.charCodeAt(i);
      if (sign === PLUS || sign === MINUS) i++;
      if (!isDigit(text.charCodeAt(i))) {
        this.pos = i;
        throw this.fail('expected a digit in the exponent');
      }
      while (isDigit(text.charCodeAt(i))) i++;
    }
    this.pos = i;
    const literal = text.slice(start, i);
    return integer && intDigits >= BIG_DIGITS ? literal : Number(literal);
  }
}

/**
 * Parses JSON text as JSON.parse does, except that every integer literal of 16 or more digits
 * comes back as its exact decimal text (a string) instead of a lossy number: ids such as appId,
 * miUserId and topicId exceed 2^53, and servers send them both ways. Callers turn such ids into
 * bigint (see parseJsonUint64). Runs in time linear in `text`.
 *
 * @throws MIMCError ERR_INVALID_JSON (with `details.offset`) for anything JSON.parse refuses, and
 *   for nesting deeper than `maxDepth` (`details.maxDepth`). The message never quotes the text.
 */
export function parseJsonExact(text: string, options?: JsonParseOptions): unknown {
  return new Parser(text, options?.maxDepth ?? JSON_MAX_DEPTH).parse();
}

export interface JsonStringifyOptions {
  /** How bigints are written: JSON integers of their exact digits (default), or decimal strings. */
  bigint?: 'number' | 'string';
  /** Most nested arrays/objects (default {@link JSON_MAX_DEPTH}); deeper or cyclic values are refused. */
  maxDepth?: number;
}

class Writer {
  readonly parts: string[] = [];

  constructor(
    private readonly bigintAsString: boolean,
    private readonly maxDepth: number,
  ) {}

  /** Appends one value; false (nothing appended) for what JSON.stringify leaves out. */
  write(input: unknown, depth: number): boolean {
    let value = input;
    if (typeof value === 'object' && value !== null && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
      value = (value as { toJSON(): unknown }).toJSON();
    }
    const { parts } = this;
    if (value === null) {
      parts.push('null');
      return true;
    }
    switch (typeof value) {
      case 'bigint':
        parts.push(this.bigintAsString ? `"${value.toString()}"` : value.toString());
        return true;
      case 'string':
      case 'boolean':
        parts.push(JSON.stringify(value));
        return true;
      case 'number':
        parts.push(Number.isFinite(value) ? String(value) : 'null');
        return true;
      case 'object':
        break;
      default:
        return false;
    }
    if (depth >= this.maxDepth) {
      throw new MIMCError(ErrorCode.INVALID_ARGUMENT, `value is nested deeper than ${this.maxDepth} levels (or is cyclic)`, { details: { maxDepth: this.maxDepth } });
    }
    if (Array.isArray(value)) {
      parts.push('[');
      for (let i = 0; i < value.length; i++) {
        if (i > 0) parts.push(',');
        if (!this.write(value[i], depth + 1)) parts.push('null');
      }
      parts.push(']');
      return true;
    }
    parts.push('{');
    let first = true;
    for (const key of Object.keys(value)) {
      const at = parts.length;
      parts.push(first ? JSON.stringify(key) : `,${JSON.stringify(key)}`, ':');
      if (this.write((value as Record<string, unknown>)[key], depth + 1)) first = false;
      else parts.length = at;
    }
    parts.push('}');
    return true;
  }
}

/**
 * JSON.stringify for values holding bigints: each bigint is written as a JSON integer made of
 * its exact decimal digits (MIMC's REST API takes appId, topicId and sequences as numbers, and
 * they exceed 2^53), or as a decimal string with `{ bigint: 'string' }`. Everything else is
 * written as JSON.stringify would. Linear in the output.
 *
 * @throws TypeError when `value` itself has no JSON representation (undefined, a function).
 * @throws MIMCError ERR_INVALID_ARGUMENT for cyclic values or nesting deeper than `maxDepth`.
 */
export function stringifyExact(value: unknown, options?: JsonStringifyOptions): string {
  const writer = new Writer(options?.bigint === 'string', options?.maxDepth ?? JSON_MAX_DEPTH);
  if (!writer.write(value, 0)) throw new TypeError('value has no JSON representation');
  return writer.parts.join('');
}
