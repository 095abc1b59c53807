/**
 * P2P latency through the SDK end to end (sender MCUser → emulator → receiver MCUser):
 *   ack:      sendMessage() → the sender's handleServerAck
 *   delivery: sendMessage() → the receiver's handleMessage
 * measured with performance.now() in one process (both users share the clock), at two loads:
 *   light:      one message at a time, the next sent once the previous was acked and delivered;
 *   saturation: a window of `window` messages in flight, refilled as messages complete.
 *
 *   node --import ./scripts/ts-node-register.mjs bench/latency.ts \
 *     [--samples 2000] [--seconds 3] [--window 1000] [--payload 100] [--emulator-process | --both] [--no-relay]
 *     [--transport tcp|websocket|wss]
 *
 * Before each run the raw TCP relay of bench/relay.ts sends as many messages one at a time
 * (same frame sizes and process layout, no protocol): each run carries ratioToRelay.
 * Prints one JSON object; latencies are in milliseconds.
 */
import { parseArgs } from 'node:util';
import type { MCUser } from '../lib/index.js';
import type { P2PMessage, ServerAck } from '../lib/user/types.js';
import {
  CpuMeter,
  benchPhase,
  isMain,
  loadAverages,
  loadSnapshot,
  machineInfo,
  makeUser,
  num,
  openEmulator,
  transportFlag,
  percentiles,
  round,
  runMain,
  type BenchTransport,
  type EmulatorMode,
  type MachineInfo,
  type Percentiles,
} from './common.js';
import { runRelayLatency, type RelayLatencyRun } from './relay.js';

export interface LatencyOptions {
  /** Measured messages at light load. Default 2000 (after 200 unmeasured). */
  samples?: number;
  /** Sending time at saturation, in seconds (after 1 s unmeasured). Default 3. */
  seconds?: number;
  /** Messages in flight at saturation. Default 1000. */
  window?: number;
  /** Application payload bytes. Default 100. */
  payloadBytes?: number;
  /** Where the emulator runs. Default ['in-process']. */
  modes?: EmulatorMode[];
  /** Run the raw TCP relay baseline (bench/relay.ts) one message at a time too. Default true. */
  relay?: boolean;
  /** What the users connect over: the emulator's TCP frontend, or its WebSocket one over ws:// or wss:// (TLS). Default 'tcp'. */
  transport?: BenchTransport;
}

export interface LatencyPhase {
  messages: number;
  /** Messages completed per second during the phase. */
  msgsPerSec: number;
  ackMs: Percentiles;
  deliveryMs: Percentiles;
  /** Lost, duplicated or refused messages (must be 0). */
  errors: number;
  clientCpu: number;
  emulatorCpu: number | null;
  /** CPU µs of this process per completed message (the SDK users; the emulator too when in-process). */
  clientCpuUsPerMsg: number;
  loadAvg1m: number;
}

export interface LatencyRun {
  mode: EmulatorMode;
  transport: BenchTransport;
  payloadBytes: number;
  light: LatencyPhase;
  saturation: LatencyPhase & { window: number };
  /** The raw TCP relay one message at a time, same samples, frame sizes and process layout, run just before. */
  relay: RelayLatencyRun | null;
  /** light p50 divided by the relay's p50 (ack and delivery). */
  ratioToRelay: { ackP50: number; deliveryP50: number } | null;
}

export interface LatencyResult {
  benchmark: 'latency';
  date: string;
  machine: MachineInfo;
  /** os.loadavg() (1, 5, 15 min) at the start and at the end. */
  loadAvgBefore: number[];
  loadAvgAfter: number[];
  runs: LatencyRun[];
}

interface Open {
  sentAt: number;
  ackMs: number;
  deliveryMs: number;
}

/** Tracks every message of a sender/receiver pair from send to ack and delivery. */
class Tracker {
  private readonly open = new Map<string, Open>();
  ack: number[] = [];
  delivery: number[] = [];
  errors = 0;
  recording = true;
  onComplete: (() => void) | null = null;

  constructor(
    private readonly sender: MCUser,
    private readonly to: string,
    private readonly payload: Uint8Array,
  ) {}

  get inFlight(): number {
    return this.open.size;
  }

  send(): void {
    const sentAt = performance.now();
    const id = this.sender.sendMessage(this.to, this.payload);
    this.open.set(id, { sentAt, ackMs: -1, deliveryMs: -1 });
  }

  onAck(ack: ServerAck): void {
    const now = performance.now();
    const entry = this.open.get(ack.packetId);
    if (!entry || entry.ackMs >= 0 || ack.errorMsg || ack.code !== 0) {
      this.errors++;
      return;
    }
    entry.ackMs = now - entry.sentAt;
    this.settle(ack.packetId, entry);
  }

  onDelivered(message: P2PMessage): void {
    const now = performance.now();
    const entry = this.open.get(message.packetId);
    if (!entry || entry.deliveryMs >= 0) {
      this.errors++;
      return;
    }
    entry.deliveryMs = now - entry.sentAt;
    this.settle(message.packetId, entry);
  }

  private settle(id: string, entry: Open): void {
    if (entry.ackMs < 0 || entry.deliveryMs < 0) return;
    this.open.delete(id);
    if (this.recording) {
      this.ack.push(entry.ackMs);
      this.delivery.push(entry.deliveryMs);
    }
    this.onComplete?.();
  }

  reset(): void {
    this.ack = [];
    this.delivery = [];
  }
}

function phase(tracker: Tracker, meter: CpuMeter, load: number): LatencyPhase {
  const cpu = meter.stop();
  return {
    messages: tracker.ack.length,
    msgsPerSec: Math.round(tracker.ack.length / cpu.wallSeconds),
    ackMs: percentiles(tracker.ack),
    deliveryMs: percentiles(tracker.delivery),
    errors: tracker.errors + tracker.inFlight,
    clientCpu: cpu.clientCpu,
    emulatorCpu: cpu.emulatorCpu,
    clientCpuUsPerMsg: round((cpu.clientCpuSeconds * 1e6) / Math.max(1, tracker.ack.length), 1),
    loadAvg1m: load,
  };
}

/** One message at a time: `count` messages, the next sent when the previous completed. */
function oneAtATime(tracker: Tracker, count: number): Promise<void> {
  return new Promise((resolve) => {
    let left = count;
    tracker.onComplete = () => {
      if (--left > 0) tracker.send();
      else {
        tracker.onComplete = null;
        resolve();
      }
    };
    tracker.send();
  });
}

/** Keeps `window` messages in flight for `seconds`, then waits for the last ones. */
function windowed(tracker: Tracker, window: number, seconds: number): Promise<void> {
  return new Promise((resolve) => {
    let sending = true;
    const fill = (): void => {
      while (sending && tracker.inFlight < window) tracker.send();
    };
    tracker.onComplete = () => {
      if (sending) fill();
      else if (tracker.inFlight === 0) {
        tracker.onComplete = null;
        resolve();
      }
    };
    setTimeout(() => {
      sending = false;
      if (tracker.inFlight === 0) resolve();
    }, seconds * 1000);
    fill();
  });
}

async function runOne(mode: EmulatorMode, opts: Required<LatencyOptions>): Promise<LatencyRun> {
  let relay: RelayLatencyRun | null = null;
  if (opts.relay) {
    benchPhase(`relay baseline: ${mode}, ${opts.samples} samples`);
    relay = await runRelayLatency(mode, opts.samples, opts.payloadBytes);
    benchPhase(`latency: ${mode} emulator, ${opts.transport}, ${opts.payloadBytes} B, ${opts.samples} samples`);
  }
  const emu = await openEmulator(mode, { transport: opts.transport });
  let tracker: Tracker | null = null;
  const sender = makeUser(emu, 'lat_sender', { transport: opts.transport, messageDelegate: { handleServerAck: (ack) => tracker?.onAck(ack) } });
  const receiver = makeUser(emu, 'lat_receiver', {
    transport: opts.transport,
    messageDelegate: {
      handleMessage: (messages) => {
        for (const m of messages) tracker?.onDelivered(m);
      },
    },
  });
  try {
    await Promise.all([sender.login(), receiver.login()]);
    const t = (tracker = new Tracker(sender, 'lat_receiver', new Uint8Array(opts.payloadBytes).fill(0x62)));

    t.recording = false;
    await oneAtATime(t, 200);
    t.recording = true;
    let meter = new CpuMeter(emu.pid);
    let load = loadSnapshot().loadAvg1m;
    meter.start();
    await oneAtATime(t, opts.samples);
    const light = phase(t, meter, load);

    t.reset();
    t.recording = false;
    await windowed(t, opts.window, 1);
    t.recording = true;
    meter = new CpuMeter(emu.pid);
    load = loadSnapshot().loadAvg1m;
    meter.start();
    await windowed(t, opts.window, opts.seconds);
    const saturation = { window: opts.window, ...phase(t, meter, load) };
    const ratioToRelay = relay
      ? { ackP50: round(light.ackMs.p50 / relay.ackMs.p50, 2), deliveryP50: round(light.deliveryMs.p50 / relay.deliveryMs.p50, 2) }
      : null;
    return { mode, transport: opts.transport, payloadBytes: opts.payloadBytes, light, saturation, relay, ratioToRelay };
  } finally {
    tracker = null;
    sender.destroy();
    receiver.destroy();
    await emu.close();
  }
}

export async function runLatencyBench(options: LatencyOptions = {}): Promise<LatencyResult> {
  const opts: Required<LatencyOptions> = {
    samples: options.samples ?? 2000,
    seconds: options.seconds ?? 3,
    window: options.window ?? 1000,
    payloadBytes: options.payloadBytes ?? 100,
    modes: options.modes ?? ['in-process'],
    relay: options.relay ?? true,
    transport: options.transport ?? 'tcp',
  };
  const loadAvgBefore = loadAverages();
  const runs: LatencyRun[] = [];
  for (const mode of opts.modes) {
    benchPhase(`latency: ${mode} emulator, ${opts.transport}, ${opts.payloadBytes} B, ${opts.samples} samples`);
    runs.push(await runOne(mode, opts));
  }
  return { benchmark: 'latency', date: new Date().toISOString(), machine: machineInfo(), loadAvgBefore, loadAvgAfter: loadAverages(), runs };
}

export function parseLatencyArgs(argv: string[]): LatencyOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      samples: { type: 'string' },
      seconds: { type: 'string' },
      window: { type: 'string' },
      payload: { type: 'string' },
      'emulator-process': { type: 'boolean', default: false },
      both: { type: 'boolean', default: false },
      'no-relay': { type: 'boolean', default: false },
      transport: { type: 'string' },
    },
    strict: true,
  });
  const opts: LatencyOptions = {};
  if (values.samples !== undefined) opts.samples = Math.round(num('samples', values.samples));
  if (values.seconds !== undefined) opts.seconds = num('seconds', values.seconds);
  if (values.window !== undefined) opts.window = Math.round(num('window', values.window));
  if (values.payload !== undefined) opts.payloadBytes = Math.round(num('payload', values.payload));
  if (values.both) opts.modes = ['in-process', 'child-process'];
  else if (values['emulator-process']) opts.modes = ['child-process'];
  if (values['no-relay']) opts.relay = false;
  if (values.transport !== undefined) opts.transport = transportFlag(values.transport);
  return opts;
}

if (isMain(import.meta.url)) runMain(() => runLatencyBench(parseLatencyArgs(process.argv.slice(2))));
