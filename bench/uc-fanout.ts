/**
 * Unlimited-group fan-out: one sender, `members` joined users, `messages` stored messages; the
 * baseline is the same fan-out through a P2T topic of the same members, in the same run.
 * Reports deliveries per second (messages × members / time), delivery latency (send → the
 * member's handler) and the heap cost of one membership (client and emulator, in one process).
 *
 *   node --expose-gc --import ./scripts/ts-node-register.mjs bench/uc-fanout.ts \
 *     [--members 1000] [--messages 200] [--window 20]
 *   npm run bench -- --only uc
 *
 * Prints one JSON object on stdout (latencies in ms); progress on stderr.
 */
import { parseArgs } from 'node:util';
import { startEmulator } from '../lib/emulator/index.js';
import { MCUser } from '../lib/index.js';
import { benchPhase, isMain, loadSnapshot, machineInfo, num, percentiles, round, runMain, type MachineInfo, type Percentiles } from './common.js';

export interface FanoutOptions {
  members?: number;
  messages?: number;
  /** Sends in flight (awaiting their ack) at once. */
  window?: number;
}

interface FanoutRun {
  deliveries: number;
  seconds: number;
  deliveriesPerSecond: number;
  messagesPerSecond: number;
  deliveryMs: Percentiles;
}

export interface FanoutResult {
  benchmark: 'uc-fanout';
  machine: MachineInfo;
  members: number;
  messages: number;
  window: number;
  loadAvg1mBefore: number;
  loadAvg1mAfter: number;
  unlimitedGroup: FanoutRun;
  p2tBaseline: FanoutRun;
  /** unlimitedGroup.deliveriesPerSecond / p2tBaseline.deliveriesPerSecond. */
  ratioToP2T: number;
  /** Heap growth per joined member (client part + emulator part), bytes; null without --expose-gc. */
  heapBytesPerMembership: number | null;
}

function heapUsed(): number | null {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return null;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

export async function runUcFanoutBench(options: FanoutOptions = {}): Promise<FanoutResult> {
  const memberCount = options.members ?? 1000;
  const messageCount = options.messages ?? 200;
  const window = options.window ?? 20;
  const loadBefore = loadSnapshot().loadAvg1m;
  const emulator = await startEmulator({ idleTimeoutMs: 600_000 });
  const latencies: number[] = [];
  let delivered = 0;
  // each payload carries its send time (performance.now(), float64): sender and members share this process's clock
  const record = (messages: Array<{ payload: Uint8Array }>): void => {
    const now = performance.now();
    for (const m of messages) {
      delivered++;
      latencies.push(now - Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength).readDoubleLE(0));
    }
  };
  const users: MCUser[] = [];
  const make = (account: string): MCUser => {
    const user = new MCUser({
      appId: emulator.app.appId,
      appAccount: account,
      frontendAddress: emulator.frontendAddress(),
      tokenDelegate: { fetchToken: () => emulator.fetchToken(account) },
      messageDelegate: { handleUnlimitedGroupMessage: record, handleGroupMessage: record },
      maxQueuedMessages: 100_000,
    });
    users.push(user);
    return user;
  };
  try {
    const sender = make('uc_sender');
    await sender.login();
    const members = Array.from({ length: memberCount }, (_, i) => make(`uc_member_${i}`));
    benchPhase(`logging in ${memberCount} members`);
    for (let i = 0; i < members.length; i += 50) await Promise.all(members.slice(i, i + 50).map((m) => m.login()));

    const heapBefore = heapUsed();
    const topicId = emulator.createUnlimitedGroup('uc_sender', 'bench');
    await sender.joinUnlimitedGroup(topicId);
    for (let i = 0; i < members.length; i += 100) await Promise.all(members.slice(i, i + 100).map((m) => m.joinUnlimitedGroup(topicId)));
    const heapAfter = heapUsed();
    benchPhase(`${memberCount} members joined unlimited group ${topicId}`);

    const fanout = async (send: (payload: Uint8Array) => Promise<unknown>, label: string): Promise<FanoutRun> => {
      latencies.length = 0;
      delivered = 0;
      const expected = messageCount * memberCount;
      const started = performance.now();
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < messageCount) {
          next++;
          const payload = Buffer.alloc(100);
          payload.writeDoubleLE(performance.now(), 0);
          await send(payload);
        }
      };
      await Promise.all(Array.from({ length: Math.min(window, messageCount) }, lane));
      const deadline = Date.now() + 600_000;
      while (delivered < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      const seconds = (performance.now() - started) / 1000;
      benchPhase(`${label}: ${delivered}/${expected} deliveries in ${round(seconds, 2)} s`);
      return {
        deliveries: delivered,
        seconds: round(seconds, 3),
        deliveriesPerSecond: round(delivered / seconds, 0),
        messagesPerSecond: round(messageCount / seconds, 1),
        deliveryMs: percentiles(latencies),
      };
    };

    const uc = await fanout((p) => sender.sendUnlimitedGroupMessageAndWait(topicId, p), 'unlimited group');
    const p2tTopic = emulator.createTopic('uc_sender', members.map((_, i) => `uc_member_${i}`));
    const p2t = await fanout((p) => sender.sendGroupMessageAndWait(p2tTopic, p), 'P2T baseline');
    return {
      benchmark: 'uc-fanout',
      machine: machineInfo(),
      members: memberCount,
      messages: messageCount,
      window,
      loadAvg1mBefore: loadBefore,
      loadAvg1mAfter: loadSnapshot().loadAvg1m,
      unlimitedGroup: uc,
      p2tBaseline: p2t,
      ratioToP2T: round(uc.deliveriesPerSecond / p2t.deliveriesPerSecond, 3),
      heapBytesPerMembership: heapBefore === null || heapAfter === null ? null : Math.round((heapAfter - heapBefore) / memberCount),
    };
  } finally {
    for (const u of users) u.destroy();
    await emulator.close();
  }
}

if (isMain(import.meta.url)) {
  runMain(async () => {
    const { values } = parseArgs({ options: { members: { type: 'string' }, messages: { type: 'string' }, window: { type: 'string' } } });
    return runUcFanoutBench({
      ...(values.members ? { members: num('--members', values.members) } : {}),
      ...(values.messages ? { messages: num('--messages', values.messages) } : {}),
      ...(values.window ? { window: num('--window', values.window) } : {}),
    });
  });
}

