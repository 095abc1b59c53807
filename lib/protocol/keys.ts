import { createHash } from 'node:crypto';
import { MIMCError, ErrorCode } from '../errors.js';
import { ownBytes, ownCopy } from './bytes.js';
import { rc4, rc4Range } from './rc4.js';

const utf8 = new TextEncoder();

/** The second half of a string by code points; strings of length 0 or 1 are kept whole. */
function secondHalf(s: string): string {
  let surrogates = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      surrogates = true;
      break;
    }
  }
  // without surrogates every code unit is a code point: the same cut, without an array of them
  if (!surrogates) return s.slice(s.length >> 1);
  const codePoints = Array.from(s);
  return codePoints.slice(Math.floor(codePoints.length / 2)).join('');
}

/**
 * The per-connection RC4 "body key": RC4(key = challenge, data = half(challenge) + half(udid)),
 * where half() takes the second half. `udid` is what the client sent in its CONN message.
 */
export function deriveBodyKey(challenge: string, udid: string): Uint8Array {
  if (challenge.length === 0) throw new MIMCError(ErrorCode.MALFORMED_FRAME, 'empty challenge');
  // Buffers, like every array the cipher loops see (see ownCopy)
  const data = Buffer.from(secondHalf(challenge) + secondHalf(udid), 'utf8');
  return rc4(Buffer.from(challenge, 'utf8'), data, ownBytes(data.length));
}

/**
 * Decoded security keys (never handed out). A session uses one key for every frame, but a process
 * with several users (or the emulator) alternates between theirs: base64-decoding on each frame
 * would cost a third of the payload cipher. Bounded: past 256 keys it starts over.
 */
const secrets = new Map<string, Uint8Array>();
const MAX_SECRETS = 256;

function secretOf(securityKey: string): Uint8Array {
  let secret = secrets.get(securityKey);
  if (secret === undefined) {
    if (secrets.size >= MAX_SECRETS) secrets.clear();
    secret = Buffer.from(securityKey, 'base64');
    secrets.set(securityKey, secret);
  }
  return secret;
}
/** Where `writePayloadKey` builds a key: scheduled at once and never handed out. */
let keyScratch = Buffer.alloc(256);

/** Writes the payload key of `securityKey` and `headerId` into `keyScratch`; returns its length. */
function writePayloadKey(securityKey: string, headerId: string): number {
  const secret = secretOf(securityKey);
  // byteLength counts an unpaired surrogate as the 3 bytes of the U+FFFD that encodeInto writes
  const length = secret.length + 1 + Buffer.byteLength(headerId, 'utf8');
  if (length > keyScratch.length) keyScratch = Buffer.alloc(length * 2);
  const key = keyScratch;
  key.set(secret, 0);
  key[secret.length] = 0x5f; // '_'
  let at = secret.length + 1;
  if (at + headerId.length === length) {
    for (let i = 0; i < headerId.length; i++) key[at++] = headerId.charCodeAt(i); // ASCII, as every SDK's ids are
  } else {
    utf8.encodeInto(headerId, key.subarray(at, length));
  }
  return length;
}

/** The key of a SECMSG payload: base64-decoded security key + '_' + the frame header id. */
export function derivePayloadKey(securityKey: string, headerId: string): Uint8Array {
  const length = writePayloadKey(securityKey, headerId); // first: it may replace keyScratch
  return ownCopy(keyScratch.subarray(0, length));
}

/**
 * RC4 of a SECMSG payload under its key (see derivePayloadKey), from `src[srcStart, +length)`
 * into `dst` from `dstStart` (the same bytes to work in place). Allocates nothing.
 */
export function cryptPayload(securityKey: string, headerId: string, src: Uint8Array, srcStart: number, length: number, dst: Uint8Array, dstStart: number): void {
  const keyLength = writePayloadKey(securityKey, headerId); // first: it may replace keyScratch
  rc4Range(keyScratch, keyLength, src, srcStart, length, dst, dstStart);
}

export interface BindSignatureInput {
  method: string;
  challenge: string;
  chid: number;
  clientAttrs: string;
  cloudAttrs: string;
  uuid: bigint;
  resource: string;
  headerId: string;
  kick: string;
  server: string;
  token: string;
  securityKey: string;
}

/** The text the BIND signature hashes; exported so tests can compare it with the vectors. */
export function bindSignatureInput(p: BindSignatureInput): string {
  // Keys in byte order: challenge, chid, client_attrs, cloud_attrs, from, id, kick, to, token.
  const params = [
    `challenge=${p.challenge}`,
    `chid=${p.chid}`,
    `client_attrs=${p.clientAttrs}`,
    `cloud_attrs=${p.cloudAttrs}`,
    `from=${p.uuid}@xiaomi.com/${p.resource}`,
    `id=${p.headerId}`,
    `kick=${p.kick}`,
    `to=${p.server}`,
    `token=${p.token}`,
  ];
  return `${p.method.toUpperCase()}&${params.join('&')}&${p.securityKey}`;
}

/** base64(SHA-1(signature input)), the `sig` of XMMsgBind. */
export function bindSignature(p: BindSignatureInput): string {
  return createHash('sha1').update(bindSignatureInput(p), 'utf8').digest('base64');
}
