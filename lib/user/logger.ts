import { pino, type Logger } from 'pino';
import { MIMCError } from '../errors.js';

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

/** A pino logger with the SDK's redaction rules; `destination` defaults to stderr. */
export function createLogger(options: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  const config = { level: options.level ?? 'info', redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' } };
  return options.destination ? pino(config, options.destination) : pino(config, pino.destination(2));
}

/** One silent root for every user without a logger: each user only adds its own child (a pino root costs about 1 KiB). */
const SILENT = pino({ level: 'silent' });

/** The logger used when the app gives none: discards everything. Shared; callers take a child of it. */
export function silentLogger(): Logger {
  return SILENT;
}

/** An error as loggable facts: no stack of user data, never payloads. */
export function describeError(err: unknown): Record<string, unknown> {
  if (err instanceof Error) return { name: err.name, message: err.message, ...(MIMCError.is(err) ? { code: err.code } : {}) };
  return { value: typeof err };
}
