/**
 * Runs every benchmark and prints one JSON document with all their results.
 *
 *   npm run bench                     short runs (a few minutes)
 *   npm run bench -- --long           longer runs, steadier figures
 *   npm run bench -- --only p2p,latency
 *
 * Benchmarks run one after another in this process, except memory, which needs a fresh heap
 * and --expose-gc and so runs in a child process. A benchmark that fails is reported under
 * `errors` and the others still run. See bench/README.md for every field.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { runCodecBench } from './codec.js';
import { runEmulatorBench } from './emulator.js';
import { runJsonBench } from './json.js';
import { runLatencyBench } from './latency.js';
import { runLoginBench } from './login.js';
import { runP2PThroughputBench } from './p2p-throughput.js';
import { runTransportsBench } from './transports.js';
import { runUcFanoutBench } from './uc-fanout.js';
import { REPO_ROOT, benchPhase, isMain, loadSnapshot, machineInfo, round, runMain, type MachineInfo } from './common.js';

export const BENCHMARKS = ['codec', 'json', 'emulator', 'p2p', 'latency', 'login', 'uc', 'transports', 'memory'] as const;
export type BenchmarkName = (typeof BENCHMARKS)[number];

export interface RunAllOptions {
  /** Longer durations and larger counts. Default false. */
  long?: boolean;
  /** Subset to run. Default: all. */
  only?: BenchmarkName[];
}

export interface RunAllResult {
  benchmark: 'all';
  date: string;
  machine: MachineInfo;
  long: boolean;
  durationSeconds: number;
  loadAvg1mBefore: number;
  loadAvg1mAfter: number;
  results: Partial<Record<BenchmarkName, unknown>>;
  errors: Partial<Record<BenchmarkName, string>>;
}

/** Runs bench/memory.ts in a child with --expose-gc and returns its parsed JSON. */
function memoryInChild(args: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', './scripts/ts-node-register.mjs', 'bench/memory.ts', ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      err = (err + s).slice(-4000);
      process.stderr.write(s); // the child's own progress
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`memory benchmark exited with ${code}: ${err.trim()}`));
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`memory benchmark printed no JSON: ${out.slice(0, 200)}`));
      }
    });
  });
}

export async function runAll(options: RunAllOptions = {}): Promise<RunAllResult> {
  const long = options.long ?? false;
  const only = new Set<BenchmarkName>(options.only ?? BENCHMARKS);
  const both = ['in-process', 'child-process'] as const;
  const steps: Record<BenchmarkName, () => Promise<unknown>> = {
    codec: () => runCodecBench({ seconds: long ? 3 : 1, warmupSeconds: 0.5 }),
    json: () => runJsonBench({ seconds: long ? 2 : 0.5 }),
    emulator: () =>
      runEmulatorBench(long ? {} : { connections: 2000, rampStep: 250, pairs: 20, messagesPerPair: 500, window: 32 }),
    p2p: () => runP2PThroughputBench({ seconds: long ? 10 : 3, warmupSeconds: 1, pairs: [1, 4, 16], modes: [...both] }),
    latency: () => runLatencyBench({ samples: long ? 10_000 : 2000, seconds: long ? 10 : 3, modes: [...both] }),
    login: () => runLoginBench({ sequential: long ? 1000 : 300, storm: 1000, modes: [...both] }),
    uc: () => runUcFanoutBench({ members: 1000, messages: long ? 1000 : 200 }),
    // short runs only child-process (the layout of docs/benchmarks.md): both layouts would double its ~80 s
    transports: () => runTransportsBench({ seconds: long ? 10 : 3, samples: long ? 10_000 : 2000, rounds: long ? 2 : 1, modes: long ? [...both] : ['child-process'] }),
    memory: () => memoryInChild(['--counts', '1000,10000', '--idle', long ? '30' : '10']),
  };
  const started = performance.now();
  const loadBefore = loadSnapshot().loadAvg1m;
  const results: RunAllResult['results'] = {};
  const errors: RunAllResult['errors'] = {};
  for (const name of BENCHMARKS) {
    if (!only.has(name)) continue;
    benchPhase(name);
    try {
      results[name] = await steps[name]();
    } catch (err) {
      errors[name] = err instanceof Error ? err.message : String(err);
    }
  }
  return {
    benchmark: 'all',
    date: new Date().toISOString(),
    machine: machineInfo(),
    long,
    durationSeconds: round((performance.now() - started) / 1000, 1),
    loadAvg1mBefore: loadBefore,
    loadAvg1mAfter: loadSnapshot().loadAvg1m,
    results,
    errors,
  };
}

export function parseRunAllArgs(argv: string[]): RunAllOptions {
  const { values } = parseArgs({ args: argv, options: { long: { type: 'boolean', default: false }, only: { type: 'string' } }, strict: true });
  const opts: RunAllOptions = { long: values.long };
  if (values.only !== undefined) {
    opts.only = values.only.split(',').map((name) => {
      if (!(BENCHMARKS as readonly string[]).includes(name)) throw new Error(`--only: unknown benchmark ${name} (known: ${BENCHMARKS.join(', ')})`);
      return name as BenchmarkName;
    });
  }
  return opts;
}

if (isMain(import.meta.url)) runMain(() => runAll(parseRunAllArgs(process.argv.slice(2))));
