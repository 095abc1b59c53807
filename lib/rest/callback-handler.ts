/**
 * createCallbackHandler: the app server's receiver for MIMC's message callbacks (instant:
 * NORMAL_MSG / NORMAL_TOPIC_MSG; offline: OFFLINE_MSG / OFFLINE_TOPIC_MSG). It validates and
 * decodes each event, hands it to an async function, and answers 200 only once that function
 * resolved: any other answer makes MIMC retry (+5 s, +30 s, +5 min), so handlers should be
 * idempotent. MIMC signs nothing: the handler needs `verify` (callbackSecretVerifier checks a
 * secret in the callback URL's query in constant time) unless `insecureNoVerify: true` is given.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { MIMCError, ErrorCode } from '../errors.js';
import { parseUint64 } from '../protocol/int64.js';
import { parseJsonExact } from '../protocol/json.js';
import { BodyTooLarge, envelopeText, parseRequestTarget, readRequestBody, sendJson } from './node-http.js';
import type { NodeRequestHandler } from './token-handler.js';

interface CallbackCommon {
  fromAccount: string;
  /** The message bytes (base64 on the wire). */
  payload: Uint8Array;
  /** ms since the epoch. */
  timestamp: number;
  /** Extension (the emulator sends it when the message had one; MIMC's manual has no such field). */
  bizType?: string;
  /** true for OFFLINE_MSG and OFFLINE_TOPIC_MSG. */
  offline: boolean;
}

/** A P2P message: NORMAL_MSG (the recipient was online) or OFFLINE_MSG (it was stored for later). */
export interface P2PCallbackEvent extends CallbackCommon {
  msgType: 'NORMAL_MSG' | 'OFFLINE_MSG';
  fromAppId: bigint;
  toAppId: bigint;
  toAccount: string;
}

/**
 * A topic message: NORMAL_TOPIC_MSG (`toAccounts` = every member) or OFFLINE_TOPIC_MSG
 * (`toAccounts` = the members who were offline).
 */
export interface TopicCallbackEvent extends CallbackCommon {
  msgType: 'NORMAL_TOPIC_MSG' | 'OFFLINE_TOPIC_MSG';
  appId: bigint;
  topicId: bigint;
  toAccounts: string[];
}

export type CallbackEvent = P2PCallbackEvent | TopicCallbackEvent;

export interface CallbackHandlerOptions {
  /** Largest body accepted; default 256 KiB (a 10 KiB payload and a 500-member toAccounts fit easily). */
  maxBodyBytes?: number;
  /**
   * Authenticates the caller; anything but `true` answers 401 (MIMC will retry, then give up).
   * Required: MIMC signs nothing, so without it anyone who can reach the URL injects events.
   * `callbackSecretVerifier(secret)` is the usual choice.
   */
  verify?(req: IncomingMessage, rawBody: Buffer): boolean | Promise<boolean>;
  /**
   * Accept every caller without `verify`: only behind your own authentication (a private network,
   * a gateway that checks the sender). Must be exactly `true`.
   */
  insecureNoVerify?: boolean;
  /** Logs refusals and handler failures (never payloads). */
  logger?: Logger;
}

function bad(message: string): MIMCError {
  return new MIMCError(ErrorCode.INVALID_ARGUMENT, `bad callback: ${message}`);
}

function text(o: Record<string, unknown>, field: string): string {
  const value = o[field];
  if (typeof value !== 'string' || value.length === 0) throw bad(`${field} must be a non-empty string`);
  return value;
}

function id(o: Record<string, unknown>, field: string): bigint {
  const value = o[field];
  const parsed = typeof value === 'number' ? (Number.isSafeInteger(value) && value >= 0 ? BigInt(value) : undefined) : parseUint64(value);
  if (parsed === undefined) throw bad(`${field} must be a 64-bit id`);
  return parsed;
}

function millis(o: Record<string, unknown>, field: string): number {
  const value = o[field];
  const n = typeof value === 'string' && /^[0-9]{1,16}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw bad(`${field} must be a time in ms`);
  return n;
}

function base64(o: Record<string, unknown>, field: string): Uint8Array {
  const value = o[field];
  if (typeof value !== 'string' || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(value)) {
    throw bad(`${field} must be base64`);
  }
  return new Uint8Array(Buffer.from(value, 'base64'));
}

/** Validates and decodes one callback body (already parsed with exact integers). */
export function toCallbackEvent(value: unknown): CallbackEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('the body must be a JSON object');
  const o = value as Record<string, unknown>;
  const msgType = o.msgType;
  const common = (): CallbackCommon => {
    const c: CallbackCommon = { fromAccount: text(o, 'fromAccount'), payload: base64(o, 'payload'), timestamp: millis(o, 'timestamp'), offline: false };
    if (o.bizType !== undefined && o.bizType !== null) {
      if (typeof o.bizType !== 'string') throw bad('bizType must be a string');
      c.bizType = o.bizType;
    }
    return c;
  };
  switch (msgType) {
    case 'NORMAL_MSG':
    case 'OFFLINE_MSG':
      return {
        msgType,
        ...common(),
        offline: msgType === 'OFFLINE_MSG',
        fromAppId: id(o, 'fromAppId'),
        toAppId: id(o, 'toAppId'),
        toAccount: text(o, 'toAccount'),
      };
    case 'NORMAL_TOPIC_MSG':
    case 'OFFLINE_TOPIC_MSG': {
      const toAccounts = o.toAccounts;
      if (!Array.isArray(toAccounts) || toAccounts.some((a) => typeof a !== 'string')) throw bad('toAccounts must be an array of strings');
      return {
        msgType,
        ...common(),
        offline: msgType === 'OFFLINE_TOPIC_MSG',
        appId: id(o, 'appId'),
        topicId: id(o, 'topicId'),
        toAccounts: toAccounts as string[],
      };
    }
    default:
      throw bad(
        typeof msgType === 'string'
          ? `unknown msgType ${JSON.stringify(msgType.slice(0, 64))}`
          : 'msgType must be NORMAL_MSG, OFFLINE_MSG, NORMAL_TOPIC_MSG or OFFLINE_TOPIC_MSG',
      );
  }
}

/** Shortest secret callbackSecretVerifier accepts (16 characters: ~95 bits as base64url). */
export const MIN_CALLBACK_SECRET_LENGTH = 16;

export interface CallbackSecretOptions {
  /** Query parameter carrying the secret; default 'secret'. */
  param?: string;
}

function checkSecret(secret: unknown): string {
  if (typeof secret !== 'string' || secret.length < MIN_CALLBACK_SECRET_LENGTH) {
    throw new MIMCError(ErrorCode.INVALID_ARGUMENT, `a callback secret must be a string of at least ${MIN_CALLBACK_SECRET_LENGTH} characters (e.g. randomBytes(24).toString('base64url'))`);
  }
  return secret;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * The callback URL to register with MIMC (and give the emulator as `callbackUrl`): `url` with
 * the secret added as a query parameter. Keep it out of logs: it is a credential.
 */
export function callbackUrlWithSecret(url: string, secret: string, options: CallbackSecretOptions = {}): string {
  checkSecret(secret);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'callbackUrlWithSecret needs an absolute URL');
  }
  parsed.searchParams.set(options.param ?? 'secret', secret);
  return parsed.toString();
}

/**
 * A `verify` for createCallbackHandler: true when the request URL's query parameter (default
 * `secret`) equals `secret`. Compared in constant time (SHA-256 of both, then timingSafeEqual), so
 * neither the content nor the length of the secret leaks through timing.
 */
export function callbackSecretVerifier(secret: string, options: CallbackSecretOptions = {}): (req: IncomingMessage) => boolean {
  const expected = digest(checkSecret(secret));
  const param = options.param ?? 'secret';
  return (req) => {
    const given = parseRequestTarget(req.url)?.searchParams.get(param) ?? null;
    // Hashing first equalises the lengths; the comparison of the digests is constant-time.
    return given !== null && timingSafeEqual(digest(given), expected);
  };
}

/** Parses a callback body: JSON with exact 64-bit integers, then toCallbackEvent. Throws ERR_INVALID_ARGUMENT. */
export function parseCallbackEvent(body: string | Uint8Array): CallbackEvent {
  const textBody = typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  let value: unknown;
  try {
    value = parseJsonExact(textBody);
  } catch {
    throw bad('the body is not JSON');
  }
  return toCallbackEvent(value);
}

/**
 * A node:http handler for MIMC's callback URLs (both may point at it). Answers: 200 once
 * `onEvent` resolved; 500 when it threw or rejected (MIMC retries); 400 for a malformed event
 * (with the reason); 401 when `verify` refused; 405 for other methods than POST; 413 for a
 * body above `maxBodyBytes`. Mount it before any JSON body parser (or behind a raw/text one):
 * a body parsed into numbers loses ids above 2^53.
 */
export function createCallbackHandler(
  onEvent: (event: CallbackEvent, req: IncomingMessage) => unknown,
  options: CallbackHandlerOptions = {},
): NodeRequestHandler {
  if (typeof onEvent !== 'function') throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'createCallbackHandler needs an event function');
  if (options.verify !== undefined && typeof options.verify !== 'function') throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'createCallbackHandler: verify must be a function');
  if (options.verify === undefined && options.insecureNoVerify !== true) {
    throw new MIMCError(
      ErrorCode.INVALID_ARGUMENT,
      'createCallbackHandler needs verify (MIMC signs nothing; e.g. verify: callbackSecretVerifier(secret)), or insecureNoVerify: true behind your own authentication',
    );
  }
  const maxBodyBytes = options.maxBodyBytes ?? 256 * 1024;
  const log = options.logger;

  return (req, res) => {
    const run = async (): Promise<void> => {
      if (req.method !== 'POST') {
        sendJson(res, 405, envelopeText(405, 'use POST'), { allow: 'POST' });
        return;
      }
      let body: { raw: Buffer } | { parsed: unknown };
      try {
        body = await readRequestBody(req, maxBodyBytes);
      } catch (err) {
        if (err instanceof BodyTooLarge) {
          sendJson(res, 413, envelopeText(413, `body larger than ${maxBodyBytes} bytes`));
          return;
        }
        throw err;
      }
      if ('parsed' in body) {
        log?.error('callback handler mounted behind a JSON body parser');
        sendJson(res, 500, envelopeText(500, 'callback handler misconfigured: the body was parsed before it (ids above 2^53 would lose precision)'));
        return;
      }
      if (options.verify && (await options.verify(req, body.raw)) !== true) {
        log?.warn('callback refused by verify');
        sendJson(res, 401, envelopeText(401, 'not verified'));
        return;
      }
      let event: CallbackEvent;
      try {
        event = parseCallbackEvent(body.raw);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log?.warn({ reason: message }, 'malformed callback');
        sendJson(res, 400, envelopeText(400, message));
        return;
      }
      try {
        await onEvent(event, req);
      } catch (err) {
        log?.error({ msgType: event.msgType, err: err instanceof Error ? err.message : String(err) }, 'callback event handler failed; MIMC will retry');
        sendJson(res, 500, envelopeText(500, 'event handler failed'));
        return;
      }
      sendJson(res, 200, envelopeText(200, 'success'));
    };
    run().catch((err: unknown) => {
      log?.error({ err: err instanceof Error ? err.message : String(err) }, 'callback handler failed');
      sendJson(res, 500, envelopeText(500, 'internal error'));
    });
  };
}
