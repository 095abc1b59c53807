import { pino, type Logger } from 'pino';
import { MIMCError, ErrorCode } from '../errors.js';

/** Field names that must never reach a log line. */
export const REDACTED_FIELDS = ['token', 'securityKey', 'miUserSecurityKey', 'appSecret', 'payload'] as const;

/** How many objects (or arrays) deep a redacted field is still found: `token`, `*.token`, … `*.*.*.token`. */
export const REDACTION_DEPTH = 3;

/**
 * The pino redact paths: every field of REDACTED_FIELDS at the top level of a record and under
 * one to REDACTION_DEPTH levels of objects or arrays (pino's `*` matches one key or index).
 * Deeper fields are not redacted; the SDK never logs such structures.
 */
export const REDACTED_PATHS: readonly string[] = REDACTED_FIELDS.flatMap((field) =>
  Array.from({ length: REDACTION_DEPTH + 1 }, (_, depth) => `${'*.'.repeat(depth)}${field}`),
);

const REDACT = { paths: [...REDACTED_PATHS], censor: '[redacted]' };

/**
 * The `logger` option in its options form: pino's options (level, transport, formatters, …) and
 * where to write. The SDK's redaction is always added.
 */
export interface LoggerOptions extends Omit<pino.LoggerOptions, 'redact'> {
  /** Where the JSON lines go: any stream with `write(line)` (default stderr). Not with `transport`. */
  destination?: pino.DestinationStream;
}

/** A pino logger with the SDK's redaction rules; `destination` defaults to stderr (or the `transport`). */
export function createLogger(options: LoggerOptions = {}): Logger {
  const { destination, ...rest } = options;
  const config: pino.LoggerOptions = { ...rest, level: rest.level ?? 'info', redact: REDACT };
  try {
    if (rest.transport) {
      if (destination) throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'logger: give either transport or destination, not both');
      return pino(config);
    }
    return pino(config, destination ?? pino.destination(2));
  } catch (err) {
    if (MIMCError.is(err)) throw err;
    throw new MIMCError(ErrorCode.INVALID_ARGUMENT, `logger options rejected by pino: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** One silent root for every user without a logger: each user only adds its own child (a pino root costs about 1 KiB). */
const SILENT = pino({ level: 'silent' });

/** The logger used when the app gives none: discards everything. Shared; callers take a child of it. */
export function silentLogger(): Logger {
  return SILENT;
}

/** One redacting logger per app logger or options object, shared by the users given the same one. */
const resolved = new WeakMap<object, Logger>();

function isLogger(value: object): value is Logger {
  const candidate = value as Partial<Logger>;
  return typeof candidate.child === 'function' && typeof candidate.info === 'function' && typeof candidate.level === 'string';
}

/**
 * The SDK's logger for the `logger` option: silent when absent; for a pino instance, a child of it
 * that applies the SDK's redaction (it replaces the instance's own redact paths for the SDK's lines
 * only); for options, a new pino logger built by `createLogger`.
 */
export function resolveLogger(option: Logger | LoggerOptions | undefined): Logger {
  if (option === undefined) return SILENT;
  if (typeof option !== 'object' || option === null) {
    throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'logger must be a pino logger or pino options');
  }
  let logger = resolved.get(option);
  if (!logger) {
    logger = isLogger(option) ? option.child({}, { redact: REDACT }) : createLogger(option);
    resolved.set(option, logger);
  }
  return logger;
}

/** An error as loggable facts: no stack of user data, never payloads. */
export function describeError(err: unknown): Record<string, unknown> {
  if (err instanceof Error) return { name: err.name, message: err.message, ...(MIMCError.is(err) ? { code: err.code } : {}) };
  return { value: typeof err };
}
