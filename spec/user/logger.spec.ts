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
/** The `logger` option: a pino instance or pino options, the SDK's redaction applied either way. */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { ErrorCode, MIMCError } from '../../lib/errors.js';
import { createLogger, resolveLogger } from '../../lib/user/logger.js';
import type { MCUserOptions } from '../../lib/user/types.js';
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { destroyUsers, makeUser, text } from '../helpers/users.js';

/** A destination stream that keeps every JSON line. */
function sink(): { stream: Writable; records: () => Array<Record<string, unknown>>; text: () => string } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      callback();
    },
  });
  return { stream, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>), text: () => lines.join('\n') };
}

const SECRETS = { token: 'tok-secret', appSecret: 'app-secret', nested: { securityKey: 'key-secret', payload: 'payload-bytes' } };

function expectRedacted(out: string): void {
  expect(out).toContain('[redacted]');
  for (const secret of ['tok-secret', 'app-secret', 'key-secret', 'payload-bytes']) expect(out).not.toContain(secret);
}

describe('resolveLogger', () => {
  it('pino options: builds a redacting logger at that level writing to the destination', () => {
    const out = sink();
    const logger = resolveLogger({ level: 'debug', destination: out.stream });
    logger.debug(SECRETS, 'debug line');
    logger.trace('below the level');
    expect(out.records().map((r) => r.msg)).toEqual(['debug line']);
    expectRedacted(out.text());
  });

  it('a pino instance without redaction: the SDK child redacts, the app keeps its own bindings', () => {
    const out = sink();
    const app = pino({ level: 'info' }, out.stream).child({ service: 'billing' });
    const logger = resolveLogger(app);
    logger.info(SECRETS, 'sdk line');
    app.info({ token: 'app-own-field' }, 'app line');
    const [sdk, own] = out.records();
    expect(sdk).toMatchObject({ msg: 'sdk line', service: 'billing', token: '[redacted]' });
    expectRedacted(JSON.stringify(sdk));
    expect(own).toMatchObject({ msg: 'app line', token: 'app-own-field' }); // the app's own lines are its business
  });

  it('gives the same logger for the same instance or options object (one pino root for many users)', () => {
    const options = { level: 'warn', destination: sink().stream };
    expect(resolveLogger(options)).toBe(resolveLogger(options));
    const app = createLogger({ destination: sink().stream });
    expect(resolveLogger(app)).toBe(resolveLogger(app));
    expect(resolveLogger(undefined)).toBe(resolveLogger(undefined));
  });

  it('rejects what is neither, and options pino refuses, with ERR_INVALID_ARGUMENT', () => {
    for (const bad of [42, 'info', null]) {
      expect(() => resolveLogger(bad as never)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    }
    let error: unknown;
    try {
      resolveLogger({ level: 'chatty' });
    } catch (err) {
      error = err;
    }
    expect(MIMCError.is(error) && error.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect(() => resolveLogger({ destination: sink().stream, transport: { target: 'pino/file' } })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
  });
});

describe('MCUser logger option', () => {
  let emulator: Emulator;

  beforeEach(async () => {
    emulator = await startEmulator();
  });

  afterEach(async () => {
    destroyUsers();
    await emulator.close();
  });

  async function session(logger: MCUserOptions['logger']): Promise<void> {
    const alice = makeUser(emulator, 'alice', { logger });
    await alice.user.login();
    await alice.user.sendMessageAndWait('bob', text('hello'));
    await alice.user.logout();
  }

  it('takes pino options: lines at that level on the destination, with the account, no secrets', async () => {
    const out = sink();
    await session({ level: 'debug', destination: out.stream });
    const records = out.records();
    expect(records.length).toBeGreaterThan(0);
    expect(records.every((r) => r.account === 'alice')).toBe(true);
    expect(records.some((r) => r.level === 20)).toBe(true); // debug lines came through
    expect(out.text()).not.toContain('hello');
  });

  it('takes a pino instance: lines carry the app bindings and the account', async () => {
    const out = sink();
    await session(pino({ level: 'debug' }, out.stream).child({ service: 'bot' }));
    const records = out.records();
    expect(records.length).toBeGreaterThan(0);
    expect(records.every((r) => r.account === 'alice' && r.service === 'bot')).toBe(true);
  });

  it('refuses a bad logger option at construction', () => {
    expect(() => makeUser(emulator, 'alice', { logger: { level: 'chatty' } })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
  });
});
