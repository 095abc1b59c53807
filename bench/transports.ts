/**
 * WebSocket against TCP in the same run: the P2P throughput of bench/p2p-throughput.ts and the
 * latency of bench/latency.ts, once over each transport — tcp, websocket (ws://) and wss
 * (wss://, TLS with the test certificate of spec/fixtures/tls, as production runs it) — back to
 * back per case, with the raw TCP relay of bench/relay.ts run once per case as the common
 * baseline. The order rotates from case to case (`order`) so that a drift in machine load does
 * not always favour one transport.
 *
 *   node --import ./scripts/ts-node-register.mjs bench/transports.ts \
 *     [--seconds 3] [--warmup 1] [--window 1000] [--pairs 1,4] [--payloads 100,4096] [--samples 2000] \
 *     [--rounds 1] [--emulator-process | --both] [--no-relay]
 *
 * Throughput: every pairs × payloads case; latency: every payload, one pair. Prints one JSON
 * object; ratioWebSocketToTcp / ratioWssToTcp are the ws:// / wss:// figure divided by the TCP
 * one (for msgs/s above 1 means faster than TCP, for latencies and CPU per message above 1
 * means slower).
 */
import { parseArgs } from 'node:util';
import {
  BENCH_TRANSPORTS,
  benchPhase,
  intList,
  isMain,
  loadAverages,
  machineInfo,
  num,
  round,
  runMain,
  type BenchTransport,
  type EmulatorMode,
  type MachineInfo,
} from './common.js';
import { runLatencyBench, type LatencyPhase, type LatencyRun } from './latency.js';
import { runP2PThroughputBench, type P2PRun } from './p2p-throughput.js';
import { runRelayLatency, runRelayThroughput, type FrameSizes, type RelayThroughputRun } from './relay.js';

export interface TransportsOptions {
  /** Sending time of each measured throughput run and of the latency saturation phase, in seconds. Default 3. */
  seconds?: number;
  /** Unmeasured throughput run before each measured one, in seconds. Default 1. */
  warmupSeconds?: number;
  /** Messages in flight per pair (throughput) and at latency saturation. Default 1000. */
  window?: number;
  /** Numbers of pairs of the throughput cases. Default [1, 4]. */
  pairs?: number[];
  /** Payload sizes in bytes, for throughput (× pairs) and latency. Default [100, 4096]. */
  payloads?: number[];
  /** Light-load latency samples per transport. Default 2000. */
  samples?: number;
  /** Times every case runs (each round listed on its own). Default 1. */
  rounds?: number;
  /** Where the emulator runs. Default ['in-process']. */
  modes?: EmulatorMode[];
  /** Run the raw TCP relay baseline once per case. Default true. */
  relay?: boolean;
}

/** One transport's figures in a throughput case (fields as in bench/p2p-throughput.ts). */
export interface TransportThroughput {
  msgsPerSec: number;
  msgsPerSecPerPair: number;
  msgsPerCpuSecond: number;
  clientCpuUsPerAckedMsg: number;
  clientCpu: number;
  emulatorCpu: number | null;
  sent: number;
  lost: number;
  duplicates: number;
  errors: number;
  wallSeconds: number;
  loadAvg1mBefore: number;
  loadAvg1mAfter: number;
  /** msgsPerSec / relay.msgsPerSec of this case. */
  ratioToRelay: number | null;
}

interface ThroughputRatios {
  msgsPerSec: number | null;
  msgsPerCpuSecond: number | null;
  clientCpuUsPerAckedMsg: number | null;
}

export interface ThroughputCase {
  round: number;
  mode: EmulatorMode;
  pairs: number;
  window: number;
  payloadBytes: number;
  /** The order the transports ran in. */
  order: BenchTransport[];
  tcp: TransportThroughput;
  websocket: TransportThroughput;
  wss: TransportThroughput;
  /** websocket (ws://) / tcp. */
  ratioWebSocketToTcp: ThroughputRatios;
  /** wss / tcp. */
  ratioWssToTcp: ThroughputRatios;
  /** The raw TCP relay, same pairs, window and (TCP) frame sizes, run just before. */
  relay: RelayThroughputRun | null;
}

export interface PhaseFigures {
  messages: number;
  msgsPerSec: number;
  ackMs: { p50: number; p99: number };
  deliveryMs: { p50: number; p99: number };
  clientCpuUsPerMsg: number;
  clientCpu: number;
  emulatorCpu: number | null;
  errors: number;
  loadAvg1m: number;
}

export interface TransportLatency {
  light: PhaseFigures;
  saturation: PhaseFigures & { window: number };
  /** light p50 / the relay's p50. */
  ratioToRelay: { ackP50: number | null; deliveryP50: number | null } | null;
}

interface LatencyRatios {
  msgsPerSec: number | null;
  ackP50: number | null;
  ackP99: number | null;
  deliveryP50: number | null;
  deliveryP99: number | null;
  clientCpuUsPerMsg: number | null;
}

export interface LatencyCase {
  round: number;
  mode: EmulatorMode;
  payloadBytes: number;
  samples: number;
  order: BenchTransport[];
  tcp: TransportLatency;
  websocket: TransportLatency;
  wss: TransportLatency;
  /** websocket (ws://) / tcp. */
  ratioWebSocketToTcp: { light: LatencyRatios; saturation: LatencyRatios };
  /** wss / tcp. */
  ratioWssToTcp: { light: LatencyRatios; saturation: LatencyRatios };
  /** The raw TCP relay one message at a time, `samples` messages, run just before. */
  relay: { frameBytes: FrameSizes; messages: number; msgsPerSec: number; ackMs: { p50: number; p99: number }; deliveryMs: { p50: number; p99: number }; loadAvg1m: number } | null;
}

export interface TransportsResult {
  benchmark: 'transports';
  date: string;
  machine: MachineInfo;
  seconds: number;
  warmupSeconds: number;
  window: number;
  samples: number;
  rounds: number;
  /** os.loadavg() (1, 5, 15 min) at the start and at the end. */
  loadAvgBefore: number[];
  loadAvgAfter: number[];
  throughput: ThroughputCase[];
  latency: LatencyCase[];
}

/** a / b, null when b is 0 (a figure that could not be measured). */
function ratio(a: number, b: number, digits = 3): number | null {
  return b === 0 ? null : round(a / b, digits);
}

function throughputFigures(run: P2PRun, relay: RelayThroughputRun | null): TransportThroughput {
  return {
    msgsPerSec: run.msgsPerSec,
    msgsPerSecPerPair: run.msgsPerSecPerPair,
    msgsPerCpuSecond: run.msgsPerCpuSecond,
    clientCpuUsPerAckedMsg: run.clientCpuUsPerAckedMsg,
    clientCpu: run.clientCpu,
    emulatorCpu: run.emulatorCpu,
    sent: run.sent,
    lost: run.lost,
    duplicates: run.duplicates,
    errors: run.errors,
    wallSeconds: run.wallSeconds,
    loadAvg1mBefore: run.loadAvg1mBefore,
    loadAvg1mAfter: run.loadAvg1mAfter,
    ratioToRelay: relay ? ratio(run.msgsPerSec, relay.msgsPerSec, 4) : null,
  };
}

function phaseFigures(p: LatencyPhase): PhaseFigures {
  return {
    messages: p.messages,
    msgsPerSec: p.msgsPerSec,
    ackMs: { p50: p.ackMs.p50, p99: p.ackMs.p99 },
    deliveryMs: { p50: p.deliveryMs.p50, p99: p.deliveryMs.p99 },
    clientCpuUsPerMsg: p.clientCpuUsPerMsg,
    clientCpu: p.clientCpu,
    emulatorCpu: p.emulatorCpu,
    errors: p.errors,
    loadAvg1m: p.loadAvg1m,
  };
}

function throughputRatios(other: TransportThroughput, tcp: TransportThroughput): ThroughputRatios {
  return {
    msgsPerSec: ratio(other.msgsPerSec, tcp.msgsPerSec),
    msgsPerCpuSecond: ratio(other.msgsPerCpuSecond, tcp.msgsPerCpuSecond),
    clientCpuUsPerAckedMsg: ratio(other.clientCpuUsPerAckedMsg, tcp.clientCpuUsPerAckedMsg),
  };
}

function latencyRatios(other: PhaseFigures, tcp: PhaseFigures): LatencyRatios {
  return {
    msgsPerSec: ratio(other.msgsPerSec, tcp.msgsPerSec),
    ackP50: ratio(other.ackMs.p50, tcp.ackMs.p50),
    ackP99: ratio(other.ackMs.p99, tcp.ackMs.p99),
    deliveryP50: ratio(other.deliveryMs.p50, tcp.deliveryMs.p50),
    deliveryP99: ratio(other.deliveryMs.p99, tcp.deliveryMs.p99),
    clientCpuUsPerMsg: ratio(other.clientCpuUsPerMsg, tcp.clientCpuUsPerMsg),
  };
}

const latencyRatiosOf = (other: TransportLatency, tcp: TransportLatency): { light: LatencyRatios; saturation: LatencyRatios } => ({
  light: latencyRatios(other.light, tcp.light),
  saturation: latencyRatios(other.saturation, tcp.saturation),
});

async function throughputCase(opts: Required<TransportsOptions>, roundNo: number, mode: EmulatorMode, pairs: number, payloadBytes: number, order: BenchTransport[]): Promise<ThroughputCase> {
  const { seconds, warmupSeconds, window } = opts;
  let relay: RelayThroughputRun | null = null;
  if (opts.relay) {
    benchPhase(`relay baseline: ${mode}, ${pairs} pair(s), ${payloadBytes} B`);
    relay = await runRelayThroughput({ mode, pairs, window, payloadBytes, seconds, warmupSeconds });
  }
  const figures = {} as Record<BenchTransport, TransportThroughput>;
  for (const transport of order) {
    const result = await runP2PThroughputBench({ seconds, warmupSeconds, window, payloadBytes, pairs: [pairs], modes: [mode], relay: false, transport });
    figures[transport] = throughputFigures(result.runs[0]!, relay);
  }
  const { tcp, websocket, wss } = figures;
  return {
    round: roundNo,
    mode,
    pairs,
    window,
    payloadBytes,
    order,
    tcp,
    websocket,
    wss,
    ratioWebSocketToTcp: throughputRatios(websocket, tcp),
    ratioWssToTcp: throughputRatios(wss, tcp),
    relay,
  };
}

async function latencyCase(opts: Required<TransportsOptions>, roundNo: number, mode: EmulatorMode, payloadBytes: number, order: BenchTransport[]): Promise<LatencyCase> {
  let relay: LatencyCase['relay'] = null;
  if (opts.relay) {
    benchPhase(`relay baseline: ${mode}, ${opts.samples} samples, ${payloadBytes} B`);
    const r = await runRelayLatency(mode, opts.samples, payloadBytes);
    relay = {
      frameBytes: r.frameBytes,
      messages: r.messages,
      msgsPerSec: r.msgsPerSec,
      ackMs: { p50: r.ackMs.p50, p99: r.ackMs.p99 },
      deliveryMs: { p50: r.deliveryMs.p50, p99: r.deliveryMs.p99 },
      loadAvg1m: r.loadAvg1m,
    };
  }
  const figures = {} as Record<BenchTransport, TransportLatency>;
  for (const transport of order) {
    const result = await runLatencyBench({ samples: opts.samples, seconds: opts.seconds, window: opts.window, payloadBytes, modes: [mode], relay: false, transport });
    const run: LatencyRun = result.runs[0]!;
    const light = phaseFigures(run.light);
    figures[transport] = {
      light,
      saturation: { window: run.saturation.window, ...phaseFigures(run.saturation) },
      ratioToRelay: relay ? { ackP50: ratio(light.ackMs.p50, relay.ackMs.p50, 2), deliveryP50: ratio(light.deliveryMs.p50, relay.deliveryMs.p50, 2) } : null,
    };
  }
  const { tcp, websocket, wss } = figures;
  return {
    round: roundNo,
    mode,
    payloadBytes,
    samples: opts.samples,
    order,
    tcp,
    websocket,
    wss,
    ratioWebSocketToTcp: latencyRatiosOf(websocket, tcp),
    ratioWssToTcp: latencyRatiosOf(wss, tcp),
    relay,
  };
}

export async function runTransportsBench(options: TransportsOptions = {}): Promise<TransportsResult> {
  const opts: Required<TransportsOptions> = {
    seconds: options.seconds ?? 3,
    warmupSeconds: options.warmupSeconds ?? 1,
    window: options.window ?? 1000,
    pairs: options.pairs ?? [1, 4],
    payloads: options.payloads ?? [100, 4096],
    samples: options.samples ?? 2000,
    rounds: options.rounds ?? 1,
    modes: options.modes ?? ['in-process'],
    relay: options.relay ?? true,
  };
  if (opts.window >= 10_000) throw new Error('window must stay below maxPendingMessages (10 000)');
  const loadAvgBefore = loadAverages();
  const throughput: ThroughputCase[] = [];
  const latency: LatencyCase[] = [];
  // the order rotates case by case (each transport first, middle and last in turn), so that load
  // drifting during a case hits all transports alike
  let caseIndex = 0;
  const nextOrder = (): BenchTransport[] => {
    const k = caseIndex++ % BENCH_TRANSPORTS.length;
    return [...BENCH_TRANSPORTS.slice(k), ...BENCH_TRANSPORTS.slice(0, k)];
  };
  for (let r = 1; r <= opts.rounds; r++) {
    for (const mode of opts.modes) {
      for (const payloadBytes of opts.payloads) {
        for (const pairs of opts.pairs) throughput.push(await throughputCase(opts, r, mode, pairs, payloadBytes, nextOrder()));
      }
      for (const payloadBytes of opts.payloads) latency.push(await latencyCase(opts, r, mode, payloadBytes, nextOrder()));
    }
  }
  return {
    benchmark: 'transports',
    date: new Date().toISOString(),
    machine: machineInfo(),
    seconds: opts.seconds,
    warmupSeconds: opts.warmupSeconds,
    window: opts.window,
    samples: opts.samples,
    rounds: opts.rounds,
    loadAvgBefore,
    loadAvgAfter: loadAverages(),
    throughput,
    latency,
  };
}

export function parseTransportsArgs(argv: string[]): TransportsOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      window: { type: 'string' },
      pairs: { type: 'string' },
      payloads: { type: 'string' },
      samples: { type: 'string' },
      rounds: { type: 'string' },
      'emulator-process': { type: 'boolean', default: false },
      both: { type: 'boolean', default: false },
      'no-relay': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const opts: TransportsOptions = {};
  if (values.seconds !== undefined) opts.seconds = num('seconds', values.seconds);
  if (values.warmup !== undefined) opts.warmupSeconds = Number(values.warmup);
  if (values.window !== undefined) opts.window = Math.round(num('window', values.window));
  if (values.pairs !== undefined) opts.pairs = intList('pairs', values.pairs);
  if (values.payloads !== undefined) opts.payloads = intList('payloads', values.payloads);
  if (values.samples !== undefined) opts.samples = Math.round(num('samples', values.samples));
  if (values.rounds !== undefined) opts.rounds = Math.round(num('rounds', values.rounds));
  if (values.both) opts.modes = ['in-process', 'child-process'];
  else if (values['emulator-process']) opts.modes = ['child-process'];
  if (values['no-relay']) opts.relay = false;
  return opts;
}

if (isMain(import.meta.url)) runMain(() => runTransportsBench(parseTransportsArgs(process.argv.slice(2))));
