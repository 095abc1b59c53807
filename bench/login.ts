/**
 * Login time through the SDK: from `login()` to its promise resolving (state 'online'), which
 * covers the token fetch (a direct call to the in-process emulator, or HTTP to the child's
 * token service), the resolver lookup when asked for, TCP connect, CONN and BIND.
 *   sequential: `sequential` logins one after another, each a fresh MCUser and account,
 *               destroyed once online;
 *   storm:      `storm` users call login() at the same moment; time until every one settled,
 *               how many failed, and the distribution of the individual login times.
 *
 *   node --import ./scripts/ts-node-register.mjs bench/login.ts \
 *     [--sequential 300] [--storm 1000] [--resolver] [--emulator-process | --both]
 *     [--storm-profile FILE.cpuprofile]
 *
 * `--storm-profile` writes a V8 CPU profile of this process covering the storm alone (login()
 * calls to the last one settled), for bench/profile-summary.ts.
 *
 * Prints one JSON object; times are in milliseconds.
 */
import { writeFileSync } from 'node:fs';
import { Session as InspectorSession } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import type { MCUser } from '../lib/index.js';
import {
  CpuMeter,
  benchPhase,
  isMain,
  loadSnapshot,
  machineInfo,
  makeUser,
  num,
  openEmulator,
  openFds,
  percentiles,
  round,
  runMain,
  type EmulatorMode,
  type MachineInfo,
  type Percentiles,
} from './common.js';

export interface LoginBenchOptions {
  /** Sequential logins (after 20 unmeasured). Default 300. */
  sequential?: number;
  /** Simultaneous logins of the storm. Default 1000. */
  storm?: number;
  /** Look the frontend up through the emulator's HTTP resolver, as in production. Default false (address given). */
  viaResolver?: boolean;
  /** Where the emulator runs. Default ['in-process']. */
  modes?: EmulatorMode[];
  /** Give up a storm login after this long. Default 60 000 ms. */
  timeoutMs?: number;
  /** Write a CPU profile of the storm (client process only) to this file. */
  stormProfile?: string;
}

export interface LoginRun {
  mode: EmulatorMode;
  viaResolver: boolean;
  sequential: {
    logins: number;
    failures: number;
    loginMs: Percentiles;
    loginsPerSec: number;
    clientCpu: number;
    emulatorCpu: number | null;
    loadAvg1m: number;
  };
  storm: {
    users: number;
    online: number;
    failures: number;
    /** First failure message, if any. */
    firstFailure: string | null;
    /** login() calls to the last one settled. */
    allSettledMs: number;
    /** Individual times of the logins that succeeded. */
    loginMs: Percentiles;
    /**
     * When each user first entered 'binding' (token fetched and frontend known, TCP connect next):
     * where the storm's time goes between the token service and the frontend.
     */
    bindingMs: Percentiles;
    /** Open file descriptors of this process with every storm user online. */
    openFds: number | null;
    clientCpu: number;
    emulatorCpu: number | null;
    loadAvg1m: number;
  };
}

export interface LoginResult {
  benchmark: 'login';
  date: string;
  machine: MachineInfo;
  runs: LoginRun[];
}

async function sequential(mode: EmulatorMode, count: number, viaResolver: boolean): Promise<LoginRun['sequential']> {
  const emu = await openEmulator(mode);
  const times: number[] = [];
  let failures = 0;
  try {
    let meter: CpuMeter | null = null;
    let load = 0;
    const warmup = 20;
    for (let i = 0; i < warmup + count; i++) {
      if (i === warmup) {
        load = loadSnapshot().loadAvg1m;
        meter = new CpuMeter(emu.pid);
        meter.start();
      }
      const user = makeUser(emu, `seq_${i}`, { viaResolver });
      const t0 = performance.now();
      try {
        await user.login({ timeoutMs: 30_000 });
        if (i >= warmup) times.push(performance.now() - t0);
      } catch {
        if (i >= warmup) failures++;
      } finally {
        user.destroy();
      }
    }
    const cpu = meter!.stop();
    return {
      logins: count,
      failures,
      loginMs: percentiles(times),
      loginsPerSec: round(count / cpu.wallSeconds, 1),
      clientCpu: cpu.clientCpu,
      emulatorCpu: cpu.emulatorCpu,
      loadAvg1m: load,
    };
  } finally {
    await emu.close();
  }
}

/** A V8 CPU profile of this process from start() to stop(FILE). */
async function startProfile(): Promise<(file: string) => Promise<void>> {
  const session = new InspectorSession();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async (file) => {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  };
}

async function storm(mode: EmulatorMode, count: number, viaResolver: boolean, timeoutMs: number, profileFile?: string): Promise<LoginRun['storm']> {
  const emu = await openEmulator(mode);
  const users: MCUser[] = [];
  try {
    for (let i = 0; i < count; i++) users.push(makeUser(emu, `storm_${i}`, { viaResolver }));
    const times: number[] = [];
    const binding: number[] = [];
    let failures = 0;
    let firstFailure: string | null = null;
    const load = loadSnapshot().loadAvg1m;
    const stopProfile = profileFile === undefined ? undefined : await startProfile();
    const meter = new CpuMeter(emu.pid);
    meter.start();
    const t0 = performance.now();
    for (const user of users) {
      const onState = (next: string) => {
        if (next !== 'binding') return;
        binding.push(performance.now() - t0);
        user.off('stateChange', onState);
      };
      user.on('stateChange', onState);
    }
    await Promise.all(
      users.map((user) =>
        user.login({ timeoutMs }).then(
          () => void times.push(performance.now() - t0),
          (err: unknown) => {
            failures++;
            firstFailure ??= err instanceof Error ? err.message : String(err);
          },
        ),
      ),
    );
    const allSettledMs = performance.now() - t0;
    const cpu = meter.stop();
    await stopProfile?.(profileFile!);
    return {
      users: count,
      online: users.filter((u) => u.isOnline).length,
      failures,
      firstFailure,
      allSettledMs: round(allSettledMs, 1),
      loginMs: percentiles(times, 1),
      bindingMs: percentiles(binding, 1),
      openFds: openFds(),
      clientCpu: cpu.clientCpu,
      emulatorCpu: cpu.emulatorCpu,
      loadAvg1m: load,
    };
  } finally {
    for (const user of users) user.destroy();
    await emu.close();
  }
}

export async function runLoginBench(options: LoginBenchOptions = {}): Promise<LoginResult> {
  const viaResolver = options.viaResolver ?? false;
  const runs: LoginRun[] = [];
  for (const mode of options.modes ?? ['in-process']) {
    benchPhase(`login: ${mode} emulator, ${options.sequential ?? 300} sequential logins`);
    const sequentialRun = await sequential(mode, options.sequential ?? 300, viaResolver);
    benchPhase(`login: ${mode} emulator, a storm of ${options.storm ?? 1000} logins`);
    runs.push({ mode, viaResolver, sequential: sequentialRun, storm: await storm(mode, options.storm ?? 1000, viaResolver, options.timeoutMs ?? 60_000, options.stormProfile) });
  }
  return { benchmark: 'login', date: new Date().toISOString(), machine: machineInfo(), runs };
}

export function parseLoginArgs(argv: string[]): LoginBenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      sequential: { type: 'string' },
      storm: { type: 'string' },
      resolver: { type: 'boolean', default: false },
      'emulator-process': { type: 'boolean', default: false },
      both: { type: 'boolean', default: false },
      'storm-profile': { type: 'string' },
    },
    strict: true,
  });
  const opts: LoginBenchOptions = { viaResolver: values.resolver };
  if (values.sequential !== undefined) opts.sequential = Math.round(num('sequential', values.sequential));
  if (values.storm !== undefined) opts.storm = Math.round(num('storm', values.storm));
  if (values['storm-profile'] !== undefined) opts.stormProfile = values['storm-profile'];
  if (values.both) opts.modes = ['in-process', 'child-process'];
  else if (values['emulator-process']) opts.modes = ['child-process'];
  return opts;
}

if (isMain(import.meta.url)) runMain(() => runLoginBench(parseLoginArgs(process.argv.slice(2))));
