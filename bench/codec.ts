/**
 * Codec benchmark: encode and decode of a P2P SECMSG frame along the full path a message takes,
 *   encode: encodeSecMsgFrame (MIMCPacket → payload RC4 → body → body RC4 → frame + Adler-32)
 *   decode: FrameDecoder.push → decodeBody (body RC4) → decodeSecMsgPayload (payload RC4 → MIMCPacket)
 * for a typical ~100-byte user payload and for a 16 KiB one. Every frame gets a fresh header id,
 * as in the SDK, so every frame derives its own payload key.
 *
 *   npm run ts -- bench/codec.ts [--seconds 2] [--warmup 0.5] [--sizes 100,16384]
 *
 * Prints one JSON object to stdout. MB/s counts frame bytes on the wire, 1 MB = 10^6 bytes.
 */
import { cpus } from 'node:os';
import {
  clientHeader,
  Cmd,
  decodeBody,
  decodeSecMsgPayload,
  encodeP2PMessage,
  encodeSecMsgFrame,
  FrameDecoder,
  PacketType,
  Rc4,
  type MimcPacket,
} from '../lib/protocol/index.js';
import { benchPhase, isMain, round, runMain, timed } from './common.js';

export interface CodecBenchOptions {
  /** Measured duration of each of the four runs (2 cases × encode/decode), in seconds. Default 2. */
  seconds?: number;
  /** Unmeasured warm-up before each run, in seconds. Default 0.5. */
  warmupSeconds?: number;
  /** User payload sizes in bytes. Default: a typical message (100) and a large one (16 KiB). */
  payloadSizes?: number[];
}

export interface RunResult {
  frames: number;
  /** Wall-clock duration of the measured run. */
  seconds: number;
  /** CPU time of the process (all threads) during the run; well below `seconds` means the run was starved. */
  cpuSeconds: number;
  framesPerSec: number;
  mbPerSec: number;
}

export interface CaseResult {
  name: string;
  /** Bytes of application payload inside the MIMCP2PMessage. */
  userPayloadBytes: number;
  /** Bytes of one whole frame on the wire. */
  frameBytes: number;
  encode: RunResult;
  decode: RunResult;
}

export interface CodecBenchResult {
  benchmark: 'codec';
  node: string;
  date: string;
  cpu: string;
  cpuCount: number;
  platform: string;
  arch: string;
  seconds: number;
  warmupSeconds: number;
  cases: CaseResult[];
}

const APP_ID = 2882303761517613988n;
const SECURITY_KEY = Buffer.from('0123456789abcdef0123456789abcdef').toString('base64');
const BODY_KEY = new Rc4(new TextEncoder().encode('p9Lw4Rt1'));
const UUID = 10776577642332160n;
const RESOURCE = 'mimc_node_AbCdEfGhIj';
const ID_PREFIX = `${RESOURCE}_`;

/** A P2P packet as the SDK sends it, with `size` bytes of user payload. */
function p2pPacket(size: number): MimcPacket {
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i++) payload[i] = (i * 31 + 7) & 0xff;
  const inner = encodeP2PMessage({
    from: { appId: APP_ID, appAccount: 'alice', uuid: UUID, resource: RESOURCE },
    to: { appId: APP_ID, appAccount: 'bob', uuid: 0n, resource: '' },
    payload,
    isStore: true,
  });
  return { packetId: `${ID_PREFIX}0`, package: 'com.example.app', type: PacketType.P2P_MESSAGE, payload: inner };
}

function encodeOne(packet: MimcPacket, n: number): Uint8Array {
  const id = ID_PREFIX + n;
  return encodeSecMsgFrame(clientHeader(Cmd.SECMSG, UUID, RESOURCE, id), { ...packet, packetId: id }, SECURITY_KEY, BODY_KEY);
}

function measure(seconds: number, warmupSeconds: number, frameBytes: number, step: (n: number) => number): RunResult {
  if (warmupSeconds > 0) timed(warmupSeconds, step);
  const run = timed(seconds, step);
  if (Number.isNaN(run.sink)) throw new Error('unreachable: keeps the results alive');
  const framesPerSec = run.calls / run.seconds;
  return {
    frames: run.calls,
    seconds: round(run.seconds, 3),
    cpuSeconds: round(run.cpuSeconds, 3),
    framesPerSec: Math.round(framesPerSec),
    mbPerSec: round((framesPerSec * frameBytes) / 1e6, 2),
  };
}


function benchCase(name: string, size: number, seconds: number, warmupSeconds: number): CaseResult {
  const packet = p2pPacket(size);

  // a ring of distinct frames to decode, each with its own header id and so its own payload key
  const ring = Array.from({ length: 64 }, (_, n) => encodeOne(packet, n + 1));
  const frameBytes = ring[0]!.length;

  // check once that the path round-trips before timing it
  const first = decodeBody(new FrameDecoder().push(ring[0]!)[0]!, BODY_KEY)!;
  const check = decodeSecMsgPayload(first.header, first.payload, SECURITY_KEY);
  if (check.packetId !== `${ID_PREFIX}1` || Buffer.compare(check.payload!, packet.payload!) !== 0) {
    throw new Error(`${name}: decoded packet differs from the encoded one`);
  }

  const encode = measure(seconds, warmupSeconds, frameBytes, (n) => encodeOne(packet, n).length);

  const decoder = new FrameDecoder();
  const decode = measure(seconds, warmupSeconds, frameBytes, (n) => {
    const bodies = decoder.push(ring[n & 63]!);
    const decoded = decodeBody(bodies[0]!, BODY_KEY)!;
    return decodeSecMsgPayload(decoded.header, decoded.payload, SECURITY_KEY).payload!.length;
  });

  return { name, userPayloadBytes: size, frameBytes, encode, decode };
}

export async function runCodecBench(opts: CodecBenchOptions = {}): Promise<CodecBenchResult> {
  const seconds = opts.seconds ?? 2;
  const warmupSeconds = opts.warmupSeconds ?? 0.5;
  const sizes = opts.payloadSizes ?? [100, 16 * 1024];
  const cases: CaseResult[] = [];
  for (const size of sizes) {
    const name = size >= 1024 ? `p2p-secmsg-${size / 1024}k` : `p2p-secmsg-${size}b`;
    benchPhase(`codec ${name}`);
    cases.push(benchCase(name, size, seconds, warmupSeconds));
    // let timers and I/O of a caller (e.g. bench/run-all.ts) breathe between cases
    await new Promise((resolve) => setImmediate(resolve));
  }
  const cpuList = cpus();
  return {
    benchmark: 'codec',
    node: process.version,
    date: new Date().toISOString(),
    cpu: cpuList[0]?.model.trim() ?? 'unknown',
    cpuCount: cpuList.length,
    platform: process.platform,
    arch: process.arch,
    seconds,
    warmupSeconds,
    cases,
  };
}

function parseArgs(argv: string[]): CodecBenchOptions {
  const opts: CodecBenchOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const value = (): number => {
      const raw = inline ?? argv[++i];
      const n = Number(raw);
      if (raw === undefined || !Number.isFinite(n) || n < 0) throw new Error(`${flag} needs a non-negative number, got ${raw}`);
      return n;
    };
    if (flag === '--seconds') opts.seconds = value();
    else if (flag === '--warmup') opts.warmupSeconds = value();
    else if (flag === '--sizes') {
      const raw = inline ?? argv[++i] ?? '';
      opts.payloadSizes = raw.split(',').map((x) => {
        const n = Number(x);
        if (x.trim() === '' || !Number.isInteger(n) || n < 0) throw new Error(`--sizes needs comma-separated byte counts, got ${raw}`);
        return n;
      });
    } else throw new Error(`unknown argument ${argv[i]} (known: --seconds N, --warmup N, --sizes N,N)`);
  }
  if (opts.seconds === 0) throw new Error('--seconds must be greater than 0');
  return opts;
}

if (isMain(import.meta.url)) runMain(() => runCodecBench(parseArgs(process.argv.slice(2))));
