/**
 * lib/protocol/wire.ts against protobufjs: the hand-written codecs of the hot messages must
 * write exactly the bytes the generated protobufjs code writes, and decode any input (valid,
 * random, mutated) to the same result, or fail where it fails. The references below are the
 * protobufjs-based codecs packets.ts used before wire.ts existed.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { ims, mimc } from '../../lib/protocol/gen/proto.js';
import { fromLong, toLong } from '../../lib/protocol/int64.js';
import type { ClientHeader, GroupRef, MimcPacket, P2PMessage, P2TMessage, PacketAck, PacketList, SequenceAck, UserRef } from '../../lib/protocol/packets.js';
import * as wire from '../../lib/protocol/wire.js';

const RUNS = { numRuns: 5_000 };

// ---------------------------------------------------------------------------------------------
// References: protobufjs plus the mapping packets.ts applies

interface WellFormedString {
  isWellFormed(): boolean;
  toWellFormed(): string;
}

/** The defined fields only, strings made well-formed: what packets.ts handed to protobufjs. */
function present<T extends object>(fields: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined) out[k] = typeof v === 'string' ? (v as unknown as WellFormedString).toWellFormed() : v;
  }
  return out as T;
}

const own = (m: object, f: string): boolean => Object.prototype.hasOwnProperty.call(m, f);

const ref = {
  header: (h: ClientHeader) =>
    ims.ClientHeader.encode(
      present({
        chid: h.chid,
        uuid: toLong(h.uuid, false),
        server: h.server,
        resource: h.resource,
        cmd: h.cmd,
        subcmd: h.subcmd,
        id: h.id,
        dirFlag: h.dirFlag,
        cipher: h.cipher,
        errCode: h.errCode,
        errStr: h.errStr,
      }) as ims.ClientHeader,
    ).finish(),
  decodeHeader(bytes: Uint8Array): ClientHeader {
    const m = ims.ClientHeader.decode(bytes);
    const h: ClientHeader = {
      chid: m.chid,
      uuid: fromLong(m.uuid, false),
      server: m.server,
      resource: m.resource,
      cmd: m.cmd,
      id: m.id,
      dirFlag: m.dirFlag,
      cipher: m.cipher,
    };
    if (own(m, 'subcmd')) h.subcmd = m.subcmd;
    if (own(m, 'errCode')) h.errCode = m.errCode;
    if (own(m, 'errStr')) h.errStr = m.errStr;
    return h;
  },
  packetProto: (p: MimcPacket) =>
    present({
      packetId: p.packetId,
      package: p.package,
      sequence: p.sequence === undefined ? undefined : toLong(p.sequence, false),
      type: p.type,
      payload: p.payload,
      timestamp: p.timestamp === undefined ? undefined : toLong(p.timestamp, false),
    }) as mimc.MIMCPacket,
  packetFromProto(m: mimc.IMIMCPacket): MimcPacket {
    const p: MimcPacket = { packetId: m.packetId ?? '', package: m.package ?? '', type: own(m, 'type') ? (m.type ?? 0) : 0 };
    if (own(m, 'sequence')) p.sequence = fromLong(m.sequence, false);
    if (own(m, 'payload')) p.payload = m.payload ?? new Uint8Array(0);
    if (own(m, 'timestamp')) p.timestamp = fromLong(m.timestamp, false);
    return p;
  },
  user: (u: UserRef) =>
    present({
      appId: toLong(u.appId, true),
      appAccount: u.appAccount,
      uuid: u.uuid === undefined ? undefined : toLong(u.uuid, true),
      resource: u.resource,
    }) as mimc.MIMCUser,
  userFromProto(m: mimc.IMIMCUser | null | undefined): UserRef {
    const u: UserRef = { appId: fromLong(m?.appId, true), appAccount: m?.appAccount ?? '' };
    if (m && own(m, 'uuid')) u.uuid = fromLong(m.uuid, true);
    if (m && own(m, 'resource')) u.resource = m.resource ?? '';
    return u;
  },
  p2p: (msg: P2PMessage) =>
    mimc.MIMCP2PMessage.encode(
      present({ from: ref.user(msg.from), to: ref.user(msg.to), payload: msg.payload, isStore: msg.isStore, bizType: msg.bizType }) as mimc.MIMCP2PMessage,
    ).finish(),
  p2t: (msg: P2TMessage) =>
    mimc.MIMCP2TMessage.encode(
      present({
        from: ref.user(msg.from),
        to: { appId: toLong(msg.to.appId, true), topicId: toLong(msg.to.topicId, true) } as mimc.MIMCGroup,
        payload: msg.payload,
        isStore: msg.isStore,
        bizType: msg.bizType,
      }) as mimc.MIMCP2TMessage,
    ).finish(),
  decodeP2P(bytes: Uint8Array): P2PMessage {
    const m = mimc.MIMCP2PMessage.decode(bytes);
    const msg: P2PMessage = { from: ref.userFromProto(m.from), to: ref.userFromProto(m.to), payload: m.payload };
    if (own(m, 'isStore')) msg.isStore = m.isStore;
    if (own(m, 'bizType')) msg.bizType = m.bizType;
    return msg;
  },
  decodeP2T(bytes: Uint8Array): P2TMessage {
    const m = mimc.MIMCP2TMessage.decode(bytes);
    const msg: P2TMessage = {
      from: ref.userFromProto(m.from),
      to: { appId: fromLong(m.to?.appId, true), topicId: fromLong(m.to?.topicId, true) },
      payload: m.payload,
    };
    if (own(m, 'isStore')) msg.isStore = m.isStore;
    if (own(m, 'bizType')) msg.bizType = m.bizType;
    return msg;
  },
  ack: (a: PacketAck) =>
    mimc.MIMCPacketAck.encode(
      present({
        packetId: a.packetId,
        uuid: toLong(a.uuid, true),
        resource: a.resource,
        sequence: toLong(a.sequence, false),
        timestamp: toLong(a.timestamp, false),
        package: a.package,
        errorMsg: a.errorMsg,
        code: a.code,
      }) as mimc.MIMCPacketAck,
    ).finish(),
  decodeAck(bytes: Uint8Array): PacketAck {
    const m = mimc.MIMCPacketAck.decode(bytes);
    const a: PacketAck = {
      packetId: m.packetId,
      uuid: fromLong(m.uuid, true),
      resource: m.resource,
      sequence: fromLong(m.sequence, false),
      timestamp: fromLong(m.timestamp, false),
      package: m.package,
      errorMsg: m.errorMsg,
    };
    if (own(m, 'code')) a.code = m.code;
    return a;
  },
  list: (l: PacketList) =>
    mimc.MIMCPacketList.encode(
      present({
        uuid: toLong(l.uuid, true),
        resource: l.resource,
        maxSequence: toLong(l.maxSequence, false),
        packets: l.packets.map(ref.packetProto),
        status: l.status,
      }) as mimc.MIMCPacketList,
    ).finish(),
  decodeList(bytes: Uint8Array): PacketList {
    const m = mimc.MIMCPacketList.decode(bytes);
    return {
      uuid: fromLong(m.uuid, true),
      resource: m.resource,
      maxSequence: fromLong(m.maxSequence, false),
      packets: m.packets.map(ref.packetFromProto),
      status: m.status,
    };
  },
  seqAck: (a: SequenceAck) =>
    mimc.MIMCSequenceAck.encode(
      present({ uuid: toLong(a.uuid, true), resource: a.resource, sequence: toLong(a.sequence, false), appId: toLong(a.appId, true) }) as mimc.MIMCSequenceAck,
    ).finish(),
  decodeSeqAck(bytes: Uint8Array): SequenceAck {
    const m = mimc.MIMCSequenceAck.decode(bytes);
    return { uuid: fromLong(m.uuid, true), resource: m.resource, sequence: fromLong(m.sequence, false), appId: fromLong(m.appId, true) };
  },
};

// ---------------------------------------------------------------------------------------------
// Arbitraries

const U64_MAX = (1n << 64n) - 1n;
const EDGES = [0n, 1n, 127n, 128n, 0xffffffffn, 1n << 32n, (1n << 53n) + 1n, (1n << 63n) - 1n];
const u64 = fc.oneof(fc.bigInt({ min: 0n, max: U64_MAX }), fc.constantFrom(...EDGES, U64_MAX));
const i64 = fc.oneof(fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), fc.constantFrom(...EDGES, -1n, -(1n << 63n)));
const i32 = fc.oneof(fc.integer({ min: -0x80000000, max: 0x7fffffff }), fc.constantFrom(0, 1, 127, 128, -1, 0x7fffffff, -0x80000000));
const textUnit = fc.oneof(
  { weight: 10, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
);
const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: textUnit, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: textUnit, minLength: 40, maxLength: 200 }) },
);
const bytes = fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 120, maxLength: 400 }));
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

const headerArb: fc.Arbitrary<ClientHeader> = fc
  .record({ chid: i32, uuid: i64, server: text, resource: text, cmd: text, id: text, dirFlag: i32, cipher: i32, subcmd: opt(text), errCode: opt(i32), errStr: opt(text) })
  .map((h) => present(h) as ClientHeader);
const packetArb: fc.Arbitrary<MimcPacket> = fc
  .record({ packetId: text, package: text, type: i32, sequence: opt(i64), payload: opt(bytes), timestamp: opt(i64) })
  .map((p) => present(p) as MimcPacket);
const userArb: fc.Arbitrary<UserRef> = fc.record({ appId: u64, appAccount: text, uuid: opt(u64), resource: opt(text) }).map((u) => present(u) as UserRef);
const groupArb: fc.Arbitrary<GroupRef> = fc.record({ appId: u64, topicId: u64 });
const tail = { payload: bytes, isStore: opt(fc.boolean()), bizType: opt(text) };
const p2pArb: fc.Arbitrary<P2PMessage> = fc.record({ from: userArb, to: userArb, ...tail }).map((m) => present(m) as P2PMessage);
const p2tArb: fc.Arbitrary<P2TMessage> = fc.record({ from: userArb, to: groupArb, ...tail }).map((m) => present(m) as P2TMessage);
const ackArb: fc.Arbitrary<PacketAck> = fc
  .record({ packetId: text, uuid: u64, resource: text, sequence: i64, timestamp: i64, package: text, errorMsg: text, code: opt(i32) })
  .map((a) => present(a) as PacketAck);
const listArb: fc.Arbitrary<PacketList> = fc.record({ uuid: u64, resource: text, maxSequence: i64, packets: fc.array(packetArb, { maxLength: 5 }), status: i32 });
const seqAckArb: fc.Arbitrary<SequenceAck> = fc.record({ uuid: u64, resource: text, sequence: i64, appId: u64 });

// ---------------------------------------------------------------------------------------------
// Properties

interface Codec<T> {
  name: string;
  arb: fc.Arbitrary<T>;
  encode(v: T): Uint8Array;
  refEncode(v: T): Uint8Array;
  decode(b: Uint8Array): unknown;
  refDecode(b: Uint8Array): unknown;
}

const codecs: Array<Codec<never>> = [
  { name: 'ClientHeader', arb: headerArb, encode: wire.encodeClientHeader, refEncode: ref.header, decode: wire.decodeClientHeader, refDecode: ref.decodeHeader },
  {
    name: 'MIMCPacket',
    arb: packetArb,
    encode: wire.encodePacket,
    refEncode: (p: MimcPacket) => mimc.MIMCPacket.encode(ref.packetProto(p)).finish(),
    decode: wire.decodePacket,
    refDecode: (b: Uint8Array) => ref.packetFromProto(mimc.MIMCPacket.decode(b)),
  },
  { name: 'MIMCP2PMessage', arb: p2pArb, encode: wire.encodeP2P, refEncode: ref.p2p, decode: wire.decodeP2P, refDecode: ref.decodeP2P },
  { name: 'MIMCP2TMessage', arb: p2tArb, encode: wire.encodeP2T, refEncode: ref.p2t, decode: wire.decodeP2T, refDecode: ref.decodeP2T },
  { name: 'MIMCPacketAck', arb: ackArb, encode: wire.encodeAck, refEncode: ref.ack, decode: wire.decodeAck, refDecode: ref.decodeAck },
  { name: 'MIMCPacketList', arb: listArb, encode: wire.encodeList, refEncode: ref.list, decode: wire.decodeList, refDecode: ref.decodeList },
  { name: 'MIMCSequenceAck', arb: seqAckArb, encode: wire.encodeSeqAck, refEncode: ref.seqAck, decode: wire.decodeSeqAck, refDecode: ref.decodeSeqAck },
] as unknown as Array<Codec<never>>;

/** The outcome of a decode: its value, or that it threw. */
function outcome(decode: (b: Uint8Array) => unknown, input: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: decode(input) };
  } catch {
    return { ok: false };
  }
}

/** Compares decoded values; byte arrays by content (protobufjs may return a Buffer where we return a view of the input's class). */
function sameOutcome(a: ReturnType<typeof outcome>, b: ReturnType<typeof outcome>): boolean {
  if (a.ok !== b.ok) return false;
  if (!a.ok || !b.ok) return true;
  return isDeepStrictEqual(normalise(a.value), normalise(b.value));
}

function normalise(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: Buffer.from(v.buffer, v.byteOffset, v.length).toString('hex') };
  if (Array.isArray(v)) return v.map(normalise);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalise(x)]));
  return v;
}

/** A valid encoding with a few bytes flipped, inserted or removed. */
function mutate(input: Uint8Array, edits: Array<[number, number, number]>): Uint8Array {
  let out = Array.from(input);
  for (const [kind, at, value] of edits) {
    const i = out.length === 0 ? 0 : at % out.length;
    if (kind === 0 && out.length > 0) out[i] = value;
    else if (kind === 1) out.splice(i, 0, value);
    else out.splice(i, 1);
  }
  return Uint8Array.from(out);
}

const edits = fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 });

describe.each(codecs.map((c) => [c.name, c] as const))('%s', (_name, codec) => {
  it('encodes exactly the bytes protobufjs writes', () => {
    fc.assert(
      fc.property(codec.arb, (value) => {
        const mine = codec.encode(value);
        const theirs = codec.refEncode(value);
        return Buffer.compare(Buffer.from(mine), Buffer.from(theirs)) === 0;
      }),
      RUNS,
    );
  });

  it('decodes its encodings to what protobufjs decodes, from a Uint8Array and from a Buffer', () => {
    fc.assert(
      fc.property(codec.arb, (value) => {
        const encoded = Uint8Array.from(codec.refEncode(value));
        const asBuffer = Buffer.from(encoded);
        return sameOutcome(outcome(codec.decode, encoded), outcome(codec.refDecode, encoded)) && sameOutcome(outcome(codec.decode, asBuffer), outcome(codec.refDecode, asBuffer));
      }),
      RUNS,
    );
  });

  it('decodes mutated encodings and random bytes like protobufjs, or fails where it fails', () => {
    fc.assert(
      fc.property(codec.arb, edits, (value, changes) => {
        const input = mutate(codec.refEncode(value), changes);
        return sameOutcome(outcome(codec.decode, input), outcome(codec.refDecode, input));
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (input) => sameOutcome(outcome(codec.decode, input), outcome(codec.refDecode, input))),
      RUNS,
    );
  });
});

describe('wire details', () => {
  it('unknown fields, groups, repeated scalars and repeated embedded messages decode as in protobufjs', () => {
    // from { appId: 7 } from { appAccount: "a" } (merged), payload twice (last wins), unknown
    // varint field 9, an unknown group 10 holding a fixed32 and an unknown fixed64 field 11
    const input = Uint8Array.from([
      0x0a, 0x02, 0x08, 0x07, 0x0a, 0x03, 0x12, 0x01, 0x61, 0x1a, 0x01, 0x01, 0x1a, 0x01, 0x02, 0x48, 0x96, 0x01, 0x53, 0x0d, 0, 0, 0, 0, 0x54,
      0x59, 1, 2, 3, 4, 5, 6, 7, 8,
    ]);
    expect(normalise(wire.decodeP2P(input))).toEqual(normalise(ref.decodeP2P(input)));
    expect(wire.decodeP2P(input).from).toEqual({ appId: 7n, appAccount: 'a' });
  });

  it('an enum value outside the enum keeps the default, a negative int32 takes 10 bytes', () => {
    const header: ClientHeader = { chid: -1, uuid: -5n, server: '', resource: '', cmd: '', id: '', dirFlag: 99, cipher: 0 };
    const bytes = wire.encodeClientHeader(header);
    expect(Buffer.from(bytes)).toEqual(Buffer.from(ref.header(header)));
    expect(wire.decodeClientHeader(bytes).dirFlag).toBe(1);
    expect(wire.decodeClientHeader(bytes).chid).toBe(-1);
    expect(wire.decodeClientHeader(bytes).uuid).toBe(-5n);
  });
});
