/**
 * Hostile input for the fuzzers: random and mutated frames, and correctly framed and correctly
 * encrypted frames whose protobuf contents are hostile (random bytes, wrong wire types, huge
 * declared lengths, deep nesting, overlong varints, invalid UTF-8, absurd field values).
 * Everything is derived from a seeded PRNG, so a run is reproducible from its seed.
 *
 * Two framings: TCP (V6 frames, body RC4, bytes cut into arbitrary writes) and WebSocket (the
 * WebJS framing, one frame per binary message, no body cipher). A FrameContext names its
 * transport; a case for a WebSocket context is a list of messages, which may be text or, for
 * the raw kind, bytes written under the WebSocket layer.
 */
import {
  UcType,
  encodeUcGroupRequest,
  encodeUcGroupResponse,
  encodeUcMessage,
  encodeUcMessageList,
  encodeUcOnlineUsers,
  encodeUcPacket,
  encodeUcPing,
  encodeUcSequenceAck,
} from '../../../lib/protocol/uc.js';
import {
  BODY_HEADER_LENGTH,
  CHECKSUM_LENGTH,
  Cmd,
  DirFlag,
  HEAD_LENGTH,
  MAGIC,
  PacketType,
  Rc4,
  VERSION,
  WS_HEAD_LENGTH,
  WS_HEADER_TYPE,
  WS_VERSION,
  adler32,
  derivePayloadKey,
  encodeBindResult,
  encodeFrame,
  encodeMimcPacket,
  encodeOnlineMessageAck,
  encodeP2PMessage,
  encodeP2TMessage,
  encodePacketAck,
  encodePacketList,
  encodePullRequest,
  encodeSequenceAck,
  encodeV6Frame,
  encodeWsFrame,
  rc4,
  type ClientHeader,
  type MimcPacket,
} from '../../../lib/protocol/index.js';

// ---- PRNG ---------------------------------------------------------------------------------------

/** mulberry32: small, fast, seedable. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : Math.floor((this.next() / 0x100000000) * n);
  }

  chance(p: number): boolean {
    return this.next() / 0x100000000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }

  /** A 64-bit value biased towards edges. */
  u64(): bigint {
    switch (this.int(6)) {
      case 0:
        return 0n;
      case 1:
        return BigInt(this.int(1000));
      case 2:
        return (1n << 63n) - 1n;
      case 3:
        return (1n << 64n) - 1n;
      case 4:
        return 1n << 53n;
      default:
        return (BigInt(this.next()) << 32n) | BigInt(this.next());
    }
  }

  /** A string that may be empty, huge, non-ASCII or hold unpaired surrogates. */
  text(): string {
    switch (this.int(7)) {
      case 0:
        return '';
      case 1:
        return 'x'.repeat(1 + this.int(this.chance(0.1) ? 20_000 : 200));
      case 2:
        return '\u{1F600}\u00e9\u4e2d';
      case 3:
        return '\ud800' + String.fromCharCode(0xdc00 + this.int(100));
      case 4:
        return this.pick(['token-expired', 'auto', 'invalid-token', 'multi-login', 'SECMSG', 'KICK', 'BIND']);
      default:
        return Buffer.from(this.bytes(1 + this.int(24))).toString('latin1');
    }
  }
}

// ---- raw protobuf -------------------------------------------------------------------------------

function varint(value: bigint, out: number[]): void {
  let v = BigInt.asUintN(64, value);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
}

function tag(field: number, wire: number, out: number[]): void {
  varint(BigInt(field) * 8n + BigInt(wire), out);
}

/** Random protobuf-shaped bytes: known and unknown fields, wrong wire types, lies about lengths. */
export function hostileProto(rng: Rng, depth = 0): Uint8Array {
  const out: number[] = [];
  const fields = rng.int(7);
  for (let i = 0; i < fields; i++) {
    const field = rng.chance(0.1) ? rng.pick([0, 19_000, (1 << 29) - 1, 100]) : 1 + rng.int(12);
    const wire = rng.chance(0.12) ? rng.pick([3, 4, 6, 7]) : rng.pick([0, 1, 2, 5]);
    tag(field, wire, out);
    switch (wire) {
      case 0:
        if (rng.chance(0.1)) out.push(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01); // overlong
        else varint(rng.chance(0.2) ? -BigInt(rng.int(1000) + 1) : rng.u64(), out);
        break;
      case 1:
        out.push(...rng.bytes(rng.chance(0.9) ? 8 : rng.int(8)));
        break;
      case 5:
        out.push(...rng.bytes(rng.chance(0.9) ? 4 : rng.int(4)));
        break;
      case 2: {
        const content = depth < 4 && rng.chance(0.35) ? hostileProto(rng, depth + 1) : rng.chance(0.3) ? Buffer.from(rng.text()) : rng.bytes(rng.int(64));
        const declared = rng.chance(0.8)
          ? BigInt(content.length)
          : rng.pick([BigInt(content.length + 1 + rng.int(16)), 1n << 31n, (1n << 32n) - 1n, (1n << 64n) - 1n, 0n]);
        varint(declared, out);
        out.push(...content);
        break;
      }
      case 3:
        if (depth < 4 && rng.chance(0.5)) out.push(...hostileProto(rng, depth + 1));
        if (rng.chance(0.7)) tag(field, 4, out);
        break;
      default:
        break; // 4 (a stray end-group), 6 and 7 (invalid): nothing follows
    }
  }
  return Uint8Array.from(out);
}

/** Deep nesting: thousands of start-groups, or length-delimited messages inside each other. */
export function deepProto(rng: Rng): Uint8Array {
  const depth = 50 + rng.int(rng.chance(0.5) ? 200 : 30_000);
  if (rng.chance(0.5)) {
    const out: number[] = [];
    const field = 1 + rng.int(8);
    for (let i = 0; i < depth; i++) tag(field, 3, out);
    if (rng.chance(0.5)) for (let i = 0; i < depth; i++) tag(field, 4, out);
    return Uint8Array.from(out);
  }
  let inner: Uint8Array = rng.bytes(rng.int(8));
  const field = 1 + rng.int(8);
  for (let i = 0; i < Math.min(depth, 400); i++) {
    const head: number[] = [];
    tag(field, 2, head);
    varint(BigInt(inner.length), head);
    const next = new Uint8Array(head.length + inner.length);
    next.set(head);
    next.set(inner, head.length);
    inner = next;
  }
  return inner;
}

// ---- frames -------------------------------------------------------------------------------------

/** What a frame builder needs to speak to one side of one connection. */
export interface FrameContext {
  /** TCP (the default) or WebSocket framing. */
  transport?: 'tcp' | 'websocket';
  /** The TCP body key; unused over WebSocket. */
  bodyKey: Rc4 | null;
  /** Which side writes (default the server): a WebSocket client writes SECMSG payloads plain, everyone else under the payload key. */
  side?: 'client' | 'server';
  securityKey: string;
  uuid: bigint;
  resource: string;
  /** Header for `cmd` as this side writes it (client or server). */
  header(cmd: string, id: string): ClientHeader;
  nextId(): string;
}

/** A frame around `plainBody`, body-encrypted (or not). */
function framed(ctx: FrameContext, plainBody: Uint8Array, encrypt = true): Uint8Array {
  return encodeFrame(encrypt ? ctx.bodyKey!.apply(plainBody) : plainBody);
}

const isWs = (ctx: FrameContext): boolean => ctx.transport === 'websocket';
const writesPlainPayloads = (ctx: FrameContext): boolean => isWs(ctx) && ctx.side === 'client';

/** One frame of `header` and `payload` in the context's framing (body-encrypted on TCP). */
export function frameOf(ctx: FrameContext, header: ClientHeader, payload: Uint8Array): Uint8Array {
  return isWs(ctx) ? encodeWsFrame(header, payload) : encodeV6Frame(header, payload, ctx.bodyKey);
}

/**
 * A WebSocket message with a consistent head and checksum around raw header and payload bytes
 * (lengths as given, or lies).
 */
function wsFramed(headerBytes: Uint8Array, payload: Uint8Array, lie?: { headerLength?: number; payloadLength?: number }): Uint8Array {
  const out = new Uint8Array(WS_HEAD_LENGTH + headerBytes.length + payload.length + CHECKSUM_LENGTH);
  const view = new DataView(out.buffer);
  view.setUint16(0, MAGIC);
  view.setUint16(2, WS_VERSION);
  view.setUint16(4, WS_HEADER_TYPE);
  view.setUint16(6, 2);
  view.setUint16(8, lie?.headerLength ?? headerBytes.length);
  view.setUint32(10, lie?.payloadLength ?? payload.length);
  out.set(headerBytes, WS_HEAD_LENGTH);
  out.set(payload, WS_HEAD_LENGTH + headerBytes.length);
  const end = out.length - CHECKSUM_LENGTH;
  view.setUint32(end, adler32(out, 0, end));
  return out;
}

/** Plain body bytes: payloadType | headerLen | payloadLen | header | payload, lengths as given. */
function body(headerBytes: Uint8Array, payload: Uint8Array, lie?: { type?: number; headerLength?: number; payloadLength?: number }): Uint8Array {
  const out = new Uint8Array(BODY_HEADER_LENGTH + headerBytes.length + payload.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, lie?.type ?? 2);
  view.setUint16(2, lie?.headerLength ?? headerBytes.length);
  view.setUint32(4, lie?.payloadLength ?? payload.length);
  out.set(headerBytes, BODY_HEADER_LENGTH);
  out.set(payload, BODY_HEADER_LENGTH + headerBytes.length);
  return out;
}

/**
 * A SECMSG whose decrypted MIMCPacket bytes are exactly `packetBytes`; `keyed` false (or true
 * for a side that writes plain payloads) gets the payload key wrong on purpose.
 */
export function secMsgWithPacketBytes(ctx: FrameContext, packetBytes: Uint8Array, id = ctx.nextId(), keyed = !writesPlainPayloads(ctx)): Uint8Array {
  const payload = keyed && packetBytes.length > 0 && id.length > 0 ? rc4(derivePayloadKey(ctx.securityKey, id), packetBytes) : packetBytes;
  return frameOf(ctx, ctx.header(Cmd.SECMSG, id), payload);
}

export function secMsg(ctx: FrameContext, packet: MimcPacket): Uint8Array {
  return secMsgWithPacketBytes(ctx, encodeMimcPacket(packet), packet.packetId.length > 0 ? packet.packetId : ctx.nextId());
}

function user(rng: Rng, ctx: FrameContext, appId: bigint) {
  return {
    appId: rng.chance(0.8) ? appId : rng.u64(),
    appAccount: rng.chance(0.7) ? `fz_${rng.int(50)}` : rng.text(),
    ...(rng.chance(0.5) ? { uuid: rng.chance(0.5) ? ctx.uuid : rng.u64() } : {}),
    ...(rng.chance(0.5) ? { resource: rng.chance(0.5) ? ctx.resource : rng.text() } : {}),
  };
}

/** A P2P or P2T message: well formed, with hostile field values. */
export function hostileMessage(rng: Rng, ctx: FrameContext, appId: bigint, kind: 'p2p' | 'p2t'): Uint8Array {
  const common = {
    payload: rng.chance(0.8) ? rng.bytes(rng.int(rng.chance(0.02) ? 60_000 : 256)) : new Uint8Array(0),
    ...(rng.chance(0.7) ? { isStore: rng.chance(0.5) } : {}),
    ...(rng.chance(0.5) ? { bizType: rng.text() } : {}),
  };
  if (kind === 'p2p') return encodeP2PMessage({ from: user(rng, ctx, appId), to: user(rng, ctx, appId), ...common });
  return encodeP2TMessage({ from: user(rng, ctx, appId), to: { appId: rng.chance(0.8) ? appId : rng.u64(), topicId: rng.u64() }, ...common });
}

/** A UCPacket of any UC type (either direction), its payload shaped like the type with hostile values. */
export function hostileUcPacket(rng: Rng, ctx: FrameContext, appId: bigint): Uint8Array {
  const type = rng.pick([...Object.values(UcType), 0, 13, 0x7fffffff]);
  const group = { appId: rng.chance(0.8) ? appId : rng.u64(), topicId: rng.u64() };
  const message = () => ({
    group,
    payload: rng.bytes(rng.int(rng.chance(0.02) ? 20_000 : 128)),
    ...(rng.chance(0.8) ? { sequence: BigInt.asIntN(64, rng.u64()) } : {}),
    ...(rng.chance(0.5) ? { isStore: rng.chance(0.5) } : {}),
    ...(rng.chance(0.5) ? { user: user(rng, ctx, appId) } : {}),
    ...(rng.chance(0.5) ? { packetId: rng.text() } : {}),
  });
  let payload: Uint8Array;
  if (rng.chance(0.15)) payload = hostileProto(rng);
  else if (type === UcType.MESSAGE_LIST) payload = encodeUcMessageList({ group, messages: Array.from({ length: rng.int(5) }, message), ...(rng.chance(0.7) ? { maxSequence: BigInt.asIntN(64, rng.u64()) } : {}) });
  else if (type === UcType.MESSAGE) payload = encodeUcMessage(message());
  else if (type === UcType.JOIN_RESP || type === UcType.QUIT_RESP) payload = encodeUcGroupResponse({ group, code: rng.pick([0, 403, 404, -1]) });
  else if (type === UcType.SEQ_ACK) payload = encodeUcSequenceAck({ group, sequence: BigInt.asIntN(64, rng.u64()) });
  else if (type === UcType.QUERY_ONLINE_USERS_RESP) payload = encodeUcOnlineUsers({ group, userCount: BigInt.asIntN(64, rng.u64()) });
  else if (type === UcType.PING || type === UcType.PONG) payload = encodeUcPing([group]);
  else payload = encodeUcGroupRequest(group);
  const recipient = rng.chance(0.7) ? { appId, appAccount: rng.chance(0.8) ? 'fuzzer' : 'fz_0', uuid: ctx.uuid, resource: ctx.resource } : user(rng, ctx, appId);
  return encodeUcPacket({ user: recipient, type, payload, packetId: rng.chance(0.7) ? ctx.nextId() : rng.text() });
}

const PACKET_TYPES = [
  PacketType.P2P_MESSAGE,
  PacketType.P2T_MESSAGE,
  PacketType.SEQUENCE_ACK,
  PacketType.PACKET_ACK,
  PacketType.PULL,
  PacketType.COMPOUND,
  PacketType.RTS_SIGNAL,
  PacketType.ONLINE_MESSAGE,
  PacketType.ONLINE_MESSAGE_ACK,
  PacketType.UC_PACKET,
  0,
  9,
  99,
  0x7fffffff,
];

/** The payload of a MIMCPacket of `type`: usually shaped like the type, with hostile values. */
function packetPayload(rng: Rng, ctx: FrameContext, appId: bigint, type: number, depth: number): Uint8Array {
  if (rng.chance(0.2)) return rng.chance(0.2) ? deepProto(rng) : hostileProto(rng);
  switch (type) {
    case PacketType.P2P_MESSAGE:
    case PacketType.ONLINE_MESSAGE:
      return hostileMessage(rng, ctx, appId, 'p2p');
    case PacketType.P2T_MESSAGE:
      return hostileMessage(rng, ctx, appId, 'p2t');
    case PacketType.PACKET_ACK:
      return encodePacketAck({
        packetId: rng.chance(0.5) ? ctx.nextId() : rng.text(),
        uuid: rng.u64(),
        resource: rng.text(),
        sequence: BigInt.asIntN(64, rng.u64()),
        timestamp: BigInt.asIntN(64, rng.u64()),
        package: rng.text(),
        errorMsg: rng.chance(0.5) ? '' : rng.text(),
        ...(rng.chance(0.5) ? { code: rng.pick([0, 400, -1, 0x7fffffff]) } : {}),
      });
    case PacketType.ONLINE_MESSAGE_ACK:
      return encodeOnlineMessageAck({ packetId: rng.text(), code: rng.pick([0, 1, -5]), ...(rng.chance(0.5) ? { errorMsg: rng.text() } : {}) });
    case PacketType.SEQUENCE_ACK:
      return encodeSequenceAck({ uuid: rng.u64(), resource: rng.text(), sequence: BigInt.asIntN(64, rng.u64()), appId: rng.u64() });
    case PacketType.PULL:
      return encodePullRequest({ uuid: rng.chance(0.5) ? ctx.uuid : rng.u64(), resource: rng.chance(0.5) ? ctx.resource : rng.text() });
    case PacketType.COMPOUND:
      return depth > 1 ? hostileProto(rng) : hostileList(rng, ctx, appId, depth + 1);
    case PacketType.UC_PACKET:
      return hostileUcPacket(rng, ctx, appId);
    default:
      return rng.bytes(rng.int(64));
  }
}

export function hostilePacket(rng: Rng, ctx: FrameContext, appId: bigint, type = rng.pick(PACKET_TYPES), depth = 0): MimcPacket {
  const packet: MimcPacket = {
    packetId: rng.chance(0.9) ? ctx.nextId() : rng.text(),
    package: rng.chance(0.5) ? 'com.example.mimc' : rng.text(),
    type,
  };
  if (rng.chance(0.8)) packet.sequence = BigInt.asIntN(64, rng.chance(0.7) ? BigInt(1 + rng.int(1_000_000)) : rng.u64());
  if (rng.chance(0.9)) packet.payload = packetPayload(rng, ctx, appId, type, depth);
  if (rng.chance(0.5)) packet.timestamp = BigInt.asIntN(64, rng.u64());
  return packet;
}

/** A COMPOUND list addressed to this resource (mostly) with hostile members. */
export function hostileList(rng: Rng, ctx: FrameContext, appId: bigint, depth = 0): Uint8Array {
  const packets: MimcPacket[] = [];
  const count = rng.int(rng.chance(0.03) ? 300 : 12);
  for (let i = 0; i < count; i++) {
    const type = rng.chance(0.7) ? rng.pick([PacketType.P2P_MESSAGE, PacketType.P2T_MESSAGE]) : rng.pick(PACKET_TYPES);
    packets.push(hostilePacket(rng, ctx, appId, type, depth + 1));
  }
  return encodePacketList({
    uuid: rng.chance(0.8) ? ctx.uuid : rng.u64(),
    resource: rng.chance(0.85) ? ctx.resource : rng.text(),
    maxSequence: BigInt.asIntN(64, rng.u64()),
    packets,
    status: rng.pick([1, 2, 0, -1, 77]),
  });
}

/** A body whose ClientHeader is hostile protobuf (or a real header with absurd values). */
function hostileHeaderBody(rng: Rng, ctx: FrameContext): Uint8Array {
  const cmd = rng.pick([Cmd.SECMSG, Cmd.KICK, Cmd.BIND, Cmd.CONN, Cmd.PING, Cmd.UBND, '', 'X'.repeat(300), '\u0000']);
  const real = encodeV6Frame({ ...ctx.header(cmd, rng.chance(0.8) ? ctx.nextId() : rng.text()), chid: rng.int(100), cipher: rng.int(5), dirFlag: rng.int(9) }, rng.bytes(rng.int(32)), null);
  const realBody = real.subarray(HEAD_LENGTH, real.length - CHECKSUM_LENGTH);
  if (rng.chance(0.5)) return realBody;
  const headerBytes = rng.chance(0.2) ? deepProto(rng) : hostileProto(rng);
  return body(headerBytes.subarray(0, 0xffff), rng.bytes(rng.int(64)));
}

/** Flips, inserts, deletes or truncates bytes of `frame`; re-seals the checksum half of the time. */
export function mutate(rng: Rng, frame: Uint8Array, transport: 'tcp' | 'websocket' = 'tcp'): Uint8Array {
  let bytes = Uint8Array.from(frame);
  const edits = 1 + rng.int(3);
  for (let e = 0; e < edits; e++) {
    const at = rng.int(bytes.length);
    switch (rng.int(4)) {
      case 0:
        bytes[at] = bytes[at]! ^ (1 << rng.int(8));
        break;
      case 1: {
        const extra = rng.bytes(1 + rng.int(8));
        const next = new Uint8Array(bytes.length + extra.length);
        next.set(bytes.subarray(0, at));
        next.set(extra, at);
        next.set(bytes.subarray(at), at + extra.length);
        bytes = next;
        break;
      }
      case 2:
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + rng.int(8))]);
        break;
      default:
        bytes = bytes.subarray(0, Math.max(1, at));
    }
  }
  if (transport === 'websocket') return bytes.length >= WS_HEAD_LENGTH + CHECKSUM_LENGTH && rng.chance(0.5) ? resealWs(bytes) : bytes;
  if (bytes.length >= HEAD_LENGTH + CHECKSUM_LENGTH && rng.chance(0.5)) {
    // a consistent length and checksum: the damage reaches the decryption and protobuf layers
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const bodyLength = bytes.length - HEAD_LENGTH - CHECKSUM_LENGTH;
    view.setUint16(0, MAGIC);
    view.setUint16(2, VERSION);
    view.setUint32(4, bodyLength);
    view.setUint32(HEAD_LENGTH + bodyLength, adler32(bytes, 0, HEAD_LENGTH + bodyLength));
  }
  return bytes;
}

/** A WebSocket frame made consistent again (magic, version, lengths, checksum): the damage reaches the header and payload. */
function resealWs(bytes: Uint8Array): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bodyLength = bytes.length - WS_HEAD_LENGTH - CHECKSUM_LENGTH;
  const headerLength = Math.min(view.getUint16(8), bodyLength);
  view.setUint16(0, MAGIC);
  view.setUint16(2, WS_VERSION);
  view.setUint16(8, headerLength);
  view.setUint32(10, bodyLength - headerLength);
  view.setUint32(WS_HEAD_LENGTH + bodyLength, adler32(bytes, 0, WS_HEAD_LENGTH + bodyLength));
  return bytes;
}

/** A head announcing `length` body bytes, followed by `follow` of them. */
function headOnly(rng: Rng, length: number, follow: number): Uint8Array {
  const out = new Uint8Array(HEAD_LENGTH + follow);
  const view = new DataView(out.buffer);
  view.setUint16(0, MAGIC);
  view.setUint16(2, rng.chance(0.9) ? VERSION : rng.int(0x10000));
  view.setUint32(4, length >>> 0);
  out.set(rng.bytes(follow), HEAD_LENGTH);
  return out;
}

export type CaseKind =
  | 'garbage'
  | 'huge-length'
  | 'truncated'
  | 'mutated'
  | 'random-body'
  | 'hostile-header'
  | 'secmsg-random-packet'
  | 'secmsg-deep'
  | 'secmsg-hostile-packet'
  | 'compound'
  | 'kick'
  | 'other-command'
  | 'empty-frame'
  | 'batch'
  // WebSocket only
  | 'secmsg-unkeyed'
  | 'text'
  | 'ws-protocol';

const KINDS: Array<[CaseKind, number]> = [
  ['garbage', 6],
  ['huge-length', 4],
  ['truncated', 1],
  ['mutated', 14],
  ['random-body', 6],
  ['hostile-header', 8],
  ['secmsg-random-packet', 12],
  ['secmsg-deep', 4],
  ['secmsg-hostile-packet', 18],
  ['compound', 16],
  ['kick', 3],
  ['other-command', 4],
  ['empty-frame', 1],
  ['batch', 6],
];

/** Over WebSocket a cut frame is a message of its own, so truncation gets more weight; plus the kinds only WebSocket has. */
const WS_KINDS: Array<[CaseKind, number]> = [
  ['garbage', 5],
  ['huge-length', 4],
  ['truncated', 3],
  ['mutated', 14],
  ['random-body', 5],
  ['hostile-header', 8],
  ['secmsg-random-packet', 10],
  ['secmsg-deep', 4],
  ['secmsg-hostile-packet', 16],
  ['secmsg-unkeyed', 4],
  ['compound', 16],
  ['kick', 3],
  ['other-command', 4],
  ['empty-frame', 2],
  ['text', 3],
  ['ws-protocol', 3],
  ['batch', 6],
];

function pickKind(rng: Rng, table: Array<[CaseKind, number]>): CaseKind {
  let roll = rng.int(table.reduce((sum, [, w]) => sum + w, 0));
  for (const [kind, weight] of table) {
    if (roll < weight) return kind;
    roll -= weight;
  }
  return 'garbage';
}

export interface HostileCase {
  kind: CaseKind;
  /** TCP: the writes (a frame may be cut anywhere). WebSocket: one message each. */
  chunks: Uint8Array[];
  /** WebSocket only: the chunks go as text messages, or raw onto the socket under the WebSocket layer. */
  as?: 'text' | 'raw';
}

/**
 * One hostile case for a connection whose keys are `ctx`: the bytes to write (split into chunks
 * as they should be written). `maxBody` is the receiver's frame cap.
 */
export function hostileCase(rng: Rng, ctx: FrameContext, appId: bigint, maxBody: number, kind: CaseKind = pickKind(rng, isWs(ctx) ? WS_KINDS : KINDS)): HostileCase {
  if (isWs(ctx)) return hostileWsCase(rng, ctx, appId, maxBody, kind);
  const bytes = hostileBytes(rng, ctx, appId, maxBody, kind);
  return { kind, chunks: split(rng, bytes) };
}

function hostileBytes(rng: Rng, ctx: FrameContext, appId: bigint, maxBody: number, kind: CaseKind): Uint8Array {
  switch (kind) {
    case 'garbage':
      return rng.bytes(1 + rng.int(100));
    case 'huge-length':
      return headOnly(rng, maxBody + 1 + rng.int(rng.chance(0.5) ? 16 : 0x7fffffff), rng.int(16));
    case 'truncated':
      return headOnly(rng, 64 + rng.int(4096), rng.int(32));
    case 'mutated':
      return mutate(rng, secMsg(ctx, hostilePacket(rng, ctx, appId, rng.pick([PacketType.COMPOUND, PacketType.PACKET_ACK, PacketType.ONLINE_MESSAGE]))), ctx.transport);
    case 'random-body':
      return framed(ctx, rng.bytes(rng.int(200)), rng.chance(0.5));
    case 'hostile-header':
      return framed(ctx, hostileHeaderBody(rng, ctx));
    case 'secmsg-random-packet':
      return secMsgWithPacketBytes(ctx, hostileProto(rng), rng.chance(0.95) ? ctx.nextId() : '');
    case 'secmsg-deep':
      return secMsgWithPacketBytes(ctx, deepProto(rng));
    case 'secmsg-hostile-packet':
      return secMsg(ctx, hostilePacket(rng, ctx, appId));
    case 'compound':
      return secMsg(ctx, { packetId: ctx.nextId(), package: 'com.example.mimc', type: PacketType.COMPOUND, payload: hostileList(rng, ctx, appId) });
    case 'kick': {
      const payload = rng.chance(0.6)
        ? encodeBindResult({ result: rng.chance(0.2), errorType: rng.text(), errorReason: rng.text(), errorDesc: rng.text() })
        : hostileProto(rng);
      return frameOf(ctx, { ...ctx.header(Cmd.KICK, ctx.nextId()), dirFlag: DirFlag.SC_ONEWAY }, payload);
    }
    case 'other-command':
      return frameOf(ctx, ctx.header(rng.pick([Cmd.BIND, Cmd.CONN, Cmd.PING, Cmd.UBND, 'NOTIFY', rng.text()]), ctx.nextId()), hostileProto(rng));
    case 'empty-frame':
      return encodeFrame(new Uint8Array(0));
    case 'batch': {
      // several hostile (usually well-framed) cases back to back in one write
      const parts: Uint8Array[] = [];
      const n = 2 + rng.int(6);
      for (let i = 0; i < n; i++) {
        parts.push(hostileBytes(rng, ctx, appId, maxBody, rng.pick(['secmsg-hostile-packet', 'compound', 'secmsg-random-packet', 'hostile-header', 'empty-frame'] as const)));
      }
      return Buffer.concat(parts);
    }
    default:
      // the WebSocket-only kinds have no TCP form: plain garbage
      return rng.bytes(1 + rng.int(100));
  }
}

/** The WebSocket form of each kind: whole messages (a frame never spans two), text, or raw socket bytes. */
function hostileWsCase(rng: Rng, ctx: FrameContext, appId: bigint, maxBody: number, kind: CaseKind): HostileCase {
  const one = (bytes: Uint8Array): HostileCase => ({ kind, chunks: [bytes] });
  switch (kind) {
    case 'garbage':
      return one(rng.bytes(rng.int(100))); // an empty message included
    case 'huge-length': {
      if (rng.chance(0.6)) {
        // a small message whose head announces more than the limit
        const payloadLength = maxBody + 1 + rng.int(rng.chance(0.5) ? 16 : 0x7fffffff);
        return one(wsFramed(rng.bytes(rng.int(16)), rng.bytes(rng.int(16)), { headerLength: rng.int(0x10000), payloadLength }));
      }
      // a real message over the limit (WebSocket's maxPayload or the frame cap refuses it)
      return one(frameOf(ctx, ctx.header(Cmd.SECMSG, ctx.nextId()), new Uint8Array(maxBody + 1 + rng.int(16))));
    }
    case 'truncated': {
      // a frame cut short: the first piece alone, or each piece as a message of its own
      const frame = secMsg(ctx, hostilePacket(rng, ctx, appId));
      const cut = 1 + rng.int(frame.length - 1);
      return { kind, chunks: rng.chance(0.5) ? [frame.subarray(0, cut)] : [frame.subarray(0, cut), frame.subarray(cut)] };
    }
    case 'random-body':
      return one(wsFramed(rng.bytes(rng.int(100)), rng.bytes(rng.int(100)), rng.chance(0.2) ? { headerLength: rng.int(0x10000) } : undefined));
    case 'hostile-header': {
      const cmd = rng.pick([Cmd.SECMSG, Cmd.KICK, Cmd.BIND, Cmd.CONN, Cmd.PING, Cmd.UBND, '', 'X'.repeat(300), '\u0000']);
      if (rng.chance(0.5)) {
        const header = { ...ctx.header(cmd, rng.chance(0.8) ? ctx.nextId() : rng.text()), chid: rng.int(100), cipher: rng.int(5), dirFlag: rng.int(9) };
        return one(frameOf(ctx, header, rng.bytes(rng.int(32))));
      }
      return one(wsFramed((rng.chance(0.2) ? deepProto(rng) : hostileProto(rng)).subarray(0, 0xffff), rng.bytes(rng.int(64))));
    }
    case 'secmsg-unkeyed': {
      // the payload key applied where it must not be, or left out where it must be
      const packet = hostilePacket(rng, ctx, appId);
      const id = packet.packetId.length > 0 ? packet.packetId : ctx.nextId();
      return one(secMsgWithPacketBytes(ctx, encodeMimcPacket(packet), id, writesPlainPayloads(ctx)));
    }
    case 'empty-frame':
      // there is no empty frame over WebSocket: the pong is a header-only PING
      return one(frameOf(ctx, ctx.header(Cmd.PING, ctx.nextId()), new Uint8Array(0)));
    case 'text':
      // valid UTF-8 (a JSON-looking command, any text) or not (the receiver must refuse it)
      return { kind, chunks: [rng.chance(0.5) ? Buffer.from(rng.chance(0.3) ? '{"cmd":"SECMSG"}' : rng.text()) : rng.bytes(1 + rng.int(64))], as: 'text' };
    case 'ws-protocol': {
      const message = rng.chance(0.5) ? secMsg(ctx, hostilePacket(rng, ctx, appId)) : frameOf(ctx, ctx.header(Cmd.PING, ctx.nextId()), new Uint8Array(0));
      return { kind, chunks: [wsProtocolBytes(rng, ctx.side === 'client', message)], as: 'raw' };
    }
    case 'batch': {
      // several hostile frames, each a message of its own, or now and then glued into one message
      const parts: Uint8Array[] = [];
      const n = 2 + rng.int(6);
      for (let i = 0; i < n; i++) {
        const part = rng.pick(['secmsg-hostile-packet', 'compound', 'secmsg-random-packet', 'hostile-header', 'empty-frame'] as const);
        parts.push(...hostileWsCase(rng, ctx, appId, maxBody, part).chunks);
      }
      return { kind, chunks: rng.chance(0.15) ? [Buffer.concat(parts)] : parts };
    }
    default:
      return one(hostileBytes(rng, ctx, appId, maxBody, kind));
  }
}

/**
 * Bytes under the WebSocket layer, for a connection past its upgrade: frames RFC 6455 forbids
 * (reserved opcodes, RSV bits without an extension, the wrong masking for the direction, control
 * frames over 125 bytes or fragmented, a continuation of nothing, bad close payloads, a 64-bit
 * length beyond 2^53), random bytes — and legal surprises: a ping, an unsolicited pong, a
 * close with a valid code and reason, or `message` fragmented with a ping between fragments.
 */
export function wsProtocolBytes(rng: Rng, fromClient: boolean, message?: Uint8Array): Uint8Array {
  let fin = true;
  let rsv = 0;
  let opcode = 2;
  let masked = fromClient;
  let payload: Uint8Array = rng.bytes(rng.int(40));
  let hugeLength = false;
  switch (rng.int(11)) {
    case 0:
      opcode = rng.pick([3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]);
      break;
    case 1:
      rsv = 1 + rng.int(7);
      break;
    case 2:
      masked = !fromClient;
      break;
    case 3:
      opcode = rng.pick([8, 9, 10]);
      payload = rng.bytes(126 + rng.int(200));
      break;
    case 4:
      opcode = rng.pick([8, 9, 10]);
      fin = false;
      break;
    case 5:
      opcode = 0;
      break;
    case 6: {
      opcode = 8;
      // one byte, a status code nobody may send, or a valid code with an invalid UTF-8 reason
      const code = rng.pick([0, 999, 1004, 1005, 1006, 1015, 2999, 5000, 1000]);
      payload = rng.chance(0.3) ? rng.bytes(1) : Uint8Array.from([code >> 8, code & 0xff, ...(code === 1000 ? [0xff, 0xfe] : [])]);
      break;
    }
    case 7:
      opcode = rng.pick([9, 10]);
      payload = rng.bytes(rng.int(126));
      break;
    case 8: {
      opcode = 8;
      const code = rng.pick([1000, 1001, 1008, 1011, 4000]);
      payload = Buffer.concat([Uint8Array.from([code >> 8, code & 0xff]), Buffer.from('x'.repeat(rng.int(100)))]);
      break;
    }
    case 9: {
      if (!message || message.length < 2) return rng.bytes(1 + rng.int(64));
      // legal fragmentation: binary start, continuations, a ping in between
      const cut = 1 + rng.int(message.length - 1);
      return Buffer.concat([
        wsRawFrame(rng, false, 0, 2, masked, message.subarray(0, cut)),
        ...(rng.chance(0.5) ? [wsRawFrame(rng, true, 0, 9, masked, rng.bytes(rng.int(20)))] : []),
        wsRawFrame(rng, true, 0, 0, masked, message.subarray(cut)),
      ]);
    }
    default:
      if (rng.chance(0.5)) return rng.bytes(1 + rng.int(64));
      hugeLength = true;
  }
  return wsRawFrame(rng, fin, rsv, opcode, masked, payload, hugeLength);
}

/** One RFC 6455 frame as given, right or wrong; `hugeLength` announces 2^63 - 1 bytes instead of the payload's length. */
function wsRawFrame(rng: Rng, fin: boolean, rsv: number, opcode: number, masked: boolean, payload: Uint8Array, hugeLength = false): Uint8Array {
  const head: number[] = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
  const maskBit = masked ? 0x80 : 0;
  if (hugeLength) head.push(maskBit | 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
  else if (payload.length < 126) head.push(maskBit | payload.length);
  else if (payload.length < 0x10000) head.push(maskBit | 126, payload.length >> 8, payload.length & 0xff);
  else head.push(maskBit | 127, 0, 0, 0, 0, (payload.length >>> 24) & 0xff, (payload.length >>> 16) & 0xff, (payload.length >>> 8) & 0xff, payload.length & 0xff);
  if (masked) {
    const key = rng.bytes(4);
    head.push(...key);
    payload = payload.map((byte, i) => byte ^ key[i & 3]!);
  }
  return Buffer.concat([Uint8Array.from(head), payload]);
}

/** Cuts `bytes` into 1 to 4 writes at random points. */
export function split(rng: Rng, bytes: Uint8Array): Uint8Array[] {
  const pieces = rng.chance(0.6) ? 1 : 2 + rng.int(3);
  if (pieces === 1 || bytes.length < 2) return [bytes];
  const cuts = new Set<number>();
  for (let i = 1; i < pieces; i++) cuts.add(1 + rng.int(bytes.length - 1));
  const points = [0, ...[...cuts].sort((a, b) => a - b), bytes.length];
  const out: Uint8Array[] = [];
  for (let i = 1; i < points.length; i++) out.push(bytes.subarray(points[i - 1]!, points[i]!));
  return out;
}
