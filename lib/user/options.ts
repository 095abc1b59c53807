import { MIMCError, ErrorCode } from '../errors.js';
import { DEFAULT_MAX_FRAME_BODY, MAX_BIND_ATTRS_BYTES } from '../protocol/constants.js';
import type { BindOptions } from '../protocol/packets.js';
import type { IncomingSettings } from './incoming.js';
import { DEFAULT_REST_URL } from './uc-rest.js';
import { DEFAULT_RESOLVER_URL, parseAddress, type FrontendAddress } from './resolver.js';
import { backoffDelay, type Backoff } from './backoff.js';
import { WS_ENDPOINT, WS_PING_INTERVAL_MS } from '../protocol/ws-frame.js';
import type { WebSocketEndpoint } from '../transport/types.js';
import type { AckMode, MCUserOptions, ReconnectOptions } from './types.js';

/** Every MCUser option with its default applied and its type checked. */
export interface Settings {
  sendTimeoutMs: number;
  connectTimeoutMs: number;
  loginTimeoutMs: number;
  pingIntervalMs: number;
  responseTimeoutMs: number;
  maxPendingMessages: number;
  maxPayloadBytes: number;
  maxFrameBody: number;
  resolverUrl: string;
  frontend: FrontendAddress | undefined;
  /** Set for `transport: 'websocket'`: the one endpoint (no resolver). */
  websocket: WebSocketEndpoint | undefined;
  reconnect: ReconnectSettings;
  incoming: IncomingSettings;
  bind: Readonly<BindOptions>;
  restUrl: string;
  maxUnlimitedGroups: number;
  unlimitedGroupPingIntervalMs: number;
}

/** Reconnect options resolved: the delay after each failed attempt (null: give up). */
export interface ReconnectSettings {
  enabled: boolean;
  maxAttempts: number;
  /** The user's strategy, or the backoff built from min/max/factor/jitter. */
  delay(attempt: number, lastError: MIMCError): number | null;
}

/** The server's largest list: what one deprecated `maxQueuedDeliveries` stood for. */
const MESSAGES_PER_LIST = 100;

export function resolveSettings(options: MCUserOptions): Settings {
  const frontend = options.frontendAddress;
  const websocket = resolveWebSocket(options);
  const retry = options.handlerRetry;
  const legacyQueue = options.maxQueuedDeliveries === undefined ? undefined : positive(options.maxQueuedDeliveries, 64, 'maxQueuedDeliveries') * MESSAGES_PER_LIST;
  return {
    sendTimeoutMs: positive(options.sendTimeoutMs, 10_000, 'sendTimeoutMs'),
    connectTimeoutMs: positive(options.connectTimeoutMs, 5_000, 'connectTimeoutMs'),
    loginTimeoutMs: positive(options.loginTimeoutMs, 5_000, 'loginTimeoutMs'),
    pingIntervalMs: positive(options.pingIntervalMs, websocket ? WS_PING_INTERVAL_MS : 3_000, 'pingIntervalMs'),
    responseTimeoutMs: positive(options.responseTimeoutMs, 5_000, 'responseTimeoutMs'),
    maxPendingMessages: positive(options.maxPendingMessages, 10_000, 'maxPendingMessages'),
    maxPayloadBytes: positive(options.maxPayloadBytes, 64 * 1024, 'maxPayloadBytes'),
    maxFrameBody: positive(options.maxFrameBody, DEFAULT_MAX_FRAME_BODY, 'maxFrameBody'),
    resolverUrl: options.resolverUrl ?? DEFAULT_RESOLVER_URL,
    frontend: typeof frontend === 'string' ? parseAddress(frontend) : frontend,
    websocket,
    reconnect: resolveReconnect(options.reconnect ?? {}),
    incoming: {
      ackMode: checkAckMode(options.ackMode),
      dedupWindow: positive(options.dedupWindow, 10_000, 'dedupWindow'),
      maxQueuedMessages: positive(options.maxQueuedMessages, legacyQueue ?? 5_000, 'maxQueuedMessages'),
      handlerTimeoutMs: positive(options.handlerTimeoutMs, 30_000, 'handlerTimeoutMs'),
      retry: {
        maxAttempts: Math.max(1, Math.floor(positive(retry?.maxAttempts, 5, 'handlerRetry.maxAttempts'))),
        minDelayMs: positive(retry?.minDelayMs, 200, 'handlerRetry.minDelayMs'),
        maxDelayMs: positive(retry?.maxDelayMs, 10_000, 'handlerRetry.maxDelayMs'),
        factor: positive(retry?.factor, 2, 'handlerRetry.factor'),
      },
    },
    restUrl: options.restUrl ?? DEFAULT_REST_URL,
    maxUnlimitedGroups: Math.floor(positive(options.maxUnlimitedGroups, 100, 'maxUnlimitedGroups')),
    unlimitedGroupPingIntervalMs: positive(options.unlimitedGroupPingIntervalMs, 10_000, 'unlimitedGroupPingIntervalMs'),
    bind: Object.freeze({
      kick: flag(options.kick, 'kick'),
      sso: flag(options.sso, 'sso'),
      clientAttrs: attrs(options.clientAttrs, 'clientAttrs'),
      cloudAttrs: attrs(options.cloudAttrs, 'cloudAttrs'),
    }),
  };
}

function resolveWebSocket(options: MCUserOptions): WebSocketEndpoint | undefined {
  const transport = options.transport ?? 'tcp';
  if (transport !== 'tcp' && transport !== 'websocket') throw new MIMCError(ErrorCode.INVALID_ARGUMENT, "transport must be 'tcp' or 'websocket'");
  const ws = options.websocket;
  if (transport === 'tcp') {
    if (ws !== undefined) throw new MIMCError(ErrorCode.INVALID_ARGUMENT, "websocket options need transport: 'websocket'");
    return undefined;
  }
  if (options.frontendAddress !== undefined) throw new MIMCError(ErrorCode.INVALID_ARGUMENT, "frontendAddress is for transport 'tcp'; give websocket.url instead");
  if (ws !== undefined && (typeof ws !== 'object' || ws === null)) throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'websocket must be an object');
  const url = ws?.url ?? WS_ENDPOINT;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MIMCError(ErrorCode.INVALID_ARGUMENT, `websocket.url is not a URL: ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'wss:' && parsed.protocol !== 'ws:') throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'websocket.url must start with wss:// or ws://');
  return {
    url,
    ...(ws?.ca === undefined ? {} : { ca: ws.ca }),
    ...(ws?.agent === undefined ? {} : { agent: ws.agent }),
    ...(ws?.headers === undefined ? {} : { headers: { ...ws.headers } }),
  };
}

/** The default strategy: exponential backoff, with jitter unless turned off (a class: no closure per user). */
class BackoffReconnect implements ReconnectSettings, Backoff {
  constructor(
    readonly enabled: boolean,
    readonly maxAttempts: number,
    readonly minDelayMs: number,
    readonly maxDelayMs: number,
    readonly factor: number,
    private readonly jitter: boolean,
  ) {}

  delay(attempt: number): number {
    return backoffDelay(this, attempt, this.jitter ? 1 + Math.random() : 1);
  }
}

function resolveReconnect(r: ReconnectOptions): ReconnectSettings {
  const minDelayMs = positive(r.minDelayMs, 200, 'reconnect.minDelayMs');
  const maxDelayMs = positive(r.maxDelayMs, 10_000, 'reconnect.maxDelayMs');
  const factor = positive(r.factor, 2, 'reconnect.factor');
  const jitter = flag(r.jitter, 'reconnect.jitter', true);
  const maxAttempts = r.maxAttempts ?? Number.POSITIVE_INFINITY;
  if (maxAttempts !== Number.POSITIVE_INFINITY && (!Number.isInteger(maxAttempts) || maxAttempts < 1)) {
    throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'reconnect.maxAttempts must be a positive integer');
  }
  if (r.strategy !== undefined && typeof r.strategy !== 'function') throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'reconnect.strategy must be a function');
  const enabled = flag(r.enabled, 'reconnect.enabled', true);
  if (r.strategy) return { enabled, maxAttempts, delay: r.strategy };
  return new BackoffReconnect(enabled, maxAttempts, minDelayMs, maxDelayMs, factor, jitter);
}

function flag(value: boolean | undefined, name: string, fallback = false): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new MIMCError(ErrorCode.INVALID_ARGUMENT, `${name} must be a boolean`);
  return value;
}

function attrs(value: string | undefined, name: string): string {
  if (value === undefined) return '';
  if (typeof value !== 'string') throw new MIMCError(ErrorCode.INVALID_ARGUMENT, `${name} must be a string`);
  if (Buffer.byteLength(value) > MAX_BIND_ATTRS_BYTES) {
    throw new MIMCError(ErrorCode.INVALID_ARGUMENT, `${name} is longer than ${MAX_BIND_ATTRS_BYTES} bytes`);
  }
  return value;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new MIMCError(ErrorCode.INVALID_ARGUMENT, `${name} must be a positive number`);
  }
  return value;
}

function checkAckMode(mode: AckMode | undefined): AckMode {
  if (mode === undefined) return 'after-handler';
  if (mode !== 'after-handler' && mode !== 'before-handler') {
    throw new MIMCError(ErrorCode.INVALID_ARGUMENT, "ackMode must be 'after-handler' or 'before-handler'");
  }
  return mode;
}
