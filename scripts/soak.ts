/**
 * Soak: many users exchange P2P and group messages with the emulator while it injects random
 * faults (dropped connections, frontend restarts, stalls, delayed delivery, dropped acks, token
 * expiry, corrupt and oversized frames). When the faults stop, receivers get time to reconnect
 * and drain; then every invariant of spec/helpers/invariants.ts is checked.
 *
 *   npm run soak -- --users 200 --seconds 300 [--rate 2] [--seed 7]
 *
 * Progress goes to stderr (each phase, and every 5 s: `MIMC_PROGRESS_MS`); one JSON object to stdout. Exit code 1 if any acknowledged stored message was lost or any
 * invariant broke. `runSoak` is also what spec/reliability/soak.spec.ts runs, briefly, in CI.
 */
import { pathToFileURL } from 'node:url';
import { Harness, sleep, type Tracked } from '../spec/helpers/invariants.js';
import { startProgress } from './progress.js';

export interface SoakOptions {
  users: number;
  seconds: number;
  /** Messages per user per second (default 2). */
  rate?: number;
  seed?: number;
  /** Mean time between faults (default 800 ms). */
  faultEveryMs?: number;
  /** How long receivers get to come back and drain after the faults stop (default 60 s). */
  drainTimeoutMs?: number;
  /** Progress lines: each phase, and a heartbeat with the counts (default: none). */
  progress?: (line: string) => void;
}

export interface SoakResult {
  users: number;
  seconds: number;
  seed: number;
  /** Messages the SDK accepted (sendMessage/sendGroupMessage returned an id). */
  sent: number;
  /** Sends refused at once (the user was offline after giving up, or its pending table full). */
  refused: number;
  acked: number;
  /** Acks carrying a server error (none expected). */
  rejected: number;
  timedOut: number;
  /** Messages handed to receiving apps (P2P and group, all receivers). */
  delivered: number;
  /** Incoming messages the SDK dropped as already delivered. */
  duplicatesSuppressed: number;
  deadLettered: number;
  /** Acknowledged stored (message, receiver) pairs that never arrived: must be 0. */
  lost: number;
  faults: Record<string, number>;
  reconnects: number;
  peakRssMb: number;
  peakPending: number;
  peakDeliveryQueue: number;
  invariantViolations: number;
  violations: string[];
  drainMs: number;
  ms: number;
}

/** mulberry32, so a soak can be replayed from its seed (faults and traffic; not the timing). */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  };
}

const FAULTS = [
  'drop-one', 'drop-all', 'restart', 'stall', 'delay', 'drop-acks', 'expire-one', 'expire-all', 'corrupt', 'oversized',
  'handler-throws', 'handler-slow', 'handler-hangs',
] as const;
type Fault = (typeof FAULTS)[number];
const WEIGHTS: Record<Fault, number> = {
  'drop-one': 6,
  'drop-all': 1,
  restart: 1,
  stall: 3,
  delay: 2,
  'drop-acks': 2,
  'expire-one': 3,
  'expire-all': 1,
  corrupt: 3,
  oversized: 2,
  'handler-throws': 3,
  'handler-slow': 2,
  'handler-hangs': 2,
};

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const started = Date.now();
  const seed = options.seed ?? Date.now() % 0x7fffffff;
  const rand = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const rate = options.rate ?? 2;

  const h = await Harness.start({
    // the REST history API is not used here: keep the emulator from holding every message for it
    emulator: { historyLimit: 100 },
    sampleEveryMs: 50,
    user: {
      sendTimeoutMs: 2000,
      connectTimeoutMs: 1000,
      loginTimeoutMs: 1000,
      pingIntervalMs: 400,
      responseTimeoutMs: 600,
      reconnect: { minDelayMs: 20, maxDelayMs: 500 },
      handlerTimeoutMs: 500,
      handlerRetry: { minDelayMs: 50, maxDelayMs: 400 },
    },
  });
  const emulator = h.emulator;
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };
  let peakRss = process.memoryUsage().rss;
  const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 250);
  const ticker = options.progress
    ? startProgress('soak', () => {
        const s = h.summary();
        return `sent ${s.sent}, acked ${s.acked}, timed out ${s.timedOut}, delivered ${s.delivered}`;
      }, { write: options.progress })
    : undefined;
  const say = (what: string): void => ticker?.phase(what);
  const faults: Record<string, number> = {};

  try {
    say(`logging in ${options.users} users, seed ${seed}`);
    const users: Tracked[] = Array.from({ length: options.users }, (_, i) => h.user(`soak${i}`));
    for (let i = 0; i < users.length; i += 50) await h.loginAll(users.slice(i, i + 50));
    // groups of about ten
    const topics: Array<{ id: bigint; members: Tracked[] }> = [];
    for (let i = 0; i + 1 < users.length; i += 10) {
      const members = users.slice(i, i + 10);
      topics.push({ id: h.createTopic(members[0]!, members.slice(1)), members });
    }
    const topicsOf = new Map<Tracked, Array<{ id: bigint }>>();
    for (const topic of topics) for (const m of topic.members) topicsOf.set(m, [...(topicsOf.get(m) ?? []), topic]);
    say(`traffic and faults for ${options.seconds} s: ${users.length} users online, ${topics.length} topics`);

    const fault = (): void => {
      let roll = rand() * Object.values(WEIGHTS).reduce((a, b) => a + b, 0);
      let kind: Fault = 'drop-one';
      for (const f of FAULTS) {
        if (roll < WEIGHTS[f]) {
          kind = f;
          break;
        }
        roll -= WEIGHTS[f];
      }
      faults[kind] = (faults[kind] ?? 0) + 1;
      const victim = pick(users).account;
      switch (kind) {
        case 'drop-one':
          emulator.faults.dropConnections(victim);
          break;
        case 'drop-all':
          emulator.faults.dropConnections();
          break;
        case 'restart':
          void emulator.restartFrontend().catch(() => undefined);
          break;
        case 'stall':
          emulator.faults.stall(true, victim);
          later(200 + rand() * 1200, () => emulator.faults.stall(false, victim));
          break;
        case 'delay':
          emulator.faults.delayDelivery(Math.floor(100 + rand() * 2500));
          later(300 + rand() * 1000, () => emulator.faults.delayDelivery(0));
          break;
        case 'drop-acks':
          emulator.faults.dropAcks(true);
          later(100 + rand() * 600, () => emulator.faults.dropAcks(false));
          break;
        case 'expire-one':
          emulator.faults.expireTokens(victim);
          break;
        case 'expire-all':
          emulator.faults.expireTokens();
          break;
        case 'corrupt':
          emulator.faults.corruptNextFrame(victim);
          break;
        case 'handler-throws':
        case 'handler-slow':
        case 'handler-hangs': {
          // the app misbehaves for a while; the SDK retries (and, past the last attempt, dead-letters)
          const t = users.find((u) => u.account === victim)!;
          t.handler =
            kind === 'handler-throws'
              ? () => {
                  throw new Error('soak: handler failure');
                }
              : kind === 'handler-slow'
                ? () => new Promise<void>((resolve) => setTimeout(resolve, 20 + rand() * 200))
                : () => new Promise<void>(() => undefined);
          later(200 + rand() * 800, () => (t.handler = undefined));
          break;
        }
        case 'oversized':
          emulator.faults.sendOversizedFrame(victim);
          break;
      }
    };

    // traffic and faults until the deadline
    const faultEvery = options.faultEveryMs ?? 800;
    const until = Date.now() + options.seconds * 1000;
    let nextFault = Date.now() + faultEvery * (0.5 + rand());
    let owed = 0;
    let last = Date.now();
    while (Date.now() < until) {
      const now = Date.now();
      owed += ((now - last) / 1000) * rate * users.length;
      last = now;
      for (; owed >= 1; owed--) {
        const from = pick(users);
        const groups = topicsOf.get(from) ?? [];
        const isStore = rand() < 0.9;
        if (groups.length > 0 && rand() < 0.2) h.sendGroup(from, pick(groups).id, { isStore });
        else {
          let to = pick(users);
          if (to === from) to = users[(users.indexOf(from) + 1) % users.length]!;
          h.send(from, to.account, { isStore, size: rand() < 0.05 ? 2048 : 0 });
        }
      }
      if (now >= nextFault) {
        fault();
        nextFault = now + faultEvery * (0.5 + rand());
      }
      await sleep(10);
    }

    // faults stop; receivers come back and drain
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    emulator.faults.reset();
    say('traffic stopped, draining');
    const drainStarted = Date.now();
    await h.settle({ deliveryTimeoutMs: options.drainTimeoutMs ?? 60_000, quietMs: 500 });
    const drainMs = Date.now() - drainStarted;

    const summary = h.summary();
    const violations = h.violations();
    if (process.env.SOAK_DEBUG) {
      const core = (emulator as unknown as { core: { store: { findAccount(a: string): { acked: Map<string, bigint>; store: { items: Array<{ packetId: string; sequence: bigint }> } } } } }).core;
      for (const v of violations.filter((x) => x.startsWith('lost'))) {
        const m = /→ (\S+)#\d+ (\S+)/.exec(v)!;
        const account = core.store.findAccount(m[1]!);
        const item = account.store.items.find((d) => d.packetId === m[2]);
        const receiver = users.find((t) => t.account === m[1])!;
        const seen = (receiver.user as unknown as { incoming: { finished: { has(s: bigint): boolean } } }).incoming.finished;
        options.progress?.(`DEBUG ${v}: seq ${item?.sequence} acked ${JSON.stringify([...account.acked].map(([r, q]) => [r, String(q)]))} receiver ${receiver.user.resource} ${receiver.user.state} seen ${item ? seen.has(item.sequence) : '?'}`);
      }
    }
    let reconnects = 0;
    for (const t of users) reconnects += t.user.metrics().reconnects;
    const result: SoakResult = {
      users: options.users,
      seconds: options.seconds,
      seed,
      sent: summary.sent,
      refused: summary.refused,
      acked: summary.acked,
      rejected: summary.rejected,
      timedOut: summary.timedOut,
      delivered: summary.delivered,
      duplicatesSuppressed: summary.duplicatesSuppressed,
      deadLettered: summary.deadLettered,
      lost: summary.lost,
      faults,
      reconnects,
      peakRssMb: 0,
      peakPending: Math.max(...users.map((t) => t.peaks.pending)),
      peakDeliveryQueue: Math.max(...users.map((t) => t.peaks.deliveries)),
      invariantViolations: 0,
      violations: [],
      drainMs,
      ms: 0,
    };
    say('checking invariants and shutting down');
    ticker?.stop();
    clearInterval(rssTimer); // before the handle check of shutdown()
    const shutdownProblems = await h.shutdown();
    const all = [...violations, ...shutdownProblems];
    result.invariantViolations = all.length;
    result.violations = all.slice(0, 25);
    result.peakRssMb = Math.round((Math.max(peakRss, process.memoryUsage().rss) / 2 ** 20) * 10) / 10;
    result.ms = Date.now() - started;
    return result;
  } finally {
    ticker?.stop();
    clearInterval(rssTimer);
    for (const timer of timers) clearTimeout(timer);
    await h.shutdown();
  }
}

function parseArgs(argv: string[]): SoakOptions {
  const options: SoakOptions = { users: 20, seconds: 10 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    const n = Number(value);
    if (value === undefined || !Number.isFinite(n) || n <= 0) {
      process.stderr.write(`usage: soak [--users N] [--seconds S] [--rate R] [--seed X] [--fault-every-ms M]\n(bad argument ${JSON.stringify(flag)})\n`);
      process.exit(2);
    }
    if (flag === '--users') options.users = Math.floor(n);
    else if (flag === '--seconds') options.seconds = n;
    else if (flag === '--rate') options.rate = n;
    else if (flag === '--seed') options.seed = Math.floor(n);
    else if (flag === '--fault-every-ms') options.faultEveryMs = n;
    else {
      process.stderr.write(`unknown flag ${JSON.stringify(flag)}\n`);
      process.exit(2);
    }
  }
  return options;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const options = parseArgs(process.argv.slice(2));
  const result = await runSoak({ ...options, progress: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  process.exitCode = result.lost > 0 || result.invariantViolations > 0 ? 1 : 0;
}
