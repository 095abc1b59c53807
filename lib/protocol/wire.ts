/**
 * Hand-written protobuf (proto2) codecs for the messages every chat message passes through:
 * ClientHeader, MIMCPacket, MIMCP2PMessage, MIMCP2TMessage, MIMCPacketAck, MIMCPacketList and
 * MIMCSequenceAck. They read and write the domain types of packets.ts directly: no generated
 * message objects, no Long, no intermediate copies, one exactly sized output array.
 *
 * Encoding is byte for byte what the protobufjs code generated from proto/ writes after
 * packets.ts's `present()`: fields in field-number order, a field written when its value is
 * neither undefined nor null, negative int32 values as 10-byte varints, 64-bit values as their
 * 64-bit two's complement, strings as UTF-8 with every unpaired surrogate as U+FFFD.
 *
 * Decoding follows protobufjs 8's generated decoders: a known field with another wire type is
 * skipped like an unknown one, the last occurrence of a scalar wins, occurrences of an embedded
 * message merge, unknown enum values are ignored (the field keeps its previous value or its
 * default), groups are skipped with protobufjs's checks, and truncated or overlong input throws.
 * Errors are plain Errors here; packets.ts turns them into MIMCError.
 *
 * spec/protocol/wire.spec.ts checks both directions against protobufjs on random messages.
 */
import type { ClientHeader, GroupRef, MimcPacket, P2PMessage, P2TMessage, PacketAck, PacketList, SequenceAck, UserRef } from './packets.js';

// ---------------------------------------------------------------------------------------------
// Writing

function varint32Length(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** Writes `v`, an unsigned 32-bit integer, as a varint; returns the position after it. */
function writeVarint32(out: Uint8Array, pos: number, v: number): number {
  while (v > 127) {
    out[pos++] = (v & 127) | 128;
    v >>>= 7;
  }
  out[pos++] = v;
  return pos;
}

/** Length of the varint of the unsigned 64-bit value hi·2³² + lo. */
function varint64Length(lo: number, hi: number): number {
  if (hi === 0) return varint32Length(lo);
  return hi < 0x8 ? 5 : hi < 0x400 ? 6 : hi < 0x20000 ? 7 : hi < 0x1000000 ? 8 : hi < 0x80000000 ? 9 : 10;
}

function writeVarint64(out: Uint8Array, pos: number, lo: number, hi: number): number {
  while (hi !== 0) {
    out[pos++] = (lo & 127) | 128;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  return writeVarint32(out, pos, lo);
}

/** int32 fields (and enums): a negative value is sign-extended to 64 bits, 10 bytes. */
function int32Length(v: number): number {
  v |= 0;
  return v < 0 ? 10 : varint32Length(v);
}

function writeInt32(out: Uint8Array, pos: number, v: number): number {
  v |= 0;
  return v < 0 ? writeVarint64(out, pos, v >>> 0, 0xffffffff) : writeVarint32(out, pos, v);
}

/** A 64-bit value split into 32-bit halves (two's complement for negative bigints). */
interface Split {
  lo: number;
  hi: number;
}

const MASK32 = 0xffffffffn;

function split64(value: bigint, into: Split): Split {
  if (value >= 0n && value <= MASK32) {
    into.lo = Number(value);
    into.hi = 0;
  } else {
    const bits = BigInt.asUintN(64, value);
    into.lo = Number(bits & MASK32);
    into.hi = Number(bits >> 32n);
  }
  return into;
}

/**
 * UTF-8 length of `s` as writeUtf8 writes it: an unpaired surrogate becomes U+FFFD, 3 bytes,
 * like the 3 bytes of any other code unit from U+0800.
 */
function utf8Length(s: string): number {
  const n = s.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if ((c & 0xfc00) === 0xd800 && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // two code units, four bytes
      i++;
    } else bytes += 2;
  }
  return bytes;
}

function writeUtf8(out: Uint8Array, pos: number, s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out[pos++] = c;
    } else if (c < 0x800) {
      out[pos++] = 0xc0 | (c >> 6);
      out[pos++] = 0x80 | (c & 63);
    } else if ((c & 0xfc00) === 0xd800 && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
      out[pos++] = 0xf0 | (c >> 18);
      out[pos++] = 0x80 | ((c >> 12) & 63);
      out[pos++] = 0x80 | ((c >> 6) & 63);
      out[pos++] = 0x80 | (c & 63);
    } else {
      if ((c & 0xf800) === 0xd800) c = 0xfffd; // an unpaired surrogate
      out[pos++] = 0xe0 | (c >> 12);
      out[pos++] = 0x80 | ((c >> 6) & 63);
      out[pos++] = 0x80 | (c & 63);
    }
  }
  return pos;
}

/** Writes tag, length and bytes of a string field whose UTF-8 length is `length`. */
function writeString(out: Uint8Array, pos: number, tag: number, s: string, length: number): number {
  out[pos++] = tag;
  pos = writeVarint32(out, pos, length);
  return writeUtf8(out, pos, s);
}

function writeBytes(out: Uint8Array, pos: number, tag: number, bytes: Uint8Array): number {
  out[pos++] = tag;
  pos = writeVarint32(out, pos, bytes.length);
  out.set(bytes, pos);
  return pos + bytes.length;
}

/** Length of a length-delimited field (one-byte tag) with `length` bytes of content. */
function delimitedLength(length: number): number {
  return 1 + varint32Length(length) + length;
}

/** Output arrays: Buffers from Node's pool, as protobufjs's BufferWriter returns (small ones are cheap). */
function allocate(size: number): Uint8Array {
  return Buffer.allocUnsafe(size);
}

function checkWritten(pos: number, size: number): void {
  if (pos !== size) throw new Error(`internal: encoded ${pos} bytes, planned ${size}`);
}

// Scratch halves for 64-bit fields; every encoder is synchronous, so module-level is safe.
const s1: Split = { lo: 0, hi: 0 };
const s2: Split = { lo: 0, hi: 0 };
const s3: Split = { lo: 0, hi: 0 };
const s4: Split = { lo: 0, hi: 0 };

// ---- ClientHeader ---------------------------------------------------------------------------

export function encodeClientHeader(h: ClientHeader): Uint8Array {
  const uuid = split64(h.uuid, s1);
  const serverLength = h.server != null ? utf8Length(h.server) : -1;
  const resourceLength = h.resource != null ? utf8Length(h.resource) : -1;
  const cmdLength = h.cmd != null ? utf8Length(h.cmd) : -1;
  const subcmdLength = h.subcmd != null ? utf8Length(h.subcmd) : -1;
  const idLength = h.id != null ? utf8Length(h.id) : -1;
  const errStrLength = h.errStr != null ? utf8Length(h.errStr) : -1;
  let size = 0;
  if (h.chid != null) size += 1 + int32Length(h.chid);
  size += 1 + varint64Length(uuid.lo, uuid.hi);
  if (serverLength >= 0) size += delimitedLength(serverLength);
  if (resourceLength >= 0) size += delimitedLength(resourceLength);
  if (cmdLength >= 0) size += delimitedLength(cmdLength);
  if (subcmdLength >= 0) size += delimitedLength(subcmdLength);
  if (idLength >= 0) size += delimitedLength(idLength);
  if (h.dirFlag != null) size += 1 + int32Length(h.dirFlag);
  if (h.cipher != null) size += 1 + int32Length(h.cipher);
  if (h.errCode != null) size += 1 + int32Length(h.errCode);
  if (errStrLength >= 0) size += delimitedLength(errStrLength);
  const out = allocate(size);
  let pos = 0;
  if (h.chid != null) {
    out[pos++] = 0x08;
    pos = writeInt32(out, pos, h.chid);
  }
  out[pos++] = 0x10;
  pos = writeVarint64(out, pos, uuid.lo, uuid.hi);
  if (serverLength >= 0) pos = writeString(out, pos, 0x1a, h.server, serverLength);
  if (resourceLength >= 0) pos = writeString(out, pos, 0x22, h.resource, resourceLength);
  if (cmdLength >= 0) pos = writeString(out, pos, 0x2a, h.cmd, cmdLength);
  if (subcmdLength >= 0) pos = writeString(out, pos, 0x32, h.subcmd!, subcmdLength);
  if (idLength >= 0) pos = writeString(out, pos, 0x3a, h.id, idLength);
  if (h.dirFlag != null) {
    out[pos++] = 0x40;
    pos = writeInt32(out, pos, h.dirFlag);
  }
  if (h.cipher != null) {
    out[pos++] = 0x48;
    pos = writeInt32(out, pos, h.cipher);
  }
  if (h.errCode != null) {
    out[pos++] = 0x50;
    pos = writeInt32(out, pos, h.errCode);
  }
  if (errStrLength >= 0) pos = writeString(out, pos, 0x5a, h.errStr!, errStrLength);
  checkWritten(pos, size);
  return out;
}

// ---- MIMCPacket -----------------------------------------------------------------------------

/** Field lengths of one packet, computed once for its size and reused to write it. */
interface PacketPlan {
  packetIdLength: number;
  packageLength: number;
  sequence: Split | null;
  timestamp: Split | null;
  size: number;
}

function planPacket(p: MimcPacket, sequence: Split, timestamp: Split): PacketPlan {
  const packetIdLength = p.packetId != null ? utf8Length(p.packetId) : -1;
  const packageLength = p.package != null ? utf8Length(p.package) : -1;
  const seq = p.sequence != null ? split64(p.sequence, sequence) : null;
  const ts = p.timestamp != null ? split64(p.timestamp, timestamp) : null;
  let size = 0;
  if (packetIdLength >= 0) size += delimitedLength(packetIdLength);
  if (packageLength >= 0) size += delimitedLength(packageLength);
  if (seq) size += 1 + varint64Length(seq.lo, seq.hi);
  if (p.type != null) size += 1 + int32Length(p.type);
  if (p.payload != null) size += delimitedLength(p.payload.length);
  if (ts) size += 1 + varint64Length(ts.lo, ts.hi);
  return { packetIdLength, packageLength, sequence: seq, timestamp: ts, size };
}

function writePacket(out: Uint8Array, pos: number, p: MimcPacket, plan: PacketPlan): number {
  if (plan.packetIdLength >= 0) pos = writeString(out, pos, 0x0a, p.packetId, plan.packetIdLength);
  if (plan.packageLength >= 0) pos = writeString(out, pos, 0x12, p.package, plan.packageLength);
  if (plan.sequence) {
    out[pos++] = 0x18;
    pos = writeVarint64(out, pos, plan.sequence.lo, plan.sequence.hi);
  }
  if (p.type != null) {
    out[pos++] = 0x20;
    pos = writeInt32(out, pos, p.type);
  }
  if (p.payload != null) pos = writeBytes(out, pos, 0x2a, p.payload);
  if (plan.timestamp) {
    out[pos++] = 0x30;
    pos = writeVarint64(out, pos, plan.timestamp.lo, plan.timestamp.hi);
  }
  return pos;
}

export function encodePacket(p: MimcPacket): Uint8Array {
  const plan = planPacket(p, s1, s2);
  const out = allocate(plan.size);
  checkWritten(writePacket(out, 0, p, plan), plan.size);
  return out;
}

// ---- MIMCUser, MIMCGroup, MIMCP2PMessage, MIMCP2TMessage ------------------------------------

interface UserPlan {
  appId: Split;
  appAccountLength: number;
  uuid: Split | null;
  resourceLength: number;
  size: number;
}

function planUser(u: UserRef, appId: Split, uuid: Split): UserPlan {
  const appIdSplit = split64(u.appId, appId);
  const appAccountLength = u.appAccount != null ? utf8Length(u.appAccount) : -1;
  const uuidSplit = u.uuid != null ? split64(u.uuid, uuid) : null;
  const resourceLength = u.resource != null ? utf8Length(u.resource) : -1;
  let size = 1 + varint64Length(appIdSplit.lo, appIdSplit.hi);
  if (appAccountLength >= 0) size += delimitedLength(appAccountLength);
  if (uuidSplit) size += 1 + varint64Length(uuidSplit.lo, uuidSplit.hi);
  if (resourceLength >= 0) size += delimitedLength(resourceLength);
  return { appId: appIdSplit, appAccountLength, uuid: uuidSplit, resourceLength, size };
}

function writeUser(out: Uint8Array, pos: number, tag: number, u: UserRef, plan: UserPlan): number {
  out[pos++] = tag;
  pos = writeVarint32(out, pos, plan.size);
  out[pos++] = 0x08;
  pos = writeVarint64(out, pos, plan.appId.lo, plan.appId.hi);
  if (plan.appAccountLength >= 0) pos = writeString(out, pos, 0x12, u.appAccount, plan.appAccountLength);
  if (plan.uuid) {
    out[pos++] = 0x18;
    pos = writeVarint64(out, pos, plan.uuid.lo, plan.uuid.hi);
  }
  if (plan.resourceLength >= 0) pos = writeString(out, pos, 0x22, u.resource!, plan.resourceLength);
  return pos;
}

/** The fields after `to`, shared by P2P and P2T messages. */
function tailLength(payload: Uint8Array | undefined, isStore: boolean | undefined, bizTypeLength: number): number {
  let size = 0;
  if (payload != null) size += delimitedLength(payload.length);
  if (isStore != null) size += 2;
  if (bizTypeLength >= 0) size += delimitedLength(bizTypeLength);
  return size;
}

function writeTail(out: Uint8Array, pos: number, msg: P2PMessage | P2TMessage, bizTypeLength: number): number {
  if (msg.payload != null) pos = writeBytes(out, pos, 0x1a, msg.payload);
  if (msg.isStore != null) {
    out[pos++] = 0x20;
    out[pos++] = msg.isStore ? 1 : 0;
  }
  if (bizTypeLength >= 0) pos = writeString(out, pos, 0x2a, msg.bizType!, bizTypeLength);
  return pos;
}

export function encodeP2P(msg: P2PMessage): Uint8Array {
  const from = planUser(msg.from, s1, s2);
  const to = planUser(msg.to, s3, s4);
  const bizTypeLength = msg.bizType != null ? utf8Length(msg.bizType) : -1;
  const size = delimitedLength(from.size) + delimitedLength(to.size) + tailLength(msg.payload, msg.isStore, bizTypeLength);
  const out = allocate(size);
  let pos = writeUser(out, 0, 0x0a, msg.from, from);
  pos = writeUser(out, pos, 0x12, msg.to, to);
  checkWritten(writeTail(out, pos, msg, bizTypeLength), size);
  return out;
}

export function encodeP2T(msg: P2TMessage): Uint8Array {
  const from = planUser(msg.from, s1, s2);
  const appId = split64(msg.to.appId, s3);
  const topicId = split64(msg.to.topicId, s4);
  const groupSize = 2 + varint64Length(appId.lo, appId.hi) + varint64Length(topicId.lo, topicId.hi);
  const bizTypeLength = msg.bizType != null ? utf8Length(msg.bizType) : -1;
  const size = delimitedLength(from.size) + delimitedLength(groupSize) + tailLength(msg.payload, msg.isStore, bizTypeLength);
  const out = allocate(size);
  let pos = writeUser(out, 0, 0x0a, msg.from, from);
  out[pos++] = 0x12;
  pos = writeVarint32(out, pos, groupSize);
  out[pos++] = 0x08;
  pos = writeVarint64(out, pos, appId.lo, appId.hi);
  out[pos++] = 0x10;
  pos = writeVarint64(out, pos, topicId.lo, topicId.hi);
  checkWritten(writeTail(out, pos, msg, bizTypeLength), size);
  return out;
}

// ---- MIMCPacketAck, MIMCPacketList, MIMCSequenceAck -----------------------------------------

export function encodeAck(a: PacketAck): Uint8Array {
  const packetIdLength = a.packetId != null ? utf8Length(a.packetId) : -1;
  const uuid = split64(a.uuid, s1);
  const resourceLength = a.resource != null ? utf8Length(a.resource) : -1;
  const sequence = split64(a.sequence, s2);
  const timestamp = split64(a.timestamp, s3);
  const packageLength = a.package != null ? utf8Length(a.package) : -1;
  const errorMsgLength = a.errorMsg != null ? utf8Length(a.errorMsg) : -1;
  let size = 0;
  if (packetIdLength >= 0) size += delimitedLength(packetIdLength);
  size += 1 + varint64Length(uuid.lo, uuid.hi);
  if (resourceLength >= 0) size += delimitedLength(resourceLength);
  size += 1 + varint64Length(sequence.lo, sequence.hi);
  size += 1 + varint64Length(timestamp.lo, timestamp.hi);
  if (packageLength >= 0) size += delimitedLength(packageLength);
  if (errorMsgLength >= 0) size += delimitedLength(errorMsgLength);
  if (a.code != null) size += 1 + int32Length(a.code);
  const out = allocate(size);
  let pos = 0;
  if (packetIdLength >= 0) pos = writeString(out, pos, 0x0a, a.packetId, packetIdLength);
  out[pos++] = 0x10;
  pos = writeVarint64(out, pos, uuid.lo, uuid.hi);
  if (resourceLength >= 0) pos = writeString(out, pos, 0x1a, a.resource, resourceLength);
  out[pos++] = 0x20;
  pos = writeVarint64(out, pos, sequence.lo, sequence.hi);
  out[pos++] = 0x28;
  pos = writeVarint64(out, pos, timestamp.lo, timestamp.hi);
  if (packageLength >= 0) pos = writeString(out, pos, 0x32, a.package, packageLength);
  if (errorMsgLength >= 0) pos = writeString(out, pos, 0x3a, a.errorMsg, errorMsgLength);
  if (a.code != null) {
    out[pos++] = 0x40;
    pos = writeInt32(out, pos, a.code);
  }
  checkWritten(pos, size);
  return out;
}

export function encodeList(l: PacketList): Uint8Array {
  const uuid = split64(l.uuid, s1);
  const resourceLength = l.resource != null ? utf8Length(l.resource) : -1;
  const maxSequence = split64(l.maxSequence, s2);
  let size = 0;
  size += 1 + varint64Length(uuid.lo, uuid.hi);
  if (resourceLength >= 0) size += delimitedLength(resourceLength);
  size += 1 + varint64Length(maxSequence.lo, maxSequence.hi);
  const packets = l.packets ?? [];
  const plans: PacketPlan[] = new Array<PacketPlan>(packets.length);
  for (let i = 0; i < packets.length; i++) {
    // each plan keeps its own halves: they are written after all are planned
    const plan = planPacket(packets[i]!, { lo: 0, hi: 0 }, { lo: 0, hi: 0 });
    plans[i] = plan;
    size += delimitedLength(plan.size);
  }
  if (l.status != null) size += 1 + int32Length(l.status);
  const out = allocate(size);
  let pos = 0;
  out[pos++] = 0x08;
  pos = writeVarint64(out, pos, uuid.lo, uuid.hi);
  if (resourceLength >= 0) pos = writeString(out, pos, 0x12, l.resource, resourceLength);
  out[pos++] = 0x18;
  pos = writeVarint64(out, pos, maxSequence.lo, maxSequence.hi);
  for (let i = 0; i < packets.length; i++) {
    const plan = plans[i]!;
    out[pos++] = 0x22;
    pos = writeVarint32(out, pos, plan.size);
    pos = writePacket(out, pos, packets[i]!, plan);
  }
  if (l.status != null) {
    out[pos++] = 0x28;
    pos = writeInt32(out, pos, l.status);
  }
  checkWritten(pos, size);
  return out;
}

export function encodeSeqAck(a: SequenceAck): Uint8Array {
  const uuid = split64(a.uuid, s1);
  const resourceLength = a.resource != null ? utf8Length(a.resource) : -1;
  const sequence = split64(a.sequence, s2);
  const appId = split64(a.appId, s3);
  let size = 0;
  size += 1 + varint64Length(uuid.lo, uuid.hi);
  if (resourceLength >= 0) size += delimitedLength(resourceLength);
  size += 1 + varint64Length(sequence.lo, sequence.hi);
  size += 1 + varint64Length(appId.lo, appId.hi);
  const out = allocate(size);
  let pos = 0;
  out[pos++] = 0x08;
  pos = writeVarint64(out, pos, uuid.lo, uuid.hi);
  if (resourceLength >= 0) pos = writeString(out, pos, 0x12, a.resource, resourceLength);
  out[pos++] = 0x18;
  pos = writeVarint64(out, pos, sequence.lo, sequence.hi);
  out[pos++] = 0x20;
  pos = writeVarint64(out, pos, appId.lo, appId.hi);
  checkWritten(pos, size);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading

/** protobufjs's limit on nested skipping (groups). */
const RECURSION_LIMIT = 100;

const looseUtf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** The default of absent bytes fields (protobufjs: an empty Buffer). */
const NO_BYTES: Uint8Array = Buffer.alloc(0);

function outOfRange(at: number, need: number, end: number): RangeError {
  return new RangeError(`index out of range: ${at} + ${need} > ${end}`);
}

/** A cursor over `buf[pos, end)`; nested messages narrow `end` while they are read. */
class WireReader {
  pos = 0;
  /** High half of the last varint64 read. */
  hi = 0;

  constructor(
    readonly buf: Uint8Array,
    public end: number,
  ) {}

  /** A field tag: at most 5 bytes, the fifth carrying no more than 4 bits. */
  tag(): number {
    const buf = this.buf;
    let pos = this.pos;
    let value = 0;
    for (let i = 0; i < 5; i++) {
      if (pos >= this.end) throw outOfRange(pos, 1, this.end);
      const b = buf[pos++]!;
      if (i === 4) {
        if (b > 15) throw new Error('invalid tag encoding');
        this.pos = pos;
        return (value | (b << 28)) >>> 0;
      }
      value |= (b & 127) << (7 * i);
      if (b < 128) {
        this.pos = pos;
        return value >>> 0;
      }
    }
    throw new Error('invalid tag encoding');
  }

  /** A length prefix: at most 5 bytes, below 2³¹. */
  size(): number {
    const buf = this.buf;
    let pos = this.pos;
    let value = 0;
    for (let i = 0; i < 5; i++) {
      if (pos >= this.end) throw outOfRange(pos, 1, this.end);
      const b = buf[pos++]!;
      if (i === 4) {
        if (b > 7) throw new Error('invalid length encoding');
        this.pos = pos;
        return (value | (b << 28)) >>> 0;
      }
      value |= (b & 127) << (7 * i);
      if (b < 128) {
        this.pos = pos;
        return value >>> 0;
      }
    }
    throw new Error('invalid length encoding');
  }

  /** The low 32 bits of a varint of at most 10 bytes. */
  uint32(): number {
    const buf = this.buf;
    let pos = this.pos;
    let value = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= this.end) throw outOfRange(pos, 1, this.end);
      const b = buf[pos++]!;
      if (i < 5) value |= (b & 127) << (7 * i);
      if (b < 128) {
        this.pos = pos;
        return value >>> 0;
      }
    }
    throw new Error('invalid varint encoding');
  }

  int32(): number {
    return this.uint32() | 0;
  }

  /** True when any of the (at most 10) varint bytes carries a set bit. */
  bool(): boolean {
    const buf = this.buf;
    let value = false;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw outOfRange(this.pos, 1, this.end);
      const b = buf[this.pos++]!;
      if (b & 127) value = true;
      if (b < 128) return value;
    }
    throw new Error('invalid varint encoding');
  }

  /** A varint of at most 10 bytes as 64 bits: returns the low half, leaves the high half in `hi`. */
  varint64(): number {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    let b = 0;
    for (let i = 0; i < 4; i++) {
      if (pos >= end) throw outOfRange(pos, 1, end);
      b = buf[pos++]!;
      lo |= (b & 127) << (7 * i);
      if (b < 128) {
        this.pos = pos;
        this.hi = 0;
        return lo >>> 0;
      }
    }
    if (pos >= end) throw outOfRange(pos, 1, end);
    b = buf[pos++]!;
    lo |= (b & 127) << 28;
    hi = (b & 127) >> 4;
    if (b < 128) {
      this.pos = pos;
      this.hi = hi;
      return lo >>> 0;
    }
    for (let i = 0; i < 5; i++) {
      if (pos >= end) throw outOfRange(pos, 1, end);
      b = buf[pos++]!;
      hi |= (b & 127) << (7 * i + 3);
      if (b < 128) {
        this.pos = pos;
        this.hi = hi >>> 0;
        return lo >>> 0;
      }
    }
    throw new Error('invalid varint encoding');
  }

  uint64(): bigint {
    const lo = this.varint64();
    return unsigned64(lo, this.hi);
  }

  int64(): bigint {
    const lo = this.varint64();
    return signed64(lo, this.hi);
  }

  private span(): number {
    const length = this.size();
    const start = this.pos;
    if (start + length > this.end) throw outOfRange(start, length, this.end);
    this.pos = start + length;
    return start;
  }

  string(): string {
    const start = this.span();
    return readUtf8(this.buf, start, this.pos);
  }

  /** A view of the bytes, of the same class as the input (as protobufjs returns them). */
  bytes(): Uint8Array {
    const start = this.span();
    return this.buf.subarray(start, this.pos);
  }

  /** Skips a field of `wireType` (protobufjs's skipType: groups nest at most RECURSION_LIMIT deep). */
  skip(wireType: number, depth: number, fieldNumber: number | undefined): void {
    if (depth > RECURSION_LIMIT) throw new Error('max depth exceeded');
    if (fieldNumber === 0) throw new Error('illegal tag: field number 0');
    switch (wireType) {
      case 0:
        do {
          if (this.pos >= this.end) throw outOfRange(this.pos, 1, this.end);
        } while (this.buf[this.pos++]! & 128);
        return;
      case 1:
        this.advance(8);
        return;
      case 2:
        this.advance(this.size());
        return;
      case 3:
        for (;;) {
          const tag = this.tag();
          const nested = tag >>> 3;
          const nestedType = tag & 7;
          if (nested === 0) throw new Error('illegal tag: field number 0');
          if (nestedType === 4) {
            if (fieldNumber !== undefined && nested !== fieldNumber) throw new Error('invalid end group tag');
            return;
          }
          this.skip(nestedType, depth + 1, nested);
        }
      case 5:
        this.advance(4);
        return;
      default:
        throw new Error(`invalid wire type ${wireType} at offset ${this.pos}`);
    }
  }

  private advance(length: number): void {
    if (this.pos + length > this.end) throw outOfRange(this.pos, length, this.end);
    this.pos += length;
  }

  /** Narrows the reader to an embedded message of `length` bytes; returns the end to restore. */
  enter(length: number): number {
    const end = this.pos + length;
    if (end > this.end) throw new RangeError('index out of range');
    const outer = this.end;
    this.end = end;
    return outer;
  }

  leave(outer: number): void {
    if (this.pos !== this.end) throw new RangeError('index out of range');
    this.end = outer;
  }
}

function unsigned64(lo: number, hi: number): bigint {
  if (hi === 0) return BigInt(lo);
  // below 2^53 one exact double does it
  if (hi < 0x200000) return BigInt(hi * 4294967296 + lo);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

function signed64(lo: number, hi: number): bigint {
  return hi < 0x80000000 ? unsigned64(lo, hi) : BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
}

/** UTF-8 as TextDecoder reads it (invalid sequences become U+FFFD, a BOM is kept); ASCII without it. */
function readUtf8(buf: Uint8Array, start: number, end: number): string {
  const n = end - start;
  if (n === 0) return '';
  if (n <= 64) {
    let s = '';
    for (let i = start; i < end; i++) {
      const b = buf[i]!;
      if (b >= 0x80) return s + looseUtf8.decode(buf.subarray(i, end));
      s += String.fromCharCode(b);
    }
    return s;
  }
  return looseUtf8.decode(buf.subarray(start, end));
}

// ---- ClientHeader ---------------------------------------------------------------------------

const isDirFlag = (v: number): boolean => v >= 1 && v <= 6;
const isPacketType = (v: number): boolean => v >= 1 && v <= 12;
const isPushStatus = (v: number): boolean => v === 1 || v === 2;

export function decodeClientHeader(bytes: Uint8Array): ClientHeader {
  const r = new WireReader(bytes, bytes.length);
  let chid = 0;
  let uuid = 0n;
  let server = '';
  let resource = '';
  let cmd = '';
  let id = '';
  let dirFlag = 1;
  let cipher = 0;
  let subcmd: string | undefined;
  let errCode: number | undefined;
  let errStr: string | undefined;
  while (r.pos < r.end) {
    const tag = r.tag();
    const wireType = tag & 7;
    const field = tag >>> 3;
    switch (field) {
      case 1:
        if (wireType !== 0) break;
        chid = r.int32();
        continue;
      case 2:
        if (wireType !== 0) break;
        uuid = r.int64();
        continue;
      case 3:
        if (wireType !== 2) break;
        server = r.string();
        continue;
      case 4:
        if (wireType !== 2) break;
        resource = r.string();
        continue;
      case 5:
        if (wireType !== 2) break;
        cmd = r.string();
        continue;
      case 6:
        if (wireType !== 2) break;
        subcmd = r.string();
        continue;
      case 7:
        if (wireType !== 2) break;
        id = r.string();
        continue;
      case 8: {
        if (wireType !== 0) break;
        const value = r.int32();
        if (isDirFlag(value)) dirFlag = value;
        continue;
      }
      case 9:
        if (wireType !== 0) break;
        cipher = r.int32();
        continue;
      case 10:
        if (wireType !== 0) break;
        errCode = r.int32();
        continue;
      case 11:
        if (wireType !== 2) break;
        errStr = r.string();
        continue;
    }
    r.skip(wireType, 0, field);
  }
  const header: ClientHeader = { chid, uuid, server, resource, cmd, id, dirFlag, cipher };
  if (subcmd !== undefined) header.subcmd = subcmd;
  if (errCode !== undefined) header.errCode = errCode;
  if (errStr !== undefined) header.errStr = errStr;
  return header;
}

// ---- MIMCPacket -----------------------------------------------------------------------------

/** One MIMCPacket from r.pos to r.end. */
function readPacket(r: WireReader, depth: number): MimcPacket {
  let packetId = '';
  let pkg = '';
  let type = 0;
  let sequence: bigint | undefined;
  let payload: Uint8Array | undefined;
  let timestamp: bigint | undefined;
  while (r.pos < r.end) {
    const tag = r.tag();
    const wireType = tag & 7;
    const field = tag >>> 3;
    switch (field) {
      case 1:
        if (wireType !== 2) break;
        packetId = r.string();
        continue;
      case 2:
        if (wireType !== 2) break;
        pkg = r.string();
        continue;
      case 3:
        if (wireType !== 0) break;
        sequence = r.int64();
        continue;
      case 4: {
        if (wireType !== 0) break;
        // protobufjs drops a value the enum does not know; a missing type is 0, never the proto2 default
        const value = r.int32();
        if (isPacketType(value)) type = value;
        continue;
      }
      case 5:
        if (wireType !== 2) break;
        payload = r.bytes();
        continue;
      case 6:
        if (wireType !== 0) break;
        timestamp = r.int64();
        continue;
      case 7:
        if (wireType !== 0) break;
        r.bool(); // conversation: read to validate, not used
        continue;
      case 8:
        if (wireType !== 0) break;
        r.varint64(); // convIndex: read to validate, not used
        continue;
    }
    r.skip(wireType, depth, field);
  }
  const p: MimcPacket = { packetId, package: pkg, type };
  if (sequence !== undefined) p.sequence = sequence;
  if (payload !== undefined) p.payload = payload;
  if (timestamp !== undefined) p.timestamp = timestamp;
  return p;
}

export function decodePacket(bytes: Uint8Array): MimcPacket {
  return readPacket(new WireReader(bytes, bytes.length), 0);
}

// ---- MIMCUser, MIMCGroup, MIMCP2PMessage, MIMCP2TMessage ------------------------------------

/** The fields of a MIMCUser seen so far; occurrences of one embedded message merge. */
interface UserFields {
  appId?: bigint;
  appAccount?: string;
  uuid?: bigint;
  resource?: string;
}

function readUser(r: WireReader, depth: number, into: UserFields): UserFields {
  const outer = r.enter(r.size());
  while (r.pos < r.end) {
    const tag = r.tag();
    const wireType = tag & 7;
    const field = tag >>> 3;
    switch (field) {
      case 1:
        if (wireType !== 0) break;
        into.appId = r.uint64();
        continue;
      case 2:
        if (wireType !== 2) break;
        into.appAccount = r.string();
        continue;
      case 3:
        if (wireType !== 0) break;
        into.uuid = r.uint64();
        continue;
      case 4:
        if (wireType !== 2) break;
        into.resource = r.string();
        continue;
    }
    r.skip(wireType, depth, field);
  }
  r.leave(outer);
  return into;
}

function toUserRef(f: UserFields | null): UserRef {
  const user: UserRef = { appId: f?.appId ?? 0n, appAccount: f?.appAccount ?? '' };
  if (f?.uuid !== undefined) user.uuid = f.uuid;
  if (f?.resource !== undefined) user.resource = f.resource;
  return user;
}

function readGroup(r: WireReader, depth: number, into: Partial<GroupRef>): Partial<GroupRef> {
  const outer = r.enter(r.size());
  while (r.pos < r.end) {
    const tag = r.tag();
    const wireType = tag & 7;
    const field = tag >>> 3;
    switch (field) {
      case 1:
        if (wireType !== 0) break;
        into.appId = r.uint64();
        continue;
      case 2:
        if (wireType !== 0) break;
        into.topicId = r.uint64();
        continue;
    }
    r.skip(wireType, depth, field);
  }
  r.leave(outer);
  return into;
}

/** Decodes a MIMCP2PMessage (`group` false) or a MIMCP2TMessage (`group` true). */
function readMessage(bytes: Uint8Array, group: boolean): P2PMessage | P2TMessage {
  const r = new WireReader(bytes, bytes.length);
  let from: UserFields | null = null;
  let toUser: UserFields | null = null;
  let toGroup: Partial<GroupRef> | null = null;
  let payload: Uint8Array = NO_BYTES;
  let isStore: boolean | undefined;
  let bizType: string | undefined;
  while (r.pos < r.end) {
    const tag = r.tag();
    const wireType = tag & 7;
    const field = tag >>> 3;
    switch (field) {
      case 1:
        if (wireType !== 2) break;
        from = readUser(r, 1, from ?? {});
        continue;
      case 2:
        if (wireType !== 2) break;
        if (group) toGroup = readGroup(r, 1, toGroup ?? {});
        else toUser = readUser(r, 1, toUser ?? {});
        continue;
      case 3:
        if (wireType !== 2) break;
        payload = r.bytes();
        continue;
      case 4:
        if (wireType !== 0) break;
        isStore = r.bool();
        continue;
      case 5:
        if (wireType !== 2) break;
        bizType = r.string();
        continue;
    }
    r.skip(wireType, 0, field);
  }
  const msg = (
    group
      ? { from: toUserRef(from), to: { appId: toGroup?.appId ?? 0n, topicId: toGroup?.topicId ?? 0n }, payload }
      : { from: toUserRef(from), to: toUserRef(toUser), payload }
  ) as P2PMessage | P2TMessage;
  if (isStore !== undefined) msg.isStore = isStore;
  if (bizType !== undefined) msg.bizType = bizType;
  return msg;
}

export function decodeP2P(bytes: Uint8Array): P2PMessage {
  return readMessage(bytes, false) as P2PMessage;
}

export function decodeP2T(bytes: Uint8Array): P2TMessage {
  return readMessage(bytes, true) as P2TMessage;
}

// ---- MIMCPacketAck, MIMCPacketList, MIMCSequenceAck -----------------------------------------

export function decodeAck(bytes: Uint8Array): PacketAck {
  const r = new WireReader(bytes, bytes.length);
  let packetId = '';
  let uuid = 0n;
  let resource = '';
  let sequence = 0n;
  let timestamp = 0n;
  let pkg = '';
  let errorMsg = '';
  let code: number | undefined;
  while (r.pos < r.end) {
    const tag = r.tag();
    const wireType = tag & 7;
    const field = tag >>> 3;
    switch (field) {
      case 1:
        if (wireType !== 2) break;
        packetId = r.string();
        continue;
      case 2:
        if (wireType !== 0) break;
        uuid = r.uint64();
        continue;
      case 3:
        if (wireType !== 2) break;
        resource = r.string();
        continue;
      case 4:
        if (wireType !== 0) break;
        sequence = r.int64();
        continue;
      case 5:
        if (wireType !== 0) break;
        timestamp = r.int64();
        continue;
      case 6:
        if (wireType !== 2) break;
        pkg = r.string();
        continue;
      case 7:
        if (wireType !== 2) break;
        errorMsg = r.string();
        continue;
      case 8:
        if (wireType !== 0) break;
        code = r.int32();
        continue;
      case 9:
        if (wireType !== 0) break;
        r.varint64(); // convIndex: read to validate, not used
        continue;
    }
    r.skip(wireType, 0, field);
  }
  const ack: PacketAck = { packetId, uuid, resource, sequence, timestamp, package: pkg, errorMsg };
  if (code !== undefined) ack.code = code;
  return ack;
}

export function decodeList(bytes: Uint8Array): PacketList {
  const r = new WireReader(bytes, bytes.length);
  let uuid = 0n;
  let resource = '';
  let maxSequence = 0n;
  const packets: MimcPacket[] = [];
  let status = 1;
  while (r.pos < r.end) {
    const tag = r.tag();
    const wireType = tag & 7;
    const field = tag >>> 3;
    switch (field) {
      case 1:
        if (wireType !== 0) break;
        uuid = r.uint64();
        continue;
      case 2:
        if (wireType !== 2) break;
        resource = r.string();
        continue;
      case 3:
        if (wireType !== 0) break;
        maxSequence = r.int64();
        continue;
      case 4: {
        if (wireType !== 2) break;
        const outer = r.enter(r.size());
        packets.push(readPacket(r, 1));
        r.leave(outer);
        continue;
      }
      case 5: {
        if (wireType !== 0) break;
        const value = r.int32();
        if (isPushStatus(value)) status = value;
        continue;
      }
    }
    r.skip(wireType, 0, field);
  }
  return { uuid, resource, maxSequence, packets, status };
}

export function decodeSeqAck(bytes: Uint8Array): SequenceAck {
  const r = new WireReader(bytes, bytes.length);
  let uuid = 0n;
  let resource = '';
  let sequence = 0n;
  let appId = 0n;
  while (r.pos < r.end) {
    const tag = r.tag();
    const wireType = tag & 7;
    const field = tag >>> 3;
    switch (field) {
      case 1:
        if (wireType !== 0) break;
        uuid = r.uint64();
        continue;
      case 2:
        if (wireType !== 2) break;
        resource = r.string();
        continue;
      case 3:
        if (wireType !== 0) break;
        sequence = r.int64();
        continue;
      case 4:
        if (wireType !== 0) break;
        appId = r.uint64();
        continue;
    }
    r.skip(wireType, 0, field);
  }
  return { uuid, resource, sequence, appId };
}
