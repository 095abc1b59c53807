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
