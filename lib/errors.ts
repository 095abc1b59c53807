import { toJsonSafe } from './json-safe.js';

/**
 * Every error the SDK produces is a MIMCError with a stable `code`, so callers can
 * branch on `err.code` instead of parsing messages.
 */
export const ErrorCode = {
  /** A frame had a wrong magic number. */
  BAD_MAGIC: 'ERR_BAD_MAGIC',
  /** A frame had an unsupported protocol version. */
  BAD_VERSION: 'ERR_BAD_VERSION',
  /** The Adler-32 checksum of a frame did not match. */
  BAD_CHECKSUM: 'ERR_BAD_CHECKSUM',
  /** A frame announced a body larger than the configured maximum. */
  FRAME_TOO_LARGE: 'ERR_FRAME_TOO_LARGE',
  /** A frame body or protobuf message could not be parsed. */
  MALFORMED_FRAME: 'ERR_MALFORMED_FRAME',
  /** An argument passed to the SDK is invalid. */
  INVALID_ARGUMENT: 'ERR_INVALID_ARGUMENT',
  /** The user payload exceeds the configured maximum size. */
  PAYLOAD_TOO_LARGE: 'ERR_PAYLOAD_TOO_LARGE',
  /** The token JSON could not be used (bad shape, wrong app or account, code != 200). */
  INVALID_TOKEN: 'ERR_INVALID_TOKEN',
  /** Fetching the token failed. */
  TOKEN_FETCH_FAILED: 'ERR_TOKEN_FETCH_FAILED',
  /** The resolver could not be queried or answered badly. */
  RESOLVER_FAILED: 'ERR_RESOLVER_FAILED',
  /** The server refused the login (BIND). */
  LOGIN_REJECTED: 'ERR_LOGIN_REJECTED',
  /** Reconnecting stopped: `reconnect.maxAttempts` failed attempts, or the strategy returned null (`cause`: the last error). */
  RETRIES_EXHAUSTED: 'ERR_RETRIES_EXHAUSTED',
  /** Login did not complete in time. */
  LOGIN_TIMEOUT: 'ERR_LOGIN_TIMEOUT',
  /** No server ack arrived within the send timeout. */
  SEND_TIMEOUT: 'ERR_SEND_TIMEOUT',
  /** The server acknowledged the message with an error. */
  SERVER_REJECTED: 'ERR_SERVER_REJECTED',
  /** Too many messages are awaiting an ack; the send was refused. */
  PENDING_FULL: 'ERR_PENDING_FULL',
  /** The operation needs a login that has not happened or was ended. */
  NOT_LOGGED_IN: 'ERR_NOT_LOGGED_IN',
  /** The server kicked this resource (another login with the same resource). */
  KICKED: 'ERR_KICKED',
  /** The TCP connection failed or was lost. */
  CONNECTION_LOST: 'ERR_CONNECTION_LOST',
  /** The user was destroyed or logged out while the operation was in progress. */
  CLOSED: 'ERR_CLOSED',
  /** The operation was aborted through an AbortSignal. */
  ABORTED: 'ERR_ABORTED',
  /** A message handler threw or rejected on its last attempt (the batch was dead-lettered). */
  HANDLER_FAILED: 'ERR_HANDLER_FAILED',
  /** A message handler did not settle within `handlerTimeoutMs`. */
  HANDLER_TIMEOUT: 'ERR_HANDLER_TIMEOUT',
  /** The server sent far more messages than the app consumes; the connection was reset (nothing unacknowledged is lost). */
  DELIVERY_OVERFLOW: 'ERR_DELIVERY_OVERFLOW',
  /** An HTTP call returned an error. */
  HTTP_ERROR: 'ERR_HTTP',
  /** An HTTP request got no complete answer within its timeout. */
  HTTP_TIMEOUT: 'ERR_HTTP_TIMEOUT',
  /** The unlimited group is not joined by this user (join it first). */
  UC_NOT_JOINED: 'ERR_UC_NOT_JOINED',
  /** The server refused a UC JOIN or QUIT, or the group was dismissed (`details.code`: 404 no such group, 403 not a member). */
  UC_REFUSED: 'ERR_UC_REFUSED',
  /** This user is already in `maxUnlimitedGroups` unlimited groups. */
  UC_GROUP_LIMIT: 'ERR_UC_GROUP_LIMIT',
  /** An HTTP response body exceeded the configured size cap (`details.limit`); the response was destroyed. */
  HTTP_TOO_LARGE: 'ERR_HTTP_TOO_LARGE',
  /** Text is not JSON, or is nested deeper than the parser's cap (`details.offset`, `details.maxDepth`). */
  INVALID_JSON: 'ERR_INVALID_JSON',
  /** A configured capacity of the emulator is exhausted (e.g. `maxAccounts`). */
  LIMIT_REACHED: 'ERR_LIMIT_REACHED',
  /** A MIMC REST call was answered with an error envelope (`details.code` is MIMC's code, e.g. 401, 403, 404, 500). */
  API_ERROR: 'ERR_API',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const brand = Symbol.for('mimc-node.MIMCError');

export class MIMCError extends Error {
  readonly code: ErrorCode;
  /** Extra machine-readable facts about the failure (never secrets). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MIMCError';
    this.code = code;
    this.details = options?.details;
  }

  /**
   * What JSON.stringify writes: name, code, message and details (64-bit values as decimal
   * strings). Never the cause, which may hold anything an upstream service said.
   */
  toJSON(): { name: string; code: ErrorCode; message: string; details?: unknown } {
    return { name: this.name, code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: toJsonSafe(this.details) }) };
  }

  /** True for any MIMCError, even one created by another copy of this package. */
  static is(value: unknown): value is MIMCError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  }
}

Object.defineProperty(MIMCError.prototype, brand, { value: true });

/** Longest upstream error message an SDK error keeps (characters). */
export const UPSTREAM_MESSAGE_MAX = 200;

/** Values after a name that looks like a credential: `token=…`, `"appSecret":"…"`, `securityKey: …`. */
const CREDENTIAL_PAIR = /(?<![A-Za-z0-9_-])([A-Za-z0-9_-]+)(["']?[ \t]{0,3}[:=][ \t]{0,3}["']?)([^\s"',;&}\]]+)/g;
const CREDENTIAL_NAME = /token|secret|key|passw|auth|sign|cookie|session/i;
/** Long opaque runs (tokens, keys, base64) even without a name. */
const OPAQUE_RUN = /[A-Za-z0-9+/=_-]{32,}/g;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]+/g;

/**
 * What the SDK keeps of a message written by an upstream service (which may echo the request,
 * credentials included): the given `secrets` and credential-looking values replaced by
 * `[redacted]`, control characters collapsed, at most UPSTREAM_MESSAGE_MAX characters.
 * Undefined when `message` is not a string.
 */
export function upstreamMessage(message: unknown, secrets: readonly (string | undefined)[] = []): string | undefined {
  if (typeof message !== 'string') return undefined;
  // Bound the work first; nothing past this point can reach the kept form.
  let text = message.slice(0, 4 * UPSTREAM_MESSAGE_MAX);
  for (const secret of secrets) if (secret !== undefined && secret.length >= 4) text = text.split(secret).join('[redacted]');
  text = text
    .replace(CREDENTIAL_PAIR, (pair: string, name: string, sep: string) => (CREDENTIAL_NAME.test(name) ? `${name}${sep}[redacted]` : pair))
    .replace(OPAQUE_RUN, '[redacted]')
    .replace(CONTROL, ' ')
    .trim();
  return text.length > UPSTREAM_MESSAGE_MAX ? `${text.slice(0, UPSTREAM_MESSAGE_MAX - 1)}…` : text;
}
