/** Exact JSON both ways: stringifyExact writes bigints as integers, parseJsonExact keeps 16+ digit integers as strings. */
import { parseJsonExact, stringifyExact } from '../../lib/protocol/json.js';

describe('stringifyExact', () => {
  it('writes bigints as JSON integers made of their digits, everything else as JSON.stringify', () => {
    const value = { appId: 18446744073709551615n, ids: [9007199254740993n, 0n], s: 'a"\u0000', n: 1.5, skip: undefined, nan: NaN, d: new Date(0), nested: { t: true, z: null } };
    expect(stringifyExact(value)).toBe(
      '{"appId":18446744073709551615,"ids":[9007199254740993,0],"s":"a\\"\\u0000","n":1.5,"nan":null,"d":"1970-01-01T00:00:00.000Z","nested":{"t":true,"z":null}}',
    );
    expect(stringifyExact([undefined, () => 1])).toBe('[null,null]');
    expect(() => stringifyExact(undefined)).toThrow(TypeError);
  });

  it('round-trips through parseJsonExact without losing a digit', () => {
    const ids = [2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 64n - 1n];
    const parsed = parseJsonExact(stringifyExact({ ids })) as { ids: string[] };
    expect(parsed.ids.map((s) => BigInt(s))).toEqual(ids);
  });
});

describe('parseJsonExact', () => {
  it('leaves digits inside strings, fractions and exponents alone', () => {
    expect(parseJsonExact('{"f":0.12345678901234567890,"e":[1e-12345678901234567],"s":"12345678901234567","i":-12345678901234567890}')).toEqual({
      f: 0.12345678901234568,
      e: [0],
      s: '12345678901234567',
      i: '-12345678901234567890',
    });
  });
});
