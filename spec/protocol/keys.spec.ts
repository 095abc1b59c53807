/** deriveBodyKey against its definition: RC4(challenge, second half of challenge + of udid, by code points). */
import { deriveBodyKey, rc4 } from '../../lib/protocol/index.js';

const utf8 = new TextEncoder();

function reference(challenge: string, udid: string): Uint8Array {
  const half = (s: string) => {
    const points = Array.from(s);
    return points.slice(Math.floor(points.length / 2)).join('');
  };
  return rc4(utf8.encode(challenge), utf8.encode(half(challenge) + half(udid)));
}

describe('deriveBodyKey', () => {
  it.each([
    ['abcdefghijklmnop', '4d3c2b1a0f9e8d7c'],
    ['abcdefghijklmnopq', 'x'],
    ['a', ''],
    ['ab', 'é中文字'],
    ['challenge', 'dev-😀😀-udid'], // astral: halves by code points, not UTF-16 units
    ['😀abc', '😀'],
    ['abc\ud800def', 'lone\udc00surrogate'], // lone surrogates count as one code point each
  ])('challenge %j, udid %j', (challenge, udid) => {
    expect(Buffer.from(deriveBodyKey(challenge, udid)).toString('hex')).toBe(Buffer.from(reference(challenge, udid)).toString('hex'));
  });
});
