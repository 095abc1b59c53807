/**
 * The SDK logger's redaction (lib/user/logger.ts), tested at the logger: records written through
 * createLogger into a stream must not show a secret field at the top level or nested up to the
 * documented depth (docs/guide.md, "Logging and redaction"). Emptying REDACTED_PATHS fails this.
 */
import { Writable } from 'node:stream';
import { createLogger, REDACTED_PATHS } from '../../lib/user/logger.js';

const FIELDS = ['token', 'securityKey', 'miUserSecurityKey', 'appSecret', 'payload'] as const;

/** A logger of the SDK's writing into memory; `lines()` are the parsed records. */
function capture() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      chunks.push(String(chunk));
      callback();
    },
  });
  const logger = createLogger({ level: 'trace', destination: stream });
  return { logger, text: () => chunks.join(''), lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** `leaf` wrapped in `depth` objects under keys a, b, c… */
function nested(depth: number, leaf: Record<string, unknown>): Record<string, unknown> {
  let value: Record<string, unknown> = leaf;
  for (let i = depth - 1; i >= 0; i--) value = { [String.fromCharCode(0x61 + i)]: value };
  return value;
}

describe('createLogger redaction', () => {
  it.each(FIELDS)('%s is redacted at the top level and nested up to three objects deep (a.b.c.field)', (field) => {
    const { logger, text, lines } = capture();
    for (let depth = 0; depth <= 3; depth++) {
      const secret = `SECRET-${field}-${depth}`;
      logger.info(nested(depth, { [field]: secret, keep: `visible-${depth}` }), `depth ${depth}`);
    }
    const out = text();
    for (let depth = 0; depth <= 3; depth++) {
      expect(out).not.toContain(`SECRET-${field}-${depth}`);
      expect(out).toContain(`visible-${depth}`); // the rest of the record is still there
    }
    // The field stays, with the censor in place of its value.
    const records = lines();
    expect(records[0]![field]).toBe('[redacted]');
    expect(((records[2]!.a as Record<string, unknown>).b as Record<string, unknown>)[field]).toBe('[redacted]');
  });

  it('redacts inside arrays of objects and in child loggers bindings', () => {
    const { logger, text } = capture();
    logger.info({ users: [{ token: 'SECRET-in-array' }], a: { list: [{ securityKey: 'SECRET-nested-array' }] } }, 'arrays');
    logger.child({ appSecret: 'SECRET-binding' }).info('child');
    const out = text();
    expect(out).not.toContain('SECRET-in-array');
    expect(out).not.toContain('SECRET-binding');
    // a.list[0].securityKey is three levels down: covered.
    expect(out).not.toContain('SECRET-nested-array');
  });

  it('states its limit: a field four objects down is not covered (the guide says so)', () => {
    const { logger, text } = capture();
    logger.info(nested(4, { token: 'deep-token' }), 'too deep');
    expect(text()).toContain('deep-token');
  });

  it('the redaction list is the one the logger uses', () => {
    for (const field of FIELDS) expect(REDACTED_PATHS).toContain(field);
  });
});
