/**
 * Memory per idle online user, and event-loop lag while they idle-ping. The emulator runs in
 * ANOTHER process (lib/emulator/cli.ts), so this process holds only SDK users. For each count:
 * force GC and take a baseline; log `count` users in (real path: HTTP token service, TCP, CONN,
 * BIND; at most `concurrency` logins at a time); wait, force GC, measure; then watch the event
 * loop (perf_hooks.monitorEventLoopDelay) for `idleSeconds` while every user pings on its own
 * timer (pingIntervalMs, default 3 s), and check that every user is still online.
 *
 *   node --expose-gc --import ./scripts/ts-node-register.mjs bench/memory.ts \
 *     [--counts 1000,10000] [--idle 10] [--concurrency 500]
 *
 * Needs --expose-gc (bench/run-all.ts starts it that way). Each user holds one socket: the file
 * descriptor limit (ulimit -n) must exceed the largest count plus a few dozen. Prints one JSON object.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { MCUser } from '../lib/index.js';
import {
  fdLimit,
  intList,
  benchPhase,
  isMain,
  loadSnapshot,
  machineInfo,
  makeUser,
  mib,
  num,
  openEmulator,
  openFds,
  round,
  runMain,
  sleep,
  type MachineInfo,
} from './common.js';

export interface MemoryBenchOptions {
  /** Numbers of users to hold online, one measurement each. Default [1000, 10000]. */
  counts?: number[];
  /** Event-loop observation while idle, in seconds. Default 10. */
  idleSeconds?: number;
  /** Logins in progress at once while ramping up. Default 500. */
  concurrency?: number;
}

export interface MemoryRun {
  users: number;
  online: number;
  loginFailures: number;
  firstFailure: string | null;
  /** Time to get every user online, ramping `concurrency` at a time. */
  rampSeconds: number;
  /** (heapUsed after − baseline) / users, in KiB (1024 bytes), after forced GC. */
  heapPerUserKiB: number;
  /** Same for RSS (includes socket buffers and allocator slack of the process). */
  rssPerUserKiB: number;
  /** Same for memory outside the JS heap held by JS objects (Buffers, ArrayBuffers). */
  externalPerUserKiB: number;
  baseline: { heapUsedMiB: number; rssMiB: number; externalMiB: number };
  withUsers: { heapUsedMiB: number; rssMiB: number; externalMiB: number; heapTotalMiB: number };
  openFds: number | null;
  idle: {
    seconds: number;
    /** Event-loop lag in ms: how late the monitor's 10 ms timer fired (its period subtracted). */
    lagMs: { p50: number; p99: number; max: number; mean: number };
    /** Users still online at the end of the idle period (must equal users). */
    stillOnline: number;
    /** CPU of this process while idle, in cores. */
    cpu: number;
  };
  loadAvg1m: number;
}

export interface MemoryResult {
  benchmark: 'memory';
  date: string;
  machine: MachineInfo;
  fdLimit: number | null;
  emulator: 'child-process';
  runs: MemoryRun[];
}

const LAG_RESOLUTION_MS = 10;

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) throw new Error('bench/memory.ts needs node --expose-gc');
  // several passes: weak references and finalizers free more on the following ones
  for (let i = 0; i < 4; i++) collect();
}

async function settle(): Promise<NodeJS.MemoryUsage> {
  await sleep(500);
  gc();
  await sleep(100);
  gc();
  return process.memoryUsage();
}

async function measure(count: number, idleSeconds: number, concurrency: number): Promise<MemoryRun> {
  const limit = fdLimit();
  if (limit !== null && count + 64 > limit) throw new Error(`${count} users need more file descriptors than ulimit -n = ${limit}`);
  const emu = await openEmulator('child-process');
  const users: MCUser[] = [];
  try {
    const base = await settle();
    let failures = 0;
    let firstFailure: string | null = null;
    const t0 = performance.now();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const user = makeUser(emu, `mem_${next++}`);
        users.push(user);
        try {
          await user.login({ timeoutMs: 120_000 });
        } catch (err) {
          failures++;
          firstFailure ??= err instanceof Error ? err.message : String(err);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
    const rampSeconds = (performance.now() - t0) / 1000;
    const online = users.filter((u) => u.isOnline).length;
    const after = await settle();
    const fds = openFds();

    const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
    const cpu0 = process.cpuUsage();
    const idle0 = performance.now();
    lag.enable();
    await sleep(idleSeconds * 1000);
    lag.disable();
    const cpu = process.cpuUsage(cpu0);
    const idleWall = (performance.now() - idle0) / 1000;
    // the histogram records each timer's whole period: the lag is what exceeds the resolution
    const ms = (ns: number): number => round(Math.max(0, ns / 1e6 - LAG_RESOLUTION_MS), 2);
    const perUser = (a: number, b: number): number => round((a - b) / 1024 / count, 2);
    return {
      users: count,
      online,
      loginFailures: failures,
      firstFailure,
      rampSeconds: round(rampSeconds, 2),
      heapPerUserKiB: perUser(after.heapUsed, base.heapUsed),
      rssPerUserKiB: perUser(after.rss, base.rss),
      externalPerUserKiB: perUser(after.external, base.external),
      baseline: { heapUsedMiB: mib(base.heapUsed), rssMiB: mib(base.rss), externalMiB: mib(base.external) },
      withUsers: { heapUsedMiB: mib(after.heapUsed), rssMiB: mib(after.rss), externalMiB: mib(after.external), heapTotalMiB: mib(after.heapTotal) },
      openFds: fds,
      idle: {
        seconds: round(idleWall, 2),
        lagMs: { p50: ms(lag.percentile(50)), p99: ms(lag.percentile(99)), max: ms(lag.max), mean: ms(lag.mean) },
        stillOnline: users.filter((u) => u.isOnline).length,
        cpu: round((cpu.user + cpu.system) / 1e6 / idleWall, 3),
      },
      loadAvg1m: loadSnapshot().loadAvg1m,
    };
  } finally {
    for (const user of users) user.destroy();
    users.length = 0;
    await emu.close();
  }
}

export async function runMemoryBench(options: MemoryBenchOptions = {}): Promise<MemoryResult> {
  const runs: MemoryRun[] = [];
  for (const count of options.counts ?? [1000, 10_000]) {
    benchPhase(`memory: ${count} users, then ${options.idleSeconds ?? 10} s idle`);
    runs.push(await measure(count, options.idleSeconds ?? 10, options.concurrency ?? 500));
  }
  return { benchmark: 'memory', date: new Date().toISOString(), machine: machineInfo(), fdLimit: fdLimit(), emulator: 'child-process', runs };
}

export function parseMemoryArgs(argv: string[]): MemoryBenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: { counts: { type: 'string' }, idle: { type: 'string' }, concurrency: { type: 'string' } },
    strict: true,
  });
  const opts: MemoryBenchOptions = {};
  if (values.counts !== undefined) opts.counts = intList('counts', values.counts);
  if (values.idle !== undefined) opts.idleSeconds = num('idle', values.idle);
  if (values.concurrency !== undefined) opts.concurrency = Math.round(num('concurrency', values.concurrency));
  return opts;
}

if (isMain(import.meta.url)) runMain(() => runMemoryBench(parseMemoryArgs(process.argv.slice(2))));
