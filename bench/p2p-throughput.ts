/**
 * P2P throughput through the SDK end to end: sender MCUser → emulator → receiver MCUser.
 * Each pair keeps a window of messages in flight, where "in flight" means sent and not yet
 * both acknowledged to the sender (PACKET_ACK) and delivered to the receiver's handler; a new
 * message goes out as soon as one completes. A run sends for `seconds`, then stops and waits
 * until every message it sent completed; msgs/s counts completed messages over that whole time.
 * Every packet id is checked: each must be acked without error and delivered exactly once.
 *
 *   node --import ./scripts/ts-node-register.mjs bench/p2p-throughput.ts \
 *     [--seconds 3] [--warmup 1] [--window 1000] [--payload 100] [--pairs 1,4,16] \
 *     [--emulator-process | --both] [--no-store] [--no-relay] [--transport tcp|websocket|wss]
 *
 * Before each run the raw TCP relay of bench/relay.ts (same pairs, window, frame sizes and
 * process layout, no protocol) runs for as long: each run carries its figures and ratioToRelay.
 * --emulator-process runs the emulator in a child process (lib/emulator/cli.ts) so that client
 * and server do not share a core; --both measures in-process and child-process. --transport
 * websocket connects the users to the emulator's ws:// frontend, --transport wss to its wss://
 * one (TLS with the test certificate of spec/fixtures/tls); bench/transports.ts compares all
 * three. Prints one JSON object.
 */
import { parseArgs } from 'node:util';
import type { MCUser } from '../lib/index.js';
import type { P2PMessage, ServerAck } from '../lib/user/types.js';
import {
  CpuMeter,
  intList,
  benchPhase,
  isMain,
  loadAverages,
  loadSnapshot,
  machineInfo,
  makeUser,
  num,
  openEmulator,
  transportFlag,
  round,
  runMain,
  type BenchEmulator,
  type BenchTransport,
  type EmulatorMode,
  type MachineInfo,
} from './common.js';
import { runRelayThroughput, type RelayThroughputRun } from './relay.js';

export interface P2PThroughputOptions {
  /** Sending time of each measured run, in seconds. Default 3. */
  seconds?: number;
  /** Unmeasured run before each measured one (same users), in seconds. Default 1. */
  warmupSeconds?: number;
  /** Messages in flight per pair; must stay below the sender's maxPendingMessages (10 000). Default 1000. */
  window?: number;
  /** Application payload bytes per message. Default 100. */
  payloadBytes?: number;
  /** Numbers of sender/receiver pairs to run, one run each. Default [1, 4, 16]. */
  pairs?: number[];
  /** Where the emulator runs. Default ['in-process']. */
  modes?: EmulatorMode[];
  /** Send with isStore (the SDK's default, stored and paced by sequence acks). Default true. */
  isStore?: boolean;
  /** Run the raw TCP relay baseline before each run (bench/relay.ts). Default true. */
  relay?: boolean;
  /** What the users connect over: the emulator's TCP frontend, or its WebSocket one over ws:// or wss:// (TLS). Default 'tcp'. */
  transport?: BenchTransport;
}

export interface P2PRun {
  mode: EmulatorMode;
  transport: BenchTransport;
  pairs: number;
  window: number;
  payloadBytes: number;
  isStore: boolean;
  /** Messages sent during the run. */
  sent: number;
  /** Messages acked without error. */
  acked: number;
  /** Distinct messages delivered to the receivers' handlers. */
  delivered: number;
  /** Sent but never acked or never delivered (must be 0). */
  lost: number;
  /** Deliveries of an already delivered id, or of an id never sent (must be 0). */
  duplicates: number;
  /** Acks carrying an error, and send timeouts (must be 0). */
  errors: number;
  /** First send to last completion. */
  wallSeconds: number;
  /** Completed (acked and delivered) messages per second, all pairs together. */
  msgsPerSec: number;
  /** msgsPerSec divided by pairs. */
  msgsPerSecPerPair: number;
  /**
   * Completed messages per CPU-second of client and emulator together: the cost of a message,
   * steadier than msgsPerSec when other processes compete for the cores.
   */
  msgsPerCpuSecond: number;
  /** CPU of this process (SDK users, and the emulator when in-process), in cores. */
  clientCpu: number;
  /** CPU of the emulator child, in cores; null in-process. */
  emulatorCpu: number | null;
  /** CPU of this process per acked message, in µs (the SDK users; the emulator too when in-process). */
  clientCpuUsPerAckedMsg: number;
  loadAvg1mBefore: number;
  loadAvg1mAfter: number;
  /** The raw TCP relay (bench/relay.ts) with the same pairs, window, frame sizes and process layout, run just before. */
  relay: RelayThroughputRun | null;
  /** msgsPerSec / relay.msgsPerSec: the share of the loopback limit reached. */
  ratioToRelay: number | null;
}

export interface P2PThroughputResult {
  benchmark: 'p2p-throughput';
  date: string;
  machine: MachineInfo;
  seconds: number;
  warmupSeconds: number;
  /** os.loadavg() (1, 5, 15 min) at the start and at the end. */
  loadAvgBefore: number[];
  loadAvgAfter: number[];
  runs: P2PRun[];
}

const MAX_DRAIN_MS = 60_000;
const ACKED = 1;
const DELIVERED = 2;

/** Drives one sender/receiver pair for one run. */
class PairDriver {
  /** packet id → ACKED | DELIVERED bits seen so far; an id leaves when both are set. */
  private readonly open = new Map<string, number>();
  sent = 0;
  acked = 0;
  delivered = 0;
  duplicates = 0;
  errors = 0;
  lastCompletion = 0;
  private sending = false;
  private idle: (() => void) | null = null;

  constructor(
    private readonly sender: MCUser,
    private readonly to: string,
    private readonly payload: Uint8Array,
    private readonly window: number,
    private readonly isStore: boolean,
  ) {}

  start(): void {
    this.sending = true;
    this.pump();
  }

  /** Stops sending; resolves once every sent message completed (or after MAX_DRAIN_MS). */
  stop(): Promise<void> {
    this.sending = false;
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idle = null;
        resolve();
      }, MAX_DRAIN_MS);
      this.idle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  get lost(): number {
    return this.open.size;
  }

  private pump(): void {
    while (this.sending && this.open.size < this.window) {
      const id = this.sender.sendMessage(this.to, this.payload, { isStore: this.isStore });
      this.open.set(id, 0);
      this.sent++;
    }
  }

  private mark(id: string, bit: number): boolean {
    const bits = this.open.get(id);
    if (bits === undefined || bits & bit) return false;
    if ((bits | bit) === (ACKED | DELIVERED)) {
      this.open.delete(id);
      this.lastCompletion = performance.now();
      if (this.open.size === 0 && !this.sending) this.idle?.();
      else this.pump();
    } else this.open.set(id, bits | bit);
    return true;
  }

  onAck(ack: ServerAck): void {
    if (ack.errorMsg || ack.code !== 0) {
      this.errors++;
      this.open.delete(ack.packetId);
      return;
    }
    if (this.mark(ack.packetId, ACKED)) this.acked++;
  }

  onDelivered(message: P2PMessage): void {
    if (message.payload.length !== this.payload.length) this.errors++;
    if (this.mark(message.packetId, DELIVERED)) this.delivered++;
    else this.duplicates++;
  }

  onTimeout(): void {
    this.errors++;
  }
}

interface Pair {
  sender: MCUser;
  receiver: MCUser;
  receiverAccount: string;
  driver: PairDriver | null;
}

async function setUpPairs(emu: BenchEmulator, count: number, tag: string, transport: BenchTransport): Promise<Pair[]> {
  const pairs: Pair[] = [];
  for (let i = 0; i < count; i++) {
    const receiverAccount = `${tag}_r${i}`;
    const pair: Pair = { sender: null!, receiver: null!, receiverAccount, driver: null };
    pair.sender = makeUser(emu, `${tag}_s${i}`, {
      transport,
      messageDelegate: {
        handleServerAck: (ack) => pair.driver?.onAck(ack),
        handleSendMessageTimeout: () => pair.driver?.onTimeout(),
      },
    });
    pair.receiver = makeUser(emu, receiverAccount, {
      transport,
      messageDelegate: {
        handleMessage: (messages) => {
          const driver = pair.driver;
          if (driver) for (const m of messages) driver.onDelivered(m);
        },
      },
    });
    pairs.push(pair);
  }
  await Promise.all(pairs.flatMap((p) => [p.sender.login(), p.receiver.login()]));
  return pairs;
}

async function drive(pairs: Pair[], seconds: number, window: number, payload: Uint8Array, isStore: boolean): Promise<{ drivers: PairDriver[]; started: number; ended: number }> {
  const drivers = pairs.map((p) => (p.driver = new PairDriver(p.sender, p.receiverAccount, payload, window, isStore)));
  const started = performance.now();
  for (const d of drivers) d.start();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  await Promise.all(drivers.map((d) => d.stop()));
  const ended = Math.max(started, ...drivers.map((d) => d.lastCompletion));
  for (const p of pairs) p.driver = null;
  return { drivers, started, ended };
}

async function runOne(mode: EmulatorMode, pairCount: number, opts: Required<P2PThroughputOptions>): Promise<P2PRun> {
  let relay: RelayThroughputRun | null = null;
  if (opts.relay) {
    benchPhase(`relay baseline: ${mode}, ${pairCount} pair(s), ${opts.seconds} s`);
    relay = await runRelayThroughput({ mode, pairs: pairCount, window: opts.window, payloadBytes: opts.payloadBytes, seconds: opts.seconds, warmupSeconds: opts.warmupSeconds });
    benchPhase(`p2p throughput: ${mode} emulator, ${opts.transport}, ${pairCount} pair(s), ${opts.payloadBytes} B, ${opts.seconds} s`);
  }
  const emu = await openEmulator(mode, { transport: opts.transport });
  const pairs = await setUpPairs(emu, pairCount, `tp${pairCount}`, opts.transport);
  try {
    const payload = new Uint8Array(opts.payloadBytes).fill(0x61);
    if (opts.warmupSeconds > 0) await drive(pairs, opts.warmupSeconds, opts.window, payload, opts.isStore);
    const load0 = loadSnapshot().loadAvg1m;
    const meter = new CpuMeter(emu.pid);
    meter.start();
    const { drivers, started, ended } = await drive(pairs, opts.seconds, opts.window, payload, opts.isStore);
    const cpu = meter.stop();
    const sum = (f: (d: PairDriver) => number): number => drivers.reduce((s, d) => s + f(d), 0);
    const completed = sum((d) => d.sent - d.lost);
    const wallSeconds = (ended - started) / 1000;
    const msgsPerSec = completed / wallSeconds;
    return {
      mode,
      transport: opts.transport,
      pairs: pairCount,
      window: opts.window,
      payloadBytes: opts.payloadBytes,
      isStore: opts.isStore,
      sent: sum((d) => d.sent),
      acked: sum((d) => d.acked),
      delivered: sum((d) => d.delivered),
      lost: sum((d) => d.lost),
      duplicates: sum((d) => d.duplicates),
      errors: sum((d) => d.errors),
      wallSeconds: round(wallSeconds, 3),
      msgsPerSec: Math.round(msgsPerSec),
      msgsPerSecPerPair: Math.round(msgsPerSec / pairCount),
      msgsPerCpuSecond: Math.round(completed / cpu.cpuSeconds),
      clientCpu: cpu.clientCpu,
      emulatorCpu: cpu.emulatorCpu,
      clientCpuUsPerAckedMsg: round((cpu.clientCpuSeconds * 1e6) / Math.max(1, sum((d) => d.acked)), 1),
      loadAvg1mBefore: load0,
      loadAvg1mAfter: loadSnapshot().loadAvg1m,
      relay,
      ratioToRelay: relay ? round(msgsPerSec / relay.msgsPerSec, 4) : null,
    };
  } finally {
    for (const p of pairs) {
      p.sender.destroy();
      p.receiver.destroy();
    }
    await emu.close();
  }
}

export async function runP2PThroughputBench(options: P2PThroughputOptions = {}): Promise<P2PThroughputResult> {
  const opts: Required<P2PThroughputOptions> = {
    seconds: options.seconds ?? 3,
    warmupSeconds: options.warmupSeconds ?? 1,
    window: options.window ?? 1000,
    payloadBytes: options.payloadBytes ?? 100,
    pairs: options.pairs ?? [1, 4, 16],
    modes: options.modes ?? ['in-process'],
    isStore: options.isStore ?? true,
    relay: options.relay ?? true,
    transport: options.transport ?? 'tcp',
  };
  const loadAvgBefore = loadAverages();
  if (opts.window >= 10_000) throw new Error('window must stay below maxPendingMessages (10 000)');
  const runs: P2PRun[] = [];
  for (const mode of opts.modes) {
    for (const pairs of opts.pairs) {
      benchPhase(`p2p throughput: ${mode} emulator, ${opts.transport}, ${pairs} pair(s), ${opts.payloadBytes} B, ${opts.seconds} s`);
      runs.push(await runOne(mode, pairs, opts));
    }
  }
  return { benchmark: 'p2p-throughput', date: new Date().toISOString(), machine: machineInfo(), seconds: opts.seconds, warmupSeconds: opts.warmupSeconds, loadAvgBefore, loadAvgAfter: loadAverages(), runs };
}

export function parseP2PThroughputArgs(argv: string[]): P2PThroughputOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      window: { type: 'string' },
      payload: { type: 'string' },
      pairs: { type: 'string' },
      'emulator-process': { type: 'boolean', default: false },
      both: { type: 'boolean', default: false },
      'no-store': { type: 'boolean', default: false },
      'no-relay': { type: 'boolean', default: false },
      transport: { type: 'string' },
    },
    strict: true,
  });
  const opts: P2PThroughputOptions = {};
  if (values.seconds !== undefined) opts.seconds = num('seconds', values.seconds);
  if (values.warmup !== undefined) opts.warmupSeconds = Number(values.warmup);
  if (values.window !== undefined) opts.window = num('window', values.window);
  if (values.payload !== undefined) opts.payloadBytes = num('payload', values.payload);
  if (values.pairs !== undefined) opts.pairs = intList('pairs', values.pairs);
  if (values.both) opts.modes = ['in-process', 'child-process'];
  else if (values['emulator-process']) opts.modes = ['child-process'];
  if (values['no-store']) opts.isStore = false;
  if (values['no-relay']) opts.relay = false;
  if (values.transport !== undefined) opts.transport = transportFlag(values.transport);
  return opts;
}

if (isMain(import.meta.url)) runMain(() => runP2PThroughputBench(parseP2PThroughputArgs(process.argv.slice(2))));
