import { pino, type Logger } from 'pino';
import { MIMCError, ErrorCode } from '../errors.js';
import { DEFAULT_MAX_FRAME_BODY } from '../protocol/constants.js';
import { parseUint64 } from '../protocol/int64.js';
import { parseCallbackUrl } from './callbacks.js';
import type { EmulatorApp, EmulatorOptions } from './types.js';

/** Development credentials; they only mean something to this emulator. */
export const DEFAULT_APP: EmulatorApp = {
  appId: 2882303761517479657n,
  appKey: '5361761377657',
  appSecret: 'emulator-dev-secret-not-for-production',
  appPackage: 'com.example.mimc',
  feDomainName: 'app.chat.xiaomi.net',
};

export interface ResolvedOptions {
  host: string;
  port: number;
  httpPort: number;
  /** undefined = no WebSocket frontend. */
  websocket: { port: number; tls: { key: string | Buffer; cert: string | Buffer } | undefined } | undefined;
  app: EmulatorApp;
  tokenTtlMs: number;
  offlineStoreLimit: number;
  compoundBatchSize: number;
  compoundMaxBytes: number;
  maxUnackedBatches: number;
  maxFrameBody: number;
  idleTimeoutMs: number;
  bindTimeoutMs: number;
  maxQueuedBytes: number;
  logger: Logger;
  callbackUrl: string | undefined;
  offlineCallbackUrl: string | undefined;
  callbackRetryDelaysMs: number[];
  callbackTimeoutMs: number;
  historyLimit: number;
  maxPushPayloadBytes: number;
  maxTopicMembers: number;
  maxPreBindFrameBody: number;
  maxAccounts: number;
  callbackMaxInFlight: number;
  callbackMaxQueued: number;
  maxUnlimitedGroups: number;
  unlimitedGroupStoreLimit: number;
}

/** Largest frame body before BIND: a CONN or BIND frame is a few hundred bytes. */
export const DEFAULT_MAX_PRE_BIND_FRAME_BODY = 4096;
/** Below this a legitimate CONN or BIND frame might not fit. */
export const MIN_PRE_BIND_FRAME_BODY = 1024;
/** Packet bytes per COMPOUND: with headers the body stays within the 64 KiB cached body keystream (RC4_KEYSTREAM_CAP). */
export const DEFAULT_COMPOUND_MAX_BYTES = 60 * 1024;
/** Most accounts the emulator creates (token service, pushes, P2P recipients, topics, blacklists). */
export const DEFAULT_MAX_ACCOUNTS = 100_000;

/** MIMC's documented callback retry schedule: +5 s, +30 s, +5 min. */
export const CALLBACK_RETRY_DELAYS_MS: readonly number[] = [5_000, 30_000, 300_000];

function delays(value: number[] | undefined): number[] {
  if (value === undefined) return [...CALLBACK_RETRY_DELAYS_MS];
  if (!Array.isArray(value) || value.some((d) => !Number.isInteger(d) || d < 0 || d > 0x7fffffff)) {
    throw invalid('emulator option callbackRetryDelaysMs must be an array of integers in [0, 2^31)');
  }
  return [...value];
}

function url(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    parseCallbackUrl(value);
  } catch {
    throw invalid(`emulator option ${name} must be an absolute http: or https: URL`);
  }
  return value;
}

function invalid(message: string): MIMCError {
  return new MIMCError(ErrorCode.INVALID_ARGUMENT, message);
}

function integer(name: string, value: number | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) throw invalid(`emulator option ${name} must be an integer in [${min}, ${max}]`);
  return value;
}

function text(name: string, value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.length === 0) throw invalid(`emulator option ${name} must be a non-empty string`);
  return value;
}

function websocket(value: EmulatorOptions['websocket']): ResolvedOptions['websocket'] {
  if (value === undefined || value === true) return { port: 0, tls: undefined };
  if (value === false) return undefined;
  if (typeof value !== 'object' || value === null) throw invalid('emulator option websocket must be a boolean or { port?, tls? }');
  const tls = value.tls;
  if (tls !== undefined && (typeof tls !== 'object' || tls === null || !tls.key || !tls.cert)) {
    throw invalid('emulator option websocket.tls needs a PEM key and cert');
  }
  return { port: integer('websocket.port', value.port, 0, 0, 65535), tls: tls ? { key: tls.key, cert: tls.cert } : undefined };
}

export function resolveOptions(options: EmulatorOptions = {}): ResolvedOptions {
  let appId = DEFAULT_APP.appId;
  if (options.appId !== undefined) {
    const parsed = parseUint64(options.appId);
    if (parsed === undefined || parsed === 0n) throw invalid('emulator option appId must be a positive 64-bit id (bigint or decimal string)');
    appId = parsed;
  }
  return {
    host: text('host', options.host, '127.0.0.1'),
    port: integer('port', options.port, 0, 0, 65535),
    httpPort: integer('httpPort', options.httpPort, 0, 0, 65535),
    websocket: websocket(options.websocket),
    app: {
      appId,
      appKey: text('appKey', options.appKey, DEFAULT_APP.appKey),
      appSecret: text('appSecret', options.appSecret, DEFAULT_APP.appSecret),
      appPackage: text('appPackage', options.appPackage, DEFAULT_APP.appPackage),
      feDomainName: text('feDomainName', options.feDomainName, DEFAULT_APP.feDomainName),
    },
    tokenTtlMs: integer('tokenTtlMs', options.tokenTtlMs, 24 * 60 * 60 * 1000, 1),
    offlineStoreLimit: integer('offlineStoreLimit', options.offlineStoreLimit, 10_000, 1),
    compoundBatchSize: integer('compoundBatchSize', options.compoundBatchSize, 100, 1),
    compoundMaxBytes: integer('compoundMaxBytes', options.compoundMaxBytes, DEFAULT_COMPOUND_MAX_BYTES, 1),
    maxUnackedBatches: integer('maxUnackedBatches', options.maxUnackedBatches, 4, 1, 1000),
    maxFrameBody: integer('maxFrameBody', options.maxFrameBody, DEFAULT_MAX_FRAME_BODY, 64, 0xffffffff),
    idleTimeoutMs: integer('idleTimeoutMs', options.idleTimeoutMs, 60_000, 1, 0x7fffffff),
    bindTimeoutMs: integer('bindTimeoutMs', options.bindTimeoutMs, 10_000, 1, 0x7fffffff),
    maxQueuedBytes: integer('maxQueuedBytes', options.maxQueuedBytes, 8 * 1024 * 1024, 1024),
    logger: options.logger ?? pino({ level: 'silent' }),
    callbackUrl: url('callbackUrl', options.callbackUrl),
    offlineCallbackUrl: url('offlineCallbackUrl', options.offlineCallbackUrl ?? options.callbackUrl),
    callbackRetryDelaysMs: delays(options.callbackRetryDelaysMs),
    callbackTimeoutMs: integer('callbackTimeoutMs', options.callbackTimeoutMs, 5_000, 1, 0x7fffffff),
    historyLimit: integer('historyLimit', options.historyLimit, 10_000, 1),
    maxPushPayloadBytes: integer('maxPushPayloadBytes', options.maxPushPayloadBytes, 10 * 1024, 1),
    maxTopicMembers: integer('maxTopicMembers', options.maxTopicMembers, 500, 1),
    maxPreBindFrameBody: integer('maxPreBindFrameBody', options.maxPreBindFrameBody, DEFAULT_MAX_PRE_BIND_FRAME_BODY, MIN_PRE_BIND_FRAME_BODY, 0xffffffff),
    maxAccounts: integer('maxAccounts', options.maxAccounts, DEFAULT_MAX_ACCOUNTS, 1),
    callbackMaxInFlight: integer('callbackMaxInFlight', options.callbackMaxInFlight, 64, 1, 65_536),
    callbackMaxQueued: integer('callbackMaxQueued', options.callbackMaxQueued, 10_000, 0),
    maxUnlimitedGroups: integer('maxUnlimitedGroups', options.maxUnlimitedGroups, 10_000, 1),
    unlimitedGroupStoreLimit: integer('unlimitedGroupStoreLimit', options.unlimitedGroupStoreLimit, 10_000, 1),
  };
}
