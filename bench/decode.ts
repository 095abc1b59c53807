/**
 * Decode microbenchmark of the receive path's protobuf messages, through the public decoders
 * (so it measures whichever implementation lib/protocol has):
 *   header       decodeHeader of a server SECMSG header
 *   packet       decodeMimcPacket of a P2P packet (~100-byte user payload)
 *   p2p          decodeP2PMessage of its payload
 *   ack          decodePacketAck
 *   list-100     decodePacketList of a COMPOUND list of 100 such packets
 *   list-100+p2p the list, then decodeP2PMessage of each of its 100 packets
 *
 *   npm run ts -- bench/decode.ts [--seconds 1] [--warmup 0.3]
 *
 * Prints one JSON object: per case, CPU µs per decode (process CPU time / decodes) and wall µs,
 * with the load average before and after.
 */
import {
  decodeHeader,
  decodeMimcPacket,
  decodeP2PMessage,
  decodePacketAck,
  decodePacketList,
  encodeHeaderChecked,
  encodeMimcPacket,
  encodeP2PMessage,
  encodePacketAck,
  encodePacketList,
  serverHeader,
  Cmd,
  PacketType,
  type MimcPacket,
} from '../lib/protocol/index.js';
import { isMain, loadAverages, num, round, runMain, timed } from './common.js';

const APP_ID = 2882303761517613988n;
const UUID = 10776577642332160n;
const PEER = 10776577642332161n;
const RESOURCE = 'mimc_node_AbCdEfGhIj';

function p2pPayload(n: number): Uint8Array {
  const payload = new Uint8Array(100);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + n) & 0xff;
  return encodeP2PMessage({
    from: { appId: APP_ID, appAccount: 'alice', uuid: PEER, resource: 'mimc_node_ZyXwVuTsRq' },
    to: { appId: APP_ID, appAccount: 'bob', uuid: UUID, resource: RESOURCE },
    payload,
    isStore: true,
  });
}

function packet(n: number): MimcPacket {
  return {
    packetId: `mimc_node_ZyXwVuTsRq_${1000 + n}`,
    package: 'com.example.app',
    type: PacketType.P2P_MESSAGE,
    sequence: 170000000000000000n + BigInt(n),
    payload: p2pPayload(n),
    timestamp: 1735689600000n + BigInt(n),
  };
}

/** Runs `step` for about `seconds` (after a warm-up); returns CPU and wall µs per call. */
function measure(seconds: number, warmupSeconds: number, step: () => number): { ops: number; cpuUsPerOp: number; wallUsPerOp: number } {
  if (warmupSeconds > 0) timed(warmupSeconds, step);
  const run = timed(seconds, step);
  if (Number.isNaN(run.sink)) throw new Error('unreachable: keeps results alive');
  return { ops: run.calls, cpuUsPerOp: round((run.cpuSeconds * 1e6) / run.calls, 3), wallUsPerOp: round((run.seconds * 1e6) / run.calls, 3) };
}

export async function runDecodeBench(opts: { seconds?: number; warmupSeconds?: number } = {}): Promise<unknown> {
  const seconds = opts.seconds ?? 1;
  const warmupSeconds = opts.warmupSeconds ?? 0.3;
  const header = Uint8Array.from(encodeHeaderChecked({ ...serverHeader(Cmd.SECMSG, UUID, RESOURCE, 'mimc_node_ZyXwVuTsRq_1000'), cipher: 1 }));
  const one = encodeMimcPacket(packet(0));
  const p2p = p2pPayload(0);
  const ack = encodePacketAck({
    packetId: 'mimc_node_AbCdEfGhIj_17',
    uuid: UUID,
    resource: RESOURCE,
    sequence: 170000000000000017n,
    timestamp: 1735689600017n,
    package: 'com.example.app',
    errorMsg: '',
    code: 0,
  });
  const list = encodePacketList({
    uuid: UUID,
    resource: RESOURCE,
    maxSequence: 170000000000000099n,
    packets: Array.from({ length: 100 }, (_, n) => packet(n)),
    status: 1,
  });
  const loadBefore = loadAverages();
  const cases = {
    header: { bytes: header.length, ...measure(seconds, warmupSeconds, () => decodeHeader(header).id.length) },
    packet: { bytes: one.length, ...measure(seconds, warmupSeconds, () => decodeMimcPacket(one).payload!.length) },
    p2p: { bytes: p2p.length, ...measure(seconds, warmupSeconds, () => decodeP2PMessage(p2p).payload.length) },
    ack: { bytes: ack.length, ...measure(seconds, warmupSeconds, () => decodePacketAck(ack).packetId.length) },
    'list-100': { bytes: list.length, ...measure(seconds, warmupSeconds, () => decodePacketList(list).packets.length) },
    'list-100+p2p': {
      bytes: list.length,
      ...measure(seconds, warmupSeconds, () => {
        let n = 0;
        for (const p of decodePacketList(list).packets) n += decodeP2PMessage(p.payload!).payload.length;
        return n;
      }),
    },
  };
  return { benchmark: 'decode', node: process.version, date: new Date().toISOString(), seconds, loadBefore, loadAfter: loadAverages(), cases };
}

if (isMain(import.meta.url)) {
  const argv = process.argv.slice(2);
  const opts: { seconds?: number; warmupSeconds?: number } = {};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--seconds') opts.seconds = num('--seconds', argv[++i]);
    else if (argv[i] === '--warmup') opts.warmupSeconds = num('--warmup', argv[++i]);
    else throw new Error(`unknown argument ${argv[i]} (known: --seconds N, --warmup N)`);
  }
  runMain(() => runDecodeBench(opts));
}
