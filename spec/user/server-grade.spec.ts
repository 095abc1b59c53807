/** Beyond Go parity: at-least-once delivery to the app, pull, metrics, health, graceful close, user-info store. */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../../lib/errors.js';
import { aggregateMetrics } from '../../lib/user/metrics.js';
import type { PullNotification } from '../../lib/user/types.js';
import { FileUserInfoStore, MemoryUserInfoStore } from '../../lib/user/user-info-store.js';
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { destroyUsers, makeUser, str, text, until } from '../helpers/users.js';

let emulator: Emulator;

beforeEach(async () => {
  emulator = await startEmulator();
});

afterEach(async () => {
  destroyUsers();
  await emulator.close();
});

describe('at-least-once delivery to the app', () => {
  it('retries a failed handler by itself (no pull), keeps sequence order, and hands each message over once', async () => {
    let failures = 0;
    const handled: string[] = [];
    const bob = makeUser(emulator, 'bob', {
      handlerRetry: { minDelayMs: 20 },
      messageDelegate: {
        handleMessage: async (messages) => {
          if (failures === 0) {
            failures += 1;
            throw new Error('database unavailable');
          }
          handled.push(...messages.map((m) => str(m.payload)));
        },
      },
    });
    const alice = makeUser(emulator, 'alice');
    await Promise.all([alice.user.login(), bob.user.login()]);
    await alice.user.sendMessageAndWait('bob', text('important'));
    await until(() => failures === 1);
    await alice.user.sendMessageAndWait('bob', text('next'));
    await until(() => handled.length === 2);
    expect(handled).toEqual(['important', 'next']);
    expect(bob.user.metrics()).toMatchObject({ handlerFailures: 1, deadLettered: 0 });
    // both are acknowledged: a new login on the same resource brings nothing again
    const resource = bob.user.resource;
    await bob.user.logout();
    const again = makeUser(emulator, 'bob', { resource });
    await again.user.login();
    await alice.user.sendMessageAndWait('bob', text('marker'));
    await until(() => again.seen.messages.length > 0);
    expect(again.seen.messages.map((m) => str(m.payload))).toEqual(['marker']);
  });

  it('delivers again after a restart between receive and ack', async () => {
    const alice = makeUser(emulator, 'alice');
    await alice.user.login();
    await alice.user.sendMessageAndWait('bob', text('survives restarts'));

    let received = 0;
    const first = makeUser(emulator, 'bob', {
      resource: 'bob_server_1',
      messageDelegate: {
        handleMessage: () => {
          received += 1;
          return new Promise<void>(() => undefined); // the process "dies" before finishing
        },
      },
    });
    await first.user.login();
    await until(() => received === 1);
    first.user.destroy();

    const second = makeUser(emulator, 'bob', { resource: 'bob_server_1' });
    await second.user.login();
    await until(() => second.seen.messages.length === 1);
    expect(str(second.seen.messages[0]!.payload)).toBe('survives restarts');
  });

  it('notifies when the server has more waiting, and pulls when the app asks', async () => {
    const small = await startEmulator({ compoundBatchSize: 2 });
    try {
      const alice = makeUser(small, 'alice');
      await alice.user.login();
      for (let i = 0; i < 5; i++) await alice.user.sendMessageAndWait('bob', text(`m${i}`));
      let notified = 0;
      const infos: PullNotification[] = [];
      const bob = makeUser(small, 'bob');
      bob.user.registerMessageDelegate({
        handleMessage: (messages) => void bob.seen.messages.push(...messages),
        handlePullNotification: (info) => {
          notified += 1;
          infos.push(info);
          return true;
        },
      });
      await bob.user.login();
      await until(() => bob.seen.messages.length === 5);
      expect(bob.seen.messages.map((m) => str(m.payload))).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
      expect(notified).toBeGreaterThan(0);
      // the first flagged list is the first batch of two: sequences 1..2 of bob's store
      expect(infos[0]).toEqual({ minSequence: expect.any(BigInt), maxSequence: expect.any(BigInt), count: 2 });
      expect(infos[0]!.maxSequence - infos[0]!.minSequence!).toBe(1n);
    } finally {
      destroyUsers();
      await small.close();
    }
  });
});

describe('metrics and health', () => {
  it('counts sends, acks, receptions and timeouts, and reports health', async () => {
    const alice = makeUser(emulator, 'alice', { sendTimeoutMs: 300 });
    const bob = makeUser(emulator, 'bob');
    expect(alice.user.health()).toMatchObject({ state: 'offline', online: false, lastFrameReceivedAt: null, pendingAcks: 0 });
    await Promise.all([alice.user.login(), bob.user.login()]);
    await alice.user.sendMessageAndWait('bob', text('1'));
    await alice.user.sendMessageAndWait('bob', text('2'));
    emulator.faults.dropAcks(true);
    await expect(alice.user.sendMessageAndWait('bob', text('3'))).rejects.toMatchObject({ code: ErrorCode.SEND_TIMEOUT });
    await until(() => bob.seen.messages.length === 3);

    const a = alice.user.metrics();
    expect(a).toMatchObject({ sent: 3, acked: 2, timedOut: 1, rejected: 0, pendingAcks: 0, queueDepth: 0 });
    expect(a.ackLatency.count).toBe(2);
    expect(a.ackLatency.counts).toHaveLength(a.ackLatency.bucketsMs.length + 1);
    expect(bob.user.metrics().received).toBe(3);
    expect(aggregateMetrics([a, bob.user.metrics()])).toMatchObject({ sent: 3, received: 3, acked: 2 });

    const health = alice.user.health();
    expect(health.state).toBe('online');
    expect(health.lastFrameReceivedAt).not.toBeNull();
    expect(Math.abs(health.lastFrameReceivedAt! - Date.now())).toBeLessThan(10_000);
    expect(health.reconnectAttempts).toBe(0);
  });

  it('counts reconnects and remembers the last error', async () => {
    const alice = makeUser(emulator, 'alice', { reconnect: { minDelayMs: 10, maxDelayMs: 20 } });
    await alice.user.login();
    emulator.faults.dropConnections('alice');
    await until(() => alice.user.metrics().reconnects === 1 && alice.user.isOnline);
    expect(alice.user.health().lastError?.code).toBe(ErrorCode.CONNECTION_LOST);
  });
});

describe('graceful close', () => {
  it('waits for outstanding acks, then refuses sends and releases everything', async () => {
    const alice = makeUser(emulator, 'alice');
    await alice.user.login();
    emulator.faults.delayDelivery(100);
    const ids = [alice.user.sendMessage('bob', text('a')), alice.user.sendMessage('bob', text('b'))];
    const report = await alice.user.close({ drainTimeoutMs: 3000 });
    expect(report).toEqual({ acked: 2, timedOut: 0 });
    expect(alice.seen.acks.map((a) => a.packetId)).toEqual(ids);
    expect(alice.user.state).toBe('closed');
    expect(() => alice.user.sendMessage('bob', text('late'))).toThrow(expect.objectContaining({ code: ErrorCode.CLOSED }));
  });

  it('reports what did not drain in time as timed out', async () => {
    const alice = makeUser(emulator, 'alice');
    await alice.user.login();
    emulator.faults.dropAcks(true);
    alice.user.sendMessage('bob', text('never acked'));
    const report = await alice.user.close({ drainTimeoutMs: 100 });
    expect(report).toEqual({ acked: 0, timedOut: 1 });
    expect(alice.seen.timeouts).toHaveLength(1);
  });

  it('aborts a login through its signal', async () => {
    const alice = makeUser(emulator, 'alice');
    emulator.faults.stall(true);
    const controller = new AbortController();
    const login = alice.user.login({ signal: controller.signal });
    controller.abort();
    await expect(login).rejects.toMatchObject({ code: ErrorCode.ABORTED });
    expect(alice.user.state).toBe('offline');
  });

  it('stops waiting for an ack through its signal, while the delegate still gets the one outcome', async () => {
    const alice = makeUser(emulator, 'alice');
    await alice.user.login();
    emulator.faults.delayDelivery(200);
    const controller = new AbortController();
    const waiting = alice.user.sendMessageAndWait('bob', text('x'), { signal: controller.signal });
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: ErrorCode.ABORTED });
    await until(() => alice.seen.acks.length === 1);
  });
});

describe('user-info store', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mimc-info-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the resource across restarts in a private file, without the token unless asked', async () => {
    const store = new FileUserInfoStore({ directory: join(dir, 'state') });
    const first = makeUser(emulator, 'alice', { userInfoStore: store });
    const generated = first.user.resource;
    await first.user.login();
    first.user.destroy();

    const second = makeUser(emulator, 'alice', { userInfoStore: store });
    await second.user.login();
    expect(second.user.resource).toBe(generated);
    expect(emulator.onlineResources('alice')).toEqual([generated]);

    const file = join(dir, 'state', `${encodeURIComponent(`${emulator.app.appId}_alice`)}.json`);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'state'))).mode & 0o777).toBe(0o700);
    const saved = await readFile(file, 'utf8');
    expect(saved).toContain(generated);
    expect(saved).not.toContain('token');
  });

  it('reuses a cached token when asked to, skipping the token fetch', async () => {
    const store = new MemoryUserInfoStore();
    let fetches = 0;
    const options = {
      userInfoStore: store,
      cacheToken: true,
      tokenDelegate: {
        fetchToken: () => {
          fetches += 1;
          return emulator.fetchToken('alice');
        },
      },
    };
    const first = makeUser(emulator, 'alice', options);
    await first.user.login();
    first.user.destroy();
    const second = makeUser(emulator, 'alice', options);
    await second.user.login();
    expect(fetches).toBe(1);
  });
});
