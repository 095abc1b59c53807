/**
 * Fault matrix, session side: token expiry, kicks, logout and destroy at awkward moments, and a
 * handler slower than the traffic. Same invariants as the network matrix (spec/helpers/invariants.ts).
 */
import { createServer, type AddressInfo } from 'node:net';
import { jest } from '@jest/globals';
import { MIMCError } from '../../lib/errors.js';
import { Harness, internals, sleep, waitFor } from '../helpers/invariants.js';
import { burst, expectClean } from '../helpers/scenarios.js';

jest.setTimeout(30_000);

let h: Harness | undefined;

afterEach(async () => {
  await h?.shutdown();
  h = undefined;
});


/** A port nothing listens on (connections are refused at once). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const errorCode = (err: unknown): string => (MIMCError.is(err) ? err.code : `not a MIMCError: ${String(err)}`);

describe('fault matrix: the session ends', () => {
  it('token expiry mid-session: both users fetch a new token, bind again and lose nothing', async () => {
    h = await Harness.start();
    const fetches = { alice: 0, bob: 0 };
    const counted = (account: 'alice' | 'bob') => ({
      tokenDelegate: {
        fetchToken: () => {
          fetches[account] += 1;
          return h!.emulator.fetchToken(account);
        },
      },
    });
    const alice = h.user('alice', counted('alice'));
    const bob = h.user('bob', counted('bob'));
    await h.loginAll();
    await burst(h, alice, 'bob', 210, (i) => {
      if (i === 70) h!.emulator.faults.expireTokens();
      if (i === 140) h!.emulator.faults.expireTokens('bob');
    });
    expect(await h.settle()).toBe(true);
    expect(fetches.alice).toBeGreaterThanOrEqual(2);
    expect(fetches.bob).toBeGreaterThanOrEqual(3);
    for (const t of [alice, bob]) {
      expect(t.statuses.some((s) => !s.online && s.type === 'token-expired')).toBe(true);
      expect(t.user.isOnline).toBe(true);
    }
    expect(h.summary().acked).toBeGreaterThan(150);
    await expectClean(h);
  });

  it('kick: the kicked user stays offline (no fight), later sends are refused, and after a new login nothing is lost', async () => {
    h = await Harness.start();
    const alice = h.user('alice');
    const bob = h.user('bob');
    await h.loginAll();
    await burst(h, alice, 'bob', 150, (i) => {
      if (i === 50) h!.emulator.faults.kick('bob');
      if (i === 100) h!.emulator.faults.kick('alice');
    });
    expect(await waitFor(() => alice.user.state === 'offline' && bob.user.state === 'offline', 2000)).toBe(true);
    const connections = h.emulator.stats.connectionsTotal;
    await sleep(400);
    expect(h.emulator.stats.connectionsTotal).toBe(connections); // nobody tried to come back
    expect(h.emulator.onlineResources('bob')).toEqual([]);
    for (const t of [alice, bob]) expect(t.statuses.at(-1)).toEqual({ online: false, type: 'multi-login' });
    expect(h.summary().refused).toBeGreaterThan(0); // sends after the kick: ERR_NOT_LOGGED_IN at once
    // the app decides to log in again: stored messages sent meanwhile arrive exactly once
    expect(await h.settle()).toBe(true);
    expect(bob.user.isOnline).toBe(true);
    await burst(h, alice, 'bob', 20);
    expect(await h.settle()).toBe(true);
    await expectClean(h);
  });

  it('logout during reconnect: settles every pending send at once, stops trying, and a later login gets what was stored', async () => {
    h = await Harness.start();
    const alice = h.user('alice');
    const bob = h.user('bob');
    await h.loginAll();
    let loggedOut: Promise<void> | undefined;
    const waits: Array<Promise<string>> = [];
    alice.user.on('stateChange', (state) => {
      if (state === 'reconnecting' && !loggedOut) loggedOut = alice.user.logout();
    });
    await burst(h, alice, 'bob', 60, (i) => {
      if (i === 40) {
        h!.emulator.faults.dropConnections('alice');
        waits.push(h!.sendAndWait(alice, 'bob'));
      }
    });
    expect(await waitFor(() => loggedOut !== undefined, 2000)).toBe(true);
    await loggedOut;
    expect(alice.user.state).toBe('offline');
    expect(alice.user.pendingCount).toBe(0);
    expect([...alice.sends.values()].every((r) => r.acks.length + r.timeouts === 1)).toBe(true);
    expect(await Promise.all(waits)).toEqual([expect.stringMatching(/^(acked|ERR_CLOSED)$/)]);
    const connections = h.emulator.stats.connectionsTotal;
    await sleep(400);
    expect(h.emulator.stats.connectionsTotal).toBe(connections);
    expect(alice.user.state).toBe('offline');
    expect(h.send(alice, 'bob')).toBeUndefined(); // refused: not logged in
    // stored for alice while she is away
    await burst(h, bob, 'alice', 30);
    expect(await h.settle()).toBe(true);
    expect(alice.user.isOnline).toBe(true);
    await expectClean(h);
  });

  it('logout while the reconnect handshake hangs (server silent): returns at once and leaves nothing running', async () => {
    h = await Harness.start();
    // The handshake would hang until this timeout: logout must not wait for it.
    const loginTimeoutMs = 20_000;
    const alice = h.user('alice', { loginTimeoutMs });
    await h.loginAll();
    h.emulator.faults.stall(true);
    h.emulator.faults.dropConnections('alice');
    expect(await waitFor(() => alice.user.state === 'binding', 5000)).toBe(true);
    for (let i = 0; i < 5; i++) h.send(alice, 'bob');
    // Ordering with a generous relative bound: logout settles long before the handshake timeout could fire.
    let guard: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      alice.user.logout().then(() => 'logged out'),
      new Promise((resolve) => (guard = setTimeout(() => resolve('still waiting'), loginTimeoutMs / 4))),
    ]);
    clearTimeout(guard);
    expect(outcome).toBe('logged out');
    alice.wantOnline = false;
    expect(alice.user.state).toBe('offline');
    expect([...alice.sends.values()].every((r) => r.timeouts === 1)).toBe(true);
    expect(await waitFor(() => h!.emulator.stats.connections === 0, 1000)).toBe(true);
    h.emulator.faults.stall(false);
    await expectClean(h);
  });

  it('destroy during login, at every stage (token fetch, connect, CONN, BIND, online): each login settles, nothing leaks', async () => {
    h = await Harness.start();
    const count = 40;
    const users = Array.from({ length: count }, (_, i) =>
      h!.user(`early${i}`, {
        tokenDelegate: {
          fetchToken: async () => {
            await sleep(i % 4 === 0 ? 5 : 0);
            return h!.emulator.fetchToken(`early${i}`);
          },
        },
      }),
    );
    const logins = users.map((t) => t.user.login({ timeoutMs: 5000 }).then(() => 'online', errorCode));
    const timers = users.map((t, i) => setTimeout(() => h!.destroy(t), i % 20));
    const outcomes = await Promise.all(logins);
    timers.forEach(clearTimeout);
    expect(outcomes.every((o) => o === 'online' || o === 'ERR_CLOSED')).toBe(true);
    expect(outcomes.filter((o) => o === 'ERR_CLOSED').length).toBeGreaterThan(0);
    expect(users.every((t) => t.user.state === 'closed')).toBe(true);
    expect(await waitFor(() => h!.emulator.stats.connections === 0, 2000)).toBe(true);
    await expectClean(h);
  });

  it('destroy during reconnect backoff and during a hanging handshake: login rejects ERR_CLOSED, no timer or socket is left', async () => {
    h = await Harness.start();
    const port = await closedPort();
    const refused = h.user('refused', { frontendAddress: `127.0.0.1:${port}`, reconnect: { minDelayMs: 150, maxDelayMs: 300 } });
    const login1 = refused.user.login({ timeoutMs: 5000 }).then(() => 'online', errorCode);
    expect(await waitFor(() => refused.user.state === 'reconnecting', 2000)).toBe(true);
    h.destroy(refused);
    expect(await login1).toBe('ERR_CLOSED');

    h.emulator.faults.stall(true);
    const hanging = h.user('hanging', { loginTimeoutMs: 3000 });
    const login2 = hanging.user.login({ timeoutMs: 5000 }).then(() => 'online', errorCode);
    expect(await waitFor(() => hanging.user.state === 'binding' && h!.emulator.stats.connections === 1, 2000)).toBe(true);
    h.destroy(hanging);
    expect(await login2).toBe('ERR_CLOSED');
    h.emulator.faults.stall(false);
    await expectClean(h);
  });

  it('a stuck handler: reading goes on (own sends acked), the queue stays within maxQueuedMessages, live overflow is counted, stored messages all arrive once', async () => {
    h = await Harness.start({ emulator: { compoundBatchSize: 1, maxQueuedBytes: 256 * 1024 * 1024 } });
    const maxQueuedMessages = 8;
    // liveness is not under test here: the harness's 300 ms response timeout would make a busy moment a reconnect
    const patient = { responseTimeoutMs: 5000, connectTimeoutMs: 5000, loginTimeoutMs: 5000 };
    const alice = h.user('alice', { ...patient, sendTimeoutMs: 5000, maxPendingMessages: 500 });
    const bob = h.user('bob', { ...patient, maxQueuedMessages, handlerTimeoutMs: 60_000 });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    bob.handler = async () => {
      await gate; // the app is stuck until released
    };
    await h.loginAll();
    const live = 300;
    for (let i = 0; i < live; i++) h.send(alice, 'bob', { isStore: false, size: 512 });
    expect(await waitFor(() => alice.user.pendingCount === 0, 10_000)).toBe(true);
    // the stuck app does not stop bob's own traffic: his sends are acked while the handler hangs
    const own = await h.sendAndWait(bob, 'alice');
    expect(own).toBe('acked');
    expect(await waitFor(() => bob.user.metrics().deliveriesDropped > 0, 5000)).toBe(true);
    expect(bob.user.health().deliveryBackpressured).toBe(true);
    expect(internals(bob.user).deliveries.length).toBeLessThanOrEqual(maxQueuedMessages);
    expect(bob.user.isOnline).toBe(true);
    // stored messages are held back by the server's window, not dropped
    const stored = 40;
    for (let i = 0; i < stored; i++) h.send(alice, 'bob');
    expect(await waitFor(() => alice.user.pendingCount === 0, 10_000)).toBe(true);
    release();
    const m = () => bob.user.metrics();
    expect(await waitFor(() => bob.delivered.size + m().deliveriesDropped === live + stored, 20_000)).toBe(true);
    expect(m().deliveriesDropped).toBeLessThan(live);
    expect(bob.peaks.deliveries).toBeLessThanOrEqual(2 * maxQueuedMessages);
    expect(await h.settle()).toBe(true);
    expect(h.summary()).toMatchObject({ timedOut: 0 });
    expect(h.violations()).toEqual([]);
  });
});
