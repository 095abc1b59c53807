/**
 * The incoming pipeline's state machine under random handler failures, hangs, late completions,
 * duplicates, redeliveries, connection resets and logouts (fake timers: no wall-clock waits).
 */
import { jest } from '@jest/globals';
import fc from 'fast-check';
import { PacketType, PushStatus } from '../../lib/protocol/constants.js';
import { encodeP2PMessage, encodeP2TMessage, type MimcPacket, type PacketList } from '../../lib/protocol/packets.js';
import { IncomingPipeline, type IncomingHost, type IncomingSettings } from '../../lib/user/incoming.js';
import { silentLogger } from '../../lib/user/logger.js';
import { UserMetrics } from '../../lib/user/metrics.js';
import type { MessageBatch } from '../../lib/user/types.js';

const from = { appId: 1n, appAccount: 'alice', uuid: 1n, resource: 'r' };

function packet(sequence: bigint, kind: 'p2p' | 'p2t', isStore = true): MimcPacket {
  const payload =
    kind === 'p2p'
      ? encodeP2PMessage({ from, to: { appId: 1n, appAccount: 'bob', uuid: 0n, resource: '' }, payload: new Uint8Array([Number(sequence & 0xffn)]), isStore })
      : encodeP2TMessage({ from, to: { appId: 1n, topicId: 7n }, payload: new Uint8Array([1]), isStore });
  return { packetId: `p${sequence}`, package: 'app', type: kind === 'p2p' ? PacketType.P2P_MESSAGE : PacketType.P2T_MESSAGE, sequence, timestamp: 1n, payload };
}

function list(packets: MimcPacket[]): PacketList {
  const maxSequence = packets.reduce((m, p) => (p.sequence! > m ? p.sequence! : m), 0n);
  return { uuid: 2n, resource: 'bob_r', maxSequence, packets, status: PushStatus.NORMAL };
}

const settings = (over: Partial<IncomingSettings> = {}): IncomingSettings => ({
  ackMode: 'after-handler',
  dedupWindow: 8,
  maxQueuedMessages: 1000,
  handlerTimeoutMs: 50,
  retry: { maxAttempts: 3, minDelayMs: 10, maxDelayMs: 40, factor: 2 },
  ...over,
});

interface Probe {
  host: IncomingHost;
  acks: bigint[];
  calls: bigint[][];
  handled: Set<bigint>;
  dead: Set<bigint>;
  violations: string[];
}

function probe(behave: (call: number) => 'ok' | 'throw' | 'hang' | 'late'): Probe {
  const p: Probe = { acks: [], calls: [], handled: new Set(), dead: new Set(), violations: [], host: undefined! };
  const seqs = (batch: MessageBatch) => batch.messages.map((m) => m.sequence);
  p.host = {
    log: silentLogger(),
    counters: new UserMetrics(),
    invokeHandler: (batch) => {
      const s = seqs(batch);
      for (const q of s) if (p.handled.has(q) || p.dead.has(q)) p.violations.push(`sequence ${q} handed over again after it was finished`);
      p.calls.push(s);
      switch (behave(p.calls.length)) {
        case 'ok':
          return Promise.resolve();
        case 'throw':
          throw new Error('app failure');
        case 'hang':
          return new Promise<void>(() => undefined);
        case 'late':
          return new Promise<void>((resolve) => setTimeout(resolve, 80));
      }
    },
    onHandled: (batch) => {
      for (const q of seqs(batch)) p.handled.add(q);
    },
    onDeadLetter: (letter) => {
      for (const m of letter.messages) p.dead.add(m.sequence);
    },
    onPullNotification: () => undefined,
    writeSequenceAck: (sequence) => {
      p.acks.push(sequence);
      return true;
    },
    dropConnection: () => undefined,
  };
  return p;
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

describe('IncomingPipeline properties', () => {
  it('every stored message ends handled or dead-lettered, no ack precedes that, and nothing finished is handed over twice', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 25 }),
        fc.array(fc.constantFrom('ok', 'ok', 'ok', 'throw', 'hang', 'late'), { minLength: 1, maxLength: 40 }),
        fc.array(fc.record({ size: fc.integer({ min: 1, max: 4 }), event: fc.constantFrom('none', 'none', 'duplicate', 'redeliver', 'logout'), waitMs: fc.integer({ min: 0, max: 120 }) }), { maxLength: 30 }),
        fc.array(fc.boolean(), { minLength: 25, maxLength: 25 }),
        async (n, behaviours, steps, kinds) => {
          const p = probe((call) => behaviours[call - 1] ?? 'ok');
          const pipeline = new IncomingPipeline(settings(), p.host);
          const all = Array.from({ length: n }, (_, i) => packet(BigInt(i + 1), kinds[i] ? 'p2p' : 'p2t'));
          let acked = 0n;
          let cursor = 0;
          const check = () => {
            for (const a of p.acks) {
              for (let s = 1n; s <= a; s++) if (!p.handled.has(s) && !p.dead.has(s)) p.violations.push(`ack ${a} covers unfinished ${s}`);
              if (a > acked) acked = a;
            }
            p.acks.length = 0;
          };
          const send = (size: number): PacketList | null => {
            if (cursor >= n) return null;
            const l = list(all.slice(cursor, cursor + size));
            cursor += size;
            pipeline.acceptList(l);
            check();
            return l;
          };
          for (const step of steps) {
            const sent = send(step.size);
            if (step.event === 'duplicate' && sent) pipeline.acceptList(sent);
            if (step.event === 'redeliver') cursor = Number(acked); // a PULL or a reconnect: from the last ack
            if (step.event === 'logout') {
              const quiet = pipeline.quiesce(100);
              await jest.advanceTimersByTimeAsync(100);
              await quiet;
              pipeline.reset();
              cursor = Number(acked);
            }
            await jest.advanceTimersByTimeAsync(step.waitMs);
            check();
          }
          // the server keeps redelivering from its acknowledged point until everything is acknowledged
          for (let round = 0; round < 200 && acked < BigInt(n); round++) {
            if (cursor >= n) cursor = Number(acked);
            send(5);
            await jest.advanceTimersByTimeAsync(400);
            check();
          }
          pipeline.close();
          expect(p.violations).toEqual([]);
          expect(acked).toBe(BigInt(n));
          for (let s = 1n; s <= BigInt(n); s++) expect(p.handled.has(s) || p.dead.has(s)).toBe(true);
          for (const s of p.handled) expect(p.dead.has(s)).toBe(false);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('delivers in sequence order and never forgets an unfinished sequence when the window is small', async () => {
    const p = probe((call) => (call === 1 ? 'throw' : 'ok'));
    const pipeline = new IncomingPipeline(settings({ dedupWindow: 2 }), p.host);
    pipeline.acceptList(list([packet(1n, 'p2p')]));
    for (let s = 2n; s <= 30n; s++) pipeline.acceptList(list([packet(s, 'p2p', false)]));
    await jest.advanceTimersByTimeAsync(1000);
    expect([...p.handled]).toEqual(Array.from({ length: 30 }, (_, i) => BigInt(i + 1)));
    // a redelivered copy of anything is a duplicate now
    pipeline.acceptList(list([packet(1n, 'p2p')]));
    await jest.advanceTimersByTimeAsync(100);
    expect(p.calls.flat().filter((s) => s === 1n)).toHaveLength(2); // the failed attempt and the retry
    pipeline.close();
  });

  it('treats negative sequences as new, not as already seen', async () => {
    const p = probe(() => 'ok');
    const pipeline = new IncomingPipeline(settings(), p.host);
    pipeline.acceptList(list([packet(-5n, 'p2p')]));
    await jest.advanceTimersByTimeAsync(10);
    expect(p.handled.has(-5n)).toBe(true);
    pipeline.close();
  });

  it('a hung handler times out, is retried, then dead-lettered and acknowledged', async () => {
    const p = probe(() => 'hang');
    const pipeline = new IncomingPipeline(settings(), p.host);
    pipeline.acceptList(list([packet(1n, 'p2t')]));
    await jest.advanceTimersByTimeAsync(1000);
    expect(p.calls).toHaveLength(3);
    expect(p.dead.has(1n)).toBe(true);
    expect(p.acks).toEqual([1n]);
    expect(p.host.counters.handlerTimeouts).toBe(3);
    expect(p.host.counters.deadLettered).toBe(1);
    pipeline.close();
  });

  it('beyond maxQueuedMessages drops live messages (counted) but keeps stored ones', async () => {
    const p = probe(() => 'hang');
    const pipeline = new IncomingPipeline(settings({ maxQueuedMessages: 2, handlerTimeoutMs: 10_000 }), p.host);
    pipeline.acceptList(list([packet(1n, 'p2p'), packet(2n, 'p2p', false), packet(3n, 'p2p', false), packet(4n, 'p2p', true)]));
    expect(pipeline.queuedMessages).toBe(3);
    expect(p.host.counters.deliveriesDropped).toBe(1);
    expect(pipeline.backpressured).toBe(true);
    pipeline.close();
  });
});
