/**
 * Cancellation and disposal: AbortSignal for logout() and close(), Symbol.asyncDispose on MCUser
 * and on the emulator, and `cause` on every error that wraps another.
 */
import { MIMCError, ErrorCode } from '../../lib/errors.js';
import { MCUser } from '../../lib/user/mcuser.js';
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { destroyUsers, makeUser, text, until } from '../helpers/users.js';

let emulator: Emulator;

beforeEach(async () => {
  emulator = await startEmulator();
});

afterEach(async () => {
  destroyUsers();
  await emulator.close();
});

/** Settles with 'still waiting' if `promise` has not settled after a generous bound. */
function settledSoon<T>(promise: Promise<T>, ms = 5000): Promise<T | 'still waiting' | { rejected: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'still waiting'>((resolve) => (timer = setTimeout(() => resolve('still waiting'), ms)));
  return Promise.race([promise.then((v) => v, (err: unknown) => ({ rejected: err })), late]).finally(() => clearTimeout(timer));
}

describe('logout({ signal }) and close({ signal })', () => {
  it('an abort stops waiting for a handler in progress: logout rejects with ERR_ABORTED (the reason as cause), the user is destroyed', async () => {
    const alice = makeUser(emulator, 'alice', {
      loginTimeoutMs: 20_000,
      handlerTimeoutMs: 60_000,
      messageDelegate: { handleMessage: () => new Promise<void>(() => undefined) }, // never settles
    });
    const bob = makeUser(emulator, 'bob');
    await Promise.all([alice.user.login(), bob.user.login()]);
    await bob.user.sendMessageAndWait('alice', text('keep the handler busy'));
    await until(() => alice.user.metrics().deliveryQueueDepth > 0);
    const controller = new AbortController();
    const logout = alice.user.logout({ signal: controller.signal });
    const reason = new Error('shutdown deadline');
    controller.abort(reason);
    const outcome = await settledSoon(logout);
    expect(outcome).toEqual({ rejected: expect.objectContaining({ code: ErrorCode.ABORTED }) });
    expect(((outcome as { rejected: MIMCError }).rejected).cause).toBe(reason);
    expect(alice.user.state).toBe('closed');
  });

  it('an already aborted signal destroys at once', async () => {
    const { user } = makeUser(emulator, 'alice');
    await user.login();
    await expect(user.logout({ signal: AbortSignal.abort() })).rejects.toMatchObject({ code: ErrorCode.ABORTED });
    expect(user.state).toBe('closed');
  });

  it('close({ signal }) stops draining: every pending send settles, close rejects with ERR_ABORTED', async () => {
    const { user, seen } = makeUser(emulator, 'alice');
    await user.login();
    emulator.faults.dropAcks(true);
    const waiting = user.sendMessageAndWait('bob', text('never acked')).catch((err: unknown) => err);
    const controller = new AbortController();
    const close = user.close({ drainTimeoutMs: 20_000, signal: controller.signal });
    controller.abort();
    expect(await settledSoon(close)).toEqual({ rejected: expect.objectContaining({ code: ErrorCode.ABORTED }) });
    expect(await waiting).toMatchObject({ code: ErrorCode.CLOSED });
    expect(seen.timeouts).toHaveLength(1);
    expect(user.state).toBe('closed');
  });

  it('without an abort, close({ signal }) drains and reports as before', async () => {
    const { user } = makeUser(emulator, 'alice');
    await user.login();
    user.sendMessage('bob', text('acked'));
    await expect(user.close({ signal: new AbortController().signal })).resolves.toEqual({ acked: 1, timedOut: 0 });
  });
});

describe('Symbol.asyncDispose', () => {
  it('MCUser: `await using` closes the user at the end of the scope', async () => {
    let escaped: MCUser | undefined;
    {
      await using user = makeUser(emulator, 'alice').user;
      await user.login();
      escaped = user;
      expect(user.isOnline).toBe(true);
    }
    expect(escaped.state).toBe('closed');
    await until(() => emulator.onlineResources('alice').length === 0);
  });

  it('the emulator: disposing closes it (idempotent with close())', async () => {
    const own = await startEmulator();
    await own[Symbol.asyncDispose]();
    const { user } = makeUser(own, 'alice', { reconnect: { maxAttempts: 1 } });
    await expect(user.login({ timeoutMs: 5000 })).rejects.toBeInstanceOf(MIMCError);
    await own.close();
  });
});

describe('cause on wrapping errors', () => {
  it('ERR_LOGIN_TIMEOUT carries the last attempt error as its cause', async () => {
    const user = new MCUser({
      appId: emulator.app.appId,
      appAccount: 'alice',
      resolverUrl: emulator.resolverUrl,
      reconnect: { minDelayMs: 5, maxDelayMs: 20 },
      tokenDelegate: {
        fetchToken: () => {
          throw new Error('token service down');
        },
      },
    });
    try {
      const err = (await user.login({ timeoutMs: 200 }).catch((e: unknown) => e)) as MIMCError;
      expect(err.code).toBe(ErrorCode.LOGIN_TIMEOUT);
      expect(err.cause).toMatchObject({ code: ErrorCode.TOKEN_FETCH_FAILED });
      expect(err.details).toMatchObject({ lastError: ErrorCode.TOKEN_FETCH_FAILED });
    } finally {
      user.destroy();
    }
  });

  it('aborted login and sendMessageAndWait carry the abort reason as their cause', async () => {
    const { user } = makeUser(emulator, 'alice');
    const reason = new Error('user navigated away');
    const login = user.login({ signal: AbortSignal.abort(reason) });
    await expect(login).rejects.toMatchObject({ code: ErrorCode.ABORTED, cause: reason });
    await user.login();
    emulator.faults.dropAcks(true);
    const controller = new AbortController();
    const send = user.sendMessageAndWait('bob', text('x'), { signal: controller.signal });
    controller.abort(reason);
    await expect(send).rejects.toMatchObject({ code: ErrorCode.ABORTED, cause: reason });
    await expect(user.sendMessageAndWait('bob', text('y'), { signal: AbortSignal.abort(reason) })).rejects.toMatchObject({ cause: reason });
  });
});
