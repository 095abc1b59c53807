/**
 * Shared plumbing of the end-to-end benchmarks: the emulator (in this process, or in a child
 * process started through its CLI), SDK users wired to it, percentiles, machine facts and CPU
 * accounting. Nothing here measures anything by itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, realpathSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';
import { basename, join } from 'node:path';
import { MCUser, HttpTokenFetcher } from '../lib/index.js';
import { startEmulator, type Emulator, type EmulatorOptions } from '../lib/emulator/index.js';
import type { MCUserOptions, MessageHandlerDelegate, Token } from '../lib/user/types.js';
import { startProgress, type Progress } from '../scripts/progress.js';

/** The repository root (scripts/ts-node-register.mjs resolves against the working directory). */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

// ---- numbers ---------------------------------------------------------------------------------

export const round = (x: number, digits = 2): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

export const mib = (bytes: number): number => round(bytes / 1024 / 1024, 1);

/** Calls `step(n)` for n = 0, 1, … for about `seconds`; returns how many calls fit and the exact time taken. */
export function timed(seconds: number, step: (n: number) => number): { calls: number; seconds: number; cpuSeconds: number; sink: number } {
  const budget = BigInt(Math.round(seconds * 1e9));
  const cpuStart = process.cpuUsage();
  const start = process.hrtime.bigint();
  let calls = 0;
  let sink = 0;
  let elapsed = 0n;
  // read the clock after batches of about 5 ms: rarely enough to cost nothing, often enough to stop on time
  for (let batch = 8; ; ) {
    for (let k = 0; k < batch; k++) sink += step(calls++);
    elapsed = process.hrtime.bigint() - start;
    if (elapsed >= budget) break;
    const perCallNs = Number(elapsed) / calls;
    batch = Math.max(1, Math.min(4096, Math.round(5e6 / perCallNs), Math.ceil(Number(budget - elapsed) / perCallNs)));
  }
  const cpu = process.cpuUsage(cpuStart);
  return { calls, seconds: Number(elapsed) / 1e9, cpuSeconds: (cpu.user + cpu.system) / 1e6, sink };
}

export interface Percentiles {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles of `samples` (sorted in place, as a Float64Array for speed). */
export function percentiles(samples: ArrayLike<number>, digits = 3): Percentiles {
  const sorted = Float64Array.from(samples).sort();
  const n = sorted.length;
  if (n === 0) return { count: 0, min: 0, p50: 0, p90: 0, p95: 0, p99: 0, max: 0, mean: 0 };
  const at = (p: number): number => round(sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]!, digits);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  return { count: n, min: round(sorted[0]!, digits), p50: at(50), p90: at(90), p95: at(95), p99: at(99), max: round(sorted[n - 1]!, digits), mean: round(sum / n, digits) };
}

// ---- machine and load ------------------------------------------------------------------------

export interface MachineInfo {
  cpu: string;
  cores: number;
  ramGiB: number;
  node: string;
  platform: string;
  arch: string;
  /** Soft limit on open file descriptors of this process (ulimit -n), null when unknown. */
  fdLimit: number | null;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    ramGiB: round(totalmem() / 1024 ** 3, 1),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    fdLimit: fdLimit(),
  };
}

/** `ulimit -n` of this process, read from /proc (Linux); null elsewhere. */
export function fdLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? null : Number(soft);
  } catch {
    return null;
  }
}

/** Open file descriptors of this process (Linux); null elsewhere. */
export function openFds(): number | null {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return null;
  }
}

/** The 1-minute load average and free memory: other work on the machine skews every figure. */
export function loadSnapshot(): { loadAvg1m: number; freeMemGiB: number } {
  return { loadAvg1m: round(loadavg()[0]!, 2), freeMemGiB: round(freemem() / 1024 ** 3, 1) };
}

/** os.loadavg() rounded: the 1-, 5- and 15-minute load averages. */
export function loadAverages(): number[] {
  return loadavg().map((x) => round(x, 2));
}

/** CPU seconds (user + system) used by a process: ours from process.cpuUsage, a child's from /proc. */
export function cpuSecondsOf(pid?: number): number | null {
  if (pid === undefined) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  }
  try {
    // fields after the parenthesised command: state is field 3; utime and stime are fields 14 and 15
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/** Wall time and CPU of this process and of the emulator child, between start() and stop(). */
export class CpuMeter {
  private wall0 = 0;
  private self0 = 0;
  private child0: number | null = null;

  constructor(private readonly childPid?: number) {}

  start(): void {
    this.wall0 = performance.now();
    this.self0 = cpuSecondsOf()!;
    this.child0 = this.childPid === undefined ? null : cpuSecondsOf(this.childPid);
  }

  /**
   * clientCpu and emulatorCpu are fractions of one core (1.0 = one core busy the whole time);
   * cpuSeconds is the CPU time of both processes together; clientCpuSeconds that of this process
   * alone (unrounded).
   */
  stop(): { wallSeconds: number; clientCpu: number; emulatorCpu: number | null; cpuSeconds: number; clientCpuSeconds: number } {
    const wall = (performance.now() - this.wall0) / 1000;
    const self = cpuSecondsOf()! - this.self0;
    const childNow = this.childPid === undefined ? null : cpuSecondsOf(this.childPid);
    const child = childNow !== null && this.child0 !== null ? childNow - this.child0 : null;
    return {
      wallSeconds: round(wall, 3),
      clientCpu: round(self / wall, 2),
      emulatorCpu: child === null ? null : round(child / wall, 2),
      cpuSeconds: round(self + (child ?? 0), 3),
      clientCpuSeconds: self,
    };
  }
}

// ---- the emulator ----------------------------------------------------------------------------

export type EmulatorMode = 'in-process' | 'child-process';

/**
 * What a benchmark's users connect over: the TCP frontend, the WebSocket one over ws://, or over
 * wss:// (TLS with the test certificate: what production uses, so TLS costs are in the figures).
 */
export type BenchTransport = 'tcp' | 'websocket' | 'wss';

export const BENCH_TRANSPORTS: readonly BenchTransport[] = ['tcp', 'websocket', 'wss'];

/** The self-signed certificate of spec/fixtures/tls (localhost, 127.0.0.1); its key is public, for tests and benchmarks only. */
export const TEST_TLS = {
  certFile: join(REPO_ROOT, 'spec/fixtures/tls/localhost-cert.pem'),
  keyFile: join(REPO_ROOT, 'spec/fixtures/tls/localhost-key.pem'),
} as const;

export interface EmulatorSetup {
  /** Emulator options (in-process only: the child runs with the CLI's defaults). */
  options?: EmulatorOptions;
  /**
   * The transport the users will take: for 'wss' the WebSocket frontend serves wss:// with
   * TEST_TLS (in-process through options, the child through --ws-tls-cert/--ws-tls-key).
   */
  transport?: BenchTransport;
}

/** An emulator the benchmark talks to, wherever it runs. */
export interface BenchEmulator {
  mode: EmulatorMode;
  appId: bigint;
  /** host:port of the binary frontend. */
  frontend: string;
  /** ws:// or (with `wss`) wss:// URL of the WebSocket frontend; undefined when the emulator serves none. */
  websocketUrl: string | undefined;
  /** The certificate a wss:// client must trust (TEST_TLS's); undefined for ws://. */
  websocketCa: Buffer | undefined;
  resolverUrl: string;
  /** Pid of the emulator's process when it is a child; undefined in-process. */
  pid: number | undefined;
  /** The token delegate of `appAccount`: a direct call in-process, the HTTP token service otherwise. */
  tokenDelegate(appAccount: string): Token;
  close(): Promise<void>;
}

/** Starts the emulator in this process or as a child running lib/emulator/cli.ts (see EmulatorSetup); its users then connect with `makeUser`. */
export async function openEmulator(mode: EmulatorMode, setup: EmulatorSetup = {}): Promise<BenchEmulator> {
  const ca = setup.transport === 'wss' ? readFileSync(TEST_TLS.certFile) : undefined;
  return mode === 'in-process' ? openInProcess(setup.options ?? {}, ca) : openChild(ca);
}

async function openInProcess(options: EmulatorOptions, ca: Buffer | undefined): Promise<BenchEmulator> {
  let websocket = options.websocket;
  if (ca !== undefined) {
    if (websocket === false) throw new Error('wss: the emulator options turn the WebSocket frontend off');
    websocket = { ...(typeof websocket === 'object' ? websocket : {}), tls: { cert: ca, key: readFileSync(TEST_TLS.keyFile) } };
  }
  const emu: Emulator = await startEmulator({ idleTimeoutMs: 600_000, ...options, ...(websocket !== undefined ? { websocket } : {}) });
  return {
    mode: 'in-process',
    appId: emu.app.appId,
    frontend: emu.frontendAddress(),
    websocketUrl: emu.websocketUrl,
    websocketCa: ca,
    resolverUrl: emu.resolverUrl,
    pid: undefined,
    tokenDelegate: (account) => ({ fetchToken: () => emu.fetchToken(account) }),
    close: () => emu.close(),
  };
}

interface CliListening {
  event: 'listening';
  tokenUrl: string;
  resolverUrl: string;
  frontend: string;
  /** Absent from a CLI older than the WebSocket frontend, null with --no-websocket. */
  websocketUrl?: string | null;
}

interface CliApp {
  event: 'app';
  appId: string;
  appKey: string;
  appSecret: string;
}

/**
 * Runs `node --import ./scripts/ts-node-register.mjs lib/emulator/cli.ts --port 0` and reads
 * its JSON lines (URLs, then the development app credentials). The child runs with the
 * emulator's default limits; with `ca` (wss) it serves wss:// with TEST_TLS.
 */
async function openChild(ca: Buffer | undefined): Promise<BenchEmulator> {
  const tlsArgs = ca === undefined ? [] : ['--ws-tls-cert', TEST_TLS.certFile, '--ws-tls-key', TEST_TLS.keyFile];
  // MIMC_BENCH_EMULATOR_NODE_ARGS: extra node flags for the child, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof-emu"
  const nodeArgs = (process.env.MIMC_BENCH_EMULATOR_NODE_ARGS ?? '').split(' ').filter((arg) => arg.length > 0);
  const cliArgs = ['--import', './scripts/ts-node-register.mjs', 'lib/emulator/cli.ts', '--port', '0', '--http-port', '0', ...tlsArgs];
  const child = spawn(process.execPath, [...nodeArgs, ...cliArgs], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    stderr = (stderr + s).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout! });
  let listening: CliListening | undefined;
  let app: CliApp | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`emulator child did not start within 60 s: ${stderr}`)), 60_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`emulator child exited with ${code}: ${stderr}`));
      });
      lines.on('line', (line) => {
        let parsed: { event?: string };
        try {
          parsed = JSON.parse(line) as { event?: string };
        } catch {
          return;
        }
        if (parsed.event === 'listening') listening = parsed as CliListening;
        if (parsed.event === 'app') app = parsed as CliApp;
        if (listening && app) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const { tokenUrl, resolverUrl, frontend, websocketUrl } = listening!;
  const credentials = app!;
  return {
    mode: 'child-process',
    appId: BigInt(credentials.appId),
    frontend,
    websocketUrl: websocketUrl ?? undefined,
    websocketCa: ca,
    resolverUrl,
    pid: child.pid,
    tokenDelegate: (appAccount) =>
      new HttpTokenFetcher({ appId: credentials.appId, appKey: credentials.appKey, appSecret: credentials.appSecret, appAccount, url: tokenUrl, timeoutMs: 60_000 }),
    close: () => stopChild(child),
  };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

// ---- users -----------------------------------------------------------------------------------

export interface UserSetup {
  /** Reach the frontend through the emulator's HTTP resolver (as in production) instead of its address; TCP only. */
  viaResolver?: boolean;
  /**
   * `'websocket'` / `'wss'` connect to the emulator's ws:// / wss:// URL (trusting its
   * `websocketCa`) instead of its TCP frontend; the emulator must serve that scheme. Default `'tcp'`.
   */
  transport?: BenchTransport;
  messageDelegate?: MessageHandlerDelegate;
  options?: Partial<MCUserOptions>;
}

/** An SDK user of `emu`, silent, with the benchmark's delegates. */
export function makeUser(emu: BenchEmulator, appAccount: string, setup: UserSetup = {}): MCUser {
  return new MCUser({
    appId: emu.appId,
    appAccount,
    tokenDelegate: emu.tokenDelegate(appAccount),
    ...endpoint(emu, setup),
    ...(setup.messageDelegate ? { messageDelegate: setup.messageDelegate } : {}),
    ...setup.options,
  });
}

function endpoint(emu: BenchEmulator, setup: UserSetup): Partial<MCUserOptions> {
  const { transport } = setup;
  if (transport === 'websocket' || transport === 'wss') {
    const url = emu.websocketUrl;
    if (url === undefined) throw new Error(`transport ${transport}: this emulator serves no WebSocket frontend`);
    if (setup.viaResolver) throw new Error(`transport ${transport}: the resolver only names TCP frontends`);
    // a ws:// run labelled wss (or the reverse) would report the wrong transport's figures
    if (url.startsWith('wss:') !== (transport === 'wss')) throw new Error(`transport ${transport}: this emulator serves ${url}`);
    return { transport: 'websocket', websocket: { url, ...(emu.websocketCa !== undefined ? { ca: emu.websocketCa } : {}) } };
  }
  return setup.viaResolver ? { resolverUrl: emu.resolverUrl } : { frontendAddress: emu.frontend };
}

// ---- scripts ---------------------------------------------------------------------------------

/** True when the module at `moduleUrl` is the script node was started with. */
export function isMain(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === moduleUrl;
  } catch {
    return false;
  }
}

let progress: Progress | undefined;

/**
 * Names what the running benchmark does now, on stderr (the heartbeat of `runMain` repeats it).
 * Silent when the benchmark was not started through `runMain` (e.g. imported by a test).
 */
export function benchPhase(what: string): void {
  progress?.phase(what);
}

/**
 * Runs a benchmark's main: progress on stderr (phases, and a heartbeat every 5 s:
 * `MIMC_PROGRESS_MS`), then its JSON result on stdout, or the error on stderr with exit code 1.
 */
export function runMain(main: () => Promise<unknown>): void {
  const started = performance.now();
  progress = startProgress(`bench ${basename(process.argv[1] ?? 'bench').replace(/\.[cm]?[jt]s$/, '')}`);
  progress.phase('started');
  Promise.resolve()
    .then(main)
    .then(
      (result) => {
        progress?.phase(`done in ${round((performance.now() - started) / 1000, 1)} s`);
        progress?.stop();
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      },
      (err: unknown) => {
        progress?.stop();
        process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
        process.exitCode = 1;
      },
    );
}

/** A positive number from a CLI flag value. */
export function num(flag: string, raw: string | undefined): number {
  const n = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isFinite(n) || n <= 0) throw new Error(`--${flag} needs a positive number, got ${raw}`);
  return n;
}

/** A comma-separated list of positive integers from a CLI flag value. */
export function intList(flag: string, raw: string | undefined): number[] {
  return (raw ?? '').split(',').map((x) => {
    const n = Number(x);
    if (x.trim() === '' || !Number.isInteger(n) || n <= 0) throw new Error(`--${flag} needs comma-separated positive integers, got ${raw}`);
    return n;
  });
}

/** The value of a --transport flag. */
export function transportFlag(raw: string): BenchTransport {
  const known = BENCH_TRANSPORTS.find((t) => t === raw);
  if (known === undefined) throw new Error(`--transport needs ${BENCH_TRANSPORTS.join(', ')}, got ${raw}`);
  return known;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
