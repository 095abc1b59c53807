/**
 * The hand-written protobuf reader (lib/protocol/proto-reader.ts) against protobufjs, the source
 * of truth: for random messages encoded by the generated code (random presence of every field,
 * repeated occurrences, unknown fields and groups, unknown enum values, 64-bit edges, non-ASCII
 * and invalid UTF-8 strings), every decoder returns exactly what the former protobufjs-based
 * decoder returned (same values, same presence of optional properties, same byte-array types).
 * For mutated and truncated bytes it returns the same or throws MALFORMED_FRAME, and throws
 * whenever protobufjs did. Seeded: a failure prints its seed and path and reproduces.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import type Long from 'long';
import $protobuf from 'protobufjs/minimal.js';
import {
  decodeHeader,
  decodeMimcPacket,
  decodeP2PMessage,
  decodeP2TMessage,
  decodePacketAck,
  decodePacketList,
  ErrorCode,
  MIMCError,
  type ClientHeader,
  type MimcPacket,
  type P2PMessage,
  type P2TMessage,
  type PacketAck,
  type PacketList,
} from '../../lib/protocol/index.js';
import { decodeUcMessage, decodeUcMessageList, decodeUcPacket, type UcMessage, type UcMessageList, type UcPacket } from '../../lib/protocol/uc.js';
import { ims, mimc } from '../../lib/protocol/gen/proto.js';
import { fromLong, toLong } from '../../lib/protocol/int64.js';
import { groupFromProto, has, optionalString, parse, userFromProto } from '../../lib/protocol/proto-fields.js';
import { concatBytes as concat } from '../helpers/bytes.js';

const SEED = 0x5eed16;
const RUNS = 3000;

// ---------------------------------------------------------------------------------------------
// The former decoders, over the generated protobufjs code (as lib/protocol had them)

function oldHeader(bytes: Uint8Array): ClientHeader {
  const m = parse('client header', () => ims.ClientHeader.decode(bytes));
  const header: ClientHeader = {
    chid: m.chid,
    uuid: fromLong(m.uuid, false),
    server: m.server,
    resource: m.resource,
    cmd: m.cmd,
    id: m.id,
    dirFlag: m.dirFlag,
    cipher: m.cipher,
  };
  if (has(m, 'subcmd')) header.subcmd = m.subcmd;
  if (has(m, 'errCode')) header.errCode = m.errCode;
  if (has(m, 'errStr')) header.errStr = m.errStr;
  return header;
}

function oldP2P(bytes: Uint8Array): P2PMessage {
  const m = parse('P2P message', () => mimc.MIMCP2PMessage.decode(bytes));
  const msg: P2PMessage = { from: userFromProto(m.from), to: userFromProto(m.to), payload: m.payload };
  if (has(m, 'isStore')) msg.isStore = m.isStore;
  const bizType = optionalString(m, 'bizType');
  if (bizType !== undefined) msg.bizType = bizType;
  return msg;
}

function oldP2T(bytes: Uint8Array): P2TMessage {
  const m = parse('P2T message', () => mimc.MIMCP2TMessage.decode(bytes));
  const msg: P2TMessage = { from: userFromProto(m.from), to: groupFromProto(m.to), payload: m.payload };
  if (has(m, 'isStore')) msg.isStore = m.isStore;
  const bizType = optionalString(m, 'bizType');
  if (bizType !== undefined) msg.bizType = bizType;
  return msg;
}

function packetFromProto(m: mimc.IMIMCPacket): MimcPacket {
  const type = has(m, 'type') ? (m.type ?? 0) : 0;
  const p: MimcPacket = { packetId: m.packetId ?? '', package: m.package ?? '', type };
  if (has(m, 'sequence')) p.sequence = fromLong(m.sequence, false);
  if (has(m, 'payload')) p.payload = m.payload ?? new Uint8Array(0);
  if (has(m, 'timestamp')) p.timestamp = fromLong(m.timestamp, false);
  if (has(m, 'conversation')) p.conversation = m.conversation === true;
  if (has(m, 'convIndex')) p.convIndex = fromLong(m.convIndex, false);
  return p;
}

function oldPacket(bytes: Uint8Array): MimcPacket {
  return packetFromProto(parse('MIMC packet', () => mimc.MIMCPacket.decode(bytes)));
}

function oldAck(bytes: Uint8Array): PacketAck {
  const m = parse('packet ack', () => mimc.MIMCPacketAck.decode(bytes));
  const ack: PacketAck = {
    packetId: m.packetId,
    uuid: fromLong(m.uuid, true),
    resource: m.resource,
    sequence: fromLong(m.sequence, false),
    timestamp: fromLong(m.timestamp, false),
    package: m.package,
    errorMsg: m.errorMsg,
  };
  if (has(m, 'code')) ack.code = m.code;
  if (has(m, 'convIndex')) ack.convIndex = fromLong(m.convIndex, false);
  return ack;
}

function oldList(bytes: Uint8Array): PacketList {
  const m = parse('packet list', () => mimc.MIMCPacketList.decode(bytes));
  return {
    uuid: fromLong(m.uuid, true),
    resource: m.resource,
    maxSequence: fromLong(m.maxSequence, false),
    packets: m.packets.map(packetFromProto),
    status: m.status,
  };
}

function oldUcPacket(bytes: Uint8Array): UcPacket {
  const m = parse('UC packet', () => mimc.UCPacket.decode(bytes));
  if (!has(m, 'type')) throw new MIMCError(ErrorCode.MALFORMED_FRAME, 'UC packet of unknown type');
  return { user: userFromProto(m.user), type: m.type, payload: m.payload, packetId: m.packetId };
}

function ucMessageFromProto(m: mimc.IUCMessage): UcMessage {
  const msg: UcMessage = { group: groupFromProto(m.group), payload: m.payload ?? new Uint8Array(0) };
  if (has(m, 'sequence')) msg.sequence = fromLong(m.sequence, false);
  if (has(m, 'isStore')) msg.isStore = m.isStore === true;
  if (has(m, 'user')) msg.user = userFromProto(m.user);
  if (has(m, 'timestamp')) msg.timestamp = fromLong(m.timestamp, false);
  const packetId = optionalString(m, 'packetId');
  if (packetId !== undefined) msg.packetId = packetId;
  const bizType = optionalString(m, 'bizType');
  if (bizType !== undefined) msg.bizType = bizType;
  return msg;
}

function oldUcMessage(bytes: Uint8Array): UcMessage {
  return ucMessageFromProto(parse('UC message', () => mimc.UCMessage.decode(bytes)));
}

function oldUcMessageList(bytes: Uint8Array): UcMessageList {
  const m = parse('UC message list', () => mimc.UCMessageList.decode(bytes));
  const list: UcMessageList = { group: groupFromProto(m.group), messages: m.message.map(ucMessageFromProto) };
  if (has(m, 'maxSequence')) list.maxSequence = fromLong(m.maxSequence, false);
  return list;
}

// ---------------------------------------------------------------------------------------------
// Raw wire pieces (written with protobufjs' Writer)

const Writer = $protobuf.Writer;
const finish = (w: $protobuf.Writer): Uint8Array => w.finish();
const tag = (field: number, wire: number): number => ((field << 3) | wire) >>> 0;


/** A length-delimited field `field` holding `content`. */
const lengthField = (field: number, content: Uint8Array): Uint8Array => finish(Writer.create().uint32(tag(field, 2)).bytes(content));

/** The raw bytes of a varint (up to 10 bytes) of the 64 bits of `v`. */
function varint(v: bigint): Uint8Array {
  const out: number[] = [];
  let x = BigInt.asUintN(64, v);
  while (x > 127n) {
    out.push(Number(x & 127n) | 128);
    x >>= 7n;
  }
  out.push(Number(x));
  return Uint8Array.from(out);
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const EDGES64 = [0n, 1n, 127n, 128n, (1n << 32n) - 1n, 1n << 32n, (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, (1n << 63n) - 1n, 1n << 63n, U64_MAX, -1n, I64_MIN, -(1n << 53n), -(1n << 53n) - 1n, -(1n << 32n)];
const bits64 = fc.oneof(
  { weight: 3, arbitrary: fc.bigInt({ min: I64_MIN, max: U64_MAX }) },
  { weight: 2, arbitrary: fc.bigInt({ min: 0n, max: 1n << 40n }) },
  { weight: 2, arbitrary: fc.constantFrom(...EDGES64) },
);
const long64 = bits64.map((v) => toLong(v, false));
const i32 = fc.oneof(fc.integer({ min: -0x80000000, max: 0x7fffffff }), fc.integer({ min: -2, max: 300 }));
/** Enum fields: mostly known values, sometimes unknown ones (protobufjs drops those). */
const enumValue = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 12 }) }, { weight: 1, arbitrary: i32 });

const stringUnit = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 1 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  // lone surrogates: protobufjs writes those of short strings as invalid UTF-8
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.constantFrom('\uFEFF', '\u0000', 'é', '日', '😀') },
);
const text = fc.oneof(
  { weight: 5, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 40 }) },
  { weight: 4, arbitrary: fc.string({ unit: stringUnit, maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: stringUnit, minLength: 30, maxLength: 90 }) },
);
const bytes = fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 120, maxLength: 300 }));

const optional = <T extends Record<string, fc.Arbitrary<unknown>>>(fields: T) => fc.record(fields, { requiredKeys: [] });

const user = optional({ appId: long64, appAccount: text, uuid: long64, resource: text });
const group = optional({ appId: long64, topicId: long64 });
const header = optional({
  chid: i32,
  uuid: long64,
  server: text,
  resource: text,
  cmd: text,
  subcmd: text,
  id: text,
  dirFlag: enumValue,
  cipher: i32,
  errCode: i32,
  errStr: text,
});
const packet = optional({
  packetId: text,
  package: text,
  sequence: long64,
  type: enumValue,
  payload: bytes,
  timestamp: long64,
  conversation: fc.boolean(),
  convIndex: long64,
});
const packetList = optional({ uuid: long64, resource: text, maxSequence: long64, packets: fc.array(packet, { maxLength: 4 }), status: enumValue });
const ack = optional({
  packetId: text,
  uuid: long64,
  resource: text,
  sequence: long64,
  timestamp: long64,
  package: text,
  errorMsg: text,
  code: i32,
  convIndex: long64,
});
const p2p = optional({ from: user, to: user, payload: bytes, isStore: fc.boolean(), bizType: text });
const p2t = optional({ from: user, to: group, payload: bytes, isStore: fc.boolean(), bizType: text });
/** Required fields: usually all there, sometimes any of them missing. */
const withRequired = <T extends Record<string, fc.Arbitrary<unknown>>>(fields: T) =>
  fc.oneof({ weight: 5, arbitrary: fc.record(fields) }, { weight: 1, arbitrary: fc.record(fields, { requiredKeys: [] }) });
const ucPacket = withRequired({ user, type: enumValue, payload: bytes, packetId: text });
const ucMessage = fc.oneof(
  { weight: 5, arbitrary: fc.record({ group, payload: bytes, sequence: fc.option(long64, { nil: undefined }), isStore: fc.option(fc.boolean(), { nil: undefined }), user: fc.option(user, { nil: undefined }), timestamp: fc.option(long64, { nil: undefined }), packetId: fc.option(text, { nil: undefined }), bizType: fc.option(text, { nil: undefined }) }).map(dropUndefined) },
  { weight: 1, arbitrary: optional({ group, payload: bytes, sequence: long64, isStore: fc.boolean(), user, timestamp: long64, packetId: text, bizType: text }) },
);
const ucMessageList = withRequired({ group, message: fc.array(ucMessage, { maxLength: 3 }), maxSequence: long64 }).map((m) => dropUndefined(m as Record<string, unknown>));

function dropUndefined<T extends Record<string, unknown>>(m: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) if (v !== undefined) out[k] = v;
  return out as T;
}

/** Field numbers no message here knows: just above the known ones, and far above. */
const unknownFieldNumber = (known: number) => fc.oneof(fc.integer({ min: known + 1, max: known + 20 }), fc.integer({ min: 1000, max: (1 << 29) - 1 }));

/** One unknown field of any wire type (0, 1, 2, 5 or a group, with nested groups). */
function unknownField(known: number): fc.Arbitrary<Uint8Array> {
  const groupOf = (field: fc.Arbitrary<number>, element: fc.Arbitrary<Uint8Array>) =>
    fc.tuple(field, fc.array(element, { maxLength: 3 })).map(([f, inner]) => concat([varint(BigInt(tag(f, 3))), ...inner, varint(BigInt(tag(f, 4)))]));
  // inside a group any field number goes, nested groups included
  const { element } = fc.letrec<{ group: Uint8Array; element: Uint8Array }>((tie) => ({
    group: groupOf(fc.integer({ min: 1, max: 5000 }), tie('element')),
    element: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalarField(fc.integer({ min: 1, max: 5000 })), tie('group')),
  }));
  return fc.oneof({ weight: 4, arbitrary: scalarField(unknownFieldNumber(known)) }, { weight: 1, arbitrary: groupOf(unknownFieldNumber(known), element) });
}

/** A varint, fixed64, length-delimited or fixed32 field with field number from `fieldNumber`. */
function scalarField(fieldNumber: fc.Arbitrary<number>): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.tuple(fieldNumber, bits64).map(([f, v]) => concat([varint(BigInt(tag(f, 0))), varint(v)])),
    fc.tuple(fieldNumber, fc.uint8Array({ minLength: 8, maxLength: 8 })).map(([f, b]) => concat([varint(BigInt(tag(f, 1))), b])),
    fc.tuple(fieldNumber, fc.uint8Array({ maxLength: 20 })).map(([f, b]) => lengthField(f, b)),
    fc.tuple(fieldNumber, fc.uint8Array({ minLength: 4, maxLength: 4 })).map(([f, b]) => concat([varint(BigInt(tag(f, 5))), b])),
  );
}

/** Invalid (or valid) UTF-8 bytes for string fields: random bytes, truncated and overlong sequences. */
const rawText = fc.oneof(
  fc.uint8Array({ maxLength: 12 }),
  fc.uint8Array({ minLength: 33, maxLength: 80 }),
  fc.constantFrom(
    [0xc3],
    [0xe6, 0x97],
    [0xf0, 0x9f, 0x98],
    [0xc0, 0xaf],
    [0xed, 0xa0, 0x80],
    [0xef, 0xbb, 0xbf, 0x41],
    [0x41, 0x80, 0x42],
    [0xf4, 0x90, 0x80, 0x80],
    [0xff, 0xfe],
  ).map((b) => Uint8Array.from(b)),
);

/**
 * A message's wire bytes: one to three encodings by protobufjs concatenated (so scalar fields
 * repeat, embedded messages merge, repeated fields append), with unknown fields and extra
 * occurrences of string fields holding raw (possibly invalid UTF-8) bytes in between.
 */
function wire<M>(encode: (m: M) => Uint8Array, message: fc.Arbitrary<M>, known: number, stringFields: readonly number[], extra: fc.Arbitrary<Uint8Array>[] = []): fc.Arbitrary<Uint8Array> {
  const pieces: fc.Arbitrary<Uint8Array>[] = [unknownField(known), ...extra];
  if (stringFields.length > 0) pieces.push(fc.tuple(fc.constantFrom(...stringFields), rawText).map(([f, b]) => lengthField(f, b)));
  const between = fc.oneof({ weight: 3, arbitrary: fc.constant<Uint8Array[]>([]) }, { weight: 2, arbitrary: fc.array(fc.oneof(...pieces), { minLength: 1, maxLength: 3 }) });
  return fc
    .tuple(
      fc.oneof({ weight: 4, arbitrary: fc.array(message, { minLength: 1, maxLength: 1 }) }, { weight: 1, arbitrary: fc.array(message, { minLength: 2, maxLength: 3 }) }),
      fc.array(between, { minLength: 4, maxLength: 4 }),
    )
    .map(([messages, gaps]) => concat(messages.flatMap((m, k) => [...gaps[k]!, encode(m)]).concat(gaps[3]!)));
}

/** An embedded field whose bytes also hold unknown fields (and maybe raw text for a string field). */
function embeddedWithUnknowns<M>(field: number, encode: (m: M) => Uint8Array, message: fc.Arbitrary<M>, known: number, stringFields: readonly number[]): fc.Arbitrary<Uint8Array> {
  return wire(encode, message, known, stringFields).map((inner) => lengthField(field, inner));
}

const enc = {
  header: (m: object) => ims.ClientHeader.encode(m as ims.ClientHeader).finish(),
  packet: (m: object) => mimc.MIMCPacket.encode(m as mimc.MIMCPacket).finish(),
  list: (m: object) => mimc.MIMCPacketList.encode(m as mimc.MIMCPacketList).finish(),
  ack: (m: object) => mimc.MIMCPacketAck.encode(m as mimc.MIMCPacketAck).finish(),
  user: (m: object) => mimc.MIMCUser.encode(m as mimc.MIMCUser).finish(),
  group: (m: object) => mimc.MIMCGroup.encode(m as mimc.MIMCGroup).finish(),
  p2p: (m: object) => mimc.MIMCP2PMessage.encode(m as mimc.MIMCP2PMessage).finish(),
  p2t: (m: object) => mimc.MIMCP2TMessage.encode(m as mimc.MIMCP2TMessage).finish(),
  ucPacket: (m: object) => (hasAll(m, ['user', 'type', 'payload', 'packetId']) ? mimc.UCPacket.encode(m as mimc.UCPacket).finish() : looseUc(m, UC_PACKET_FIELDS)),
  ucMessage: (m: object) => (hasAll(m, ['group', 'payload']) ? mimc.UCMessage.encode(m as mimc.UCMessage).finish() : looseUc(m, UC_MESSAGE_FIELDS)),
  ucMessageList: (m: object) => (hasAll(m, ['group']) && ((m as { message?: object[] }).message ?? []).every((x) => hasAll(x, ['group', 'payload']))
    ? mimc.UCMessageList.encode(m as mimc.UCMessageList).finish()
    : looseUc(m, UC_MESSAGE_LIST_FIELDS)),
};

const hasAll = (m: object, keys: readonly string[]): boolean => keys.every((k) => Object.prototype.hasOwnProperty.call(m, k));

/** How each field of a UC message goes on the wire, for the encoder below. */
type UcFieldKind = 'user' | 'group' | 'ucMessage' | 'int32' | 'int64' | 'bool' | 'bytes' | 'string';
const UC_PACKET_FIELDS: ReadonlyArray<[string, number, UcFieldKind]> = [['user', 1, 'user'], ['type', 2, 'int32'], ['payload', 3, 'bytes'], ['packetId', 4, 'string']];
const UC_MESSAGE_FIELDS: ReadonlyArray<[string, number, UcFieldKind]> = [
  ['group', 1, 'group'], ['payload', 2, 'bytes'], ['sequence', 3, 'int64'], ['isStore', 4, 'bool'],
  ['user', 5, 'user'], ['timestamp', 6, 'int64'], ['packetId', 7, 'string'], ['bizType', 8, 'string'],
];
const UC_MESSAGE_LIST_FIELDS: ReadonlyArray<[string, number, UcFieldKind]> = [['group', 1, 'group'], ['message', 2, 'ucMessage'], ['maxSequence', 3, 'int64']];

/**
 * protobufjs' generated UC encoders refuse (crash on) a message without its required fields;
 * this writes such a message field by field with protobufjs' Writer, for the decoders to refuse.
 */
function looseUc(m: object, fields: ReadonlyArray<[string, number, UcFieldKind]>): Uint8Array {
  const w = Writer.create();
  const values = m as Record<string, unknown>;
  for (const [key, field, kind] of fields) {
    const v = values[key];
    if (v === undefined) continue;
    for (const item of kind === 'ucMessage' ? (v as object[]) : [v]) {
      if (kind === 'int32') w.uint32(tag(field, 0)).int32(item as number);
      else if (kind === 'int64') w.uint32(tag(field, 0)).int64(item as Long);
      else if (kind === 'bool') w.uint32(tag(field, 0)).bool(item as boolean);
      else if (kind === 'string') w.uint32(tag(field, 2)).string(item as string);
      else if (kind === 'bytes') w.uint32(tag(field, 2)).bytes(item as Uint8Array);
      else if (kind === 'user') w.uint32(tag(field, 2)).bytes(enc.user(item as object));
      else if (kind === 'group') w.uint32(tag(field, 2)).bytes(enc.group(item as object));
      else w.uint32(tag(field, 2)).bytes(enc.ucMessage(item as object));
    }
  }
  return w.finish();
}

const userWithUnknowns = (field: number) => embeddedWithUnknowns(field, enc.user, user, 4, [2, 4]);
const groupWithUnknowns = (field: number) => embeddedWithUnknowns(field, enc.group, group, 2, []);

interface Case {
  name: string;
  decode: (b: Uint8Array) => unknown;
  old: (b: Uint8Array) => unknown;
  bytes: fc.Arbitrary<Uint8Array>;
}

const CASES: Case[] = [
  { name: 'ClientHeader', decode: decodeHeader, old: oldHeader, bytes: wire(enc.header, header, 11, [3, 4, 5, 6, 7, 11]) },
  { name: 'MIMCPacket', decode: decodeMimcPacket, old: oldPacket, bytes: wire(enc.packet, packet, 8, [1, 2]) },
  {
    name: 'MIMCPacketList',
    decode: decodePacketList,
    old: oldList,
    bytes: wire(enc.list, packetList, 5, [2], [embeddedWithUnknowns(4, enc.packet, packet, 8, [1, 2])]),
  },
  { name: 'MIMCPacketAck', decode: decodePacketAck, old: oldAck, bytes: wire(enc.ack, ack, 9, [1, 3, 6, 7]) },
  { name: 'MIMCP2PMessage', decode: decodeP2PMessage, old: oldP2P, bytes: wire(enc.p2p, p2p, 5, [5], [userWithUnknowns(1), userWithUnknowns(2)]) },
  { name: 'MIMCP2TMessage', decode: decodeP2TMessage, old: oldP2T, bytes: wire(enc.p2t, p2t, 5, [5], [userWithUnknowns(1), groupWithUnknowns(2)]) },
  { name: 'UCPacket', decode: decodeUcPacket, old: oldUcPacket, bytes: wire(enc.ucPacket, ucPacket, 4, [4], [userWithUnknowns(1)]) },
  { name: 'UCMessage', decode: decodeUcMessage, old: oldUcMessage, bytes: wire(enc.ucMessage, ucMessage, 8, [7, 8], [groupWithUnknowns(1), userWithUnknowns(5)]) },
  {
    name: 'UCMessageList',
    decode: decodeUcMessageList,
    old: oldUcMessageList,
    bytes: wire(enc.ucMessageList, ucMessageList, 3, [], [groupWithUnknowns(1), embeddedWithUnknowns(2, enc.ucMessage, ucMessage, 8, [7, 8])]),
  },
];

// ---------------------------------------------------------------------------------------------
// Comparison

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

function run(fn: (b: Uint8Array) => unknown, input: Uint8Array): Outcome {
  try {
    return { ok: true, value: fn(input) };
  } catch (error) {
    return { ok: false, error };
  }
}

function isMalformed(error: unknown): error is MIMCError {
  return MIMCError.is(error) && error.code === ErrorCode.MALFORMED_FRAME;
}

/** The input as a Uint8Array, a Buffer, and views of both at an offset (protobufjs reads Buffers another way). */
function inputs(b: Uint8Array): Uint8Array[] {
  const offset = (make: (n: number) => Uint8Array) => {
    const backing = make(b.length + 5);
    backing.fill(0xa5);
    backing.set(b, 3);
    return backing.subarray(3, 3 + b.length);
  };
  return [Uint8Array.from(b), Buffer.from(b), offset((n) => new Uint8Array(n)), offset((n) => Buffer.alloc(n))];
}

function fail(message: string, detail: unknown): never {
  throw new Error(`${message}: ${show(detail)}`);
}

function show(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? `<${x.constructor.name} ${Buffer.from(x).toString('hex')}>` : x));
}

/** Valid input: the same value (types included), or both throw (with the same message). */
function expectSame(c: Case, b: Uint8Array): void {
  for (const input of inputs(b)) {
    const a = run(c.decode, input);
    const e = run(c.old, input);
    if (a.ok && e.ok) {
      if (!isDeepStrictEqual(a.value, e.value)) expect(a.value).toStrictEqual(e.value);
      if (!isDeepStrictEqual(a.value, e.value)) fail(`${c.name} decodes differently`, { hex: Buffer.from(b).toString('hex') });
    } else if (!a.ok && !e.ok) {
      if (!isMalformed(a.error)) throw a.error;
      if (!isMalformed(e.error) || a.error.message !== e.error.message) fail(`${c.name}: different errors`, { new: String(a.error), old: String(e.error) });
    } else if (!a.ok) {
      throw new Error(`${c.name}: the new decoder throws where protobufjs decoded (hex ${Buffer.from(b).toString('hex')})`, { cause: a.error });
    } else {
      fail(`${c.name}: the new decoder decoded where protobufjs threw ${String((e as { error: unknown }).error)}`, { hex: Buffer.from(b).toString('hex') });
    }
  }
}

/**
 * Corrupt input: never anything but a value or MALFORMED_FRAME; the value of protobufjs when
 * it decodes (unless this decoder is stricter), an error when protobufjs throws.
 * Returns whether this decoder was stricter.
 */
function expectSameOrStricter(c: Case, b: Uint8Array): boolean {
  let stricter = false;
  for (const input of inputs(b)) {
    const a = run(c.decode, input);
    const e = run(c.old, input);
    if (!a.ok && !isMalformed(a.error)) throw new Error(`${c.name}: not a MALFORMED_FRAME MIMCError`, { cause: a.error });
    if (!a.ok && !(a.error as MIMCError).message.startsWith('cannot parse ')) fail(`${c.name}: unexpected message`, (a.error as MIMCError).message);
    if (e.ok && a.ok) {
      if (!isDeepStrictEqual(a.value, e.value)) expect(a.value).toStrictEqual(e.value);
      if (!isDeepStrictEqual(a.value, e.value)) fail(`${c.name} decodes corrupt bytes differently`, { hex: Buffer.from(b).toString('hex') });
    } else if (e.ok) stricter = true;
    else if (a.ok) fail(`${c.name}: the new decoder decoded where protobufjs threw ${String((e as { error: unknown }).error)}`, { hex: Buffer.from(b).toString('hex') });
  }
  return stricter;
}

/** Mutations of valid bytes: truncation, flipped and overwritten bytes, inserted and removed runs. */
const mutation = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x00, 0x7f, 0x80, 0xff, 0x0f, 0x08, 0x0b, 0x0c)) }),
    fc.record({ kind: fc.constant('xor' as const), at: fc.nat(), value: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
    fc.record({ kind: fc.constant('remove' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 6 }) }),
  ),
  { minLength: 1, maxLength: 3 },
);

interface Step {
  kind: 'truncate' | 'set' | 'xor' | 'insert' | 'remove';
  at: number;
  value?: number;
  bytes?: Uint8Array;
  length?: number;
}

function mutate(b: Uint8Array, steps: readonly Step[]): Uint8Array {
  let out: Uint8Array = Uint8Array.from(b);
  for (const s of steps) {
    const at = out.length === 0 ? 0 : s.at % (out.length + 1);
    if (s.kind === 'truncate') out = out.slice(0, at);
    else if (s.kind === 'insert') out = concat([out.subarray(0, at), s.bytes!, out.subarray(at)]);
    else if (s.kind === 'remove') out = concat([out.subarray(0, at), out.subarray(at + s.length!)]);
    else if (out.length > 0) {
      const i = s.at % out.length;
      out[i] = s.kind === 'set' ? s.value! : out[i]! ^ s.value!;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Properties

describe('proto-reader decodes what protobufjs decodes', () => {
  for (const [k, c] of CASES.entries()) {
    it(`${c.name}: random messages (presence, repeats, unknown fields, 64-bit edges, UTF-8) decode to the former objects`, () => {
      fc.assert(
        fc.property(c.bytes, (b) => expectSame(c, b)),
        { numRuns: RUNS, seed: SEED + k },
      );
    });
  }

  for (const [k, c] of CASES.entries()) {
    it(`${c.name}: mutated and truncated bytes decode the same, or throw MALFORMED_FRAME (always when protobufjs throws)`, () => {
      let stricter = 0;
      fc.assert(
        fc.property(c.bytes, mutation, (b, steps) => {
          if (expectSameOrStricter(c, mutate(b, steps))) stricter++;
        }),
        { numRuns: RUNS, seed: SEED + 100 + k },
      );
      // stricter only for a known field with the wrong wire type or an over-long unknown varint
      expect(stricter).toBeLessThan(RUNS / 4);
    });
  }

  it('random bytes: a value or MALFORMED_FRAME, never anything else', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CASES), fc.uint8Array({ maxLength: 64 }), (c, b) => {
        expectSameOrStricter(c, b);
      }),
      { numRuns: RUNS, seed: SEED + 200 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Examples

function malformed(fn: () => unknown, what: string): MIMCError {
  try {
    fn();
  } catch (err) {
    expect(isMalformed(err)).toBe(true);
    expect((err as MIMCError).message).toBe(`cannot parse ${what}`);
    return err as MIMCError;
  }
  throw new Error('did not throw');
}

describe('proto-reader examples', () => {
  const field = (f: number, wireType: number, ...rest: Uint8Array[]) => concat([varint(BigInt(tag(f, wireType))), ...rest]);
  const str = (s: string) => new TextEncoder().encode(s);

  it('MIMCPacket type: 0 when absent or unknown, the last known value otherwise', () => {
    expect(decodeMimcPacket(new Uint8Array(0))).toStrictEqual({ packetId: '', package: '', type: 0 });
    expect(decodeMimcPacket(field(4, 0, varint(99n))).type).toBe(0);
    expect(decodeMimcPacket(field(4, 0, varint(-1n))).type).toBe(0);
    expect(decodeMimcPacket(concat([field(4, 0, varint(2n)), field(4, 0, varint(99n))])).type).toBe(2);
    expect(decodeMimcPacket(concat([field(4, 0, varint(2n)), field(4, 0, varint(6n))])).type).toBe(6);
    // the low 32 bits of a 64-bit varint
    expect(decodeMimcPacket(field(4, 0, varint((1n << 32n) + 3n))).type).toBe(3);
  });

  it('64-bit fields: int64 signed, uint64 unsigned, exact at the edges', () => {
    for (const v of EDGES64) {
      const list = decodePacketList(concat([field(1, 0, varint(v)), field(3, 0, varint(v))]));
      expect(list.uuid).toBe(BigInt.asUintN(64, v));
      expect(list.maxSequence).toBe(BigInt.asIntN(64, v));
      expect(decodeHeader(field(2, 0, varint(v))).uuid).toBe(BigInt.asIntN(64, v));
    }
  });

  it('presence: optional properties only when on the wire', () => {
    const h = decodeHeader(new Uint8Array(0));
    expect(h).toStrictEqual({ chid: 0, uuid: 0n, server: '', resource: '', cmd: '', id: '', dirFlag: 1, cipher: 0 });
    expect(decodeHeader(field(6, 2, varint(0n)))).toHaveProperty('subcmd', '');
    const a = decodePacketAck(field(8, 0, varint(0n)));
    expect(a.code).toBe(0);
    expect('convIndex' in a).toBe(false);
  });

  it('a repeated embedded message merges field by field; repeated scalars: the last wins', () => {
    const u1 = enc.user({ appId: toLong(5n, true), appAccount: 'a', uuid: toLong(7n, true) });
    const u2 = enc.user({ appAccount: 'b', resource: 'r' });
    const m = decodeP2PMessage(concat([lengthField(1, u1), field(5, 2, varint(1n), str('x')), lengthField(1, u2), field(5, 2, varint(1n), str('y'))]));
    expect(m.from).toStrictEqual({ appId: 5n, appAccount: 'b', uuid: 7n, resource: 'r' });
    expect(m.to).toStrictEqual({ appId: 0n, appAccount: '' });
    expect(m.bizType).toBe('y');
    expect(m).toStrictEqual(oldP2P(concat([lengthField(1, u1), field(5, 2, varint(1n), str('x')), lengthField(1, u2), field(5, 2, varint(1n), str('y'))])));
  });

  it('bytes fields are views into the input, of its type', () => {
    const payload = Uint8Array.from([1, 2, 3, 4]);
    for (const input of inputs(enc.p2p({ payload }))) {
      const m = decodeP2PMessage(input);
      expect(m.payload.buffer).toBe(input.buffer);
      expect(m.payload.byteOffset).toBe(input.byteOffset + 2);
      expect(m.payload.constructor).toBe(input.constructor);
      expect(Array.from(m.payload)).toEqual([1, 2, 3, 4]);
    }
    // absent: an empty Buffer, as protobufjs' default
    expect(decodeP2PMessage(new Uint8Array(0)).payload).toStrictEqual(Buffer.alloc(0));
  });

  it('strings: invalid UTF-8 as the WHATWG decoder reads it, a byte order mark kept', () => {
    const loose = new TextDecoder('utf-8', { ignoreBOM: true });
    for (const raw of [[0xef, 0xbb, 0xbf, 0x41], [0xc3], [0x41, 0xe6, 0x97], [0xed, 0xa0, 0x80], [0xf0, 0x9f, 0x98, 0x80], Array(40).fill(0x41).concat([0xff])]) {
      const b = Uint8Array.from(raw);
      const h = decodeHeader(field(3, 2, varint(BigInt(b.length)), b));
      expect(h.server).toBe(loose.decode(b));
      expect(h).toStrictEqual(oldHeader(field(3, 2, varint(BigInt(b.length)), b)));
    }
    expect(decodeHeader(field(3, 2, varint(4n), str('\uFEFFa'))).server).toBe('\uFEFFa');
  });

  it('repeating 64-bit values past 2^53 (app ids, uuids) come back exact as they alternate and evict each other', () => {
    const wide = [1n << 53n, U64_MAX, 2882303761517479657n, (1n << 53n) + 1n, 1n << 63n, (1n << 63n) + 12345n];
    const order = [...wide, ...wide, ...wide.slice().reverse(), wide[0]!, wide[0]!, wide[4]!, wide[0]!];
    for (const [k, appId] of order.entries()) {
      const uuid = order[(k + 3) % order.length]!;
      const bytes = enc.p2p({ from: { appId: toLong(appId, true), appAccount: 'a', uuid: toLong(uuid, true) }, to: { appId: toLong(appId, true), appAccount: 'b' }, payload: new Uint8Array(1) });
      const m = decodeP2PMessage(bytes);
      expect([m.from.appId, m.from.uuid, m.to.appId]).toEqual([appId, uuid, appId]);
      expect(m).toStrictEqual(oldP2P(bytes));
    }
  });

  it('signed 64-bit values (ClientHeader.uuid) stay exact as wide and negative ones alternate', () => {
    const values = [1n << 53n, (1n << 63n) - 1n, -1n, 2882303761517479657n, -(1n << 53n) - 1n, -(1n << 63n), 5n, (1n << 62n) + 9n];
    const order = [...values, ...values, ...values.slice().reverse(), values[1]!, values[2]!, values[1]!];
    for (const uuid of order) {
      const bytes = enc.header({ uuid: toLong(uuid, false) });
      expect(decodeHeader(bytes).uuid).toBe(uuid);
      expect(decodeHeader(bytes)).toStrictEqual(oldHeader(bytes));
    }
  });

  it('repeating strings (the text cache): bytes that share a slot never return another string', () => {
    // more names of one length than the cache has slots: some must share one; decoded in two
    // interleaved passes, each must come back as itself
    const many = Array.from({ length: 600 }, (_, i) => `u_${String(i).padStart(4, '0')}`);
    const names = ['aXbYc', 'aZbWc', 'aXbYc', 'a\u00e9c', 'aZbWc', 'a\u00e8c', 'a\u00e9c', ...many, ...many.reverse()];
    for (const name of names) {
      for (const input of inputs(enc.header({ resource: name, server: name, cmd: name }))) {
        const h = decodeHeader(input);
        expect([h.resource, h.server, h.cmd]).toEqual([name, name, name]);
      }
    }
    // a cached string is not tied to the input: changing the input afterwards changes nothing
    const b = Uint8Array.from(enc.header({ resource: 'stable-resource' }));
    expect(decodeHeader(b).resource).toBe('stable-resource');
    b[b.length - 1] = 0x58;
    expect(decodeHeader(b).resource).toBe('stable-resourcX');
  });

  it('refuses truncated, over-long and misplaced data', () => {
    malformed(() => decodeHeader(Uint8Array.from([0x10])), 'client header');
    malformed(() => decodeHeader(Uint8Array.from([0x10, 0x80])), 'client header');
    malformed(() => decodeHeader(concat([Uint8Array.from([0x10]), new Uint8Array(10).fill(0x80), Uint8Array.from([0])])), 'client header');
    malformed(() => decodeHeader(Uint8Array.from([0x1a, 0x05, 0x41])), 'client header');
    malformed(() => decodeMimcPacket(Uint8Array.from([0x2a, 0xff, 0xff, 0xff, 0xff, 0x0f])), 'MIMC packet');
    // a known field with the wrong wire type (protobufjs skips it as unknown)
    malformed(() => decodePacketAck(field(8, 2, varint(0n))), 'packet ack');
    // field number 0, wire types 4, 6, 7
    malformed(() => decodeP2PMessage(Uint8Array.from([0x00, 0x00])), 'P2P message');
    malformed(() => decodeP2PMessage(field(9, 4)), 'P2P message');
    malformed(() => decodeP2PMessage(field(9, 6)), 'P2P message');
    // an embedded message whose last field runs past its end
    malformed(() => decodeP2TMessage(concat([lengthField(2, Uint8Array.from([0x08])), Uint8Array.from([0x01])])), 'P2T message');
    // a list whose packet is truncated
    malformed(() => decodePacketList(field(4, 2, varint(10n), Uint8Array.from([0x0a, 0x01]))), 'packet list');
    // required UC fields
    malformed(() => decodeUcPacket(new Uint8Array(0)), 'UC packet');
    malformed(() => decodeUcMessageList(lengthField(2, new Uint8Array(0))), 'UC message list');
  });

  it('groups: skipped iteratively, refused past protobufjs depth limit as protobufjs does', () => {
    const open = (f: number) => varint(BigInt(tag(f, 3)));
    const close = (f: number) => varint(BigInt(tag(f, 4)));
    const nested = (n: number, inner: Uint8Array = new Uint8Array(0)) =>
      concat([...Array.from({ length: n }, () => open(20)), inner, ...Array.from({ length: n }, () => close(20))]);
    for (const n of [1, 2, 50, 99, 100, 101, 102, 103]) {
      for (const inner of [new Uint8Array(0), field(21, 0, varint(1n))]) {
        const top = nested(n, inner);
        expectSame(CASES[0]!, top);
        // one level down: inside an embedded user
        expectSame(CASES[4]!, lengthField(1, top));
      }
    }
    expect(() => oldHeader(nested(102))).toThrow();
    // deep nesting without end, and an unmatched end tag
    malformed(() => decodeHeader(concat(Array.from({ length: 100_000 }, () => open(20)))), 'client header');
    malformed(() => decodeHeader(concat([open(20), close(21)])), 'client header');
    malformed(() => decodeHeader(open(20)), 'client header');
  });
});
