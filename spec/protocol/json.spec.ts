/**
 * The exact-bigint JSON codec (lib/protocol/json.ts): linear time on hostile text, typed errors,
 * bounded nesting, and a round trip that keeps every 64-bit integer exact.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { parseJsonExact, stringifyExact } from '../../lib/protocol/json.js';
import { MIMCError } from '../../lib/errors.js';

const RUNS = { numRuns: 2_000 };

/** The error parseJsonExact throws for `text` (fails the test when it returns). */
function parseError(text: string, options?: { maxDepth?: number }): MIMCError {
  try {
    parseJsonExact(text, options);
  } catch (err) {
    return err as MIMCError;
  }
  throw new Error(`parsed ${JSON.stringify(text.slice(0, 40))} without an error`);
}

/** Lets an overdue jest timeout fire before the test settles (a synchronous parse blocks the timer). */
const afterTimers = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

describe('parseJsonExact on hostile text', () => {
  // Main's regex tokenizer rescans the rest of the text from every quote: 256 KiB of `"\` took
  // tens of seconds. A linear parser answers in milliseconds, far inside this test's 5 s.
  it(
    'refuses 256 KiB of `"\\` (an escape run that never closes) in linear time',
    async () => {
      const text = '"\\'.repeat(128 * 1024);
      const err = parseError(text);
      await afterTimers();
      expect(MIMCError.is(err)).toBe(true);
      expect(err.code).toBe('ERR_INVALID_JSON');
    },
    5_000,
  );

  it(
    'parses 256 KiB strings of escapes and a 256 KiB digit run in linear time',
    async () => {
      const quotes = `["${'\\"'.repeat(128 * 1024)}"]`;
      expect((parseJsonExact(quotes) as string[])[0]).toBe('"'.repeat(128 * 1024));
      const unicode = `"${'\\u00e9\\ud83d\\ude00'.repeat(16 * 1024)}"`;
      expect(parseJsonExact(unicode)).toBe('é😀'.repeat(16 * 1024));
      const digits = '7'.repeat(256 * 1024);
      expect(parseJsonExact(`[${digits}]`)).toEqual([digits]);
      await afterTimers();
    },
    5_000,
  );
});

describe('parseJsonExact errors', () => {
  it.each([
    ['', 'empty text'],
    ['   ', 'only whitespace'],
    ['{', 'unclosed object'],
    ['[1,', 'unclosed array'],
    ['[1,]', 'trailing comma'],
    ['{"a":1,}', 'trailing comma in an object'],
    ['{"a" 1}', 'missing colon'],
    ['{a:1}', 'unquoted key'],
    ['"abc', 'unterminated string'],
    ['"a\u0001b"', 'control character in a string'],
    ['"\\x41"', 'unknown escape'],
    ['"\\u12G4"', 'bad \\u escape'],
    ['01', 'leading zero'],
    ['-', 'lone minus'],
    ['1.', 'fraction without digits'],
    ['1e+', 'exponent without digits'],
    ['.5', 'number without integer part'],
    ['NaN', 'NaN'],
    ['tru', 'truncated literal'],
    ['nul', 'truncated null'],
    ['1 2', 'trailing value'],
    ['{"a":1}}', 'trailing brace'],
    ["'a'", 'single quotes'],
    ['\u00a01', 'non-JSON whitespace'],
  ])('%j (%s) → ERR_INVALID_JSON with the offset, like JSON.parse refuses it', (text) => {
    expect(() => JSON.parse(text)).toThrow(SyntaxError);
    const err = parseError(text);
    expect(MIMCError.is(err)).toBe(true);
    expect(err.code).toBe('ERR_INVALID_JSON');
    expect(typeof err.details?.offset).toBe('number');
  });

  it('never puts the input in the message (it may hold a secret)', () => {
    const err = parseError('{"appSecret":"s3cr3t-value","x":tru}');
    expect(err.message).not.toContain('s3cr3t');
    expect(JSON.stringify(err.details)).not.toContain('s3cr3t');
  });

  it('bounds nesting depth with a typed error instead of a stack overflow', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const err = parseError(deep);
    expect(err.code).toBe('ERR_INVALID_JSON');
    expect(err.details?.maxDepth).toBe(256);
    // The cap counts open containers: exactly maxDepth levels parse, one more does not.
    const nest = (n: number): string => '[{"a":'.repeat(n / 2) + '1' + '}]'.repeat(n / 2);
    expect(() => parseJsonExact(nest(256))).not.toThrow();
    expect(parseError(nest(258)).code).toBe('ERR_INVALID_JSON');
    expect(() => parseJsonExact(nest(10), { maxDepth: 10 })).not.toThrow();
    expect(parseError(nest(12), { maxDepth: 10 }).details?.maxDepth).toBe(10);
  });
});

describe('parseJsonExact values', () => {
  it('gives what JSON.parse gives, with integer literals of 16+ digits as their exact decimal text', () => {
    const text = '{"appId":2882303761517479657,"neg":-12345678901234567890,"small":42,"f":0.12345678901234567890,"e":1e-12345678901234567,"s":"12345678901234567","n":[[[4501973250376872]]],"z":-0}';
    expect(parseJsonExact(text)).toEqual({
      appId: '2882303761517479657',
      neg: '-12345678901234567890',
      small: 42,
      f: 0.12345678901234568,
      e: 0,
      s: '12345678901234567',
      n: [[['4501973250376872']]],
      z: -0,
    });
  });

  it('keeps __proto__ as an own key and the last of duplicate keys, as JSON.parse does', () => {
    const text = '{"__proto__":{"polluted":true},"a":1,"a":2}';
    const ours = parseJsonExact(text) as Record<string, unknown>;
    expect(isDeepStrictEqual(ours, JSON.parse(text))).toBe(true);
    expect(Object.getPrototypeOf(ours)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(ours)).toEqual(['__proto__', 'a']);
  });

  it('agrees with JSON.parse on any JSON text without big integers', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.boolean(), (value, pretty) => {
        const text = JSON.stringify(value, null, pretty ? 2 : undefined);
        if (/\d{16}/.test(text.replace(/"(?:[^"\\]|\\.)*"/g, '""'))) return; // integer literals of 16+ digits differ by design
        expect(isDeepStrictEqual(parseJsonExact(text), JSON.parse(text))).toBe(true);
      }),
      RUNS,
    );
  });

  it('refuses exactly what JSON.parse refuses on arbitrary and mutated text', () => {
    const mutated = fc
      .tuple(fc.jsonValue({ maxDepth: 4 }), fc.nat(), fc.constantFrom('', '"', '\\', ',', ':', ']', '}', '[', '{', '-', '0', 'e', ' ', '\u0000'))
      .map(([value, at, piece]) => {
        const text = JSON.stringify(value);
        const i = at % (text.length + 1);
        return text.slice(0, i) + piece + text.slice(i + (at % 2));
      });
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), mutated), (text) => {
        let expected = true;
        try {
          JSON.parse(text);
        } catch {
          expected = false;
        }
        let ok = true;
        try {
          parseJsonExact(text);
        } catch (err) {
          expect(MIMCError.is(err)).toBe(true);
          ok = false;
        }
        expect(ok).toBe(expected);
      }),
      RUNS,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Round trip

/** Integers that fit uint64/int64 and often exceed 2^53. */
const bigInts = fc.oneof(
  fc.bigInt({ min: -(1n << 63n), max: (1n << 64n) - 1n }),
  fc.constantFrom(4501973250376872n, (1n << 53n) + 1n, (1n << 64n) - 1n, -(1n << 63n), 0n, 999_999_999_999_999n, 1_000_000_000_000_000n),
);
/** Strings heavy in what needs escaping: quotes, backslashes, controls, lone surrogates, astral characters. */
const tricky = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ unit: fc.constantFrom('"', '\\', '/', '\n', '\u0000', '\u001f', '\u2028', '\ud800', '\udfff', 'é', '😀', 'a'), maxLength: 20 }),
);
const { value: exactValue } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    bigInts,
    tricky,
    fc.boolean(),
    fc.constant(null),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(tricky, tie('value'), { maxKeys: 4 }),
  ),
}));

/** What a value reads back as: bigints and integer numbers of 16+ digits as decimal strings, other bigints as numbers, -0 as 0. */
function readBack(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString().replace('-', '').length >= 16 ? value.toString() : Number(value);
  if (typeof value === 'number') {
    if (Object.is(value, -0)) return 0;
    const text = String(value);
    return /^-?\d{16,}$/.test(text) ? text : value;
  }
  if (Array.isArray(value)) return value.map(readBack);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k, { value: readBack(v), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return value;
}

describe('stringifyExact → parseJsonExact', () => {
  it('round-trips values with big integers, nested arrays of them and strings with escapes and unicode', () => {
    fc.assert(
      fc.property(exactValue, (value) => {
        const text = stringifyExact(value);
        expect(isDeepStrictEqual(parseJsonExact(text), readBack(value))).toBe(true);
        // Apart from bigints it writes what JSON.stringify writes.
        if (!text.match(/\d{16}/)) expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))));
      }),
      RUNS,
    );
  });

  it('keeps [[[4501973250376872]]] and 2^64-1 digit for digit', () => {
    expect(stringifyExact([[[4501973250376872n]]])).toBe('[[[4501973250376872]]]');
    expect(parseJsonExact(stringifyExact({ id: (1n << 64n) - 1n }))).toEqual({ id: '18446744073709551615' });
  });

  it('writes bigints as decimal strings when asked (the token envelope MIMC sends)', () => {
    expect(stringifyExact({ appId: 2882303761517479657n, n: [1n] }, { bigint: 'string' })).toBe('{"appId":"2882303761517479657","n":["1"]}');
  });

  it('refuses cyclic and too deeply nested values with a typed error', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => stringifyExact(cyclic)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(() => stringifyExact(deep)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});
