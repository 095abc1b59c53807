/**
 * The loopback limit: a raw Node TCP relay moving frames of the same sizes as the SDK's, with
 * the same driver shape and process layout as bench/p2p-throughput.ts and bench/latency.ts, but
 * no protocol: length-prefixed frames, no crypto, no protobuf, no store. sender → relay →
 * receiver, and the relay acks every frame to the sender. A message is complete once it was
 * acked to the sender and delivered to the receiver, exactly as in the SDK benchmarks.
 *
 * Each frame is u32 length | u32 message number | zero padding, padded to the size the SDK
 * puts on the wire for that message (client SECMSG up, COMPOUND of one message down, PACKET_ACK
 * back; see `sdkFrameSizes`). The relay coalesces what one read produced into one write per
 * destination, as a hand-written server would.
 *
 *   node --import ./scripts/ts-node-register.mjs bench/relay.ts \
 *     [--seconds 3] [--warmup 1] [--window 1000] [--payload 100] [--pairs 1] [--samples 2000] [--process]
 *
 * --process runs the relay in a child process (as --emulator-process does for the emulator).
 * Prints one JSON object. bench/p2p-throughput.ts and bench/latency.ts run it themselves, in
 * the same invocation, and report their figures as ratios to it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Rc4 } from '../lib/protocol/rc4.js';
import { buildClientSecMsgFrame, encodeP2PMessage, encodePacketAck, encodePacketList, encodeSecMsgFrame, serverHeader } from '../lib/protocol/packets.js';
import { Cmd, DirFlag, PacketType } from '../lib/protocol/constants.js';
import { CpuMeter, REPO_ROOT, benchPhase, intList, isMain, loadAverages, loadSnapshot, machineInfo, num, percentiles, round, runMain, type EmulatorMode, type MachineInfo, type Percentiles } from './common.js';

// ---- frame sizes -----------------------------------------------------------------------------

export interface FrameSizes {
  /** Sender → server: the client's SECMSG carrying a P2P message. */
  up: number;
  /** Server → receiver: a COMPOUND holding that one message. */
  down: number;
  /** Server → sender: the PACKET_ACK. */
  ack: number;
}

/** Wire sizes of the SDK's frames for one P2P message of `payloadBytes` (representative ids and names). */
export function sdkFrameSizes(payloadBytes: number): FrameSizes {
  const key = new Rc4(new Uint8Array(16).fill(7));
  const securityKey = Buffer.alloc(16, 3).toString('base64');
  const appId = 2882303761517479657n;
  const uuid = 12345678901234567n;
  const resource = 'resource_0123456789';
  const packetId = '1700000000000_1234567890';
  const appPackage = 'com.example.mimc';
  const p2p = encodeP2PMessage({
    from: { appId, appAccount: 'tp1_s0', uuid, resource },
    to: { appId, appAccount: 'tp1_r0' },
    payload: new Uint8Array(payloadBytes),
    isStore: true,
  });
  const up = buildClientSecMsgFrame({ uuid, resource }, { packetId, package: appPackage, type: PacketType.P2P_MESSAGE, payload: p2p, timestamp: 1700000000000n }, securityKey, key).length;
  const list = encodePacketList({
    uuid,
    resource,
    maxSequence: 1000000n,
    status: 0,
    packets: [{ packetId, package: appPackage, sequence: 1000000n, type: PacketType.P2P_MESSAGE, payload: p2p, timestamp: 1700000000000n }],
  });
  const header = (id: string) => serverHeader(Cmd.SECMSG, uuid, resource, id, DirFlag.SC_ONEWAY);
  const down = encodeSecMsgFrame(header('1700000000001_1'), { packetId: '1700000000001_1', package: appPackage, type: PacketType.COMPOUND, payload: list }, securityKey, key).length;
  const ackPayload = encodePacketAck({ packetId, uuid, resource, sequence: 1000000n, timestamp: 1700000000000n, package: appPackage, errorMsg: '' });
  const ack = encodeSecMsgFrame(header('1700000000002_2'), { packetId: '1700000000002_2', package: appPackage, type: PacketType.PACKET_ACK, payload: ackPayload }, securityKey, key).length;
  return { up, down, ack };
}

// ---- wire ------------------------------------------------------------------------------------

/** Hello frames: u32 length 8 | u32 role (1 sender, 2 receiver) | u32 pair. */
const ROLE_SENDER = 1;
const ROLE_RECEIVER = 2;
/** Message frames carry, after the number, the sizes the relay must answer with. */
const MESSAGE_HEAD = 16; // u32 length | u32 number | u32 downSize | u32 ackSize

/** Splits a byte stream into length-prefixed frames (u32 length of what follows). */
class Framer {
  private pending: Buffer | null = null;

  constructor(private readonly onFrame: (buf: Buffer, at: number, length: number) => void) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.pending) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let at = 0;
    while (buf.length - at >= 4) {
      const length = buf.readUInt32BE(at);
      if (buf.length - at - 4 < length) break;
      this.onFrame(buf, at + 4, length);
      at += 4 + length;
    }
    if (at < buf.length) this.pending = buf.subarray(at);
  }
}

/** Builds a message frame of `size` bytes (at least MESSAGE_HEAD) into `out` at `at`. */
function writeMessage(out: Buffer, at: number, size: number, number: number, downSize: number, ackSize: number): void {
  out.writeUInt32BE(size - 4, at);
  out.writeUInt32BE(number, at + 4);
  out.writeUInt32BE(downSize, at + 8);
  out.writeUInt32BE(ackSize, at + 12);
  out.fill(0, at + MESSAGE_HEAD, at + size);
}

// ---- the relay -------------------------------------------------------------------------------

/** The relay server: forwards each sender frame to its pair's receiver and acks it to the sender. */
export function startRelayServer(): Promise<Server> {
  const receivers = new Map<number, Socket>();
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    let role = 0;
    let pair = 0;
    const framer = new Framer((buf, at, length) => {
      if (role === 0) {
        role = buf.readUInt32BE(at);
        pair = buf.readUInt32BE(at + 4);
        if (role === ROLE_RECEIVER) receivers.set(pair, socket);
        return;
      }
      const number = buf.readUInt32BE(at);
      const down = buf.readUInt32BE(at + 4);
      const ack = buf.readUInt32BE(at + 8);
      if (length >= MESSAGE_HEAD - 4) batch.push(number, down, ack);
    });
    const batch: number[] = [];
    socket.on('data', (chunk: Buffer) => {
      framer.push(chunk);
      if (batch.length === 0) return;
      let downBytes = 0;
      let ackBytes = 0;
      for (let i = 0; i < batch.length; i += 3) {
        downBytes += batch[i + 1]!;
        ackBytes += batch[i + 2]!;
      }
      const down = Buffer.allocUnsafe(downBytes);
      const acks = Buffer.allocUnsafe(ackBytes);
      let d = 0;
      let a = 0;
      for (let i = 0; i < batch.length; i += 3) {
        writeMessage(down, d, batch[i + 1]!, batch[i]!, 0, 0);
        writeMessage(acks, a, batch[i + 2]!, batch[i]!, 0, 0);
        d += batch[i + 1]!;
        a += batch[i + 2]!;
      }
      batch.length = 0;
      receivers.get(pair)?.write(down);
      socket.write(acks);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (role === ROLE_RECEIVER && receivers.get(pair) === socket) receivers.delete(pair);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

interface RelayHandle {
  port: number;
  pid: number | undefined;
  close(): Promise<void>;
}

async function openRelay(mode: EmulatorMode): Promise<RelayHandle> {
  if (mode === 'in-process') {
    const server = await startRelayServer();
    const port = (server.address() as { port: number }).port;
    return { port, pid: undefined, close: () => new Promise((resolve) => server.close(() => resolve())) };
  }
  const child: ChildProcess = spawn(process.execPath, ['--import', './scripts/ts-node-register.mjs', 'bench/relay.ts', '--serve'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('relay child did not start within 60 s')), 60_000);
    child.once('exit', (code) => reject(new Error(`relay child exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as { port?: number };
        if (parsed.port) {
          clearTimeout(timer);
          resolve(parsed.port);
        }
      } catch {
        // not ours
      }
    });
  });
  return {
    port,
    pid: child.pid,
    close: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

// ---- the driver ------------------------------------------------------------------------------

function open(port: number, role: number, pair: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.setNoDelay(true);
      const hello = Buffer.alloc(12);
      hello.writeUInt32BE(8, 0);
      hello.writeUInt32BE(role, 4);
      hello.writeUInt32BE(pair, 8);
      socket.write(hello);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

const ACKED = 1;
const DELIVERED = 2;

/** One sender/receiver pair: a window of messages in flight, each complete when acked and delivered. */
class RelayPair {
  /** message number → ACKED | DELIVERED bits; numbers are consecutive, so a ring indexed by number. */
  private readonly bits: Uint8Array;
  private readonly sentAt: Float64Array;
  private next = 0;
  private inFlight = 0;
  sending = false;
  sent = 0;
  completed = 0;
  lastCompletion = 0;
  recording = false;
  ackMs: number[] = [];
  deliveryMs: number[] = [];
  private readonly ackAt: Float64Array;
  private readonly deliveredAt: Float64Array;
  onComplete: (() => void) | null = null;
  idle: (() => void) | null = null;

  constructor(
    readonly sender: Socket,
    readonly receiver: Socket,
    private readonly sizes: FrameSizes,
    private window: number,
  ) {
    const ring = 1 << Math.ceil(Math.log2(Math.max(2, window) * 2));
    this.bits = new Uint8Array(ring);
    this.sentAt = new Float64Array(ring);
    this.ackAt = new Float64Array(ring);
    this.deliveredAt = new Float64Array(ring);
    const acks = new Framer((buf, at) => this.mark(buf.readUInt32BE(at), ACKED));
    const deliveries = new Framer((buf, at) => this.mark(buf.readUInt32BE(at), DELIVERED));
    // Refilled once per read (one write for everything that completed in it), not per message.
    sender.on('data', (chunk: Buffer) => {
      acks.push(chunk);
      this.pump();
    });
    receiver.on('data', (chunk: Buffer) => {
      deliveries.push(chunk);
      this.pump();
    });
  }

  setWindow(window: number): void {
    this.window = Math.min(window, this.bits.length / 2);
  }

  get open(): number {
    return this.inFlight;
  }

  /** Sends until the window is full, in one write. */
  pump(): void {
    const n = this.sending ? this.window - this.inFlight : 0;
    if (n <= 0) return;
    const { up, down, ack } = this.sizes;
    const out = Buffer.allocUnsafe(n * up);
    const now = performance.now();
    const mask = this.bits.length - 1;
    for (let i = 0; i < n; i++) {
      const number = this.next++ >>> 0;
      this.bits[number & mask] = 0;
      this.sentAt[number & mask] = now;
      writeMessage(out, i * up, up, number, down, ack);
    }
    this.inFlight += n;
    this.sent += n;
    this.sender.write(out);
  }

  private mark(number: number, bit: number): void {
    const slot = number & (this.bits.length - 1);
    const bits = this.bits[slot]! | bit;
    this.bits[slot] = bits;
    const now = performance.now();
    if (bit === ACKED) this.ackAt[slot] = now;
    else this.deliveredAt[slot] = now;
    if (bits !== (ACKED | DELIVERED)) return;
    this.inFlight--;
    this.completed++;
    this.lastCompletion = now;
    if (this.recording) {
      this.ackMs.push(this.ackAt[slot]! - this.sentAt[slot]!);
      this.deliveryMs.push(this.deliveredAt[slot]! - this.sentAt[slot]!);
    }
    if (this.onComplete) this.onComplete();
    else if (this.inFlight === 0 && !this.sending) this.idle?.();
  }

  /** Stops sending; resolves once nothing is in flight. */
  stop(): Promise<void> {
    this.sending = false;
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => (this.idle = resolve));
  }
}

async function openPairs(port: number, count: number, sizes: FrameSizes, window: number): Promise<RelayPair[]> {
  const pairs: RelayPair[] = [];
  for (let i = 0; i < count; i++) {
    const receiver = await open(port, ROLE_RECEIVER, i);
    const sender = await open(port, ROLE_SENDER, i);
    pairs.push(new RelayPair(sender, receiver, sizes, window));
  }
  // the relay has read every hello once a round trip went through: warm-up covers that
  return pairs;
}

function closePairs(pairs: RelayPair[]): void {
  for (const p of pairs) {
    p.sender.destroy();
    p.receiver.destroy();
  }
}

async function driveWindow(pairs: RelayPair[], seconds: number): Promise<{ completed: number; started: number; ended: number }> {
  const completed0 = pairs.reduce((s, p) => s + p.completed, 0);
  const started = performance.now();
  for (const p of pairs) {
    p.sending = true;
    p.pump();
  }
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  await Promise.all(pairs.map((p) => p.stop()));
  const ended = Math.max(started, ...pairs.map((p) => p.lastCompletion));
  return { completed: pairs.reduce((s, p) => s + p.completed, 0) - completed0, started, ended };
}

export interface RelayThroughputRun {
  mode: EmulatorMode;
  pairs: number;
  window: number;
  payloadBytes: number;
  frameBytes: FrameSizes;
  completed: number;
  wallSeconds: number;
  msgsPerSec: number;
  msgsPerCpuSecond: number;
  clientCpu: number;
  relayCpu: number | null;
  loadAvg1mBefore: number;
  loadAvg1mAfter: number;
}

export interface RelayThroughputOptions {
  mode: EmulatorMode;
  pairs: number;
  window: number;
  payloadBytes: number;
  seconds: number;
  warmupSeconds: number;
}

/** The relay's acked-and-delivered msgs/s with the throughput benchmark's shape. */
export async function runRelayThroughput(o: RelayThroughputOptions): Promise<RelayThroughputRun> {
  const sizes = sdkFrameSizes(o.payloadBytes);
  const relay = await openRelay(o.mode);
  const pairs = await openPairs(relay.port, o.pairs, sizes, o.window);
  try {
    if (o.warmupSeconds > 0) await driveWindow(pairs, o.warmupSeconds);
    const load0 = loadSnapshot().loadAvg1m;
    const meter = new CpuMeter(relay.pid);
    meter.start();
    const { completed, started, ended } = await driveWindow(pairs, o.seconds);
    const cpu = meter.stop();
    const wall = (ended - started) / 1000;
    return {
      mode: o.mode,
      pairs: o.pairs,
      window: o.window,
      payloadBytes: o.payloadBytes,
      frameBytes: sizes,
      completed,
      wallSeconds: round(wall, 3),
      msgsPerSec: Math.round(completed / wall),
      msgsPerCpuSecond: Math.round(completed / cpu.cpuSeconds),
      clientCpu: cpu.clientCpu,
      relayCpu: cpu.emulatorCpu,
      loadAvg1mBefore: load0,
      loadAvg1mAfter: loadSnapshot().loadAvg1m,
    };
  } finally {
    closePairs(pairs);
    await relay.close();
  }
}

export interface RelayLatencyRun {
  mode: EmulatorMode;
  payloadBytes: number;
  frameBytes: FrameSizes;
  messages: number;
  msgsPerSec: number;
  ackMs: Percentiles;
  deliveryMs: Percentiles;
  loadAvg1m: number;
}

/** One message at a time through the relay: `samples` after 200 unmeasured, as bench/latency.ts does. */
export async function runRelayLatency(mode: EmulatorMode, samples: number, payloadBytes: number): Promise<RelayLatencyRun> {
  const sizes = sdkFrameSizes(payloadBytes);
  const relay = await openRelay(mode);
  const [pair] = await openPairs(relay.port, 1, sizes, 1);
  const p = pair!;
  const oneAtATime = (count: number): Promise<void> =>
    new Promise((resolve) => {
      let left = count;
      p.onComplete = () => {
        if (--left > 0) p.pump();
        else {
          p.onComplete = null;
          resolve();
        }
      };
      p.sending = true;
      p.pump();
    });
  try {
    await oneAtATime(200);
    p.recording = true;
    const load = loadSnapshot().loadAvg1m;
    const t0 = performance.now();
    await oneAtATime(samples);
    const wall = (performance.now() - t0) / 1000;
    p.sending = false;
    return {
      mode,
      payloadBytes,
      frameBytes: sizes,
      messages: p.ackMs.length,
      msgsPerSec: Math.round(p.ackMs.length / wall),
      ackMs: percentiles(p.ackMs),
      deliveryMs: percentiles(p.deliveryMs),
      loadAvg1m: load,
    };
  } finally {
    closePairs([p]);
    await relay.close();
  }
}

// ---- script ----------------------------------------------------------------------------------

export interface RelayResult {
  benchmark: 'relay';
  date: string;
  machine: MachineInfo;
  loadAvg: number[];
  throughput: RelayThroughputRun[];
  latency: RelayLatencyRun;
}

if (isMain(import.meta.url)) {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      serve: { type: 'boolean', default: false },
      process: { type: 'boolean', default: false },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      window: { type: 'string' },
      payload: { type: 'string' },
      pairs: { type: 'string' },
      samples: { type: 'string' },
    },
    strict: true,
  });
  if (values.serve) {
    void startRelayServer().then((server) => {
      process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
      process.on('SIGTERM', () => server.close(() => process.exit(0)));
    });
  } else {
    runMain(async (): Promise<RelayResult> => {
      const mode: EmulatorMode = values.process ? 'child-process' : 'in-process';
      const payloadBytes = values.payload === undefined ? 100 : num('payload', values.payload);
      const throughput: RelayThroughputRun[] = [];
      for (const pairs of values.pairs === undefined ? [1] : intList('pairs', values.pairs)) {
        benchPhase(`relay throughput: ${mode}, ${pairs} pair(s)`);
        throughput.push(
          await runRelayThroughput({
            mode,
            pairs,
            window: values.window === undefined ? 1000 : num('window', values.window),
            payloadBytes,
            seconds: values.seconds === undefined ? 3 : num('seconds', values.seconds),
            warmupSeconds: values.warmup === undefined ? 1 : Number(values.warmup),
          }),
        );
      }
      benchPhase(`relay latency: ${mode}`);
      const latency = await runRelayLatency(mode, values.samples === undefined ? 2000 : Math.round(num('samples', values.samples)), payloadBytes);
      return { benchmark: 'relay', date: new Date().toISOString(), machine: machineInfo(), loadAvg: loadAverages(), throughput, latency };
    });
  }
}
