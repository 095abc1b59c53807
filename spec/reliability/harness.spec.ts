/**
 * The invariant harness must not pass vacuously: each check is shown to fire on a planted
 * breach (a duplicate, a missing outcome, a lost message, an unhandled rejection, an unheard
 * 'error' event, a bound overrun, a leaked socket).
 */
import { EventEmitter } from 'node:events';
import { connect } from 'node:net';
import { jest } from '@jest/globals';
import type { MessageHandlerDelegate, P2PMessage } from '../../lib/user/types.js';
import { Harness, sleep, waitFor } from '../helpers/invariants.js';

jest.setTimeout(20_000);

let h: Harness | undefined;

afterEach(async () => {
  await h?.shutdown();
  h = undefined;
});

const delegateOf = (h: { user: unknown }): MessageHandlerDelegate =>
  (h.user as unknown as { messageDelegate: MessageHandlerDelegate }).messageDelegate;

describe('the invariant harness', () => {
  it('passes a clean exchange and reports its numbers', async () => {
    h = await Harness.start();
    const alice = h.user('alice');
    const bob = h.user('bob');
    await h.loginAll();
    for (let i = 0; i < 20; i++) h.send(alice, 'bob');
    expect(await h.settle()).toBe(true);
    expect(h.violations()).toEqual([]);
    expect(h.summary()).toMatchObject({ sent: 20, acked: 20, timedOut: 0, delivered: 20, lost: 0, violations: 0 });
    expect(bob.delivered.size).toBe(20);
    expect(await h.shutdown()).toEqual([]);
  });

  it('catches a message delivered twice, and a delegate/event mismatch', async () => {
    h = await Harness.start();
    const alice = h.user('alice');
    const bob = h.user('bob');
    await h.loginAll();
    h.send(alice, 'bob');
    expect(await h.settle()).toBe(true);
    const [record] = alice.sends.values();
    const replay: P2PMessage = {
      packetId: record!.id,
      sequence: 1n,
      timestamp: 0,
      fromAccount: 'alice',
      fromResource: alice.user.resource,
      toAccount: 'bob',
      payload: record!.payload,
      bizType: '',
      isStore: true,
    };
    await delegateOf(bob).handleMessage!([replay]);
    expect(h.violations()).toEqual(expect.arrayContaining([expect.stringMatching(/delivered 2 times/), expect.stringMatching(/delegate and event counts differ/)]));
  });

  it('catches a send without outcome, an acknowledged stored message that never arrived, and a bound overrun', async () => {
    h = await Harness.start();
    const alice = h.user('alice', { sendTimeoutMs: 300 });
    const bob = h.user('bob', { dedupWindow: 5 });
    await h.loginAll();
    h.emulator.faults.dropAcks(true);
    const vanished = h.send(alice, 'bob')!;
    (alice.user as unknown as { outgoing: { pending: { settle(id: string): unknown } } }).outgoing.pending.settle(vanished); // a bug: the entry disappears
    h.emulator.faults.dropAcks(false);
    for (let i = 0; i < 3; i++) h.send(alice, 'bob');
    await h.settle({ deliveryTimeoutMs: 500 });
    const [, firstAcked] = alice.sends.values();
    bob.delivered.delete(`alice/${alice.user.resource}|${firstAcked!.id}`); // as if it never arrived
    bob.peaks.dedup = 6; // as if the dedup window had grown past its bound
    const found = h.violations();
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`${vanished} has no outcome`)),
        expect.stringMatching(/^lost: /),
        expect.stringMatching(/dedup window of 6 \(bound 5\)/),
      ]),
    );
  });

  it('catches an unhandled rejection and an error event nobody listens to', async () => {
    h = await Harness.start();
    const rejected = Promise.reject(new Error('planted rejection'));
    await sleep(20);
    rejected.catch(() => undefined); // handled late, so jest itself lets it go
    await sleep(20);
    expect(() => new EventEmitter().emit('error', new Error('planted error event'))).toThrow('planted error event');
    const found = h.violations();
    expect(found).toEqual(
      expect.arrayContaining([expect.stringMatching(/unhandledRejection: Error: planted rejection/), expect.stringMatching(/unhandled 'error' event.*planted error event/)]),
    );
  });

  it('catches a socket left open at shutdown', async () => {
    h = await Harness.start();
    const port = h.emulator.frontend.port;
    const leak = connect({ host: '127.0.0.1', port });
    leak.on('error', () => undefined);
    await new Promise((resolve) => leak.once('connect', resolve));
    await waitFor(() => h!.emulator.stats.connections === 1, 1000);
    const harness = h;
    h = undefined;
    const problems = await harness.shutdown({ graceMs: 300 });
    leak.destroy();
    expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(/still open at the emulator/)]));
  });
});
