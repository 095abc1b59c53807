/**
 * Reconnect control: the backoff between attempts (fake timers: the delays grow by `factor`, are
 * jittered within [d, 2d), capped at `maxDelayMs`), `maxAttempts`, a `strategy` function,
 * `enabled: false`, and the `reconnecting` event.
 */
import { jest } from '@jest/globals';
import { MIMCError, ErrorCode } from '../../lib/errors.js';
import { MCUser } from '../../lib/user/mcuser.js';
import type { ReconnectingEvent, ReconnectOptions } from '../../lib/user/types.js';
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { destroyUsers, makeUser, until } from '../helpers/users.js';

/** A user whose token delegate always fails (retryable, no I/O at all), counting its calls. */
function failingUser(reconnect: ReconnectOptions): { user: MCUser; calls: () => number; events: ReconnectingEvent[] } {
  let calls = 0;
  const events: ReconnectingEvent[] = [];
  const user = new MCUser({
    appId: '2882303761517479657',
    appAccount: 'alice',
    frontendAddress: '127.0.0.1:1',
    reconnect,
    tokenDelegate: {
      fetchToken: () => {
        calls += 1;
        throw new Error('token service down');
      },
    },
  });
  user.on('reconnecting', (e) => void events.push(e));
  return { user, calls: () => calls, events };
}

describe('backoff (fake timers)', () => {
  beforeEach(() => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
  });
  afterEach(() => {
    jest.restoreAllMocks();
    jest.useRealTimers();
  });

  /** Runs `n` failed attempts, checking no attempt starts before its announced delay ran out; returns the delays. */
  async function delaysOf(user: MCUser, calls: () => number, events: ReconnectingEvent[], n: number): Promise<number[]> {
    const login = user.login({ timeoutMs: 10_000_000 }).catch((err: unknown) => err);
    for (let i = 1; i <= n; i++) {
      await jest.advanceTimersByTimeAsync(0);
      expect(calls()).toBe(i);
      expect(events).toHaveLength(i);
      const { attempt, delayMs, error } = events[i - 1]!;
      expect(attempt).toBe(i);
      expect(error).toMatchObject({ code: ErrorCode.TOKEN_FETCH_FAILED });
      expect(user.state).toBe('reconnecting');
      if (delayMs > 1) {
        await jest.advanceTimersByTimeAsync(delayMs - 1);
        expect(calls()).toBe(i); // still waiting
      }
      await jest.advanceTimersByTimeAsync(Math.min(delayMs, 1));
    }
    user.destroy();
    await expect(login).resolves.toMatchObject({ code: ErrorCode.CLOSED });
    return events.slice(0, n).map((e) => e.delayMs);
  }

  it('without jitter the delays are min × factor^(n−1), capped at maxDelayMs', async () => {
    const { user, calls, events } = failingUser({ minDelayMs: 100, factor: 3, maxDelayMs: 2000, jitter: false });
    expect(await delaysOf(user, calls, events, 6)).toEqual([100, 300, 900, 2000, 2000, 2000]);
  });

  it('with jitter each delay is in [d, 2d) of the unjittered one, still capped, and not all equal to it', async () => {
    const { user, calls, events } = failingUser({ minDelayMs: 100, factor: 2, maxDelayMs: 1500 });
    const delays = await delaysOf(user, calls, events, 6);
    const plain = [100, 200, 400, 800, 1600, 3200];
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(Math.min(plain[i]!, 1500));
      expect(d).toBeLessThanOrEqual(Math.min(2 * plain[i]!, 1500));
    });
    expect(delays.slice(0, 4).some((d, i) => d !== plain[i])).toBe(true);
  });

  it('the jitter factor is 1 + Math.random()', async () => {
    const { user, calls, events } = failingUser({ minDelayMs: 100, factor: 2, maxDelayMs: 10_000 });
    const randoms = [0, 0.5, 0.75];
    jest.spyOn(Math, 'random').mockImplementation(() => randoms.shift() ?? 0);
    expect(await delaysOf(user, calls, events, 3)).toEqual([100, 300, 700]);
  });

  it('a strategy decides each delay from the attempt and the last error; null stops with a typed error', async () => {
    const seen: Array<[number, string]> = [];
    const { user, calls, events } = failingUser({
      strategy: (attempt, lastError) => {
        seen.push([attempt, lastError.code]);
        return attempt < 3 ? attempt * 1000 : null;
      },
    });
    const login = user.login({ timeoutMs: 10_000_000 }).catch((err: unknown) => err);
    await jest.advanceTimersByTimeAsync(3000);
    const err = (await login) as MIMCError;
    expect(err).toMatchObject({ code: ErrorCode.RETRIES_EXHAUSTED, details: { attempts: 3 } });
    expect(err.cause).toMatchObject({ code: ErrorCode.TOKEN_FETCH_FAILED });
    expect(calls()).toBe(3);
    expect(events.map((e) => e.delayMs)).toEqual([1000, 2000]);
    expect(seen).toEqual([
      [1, ErrorCode.TOKEN_FETCH_FAILED],
      [2, ErrorCode.TOKEN_FETCH_FAILED],
      [3, ErrorCode.TOKEN_FETCH_FAILED],
    ]);
    expect(user.state).toBe('offline');
    user.destroy();
  });

  it('maxAttempts: login() rejects after that many failed attempts, the last error as its cause', async () => {
    const { user, calls } = failingUser({ maxAttempts: 2, minDelayMs: 50, jitter: false });
    const login = user.login({ timeoutMs: 10_000_000 }).catch((err: unknown) => err);
    await jest.advanceTimersByTimeAsync(1000);
    const err = (await login) as MIMCError;
    expect(err).toBeInstanceOf(MIMCError);
    expect(err.code).toBe(ErrorCode.RETRIES_EXHAUSTED);
    expect(err.cause).toMatchObject({ code: ErrorCode.TOKEN_FETCH_FAILED });
    expect(calls()).toBe(2);
    expect(user.state).toBe('offline');
    user.destroy();
  });

  it('refuses bad reconnect options', () => {
    const make = (reconnect: unknown) => () => new MCUser({ appId: '1', appAccount: 'a', reconnect: reconnect as ReconnectOptions });
    for (const bad of [{ maxAttempts: 0 }, { maxAttempts: 1.5 }, { strategy: 'fast' }, { enabled: 'no' }, { jitter: 1 }]) {
      expect(make(bad)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    }
  });
});

describe('after a lost connection (emulator)', () => {
  let emulator: Emulator;
  beforeEach(async () => {
    emulator = await startEmulator();
  });
  afterEach(async () => {
    destroyUsers();
    await emulator.close();
  });

  it('enabled: false goes offline and reports it instead of reconnecting; login() works again', async () => {
    const { user, seen } = makeUser(emulator, 'alice', { reconnect: { enabled: false } });
    const events: ReconnectingEvent[] = [];
    user.on('reconnecting', (e) => void events.push(e));
    await user.login();
    emulator.faults.dropConnections('alice');
    await until(() => user.state === 'offline', 5000, 'offline');
    await until(() => seen.statuses.length === 2);
    expect(seen.statuses[1]).toMatchObject({ online: false, type: 'NETWORK_ERROR' });
    expect(() => user.sendMessage('bob', new Uint8Array(1))).toThrow(expect.objectContaining({ code: ErrorCode.NOT_LOGGED_IN }));
    expect(events).toEqual([]);
    expect(emulator.onlineResources('alice')).toEqual([]);
    await user.login();
    expect(user.isOnline).toBe(true);
  });

  it('maxAttempts after a loss: reconnecting events, then offline with a status change naming the give-up', async () => {
    const { user, seen } = makeUser(emulator, 'alice', { reconnect: { maxAttempts: 3, minDelayMs: 5, maxDelayMs: 20 } });
    const events: ReconnectingEvent[] = [];
    user.on('reconnecting', (e) => void events.push(e));
    await user.login();
    await emulator.close(); // the server is gone: every attempt fails
    await until(() => user.state === 'offline', 10_000, 'give-up');
    expect(events.map((e) => e.attempt)).toEqual([1, 2]);
    expect(events.every((e) => MIMCError.is(e.error) && e.delayMs >= 5 && e.delayMs <= 20)).toBe(true);
    await until(() => seen.statuses.some((s) => s.type === ErrorCode.RETRIES_EXHAUSTED));
    expect(user.health().lastError).toMatchObject({ code: ErrorCode.RETRIES_EXHAUSTED });
  });
});
