/**
 * MIMCRestClient: MIMC's server-side REST API (token, push, topics, history, blacklist) over
 * Node's own fetch. Every call has a timeout and takes an optional AbortSignal; idempotent
 * reads are retried on transient failures; an error envelope becomes a MIMCError ERR_API.
 * 64-bit ids are bigints in the API, written as exact JSON integers and parsed exactly.
 */
import pRetry from 'p-retry';
import { inspect } from 'node:util';
import { MIMCError, ErrorCode, upstreamMessage } from '../errors.js';
import { parseJsonUint64, parseUint64 } from '../protocol/int64.js';
import { parseJsonExact, stringifyExact } from '../protocol/json.js';
import { readResponseText, ResponseTooLarge } from './node-http.js';
import type { Token } from '../user/types.js';
import type {
  ChatListEntry,
  UnlimitedGroupMember,
  CountRange,
  HistoryMessage,
  HistoryPage,
  MIMCRestClientOptions,
  P2PConversation,
  PushContent,
  RestActor,
  RestRequestOptions,
  RestTime,
  RestToken,
  SequenceRange,
  TimeRange,
  TopicDetail,
  TopicInfo,
  TopicMember,
  TopicUpdate,
} from './types.js';

/** The real service. */
export const DEFAULT_REST_BASE_URL = 'https://mimc.chat.xiaomi.net';
/** MIMC's SDKs refuse larger payloads (MIMC_MAX_PAYLOAD_SIZE). */
export const MAX_PUSH_PAYLOAD_BYTES = 10 * 1024;
/** Default cap on a response body (`maxResponseBytes`). */
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;
/** The longest window of a time-range history query. */
export const MAX_HISTORY_WINDOW_MS = 24 * 60 * 60 * 1000;

const DEFAULT_FROM_RESOURCE = 'mimc_node_rest';
const JSON_UTF8 = 'application/json;charset=UTF-8';

interface Envelope {
  status: number;
  text: string;
  data: unknown;
}

interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: unknown;
  /** An idempotent read: retried on transient failures. */
  read: boolean;
}

function invalid(message: string): MIMCError {
  return new MIMCError(ErrorCode.INVALID_ARGUMENT, message);
}

/** A malformed answer (the service broke its own format). */
function malformed(spec: RequestSpec, what: string, status: number): MIMCError {
  return new MIMCError(ErrorCode.HTTP_ERROR, `unexpected answer from ${spec.method} ${spec.path}: ${what}`, {
    details: { status, method: spec.method, path: spec.path },
  });
}

function positiveInteger(value: number | undefined, fallback: number, name: string, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min) throw invalid(`${name} must be an integer >= ${min}`);
  return value;
}

function requireAccount(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(`${name} must be a non-empty string`);
  return value;
}

/** Accounts joined with commas, as the topic API takes them. */
function commaList(accounts: unknown, name: string): string {
  if (!Array.isArray(accounts) || accounts.length === 0) throw invalid(`${name} must be a non-empty array of accounts`);
  return accounts
    .map((a) => {
      const account = requireAccount(a, name);
      if (account.includes(',')) throw invalid(`${name}: an account containing a comma cannot be sent to the topic API`);
      return account;
    })
    .join(',');
}

/** A header value: visible ASCII only (fetch refuses others, and they would be mangled). */
function headerValue(value: string, name: string): string {
  if (!/^[\x20-\x7e]+$/.test(value)) throw invalid(`${name} must be printable ASCII to travel in a header (use a token actor instead)`);
  return value;
}

function inputId(value: unknown, name: string): bigint {
  const id = parseUint64(value);
  if (id === undefined) throw invalid(`${name} must be a bigint or a decimal string`);
  return id;
}

function millis(value: RestTime, name: string): number {
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 0) throw invalid(`${name} must be a Date or a non-negative integer of ms`);
  return ms;
}

// ---- answer parsing ---------------------------------------------------------------------------

type Check = (what: string) => MIMCError;

function asObject(value: unknown, what: string, fail: Check): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail(`${what} is not an object`);
  return value as Record<string, unknown>;
}

function asArray(value: unknown, what: string, fail: Check): unknown[] {
  if (!Array.isArray(value)) throw fail(`${what} is not an array`);
  return value;
}

function asString(value: unknown, what: string, fail: Check): string {
  if (typeof value !== 'string') throw fail(`${what} is not a string`);
  return value;
}

/** A 64-bit id from JSON: an exact string (as parseJsonExact leaves big ones) or a safe integer. */
function asId(value: unknown, what: string, fail: Check): bigint {
  const id = parseJsonUint64(value);
  if (id === undefined) throw fail(`${what} is not a 64-bit id`);
  return id;
}

function asMillis(value: unknown, what: string, fail: Check): number {
  const n = typeof value === 'string' && /^[0-9]{1,16}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw fail(`${what} is not a time in ms`);
  return n;
}

function asBase64(value: unknown, what: string, fail: Check): Uint8Array {
  const text = asString(value, what, fail);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1) throw fail(`${what} is not base64`);
  return new Uint8Array(Buffer.from(text, 'base64'));
}

function topicInfoFrom(value: unknown, fail: Check): TopicInfo {
  const o = asObject(value, 'topicInfo', fail);
  return {
    topicId: asId(o.topicId, 'topicInfo.topicId', fail),
    ownerUuid: asId(o.ownerUuid, 'topicInfo.ownerUuid', fail),
    ownerAccount: asString(o.ownerAccount, 'topicInfo.ownerAccount', fail),
    topicName: typeof o.topicName === 'string' ? o.topicName : '',
    bulletin: typeof o.bulletin === 'string' ? o.bulletin : '',
  };
}

function topicDetailFrom(value: unknown, fail: Check): TopicDetail {
  const o = asObject(value, 'data', fail);
  const members: TopicMember[] = asArray(o.members, 'data.members', fail).map((m) => {
    const member = asObject(m, 'member', fail);
    return { uuid: asId(member.uuid, 'member.uuid', fail), account: asString(member.account, 'member.account', fail) };
  });
  return { topicInfo: topicInfoFrom(o.topicInfo, fail), members };
}

function chatListFrom(value: unknown, fail: Check): ChatListEntry[] {
  if (value === null || value === undefined) return [];
  return asArray(value, 'data', fail).map((row) => {
    const r = asObject(row, 'row', fail);
    const userType = r.userType;
    if (userType !== 'USER' && userType !== 'TOPIC') throw fail('row.userType is neither USER nor TOPIC');
    const m = asObject(r.lastMessage, 'row.lastMessage', fail);
    return {
      userType,
      id: asId(r.id, 'row.id', fail),
      name: asString(r.name, 'row.name', fail),
      timestamp: asMillis(r.timestamp, 'row.timestamp', fail),
      lastMessage: {
        fromUuid: asId(m.fromUuid, 'lastMessage.fromUuid', fail),
        fromAccount: asString(m.fromAccount, 'lastMessage.fromAccount', fail),
        payload: asBase64(m.payload, 'lastMessage.payload', fail),
        sequence: asId(m.sequence, 'lastMessage.sequence', fail),
      },
    };
  });
}

function historyFrom(value: unknown, fail: Check): HistoryPage {
  const o = asObject(value, 'data', fail);
  const messages: HistoryMessage[] = (o.messages === null || o.messages === undefined ? [] : asArray(o.messages, 'data.messages', fail)).map((m) => {
    const e = asObject(m, 'message', fail);
    const message: HistoryMessage = {
      sequence: asId(e.sequence, 'message.sequence', fail),
      payload: asBase64(e.payload, 'message.payload', fail),
      ts: asMillis(e.ts, 'message.ts', fail),
      fromAccount: asString(e.fromAccount, 'message.fromAccount', fail),
    };
    if (typeof e.toAccount === 'string') message.toAccount = e.toAccount;
    if (typeof e.bizType === 'string') message.bizType = e.bizType;
    return message;
  });
  const page: HistoryPage = {
    appId: asId(o.appId, 'data.appId', fail),
    messages,
    row: typeof o.row === 'number' ? o.row : messages.length,
    timestamp: o.timestamp === undefined || o.timestamp === null ? 0 : asMillis(o.timestamp, 'data.timestamp', fail),
  };
  if (o.topicId !== undefined && o.topicId !== null) page.topicId = asId(o.topicId, 'data.topicId', fail);
  return page;
}

/** Transient failures worth another attempt of a read. */
function isTransient(err: unknown): boolean {
  if (!MIMCError.is(err)) return false;
  if (err.code === ErrorCode.HTTP_TIMEOUT) return true;
  if (err.code !== ErrorCode.HTTP_ERROR) return false;
  const status = err.details?.status;
  return status === undefined || status === 429 || (typeof status === 'number' && status >= 500);
}

export class MIMCRestClient {
  readonly appId: bigint;
  readonly baseUrl: string;
  // Credentials and cached tokens live in ES private fields: util.inspect, console output,
  // JSON.stringify and Object.keys never see them.
  readonly #appKey: string;
  readonly #appSecret: string;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryMinDelayMs: number;
  private readonly retryMaxDelayMs: number;
  private readonly tokenCacheMs: number;
  private readonly maxPayloadBytes: number;
  private readonly maxResponseBytes: number;
  private readonly fetchImpl: typeof fetch;
  readonly #tokens = new Map<string, { token: Promise<string>; expiresAt: number }>();

  constructor(options: MIMCRestClientOptions) {
    if (typeof options !== 'object' || options === null) throw invalid('options are required');
    const appId = parseUint64(options.appId);
    if (appId === undefined || appId === 0n) throw invalid('appId must be a positive bigint or decimal string');
    this.appId = appId;
    if (typeof options.appKey !== 'string' || options.appKey.length === 0) throw invalid('appKey must be a non-empty string');
    if (typeof options.appSecret !== 'string' || options.appSecret.length === 0) throw invalid('appSecret must be a non-empty string');
    this.#appKey = headerValue(options.appKey, 'appKey');
    this.#appSecret = headerValue(options.appSecret, 'appSecret');
    const base = options.baseUrl ?? DEFAULT_REST_BASE_URL;
    let parsed: URL;
    try {
      parsed = new URL(base);
    } catch {
      throw invalid('baseUrl must be an absolute http(s) URL');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw invalid('baseUrl must be an absolute http(s) URL');
    this.baseUrl = base.replace(/\/+$/, '');
    this.timeoutMs = positiveInteger(options.timeoutMs, 10_000, 'timeoutMs');
    this.retries = positiveInteger(options.retries, 2, 'retries', 0);
    this.retryMinDelayMs = positiveInteger(options.retryMinDelayMs, 200, 'retryMinDelayMs', 0);
    this.retryMaxDelayMs = positiveInteger(options.retryMaxDelayMs, 2_000, 'retryMaxDelayMs', 0);
    this.tokenCacheMs = positiveInteger(options.tokenCacheMs, 10 * 60 * 1000, 'tokenCacheMs', 0);
    this.maxPayloadBytes = positiveInteger(options.maxPayloadBytes, MAX_PUSH_PAYLOAD_BYTES, 'maxPayloadBytes');
    this.maxResponseBytes = positiveInteger(options.maxResponseBytes, DEFAULT_MAX_RESPONSE_BYTES, 'maxResponseBytes');
    this.fetchImpl = options.fetch ?? fetch;
  }

  /** What util.inspect (and so console output) shows: the app id and base URL, never a credential or token. */
  [inspect.custom](): string {
    return `MIMCRestClient { appId: ${this.appId}, baseUrl: ${JSON.stringify(this.baseUrl)} }`;
  }

  /** What JSON.stringify writes: the app id (decimal string) and base URL, never a credential or token. */
  toJSON(): { appId: string; baseUrl: string } {
    return { appId: this.appId.toString(), baseUrl: this.baseUrl };
  }

  // ---- transport --------------------------------------------------------------------------------

  /** One HTTP exchange: status and envelope checked, `data` returned (with the raw text). */
  private async exchange(spec: RequestSpec, options: RestRequestOptions): Promise<Envelope> {
    const timeoutMs = options.timeoutMs === undefined ? this.timeoutMs : positiveInteger(options.timeoutMs, this.timeoutMs, 'timeoutMs');
    const timeout = AbortSignal.timeout(timeoutMs);
    // Aborted by us when the answer exceeds maxResponseBytes: fetch then drops the connection.
    const tooLarge = new AbortController();
    const signal = AbortSignal.any(options.signal ? [options.signal, timeout, tooLarge.signal] : [timeout, tooLarge.signal]);
    const url = new URL(this.baseUrl + spec.path);
    for (const [k, v] of Object.entries(spec.query ?? {})) url.searchParams.set(k, v);
    const headers: Record<string, string> = { accept: 'application/json', ...spec.headers };
    let body: string | undefined;
    if (spec.body !== undefined) {
      body = stringifyExact(spec.body);
      headers['content-type'] ??= 'application/json';
    }
    const where = { method: spec.method, path: spec.path };
    const failure = (err: unknown, status?: number): MIMCError => {
      if (options.signal?.aborted) return new MIMCError(ErrorCode.ABORTED, `${spec.method} ${spec.path} aborted`, { cause: options.signal.reason });
      if (timeout.aborted) {
        return new MIMCError(ErrorCode.HTTP_TIMEOUT, `${spec.method} ${spec.path} got no answer within ${timeoutMs} ms`, { cause: err, details: { ...where, timeoutMs } });
      }
      return new MIMCError(ErrorCode.HTTP_ERROR, `${spec.method} ${spec.path} failed: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
        details: status === undefined ? where : { ...where, status },
      });
    };
    let response: Response;
    try {
      response = await this.fetchImpl(url, { method: spec.method, headers, body, signal, redirect: 'error' });
    } catch (err) {
      throw failure(err);
    }
    let text: string;
    try {
      text = await readResponseText(response, this.maxResponseBytes, () => tooLarge.abort());
    } catch (err) {
      if (err instanceof ResponseTooLarge) {
        throw new MIMCError(ErrorCode.HTTP_TOO_LARGE, `${spec.method} ${spec.path} answered more than ${err.limit} bytes`, {
          cause: err,
          details: { ...where, status: response.status, limit: err.limit, ...(err.contentLength === undefined ? {} : { contentLength: err.contentLength }) },
        });
      }
      throw failure(err, response.status);
    }
    let json: unknown;
    try {
      json = parseJsonExact(text);
    } catch {
      json = undefined;
    }
    const envelope = typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : undefined;
    const code = typeof envelope?.code === 'number' ? envelope.code : undefined;
    // The upstream's message may echo the request: keep only a bounded form without credentials.
    const message = upstreamMessage(envelope?.message, [this.#appSecret, this.#appKey, headers.token]);
    if (!response.ok) {
      throw new MIMCError(ErrorCode.HTTP_ERROR, `${spec.method} ${spec.path} answered HTTP ${response.status}${message ? `: ${message}` : ''}`, {
        details: { ...where, status: response.status, ...(code === undefined ? {} : { code }), ...(message === undefined ? {} : { message }) },
      });
    }
    if (code === undefined) throw malformed(spec, envelope ? 'no numeric code in the envelope' : 'the body is not a JSON object', response.status);
    if (code !== 200) {
      throw new MIMCError(ErrorCode.API_ERROR, `${spec.method} ${spec.path} refused: ${code} ${message ?? ''}`.trimEnd(), {
        details: { ...where, status: response.status, code, message: message ?? '' },
      });
    }
    return { status: response.status, text, data: envelope!.data };
  }

  /** exchange(), retried for reads; the answer's data goes through `parse`. */
  private async request<T>(spec: RequestSpec, options: RestRequestOptions, parse: (data: unknown, fail: Check) => T): Promise<T> {
    if (options.signal?.aborted) throw new MIMCError(ErrorCode.ABORTED, `${spec.method} ${spec.path} aborted`, { cause: options.signal.reason });
    const once = async (): Promise<T> => {
      const answer = await this.exchange(spec, options);
      return parse(answer.data, (what) => malformed(spec, what, answer.status));
    };
    if (!spec.read || this.retries === 0) return once();
    try {
      return await pRetry(once, {
        retries: this.retries,
        factor: 2,
        minTimeout: this.retryMinDelayMs,
        maxTimeout: this.retryMaxDelayMs,
        randomize: true,
        signal: options.signal,
        shouldRetry: ({ error }) => isTransient(error),
      });
    } catch (err) {
      if (options.signal?.aborted && !(MIMCError.is(err) && err.code === ErrorCode.ABORTED)) {
        throw new MIMCError(ErrorCode.ABORTED, `${spec.method} ${spec.path} aborted`, { cause: options.signal.reason });
      }
      throw err;
    }
  }

  /** Headers of the user-level endpoints (topics, blacklist). */
  private actorHeaders(actor: RestActor, withAppId: boolean): Record<string, string> {
    if (typeof actor === 'object' && actor !== null) {
      if (typeof actor.token !== 'string' || actor.token.length === 0) throw invalid('actor.token must be a non-empty string');
      return { token: headerValue(actor.token, 'token') };
    }
    const account = headerValue(requireAccount(actor, 'actor'), 'actor');
    const headers: Record<string, string> = { appKey: this.#appKey, appSecret: this.#appSecret, appAccount: account };
    if (withAppId) headers.appId = this.appId.toString();
    return headers;
  }

  // ---- token ------------------------------------------------------------------------------------

  /**
   * The token service's JSON for `appAccount`, verbatim: what an app server hands to a client
   * SDK (`Token.fetchToken`). Rejects with ERR_API when the service refuses. Not retried.
   */
  async fetchTokenJson(appAccount: string, options: RestRequestOptions = {}): Promise<string> {
    const account = requireAccount(appAccount, 'appAccount');
    const spec: RequestSpec = {
      method: 'POST',
      path: '/api/account/token',
      // appId goes out as a JSON number built from the bigint's digits, as the service expects.
      body: { appId: this.appId, appKey: this.#appKey, appSecret: this.#appSecret, appAccount: account },
      read: false,
    };
    if (options.signal?.aborted) throw new MIMCError(ErrorCode.ABORTED, 'token request aborted', { cause: options.signal.reason });
    const answer = await this.exchange(spec, options);
    return answer.text;
  }

  /** Mints a token for `appAccount` and returns it parsed (with the verbatim JSON). */
  async mintToken(appAccount: string, options: RestRequestOptions = {}): Promise<RestToken> {
    const json = await this.fetchTokenJson(appAccount, options);
    const fail: Check = (what) => malformed({ method: 'POST', path: '/api/account/token', read: false }, what, 200);
    const data = asObject((parseJsonExact(json) as Record<string, unknown>).data, 'data', fail);
    return {
      appId: asId(data.appId, 'data.appId', fail),
      appAccount: asString(data.appAccount, 'data.appAccount', fail),
      appPackage: typeof data.appPackage === 'string' ? data.appPackage : '',
      uuid: asId(data.miUserId, 'data.miUserId', fail),
      token: asString(data.token, 'data.token', fail),
      json,
    };
  }

  /** A `Token` delegate for an MCUser running next to the credentials (a backend bot). */
  tokenDelegate(appAccount: string): Token {
    const account = requireAccount(appAccount, 'appAccount');
    return { fetchToken: () => this.fetchTokenJson(account) };
  }

  /** A token for a token-only endpoint: the actor's own, or one minted (and cached) for the account. */
  private tokenFor(actor: RestActor, options: RestRequestOptions): { token: Promise<string>; cachedFor: string | undefined } {
    if (typeof actor === 'object' && actor !== null) {
      if (typeof actor.token !== 'string' || actor.token.length === 0) throw invalid('actor.token must be a non-empty string');
      return { token: Promise.resolve(headerValue(actor.token, 'token')), cachedFor: undefined };
    }
    const account = requireAccount(actor, 'actor');
    const cached = this.#tokens.get(account);
    if (cached && cached.expiresAt > Date.now()) return { token: cached.token, cachedFor: account };
    const token = this.mintToken(account, options).then((t) => headerValue(t.token, 'token'));
    const entry = { token, expiresAt: Date.now() + this.tokenCacheMs };
    if (this.tokenCacheMs > 0) {
      this.#tokens.set(account, entry);
      token.catch(() => {
        if (this.#tokens.get(account) === entry) this.#tokens.delete(account);
      });
    }
    return { token, cachedFor: undefined };
  }

  /** Forgets the tokens minted for token-only endpoints. */
  clearTokenCache(): void {
    this.#tokens.clear();
  }

  /** A token-only call; a cached minted token refused with 401 (expired, forgotten) is replaced once. */
  private async withToken<T>(actor: RestActor, options: RestRequestOptions, call: (token: string) => Promise<T>): Promise<T> {
    const first = this.tokenFor(actor, options);
    try {
      return await call(await first.token);
    } catch (err) {
      const stale = first.cachedFor !== undefined && MIMCError.is(err) && err.code === ErrorCode.API_ERROR && err.details?.code === 401;
      if (!stale) throw err;
      const entry = this.#tokens.get(first.cachedFor!);
      if (entry && entry.token === first.token) this.#tokens.delete(first.cachedFor!);
      return call(await this.tokenFor(actor, options).token);
    }
  }

  // ---- push -------------------------------------------------------------------------------------

  private pushBody(content: PushContent): Record<string, unknown> {
    if (typeof content !== 'object' || content === null) throw invalid('push content is required');
    const fromAccount = requireAccount(content.fromAccount, 'fromAccount');
    const fromResource = content.fromResource ?? DEFAULT_FROM_RESOURCE;
    if (typeof fromResource !== 'string') throw invalid('fromResource must be a string');
    const payload = content.payload;
    let msg: string;
    let msgType: string;
    let size: number;
    if (payload instanceof Uint8Array) {
      msg = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('base64');
      msgType = 'base64';
      size = payload.byteLength;
    } else if (typeof payload === 'string') {
      msg = payload;
      msgType = '';
      size = Buffer.byteLength(payload, 'utf8');
    } else {
      throw invalid('payload must be a Uint8Array or a string');
    }
    if (size > this.maxPayloadBytes) {
      throw new MIMCError(ErrorCode.PAYLOAD_TOO_LARGE, `payload of ${size} bytes exceeds ${this.maxPayloadBytes}`, { details: { length: size, max: this.maxPayloadBytes } });
    }
    const body: Record<string, unknown> = { appId: this.appId, appKey: this.#appKey, appSecret: this.#appSecret, fromAccount, fromResource, msg, msgType };
    if (content.bizType !== undefined) {
      if (typeof content.bizType !== 'string') throw invalid('bizType must be a string');
      body.bizType = content.bizType;
    }
    if (content.isStore !== undefined) {
      if (typeof content.isStore !== 'boolean') throw invalid('isStore must be a boolean');
      body.isStore = content.isStore;
    }
    return body;
  }

  /** Pushes a P2P message from `fromAccount` to `toAccount`; resolves with its packet id. */
  async pushP2P(message: PushContent & { toAccount: string }, options: RestRequestOptions = {}): Promise<string> {
    const body = { ...this.pushBody(message), toAccount: requireAccount(message.toAccount, 'toAccount') };
    return this.request({ method: 'POST', path: '/api/push/p2p/', body, read: false }, options, (data, fail) =>
      asString(asObject(data, 'data', fail).packetId, 'data.packetId', fail),
    );
  }

  /** Pushes one P2P message to many accounts; resolves with one packet id per recipient, in order. */
  async pushP2PBatch(message: PushContent & { toAccounts: string[] }, options: RestRequestOptions = {}): Promise<string[]> {
    if (!Array.isArray(message.toAccounts) || message.toAccounts.length === 0) throw invalid('toAccounts must be a non-empty array');
    const body = { ...this.pushBody(message), toAccounts: message.toAccounts.map((a) => requireAccount(a, 'toAccounts')) };
    return this.request({ method: 'POST', path: '/api/push/p2p/more', body, read: false }, options, (data, fail) =>
      asArray(asObject(data, 'data', fail).packetIds, 'data.packetIds', fail).map((id) => asString(id, 'packetId', fail)),
    );
  }

  /** Pushes a message into a topic; resolves with its packet id. */
  async pushP2T(message: PushContent & { topicId: bigint | string }, options: RestRequestOptions = {}): Promise<string> {
    const body = { ...this.pushBody(message), topicId: inputId(message.topicId, 'topicId') };
    return this.request({ method: 'POST', path: '/api/push/p2t/', body, read: false }, options, (data, fail) =>
      asString(asObject(data, 'data', fail).packetId, 'data.packetId', fail),
    );
  }

  /** Pushes one message into many topics; resolves with one packet id per topic, in order. */
  async pushP2TBatch(message: PushContent & { topicIds: Array<bigint | string> }, options: RestRequestOptions = {}): Promise<string[]> {
    if (!Array.isArray(message.topicIds) || message.topicIds.length === 0) throw invalid('topicIds must be a non-empty array');
    const body = { ...this.pushBody(message), topicIds: message.topicIds.map((id) => inputId(id, 'topicIds')) };
    return this.request({ method: 'POST', path: '/api/push/p2t/more', body, read: false }, options, (data, fail) =>
      asArray(asObject(data, 'data', fail).packetIds, 'data.packetIds', fail).map((id) => asString(id, 'packetId', fail)),
    );
  }

  // ---- topics -----------------------------------------------------------------------------------

  private topicPath(topicId?: bigint | string, suffix = ''): string {
    const base = `/api/topic/${this.appId}`;
    return topicId === undefined ? base : `${base}/${inputId(topicId, 'topicId')}${suffix}`;
  }

  /** Creates a topic owned (and joined) by the actor, with `accounts` as members. */
  async createTopic(actor: RestActor, topic: { topicName: string; accounts?: string[] }, options: RestRequestOptions = {}): Promise<TopicDetail> {
    if (typeof topic?.topicName !== 'string') throw invalid('topicName must be a string');
    const accounts = topic.accounts === undefined || topic.accounts.length === 0 ? '' : commaList(topic.accounts, 'accounts');
    const spec: RequestSpec = { method: 'POST', path: this.topicPath(), headers: this.actorHeaders(actor, false), body: { topicName: topic.topicName, accounts }, read: false };
    return this.request(spec, options, topicDetailFrom);
  }

  /** A topic and its members (the actor must be a member). */
  async getTopic(actor: RestActor, topicId: bigint | string, options: RestRequestOptions = {}): Promise<TopicDetail> {
    return this.request({ method: 'GET', path: this.topicPath(topicId), headers: this.actorHeaders(actor, false), read: true }, options, topicDetailFrom);
  }

  /** The topics the actor belongs to. */
  async listTopics(actor: RestActor, options: RestRequestOptions = {}): Promise<TopicInfo[]> {
    const spec: RequestSpec = { method: 'GET', path: `${this.topicPath()}/account`, headers: this.actorHeaders(actor, false), read: true };
    return this.request(spec, options, (data, fail) => (data === null ? [] : asArray(data, 'data', fail).map((t) => topicInfoFrom(t, fail))));
  }

  /** Adds members (any member may invite; inviting oneself is how to join). */
  async inviteToTopic(actor: RestActor, topicId: bigint | string, accounts: string[], options: RestRequestOptions = {}): Promise<TopicDetail> {
    const spec: RequestSpec = {
      method: 'POST',
      path: this.topicPath(topicId, '/accounts'),
      headers: this.actorHeaders(actor, false),
      body: { accounts: commaList(accounts, 'accounts') },
      read: false,
    };
    return this.request(spec, options, topicDetailFrom);
  }

  /** The actor leaves the topic (the owner cannot: MIMC answers 500 "quit topic fail"). */
  async quitTopic(actor: RestActor, topicId: bigint | string, options: RestRequestOptions = {}): Promise<void> {
    await this.request({ method: 'DELETE', path: this.topicPath(topicId, '/account'), headers: this.actorHeaders(actor, false), read: false }, options, () => undefined);
  }

  /** Removes members (owner only). */
  async kickFromTopic(actor: RestActor, topicId: bigint | string, accounts: string[], options: RestRequestOptions = {}): Promise<TopicDetail> {
    const spec: RequestSpec = {
      method: 'DELETE',
      path: this.topicPath(topicId, '/accounts'),
      query: { accounts: commaList(accounts, 'accounts') },
      headers: this.actorHeaders(actor, false),
      read: false,
    };
    return this.request(spec, options, topicDetailFrom);
  }

  /** Renames, changes the bulletin or transfers the ownership (owner only); only the given fields change. */
  async updateTopic(actor: RestActor, topicId: bigint | string, update: TopicUpdate, options: RestRequestOptions = {}): Promise<TopicDetail> {
    const body: Record<string, string> = {};
    for (const field of ['topicName', 'bulletin', 'ownerAccount'] as const) {
      const value = update?.[field];
      if (value === undefined) continue;
      if (typeof value !== 'string') throw invalid(`${field} must be a string`);
      body[field] = value;
    }
    if (Object.keys(body).length === 0) throw invalid('updateTopic needs topicName, bulletin or ownerAccount');
    const spec: RequestSpec = { method: 'PUT', path: this.topicPath(topicId), headers: this.actorHeaders(actor, false), body, read: false };
    return this.request(spec, options, topicDetailFrom);
  }

  /** Dismisses the topic (owner only). */
  async dismissTopic(actor: RestActor, topicId: bigint | string, options: RestRequestOptions = {}): Promise<void> {
    await this.request({ method: 'DELETE', path: this.topicPath(topicId), headers: this.actorHeaders(actor, false), read: false }, options, () => undefined);
  }

  // ---- history ----------------------------------------------------------------------------------

  private history(actor: RestActor, path: string, body: Record<string, unknown>, options: RestRequestOptions): Promise<HistoryPage> {
    return this.withToken(actor, options, (token) =>
      this.request(
        { method: 'POST', path, headers: { token, 'content-type': JSON_UTF8, accept: JSON_UTF8 }, body: { appId: this.appId, ...body }, read: true },
        options,
        historyFrom,
      ),
    );
  }

  private conversation(c: P2PConversation): Record<string, string> {
    if (typeof c !== 'object' || c === null) throw invalid('fromAccount and toAccount are required');
    return { toAccount: requireAccount(c.toAccount, 'toAccount'), fromAccount: requireAccount(c.fromAccount, 'fromAccount') };
  }

  private timeRange(r: TimeRange): Record<string, number> {
    const utcFromTime = millis(r.fromTime, 'fromTime');
    const utcToTime = millis(r.toTime, 'toTime');
    if (utcToTime < utcFromTime || utcToTime - utcFromTime > MAX_HISTORY_WINDOW_MS) throw invalid('the time window must run forwards and span at most 24 hours');
    return { utcFromTime, utcToTime };
  }

  private countRange(r: CountRange): Record<string, number> {
    if (!Number.isInteger(r.count) || r.count < 1) throw invalid('count must be a positive integer');
    return { utcToTime: millis(r.toTime, 'toTime'), count: r.count };
  }

  private sequenceRange(r: SequenceRange): Record<string, bigint> {
    const startSeq = inputId(r.startSeq, 'startSeq');
    const stopSeq = inputId(r.stopSeq, 'stopSeq');
    if (stopSeq < startSeq) throw invalid('stopSeq must not be below startSeq');
    return { startSeq, stopSeq };
  }

  /** The P2P account a P2T history query names: the actor's. */
  private topicAccount(actor: RestActor): string {
    if (typeof actor === 'string') return requireAccount(actor, 'actor');
    return requireAccount(actor?.account, 'actor.account (the token owner, required by the P2T history API)');
  }

  /** Messages between fromAccount and toAccount (both directions) in [fromTime, toTime). The actor must be one of them. */
  async p2pHistoryByTime(actor: RestActor, query: P2PConversation & TimeRange, options: RestRequestOptions = {}): Promise<HistoryPage> {
    return this.history(actor, '/api/msg/p2p/query/', { ...this.conversation(query), ...this.timeRange(query) }, options);
  }

  /** The last `count` messages of the conversation before `toTime`. */
  async p2pHistoryByCount(actor: RestActor, query: P2PConversation & CountRange, options: RestRequestOptions = {}): Promise<HistoryPage> {
    return this.history(actor, '/api/msg/p2p/queryOnCount/', { ...this.conversation(query), ...this.countRange(query) }, options);
  }

  /** Messages of the conversation with sequence in [startSeq, stopSeq). */
  async p2pHistoryBySequence(actor: RestActor, query: P2PConversation & SequenceRange, options: RestRequestOptions = {}): Promise<HistoryPage> {
    return this.history(actor, '/api/msg/p2p/queryOnSequence/', { ...this.conversation(query), ...this.sequenceRange(query) }, options);
  }

  /** Topic messages in [fromTime, toTime); the actor must be a member. */
  async p2tHistoryByTime(actor: RestActor, query: { topicId: bigint | string } & TimeRange, options: RestRequestOptions = {}): Promise<HistoryPage> {
    const body = { account: this.topicAccount(actor), topicId: inputId(query.topicId, 'topicId'), ...this.timeRange(query) };
    return this.history(actor, '/api/msg/p2t/query/', body, options);
  }

  /** The last `count` topic messages before `toTime`. */
  async p2tHistoryByCount(actor: RestActor, query: { topicId: bigint | string } & CountRange, options: RestRequestOptions = {}): Promise<HistoryPage> {
    const body = { account: this.topicAccount(actor), topicId: inputId(query.topicId, 'topicId'), ...this.countRange(query) };
    return this.history(actor, '/api/msg/p2t/queryOnCount/', body, options);
  }

  /** Topic messages with sequence in [startSeq, stopSeq). */
  async p2tHistoryBySequence(actor: RestActor, query: { topicId: bigint | string } & SequenceRange, options: RestRequestOptions = {}): Promise<HistoryPage> {
    const body = { account: this.topicAccount(actor), topicId: inputId(query.topicId, 'topicId'), ...this.sequenceRange(query) };
    return this.history(actor, '/api/msg/p2t/queryOnSequence/', body, options);
  }

  // ---- recent chat list -------------------------------------------------------------------------

  private chatList(actor: RestActor, method: 'GET' | 'DELETE', path: string, query: Record<string, string> | undefined, options: RestRequestOptions): Promise<ChatListEntry[]> {
    return this.withToken(actor, options, (token) =>
      this.request({ method, path, ...(query ? { query } : {}), headers: { token, accept: JSON_UTF8 }, read: method === 'GET' }, options, chatListFrom),
    );
  }

  /** The actor's conversations of the last month, newest first (messages sent with `conversation: true` and stored). */
  async getChatList(actor: RestActor, options: RestRequestOptions = {}): Promise<ChatListEntry[]> {
    return this.chatList(actor, 'GET', '/api/contact/', undefined, options);
  }

  /** Removes the P2P conversation with `member` from the actor's list (not from the peer's); returns the updated list. */
  async deleteP2PChat(actor: RestActor, member: string, options: RestRequestOptions = {}): Promise<ChatListEntry[]> {
    return this.chatList(actor, 'DELETE', '/api/contact/p2p/session', { member: requireAccount(member, 'member') }, options);
  }

  /** Removes the topic conversation from the actor's list; returns the updated list. */
  async deleteP2TChat(actor: RestActor, topicId: bigint | string, options: RestRequestOptions = {}): Promise<ChatListEntry[]> {
    return this.chatList(actor, 'DELETE', '/api/contact/p2t/session', { topicId: inputId(topicId, 'topicId').toString() }, options);
  }

  // ---- unlimited groups (uctopic) ---------------------------------------------------------------

  private uctopic<T>(actor: RestActor, method: 'GET' | 'POST' | 'DELETE', path: string, init: { topicId?: bigint | string; body?: unknown }, options: RestRequestOptions, parse: (data: unknown, fail: Check) => T): Promise<T> {
    const topicHeader: Record<string, string> = init.topicId === undefined ? {} : { topicId: inputId(init.topicId, 'topicId').toString() };
    return this.withToken(actor, options, (token) =>
      this.request(
        { method, path, headers: { token, accept: JSON_UTF8, ...topicHeader }, ...(init.body === undefined ? {} : { body: init.body }), read: method === 'GET' },
        options,
        parse,
      ),
    );
  }

  /** Creates an unlimited group owned by the actor (who still has to join it over the SDK connection); resolves with its exact id. */
  async createUnlimitedGroup(actor: RestActor, topicName: string, options: RestRequestOptions = {}): Promise<bigint> {
    if (typeof topicName !== 'string') throw invalid('topicName must be a string');
    return this.uctopic(actor, 'POST', '/api/uctopic/', { body: { topicName } }, options, (data, fail) => asId(asObject(data, 'data', fail).topicId, 'data.topicId', fail));
  }

  /** Dismisses an unlimited group (owner only); joined members are told over their connections. */
  async dismissUnlimitedGroup(actor: RestActor, topicId: bigint | string, options: RestRequestOptions = {}): Promise<void> {
    await this.uctopic(actor, 'DELETE', '/api/uctopic/', { topicId }, options, () => undefined);
  }

  /** The unlimited groups the actor is a member of (exact ids). */
  async getUnlimitedGroups(actor: RestActor, options: RestRequestOptions = {}): Promise<bigint[]> {
    return this.uctopic(actor, 'GET', '/api/uctopic/topics', {}, options, (data, fail) =>
      data === null || data === undefined ? [] : asArray(data, 'data', fail).map((id) => asId(id, 'topicId', fail)),
    );
  }

  /** Members of an unlimited group (MIMC spells the account key `appAccout`; this reads both spellings). */
  async getUnlimitedGroupMembers(actor: RestActor, topicId: bigint | string, options: RestRequestOptions = {}): Promise<UnlimitedGroupMember[]> {
    return this.uctopic(actor, 'GET', '/api/uctopic/userlist', { topicId }, options, (data, fail) =>
      asArray(asObject(data, 'data', fail).users, 'data.users', fail).map((u) => {
        const user = asObject(u, 'user', fail);
        return { account: asString(user.appAccout ?? user.appAccount, 'user.appAccout', fail), uuid: asId(user.uuid, 'user.uuid', fail) };
      }),
    );
  }

  /** How many accounts are joined to the unlimited group right now. */
  async getUnlimitedGroupOnlineCount(actor: RestActor, topicId: bigint | string, options: RestRequestOptions = {}): Promise<number> {
    return this.uctopic(actor, 'GET', '/api/uctopic/onlineinfo', { topicId }, options, (data, fail) => {
      const count = asObject(data, 'data', fail).userCnt;
      if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) throw fail('data.userCnt is not a count');
      return count;
    });
  }

  // ---- blacklist --------------------------------------------------------------------------------

  /** The actor blocks `blackAccount`: its P2P messages to the actor are refused. */
  async addToBlacklist(actor: RestActor, blackAccount: string, options: RestRequestOptions = {}): Promise<void> {
    const spec: RequestSpec = {
      method: 'POST',
      path: '/api/blacklist/',
      headers: this.actorHeaders(actor, true),
      body: { blackAccount: requireAccount(blackAccount, 'blackAccount') },
      read: false,
    };
    await this.request(spec, options, () => undefined);
  }

  async removeFromBlacklist(actor: RestActor, blackAccount: string, options: RestRequestOptions = {}): Promise<void> {
    const spec: RequestSpec = {
      method: 'DELETE',
      path: '/api/blacklist/',
      query: { blackAccount: requireAccount(blackAccount, 'blackAccount') },
      headers: this.actorHeaders(actor, true),
      read: false,
    };
    await this.request(spec, options, () => undefined);
  }

  /** Whether the actor blocks `blackAccount`. */
  async isBlacklisted(actor: RestActor, blackAccount: string, options: RestRequestOptions = {}): Promise<boolean> {
    const spec: RequestSpec = {
      method: 'GET',
      path: '/api/blacklist/',
      query: { blackAccount: requireAccount(blackAccount, 'blackAccount') },
      headers: this.actorHeaders(actor, true),
      read: true,
    };
    return this.request(spec, options, (data, fail) => {
      const isBlack = asObject(data, 'data', fail).isBlack;
      if (typeof isBlack !== 'boolean') throw fail('data.isBlack is not a boolean');
      return isBlack;
    });
  }
}
