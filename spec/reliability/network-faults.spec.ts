/**
 * Fault matrix, network side: the emulator breaks the connection in each way it can while
 * users are sending, and the harness checks the delivery invariants of docs/guide.md in every
 * scenario (see spec/helpers/invariants.ts), plus each scenario's own expected outcome.
 */
import { jest } from '@jest/globals';
import { Harness, logCapture, sleep, waitFor } from '../helpers/invariants.js';
import { burst, expectClean } from '../helpers/scenarios.js';

jest.setTimeout(30_000);

let h: Harness | undefined;

afterEach(async () => {
  // also on failure: nothing may outlive a test
  await h?.shutdown();
  h = undefined;
});


const codes = (records: Array<Record<string, unknown>>, msg: string): string[] =>
  records.filter((r) => r.msg === msg).map((r) => String(r.code));

describe('fault matrix: the connection breaks', () => {
  it('server closes the socket mid-stream: both sides reconnect, nothing acknowledged is lost or doubled', async () => {
    h = await Harness.start();
    const alice = h.user('alice');
    const bob = h.user('bob');
    await h.loginAll();
    await burst(h, alice, 'bob', 300, (i) => {
      if (i === 80) h!.emulator.faults.dropConnections('alice');
      if (i === 160) h!.emulator.faults.dropConnections('bob');
      if (i === 240) h!.emulator.faults.dropConnections();
    });
    expect(await h.settle()).toBe(true);
    const s = h.summary();
    expect(s.sent).toBe(300);
    expect(s.acked + s.timedOut).toBe(300);
    expect(s.acked).toBeGreaterThan(150);
    expect(alice.user.isOnline && bob.user.isOnline).toBe(true);
    expect(alice.user.metrics().reconnects).toBeGreaterThanOrEqual(2);
    await expectClean(h);
  });

  it('frontend restart mid-burst (P2P and P2T): users come back and every acknowledged stored message arrives once', async () => {
    h = await Harness.start();
    const alice = h.user('alice');
    const bob = h.user('bob');
    const carol = h.user('carol');
    await h.loginAll();
    const topic = h.createTopic(alice, [bob, carol]);
    let restart: Promise<void> | undefined;
    for (let i = 0; i < 240; i++) {
      if (i === 100) restart = h.emulator.restartFrontend();
      h.send(alice, 'bob');
      h.sendGroup(i % 2 === 0 ? alice : carol, topic);
      if (i % 10 === 9) await sleep(3);
    }
    await restart;
    expect(await h.settle()).toBe(true);
    const s = h.summary();
    expect(s.sent).toBe(480);
    expect(s.acked).toBeGreaterThan(240);
    for (const t of [alice, bob, carol]) expect(t.user.metrics().reconnects).toBeGreaterThanOrEqual(1);
    // group messages reached both other members
    const groupAcked = [...alice.sends.values(), ...carol.sends.values()].filter((r) => r.kind === 'p2t' && r.acks.length > 0).length;
    expect(groupAcked).toBeGreaterThan(100);
    await expectClean(h);
  });

  it('half-open connection (stall): detected within ping interval + response timeout, then re-established', async () => {
    h = await Harness.start();
    const pingIntervalMs = 150;
    const responseTimeoutMs = 250;
    // The send timeout is 25x the keep-alive's detection time: a loss noticed well before it is the keep-alive's doing.
    const sendTimeoutMs = 10_000;
    const alice = h.user('alice', { pingIntervalMs, responseTimeoutMs, sendTimeoutMs });
    const bob = h.user('bob');
    await h.loginAll();
    await burst(h, alice, 'bob', 20);
    await waitFor(() => alice.user.pendingCount === 0, 2000);
    await sleep(50); // idle: only the keep-alive can notice the silence

    let lostAt = 0;
    alice.user.on('stateChange', (state, previous) => {
      if (previous === 'online' && lostAt === 0) lostAt = Date.now();
    });
    const stalledAt = Date.now();
    h.emulator.faults.stall(true, 'alice');
    // sends into the silent connection: written, never answered
    const during = 10;
    for (let i = 0; i < during; i++) h.send(alice, 'bob');
    expect(await waitFor(() => lostAt > 0, sendTimeoutMs)).toBe(true);
    // A generous relative bound (no wall-clock budget): the keep-alive noticed, not a send timeout.
    expect(lostAt - stalledAt).toBeLessThan(sendTimeoutMs / 2);
    h.emulator.faults.stall(false, 'alice');
    expect(await waitFor(() => alice.user.isOnline, 3000)).toBe(true);
    await burst(h, alice, 'bob', 20);
    expect(await h.settle()).toBe(true);

    const stalled = [...alice.sends.values()].slice(20, 20 + during);
    // the stalled server never read them: each ends as one timeout and is never delivered
    expect(stalled.every((r) => r.timeouts === 1 && r.acks.length === 0)).toBe(true);
    expect(stalled.some((r) => bob.delivered.has(`alice/${alice.user.resource}|${r.id}`))).toBe(false);
    expect([...alice.sends.values()].slice(-20).every((r) => r.acks.length === 1)).toBe(true);
    await expectClean(h);
  });

  it('acks dropped, then acks late: each send times out exactly once, the late ack is ignored, the message still arrives once', async () => {
    h = await Harness.start();
    const alice = h.user('alice', { sendTimeoutMs: 500 });
    const bob = h.user('bob');
    await h.loginAll();
    h.emulator.faults.dropAcks(true);
    await burst(h, alice, 'bob', 40);
    await sleep(700);
    h.emulator.faults.dropAcks(false);
    // acks (and deliveries) 300 ms later than the send timeout
    h.emulator.faults.delayDelivery(800);
    await burst(h, alice, 'bob', 20);
    await sleep(1200); // the late acks arrive after their timeouts
    h.emulator.faults.delayDelivery(0);
    await burst(h, alice, 'bob', 20);
    expect(await h.settle()).toBe(true);

    const sends = [...alice.sends.values()];
    expect(sends.slice(0, 60).every((r) => r.timeouts === 1 && r.acks.length === 0)).toBe(true);
    expect(sends.slice(60).every((r) => r.acks.length === 1 && r.timeouts === 0)).toBe(true);
    // timed out but routed: bob has every stored one exactly once (the harness checks "once")
    const stored = sends.filter((r) => r.isStore);
    const got = stored.filter((r) => bob.delivered.get(`alice/${alice.user.resource}|${r.id}`) === 1).length;
    expect(got).toBe(stored.length);
    await expectClean(h);
  });

  it('delayed delivery switched off mid-stream, then a drop: nothing overtakes, nothing acknowledged is lost', async () => {
    h = await Harness.start();
    const alice = h.user('alice');
    const bob = h.user('bob');
    await h.loginAll();
    h.emulator.faults.delayDelivery(400);
    await burst(h, alice, 'bob', 10);
    h.emulator.faults.delayDelivery(0);
    // sent without delay now; they must still reach bob after the delayed ones (acks are cumulative)
    await burst(h, alice, 'bob', 10);
    await sleep(150);
    h.emulator.faults.dropConnections('bob'); // before the delayed lists arrived
    expect(await h.settle()).toBe(true);
    const delivered = [...bob.delivered.keys()];
    expect(delivered.length).toBeGreaterThanOrEqual([...alice.sends.values()].filter((r) => r.isStore).length);
    await expectClean(h);
  });

  it('a short stall while deliveries are delayed: the connection survives and no delivery goes missing', async () => {
    h = await Harness.start();
    const alice = h.user('alice');
    // detection takes longer than the stall: the connection must come through it intact
    const bob = h.user('bob', { pingIntervalMs: 1500, responseTimeoutMs: 1500 });
    await h.loginAll();
    h.emulator.faults.delayDelivery(300);
    await burst(h, alice, 'bob', 10);
    await sleep(50);
    h.emulator.faults.stall(true, 'bob'); // the delayed lists fall due during the stall
    await sleep(400);
    h.emulator.faults.stall(false, 'bob');
    h.emulator.faults.delayDelivery(0);
    await burst(h, alice, 'bob', 10);
    expect(await h.settle({ deliveryTimeoutMs: 3000 })).toBe(true);
    expect(bob.user.metrics().reconnects).toBe(0);
    await expectClean(h);
  });

  it('a corrupted frame closes only that connection, is logged with its MIMCError code, and the user recovers', async () => {
    const log = logCapture('debug');
    h = await Harness.start({ user: { logger: log.logger } });
    const alice = h.user('alice');
    const bob = h.user('bob');
    await h.loginAll();
    await burst(h, alice, 'bob', 200, (i) => {
      if (i === 50 || i === 120) h!.emulator.faults.corruptNextFrame('bob'); // a COMPOUND: redelivered after reconnect
      if (i === 90) h!.emulator.faults.corruptNextFrame('alice'); // an ack: that send times out
    });
    expect(await h.settle()).toBe(true);
    const lost = codes(log.records(), 'connection lost');
    expect(lost.filter((c) => c === 'ERR_BAD_CHECKSUM').length).toBeGreaterThanOrEqual(2);
    expect(lost.every((c) => c.startsWith('ERR_'))).toBe(true);
    expect(bob.user.metrics().reconnects).toBeGreaterThanOrEqual(1);
    expect(alice.user.metrics().reconnects).toBeGreaterThanOrEqual(1);
    await expectClean(h);
  });

  it('an oversized frame head is refused before buffering it; the user reconnects and keeps receiving', async () => {
    const log = logCapture('debug');
    h = await Harness.start({ user: { logger: log.logger } });
    const alice = h.user('alice');
    const bob = h.user('bob');
    await h.loginAll();
    const heapBefore = process.memoryUsage().arrayBuffers;
    await burst(h, alice, 'bob', 150, async (i) => {
      if (i === 40) h!.emulator.faults.sendOversizedFrame('bob');
      // the second one needs bob's new connection: the old one writes nothing after an oversized head
      if (i === 100) {
        expect(await waitFor(() => bob.user.isOnline && bob.user.metrics().reconnects >= 1, 10_000)).toBe(true);
        h!.emulator.faults.sendOversizedFrame('bob');
      }
    });
    expect(await h.settle()).toBe(true);
    expect(codes(log.records(), 'connection lost').filter((c) => c === 'ERR_FRAME_TOO_LARGE').length).toBeGreaterThanOrEqual(2);
    // 16 MiB were announced twice; nothing near that was allocated for them
    expect(process.memoryUsage().arrayBuffers - heapBefore).toBeLessThan(8 * 1024 * 1024);
    expect(bob.user.isOnline).toBe(true);
    await expectClean(h);
  });

  it('connection flapping (repeated drops) during a burst from three users: invariants hold once it stops', async () => {
    h = await Harness.start();
    const users = ['alice', 'bob', 'carol'].map((a) => h!.user(a));
    await h.loginAll();
    const topic = h.createTopic(users[0]!, [users[1]!, users[2]!]);
    let flaps = 0;
    const flapper = setInterval(() => {
      flaps += 1;
      h!.emulator.faults.dropConnections(flaps % 4 === 0 ? undefined : ['alice', 'bob', 'carol'][flaps % 3]);
    }, 120);
    const until = Date.now() + 2000;
    let i = 0;
    try {
      while (Date.now() < until) {
        const from = users[i % 3]!;
        if (i % 4 === 0) h.sendGroup(from, topic);
        else h.send(from, users[(i + 1) % 3]!.account);
        i += 1;
        if (i % 6 === 0) await sleep(5);
      }
    } finally {
      clearInterval(flapper);
    }
    expect(flaps).toBeGreaterThanOrEqual(10);
    expect(await h.settle()).toBe(true);
    const s = h.summary();
    expect(s.sent).toBeGreaterThan(200);
    expect(s.acked).toBeGreaterThan(0);
    for (const t of users) expect(t.user.isOnline).toBe(true);
    await expectClean(h);
  });
});
