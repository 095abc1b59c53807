import { inspect } from 'node:util';
import { MIMCError, ErrorCode, upstreamMessage } from '../errors.js';
import { parseJsonExact } from '../protocol/json.js';
import { parseJsonUint64, parseUint64 } from '../protocol/int64.js';
import { requestText, type HttpAnswer } from './http-client.js';
import type { Token } from './types.js';

/** The real token service. */
export const DEFAULT_TOKEN_URL = 'https://mimc.chat.xiaomi.net/api/account/token';

/** What the client needs from the token JSON. Holds secrets: never log it. */
export interface TokenInfo {
  appId: bigint;
  appAccount: string;
  appPackage: string;
  uuid: bigint;
  securityKey: string;
  token: string;
  feDomainName: string;
  chid: number;
}

function invalid(message: string, details?: Record<string, unknown>): MIMCError {
  return new MIMCError(ErrorCode.INVALID_TOKEN, message, details ? { details } : undefined);
}

/**
 * A flat copy of `s`. The JSON parser returns string values as slices of the response text, so
 * keeping them for the session's lifetime would keep the whole response alive (about 1.3 KiB
 * per user). The JSON round trip is lossless (lone surrogates are escaped and restored).
 */
function detached(s: string): string {
  return JSON.parse(JSON.stringify(s)) as string;
}

function requireString(data: Record<string, unknown>, field: string): string {
  const value = data[field];
  if (typeof value !== 'string' || value.length === 0) throw invalid(`token JSON: data.${field} must be a non-empty string`);
  return value;
}

/**
 * Parses and checks the token-service JSON the way the Go SDK does (code 200, same app and
 * account), without its crashes: every problem is an ERR_INVALID_TOKEN MIMCError.
 */
export function parseTokenJson(text: string, expected: { appId: bigint; appAccount: string }): TokenInfo {
  let json: unknown;
  try {
    json = parseJsonExact(text);
  } catch (err) {
    throw new MIMCError(ErrorCode.INVALID_TOKEN, 'token response is not JSON', { cause: err });
  }
  if (typeof json !== 'object' || json === null) throw invalid('token response is not a JSON object');
  const body = json as Record<string, unknown>;
  if (body.code !== 200) {
    throw invalid(`token service refused: ${upstreamMessage(body.message) ?? 'no message'}`, { code: body.code });
  }
  if (typeof body.data !== 'object' || body.data === null) throw invalid('token JSON has no data object');
  const data = body.data as Record<string, unknown>;
  const appId = parseJsonUint64(data.appId);
  if (appId === undefined) throw invalid('token JSON: data.appId is not a decimal id');
  if (appId !== expected.appId) throw invalid('token JSON is for another app', { appId: appId.toString() });
  const appAccount = requireString(data, 'appAccount');
  if (appAccount !== expected.appAccount) throw invalid('token JSON is for another account', { appAccount });
  const uuid = parseJsonUint64(data.miUserId);
  if (uuid === undefined || uuid === 0n) throw invalid('token JSON: data.miUserId is not a decimal id');
  const securityKey = requireString(data, 'miUserSecurityKey');
  if (Buffer.from(securityKey, 'base64').length === 0) throw invalid('token JSON: miUserSecurityKey is not base64');
  return {
    appId,
    appAccount: expected.appAccount,
    appPackage: typeof data.appPackage === 'string' ? detached(data.appPackage) : '',
    uuid,
    securityKey: detached(securityKey),
    token: detached(requireString(data, 'token')),
    feDomainName: detached(requireString(data, 'feDomainName')),
    chid: typeof data.miChid === 'number' ? data.miChid : 9,
  };
}

function parsedUrl(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined; // requestText reports it
  }
}

export interface HttpTokenFetcherOptions {
  appId: bigint | string;
  appKey: string;
  appSecret: string;
  appAccount: string;
  /** Token service URL; default the real service. */
  url?: string;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
}

/**
 * A `Token` delegate for servers that hold the app credentials: asks the token service
 * directly. Client apps should instead fetch the JSON from their own backend.
 */
export class HttpTokenFetcher implements Token {
  private readonly appId: bigint;
  private readonly url: string;
  private readonly timeoutMs: number;
  /** `url` parsed, at the first fetch that could (a bad URL fails each fetch, as before). */
  private target: URL | undefined;
  /** Holds the app secret: an ES private field, so util.inspect and JSON.stringify never see it. */
  readonly #options: HttpTokenFetcherOptions;

  constructor(options: HttpTokenFetcherOptions) {
    this.#options = { ...options };
    const appId = parseUint64(options.appId);
    if (appId === undefined) throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'appId must be a decimal string or bigint');
    this.appId = appId;
    this.url = options.url ?? DEFAULT_TOKEN_URL;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** What util.inspect (and so console output) shows: never the app key or secret. */
  [inspect.custom](): string {
    return `HttpTokenFetcher { appId: ${this.appId}, appAccount: ${JSON.stringify(this.#options.appAccount)}, url: ${JSON.stringify(this.url)} }`;
  }

  toJSON(): { appId: string; appAccount: string; url: string } {
    return { appId: this.appId.toString(), appAccount: this.#options.appAccount, url: this.url };
  }

  async fetchToken(): Promise<string> {
    // appId goes out as a JSON number, as the real API expects, written from the bigint's digits.
    const body = `{"appId":${this.appId},"appKey":${JSON.stringify(this.#options.appKey)},"appSecret":${JSON.stringify(
      this.#options.appSecret,
    )},"appAccount":${JSON.stringify(this.#options.appAccount)}}`;
    let answer: HttpAnswer;
    try {
      answer = await requestText((this.target ??= parsedUrl(this.url)) ?? this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body,
        timeoutMs: this.timeoutMs,
        what: 'token service',
      });
    } catch (err) {
      throw new MIMCError(ErrorCode.TOKEN_FETCH_FAILED, `token request to ${this.url} failed`, { cause: err });
    }
    if (answer.status < 200 || answer.status > 299) {
      throw new MIMCError(ErrorCode.TOKEN_FETCH_FAILED, `token service answered HTTP ${answer.status}`, {
        details: { status: answer.status },
      });
    }
    return answer.text;
  }
}
