/**
 * The protobuf decoder of the messages on the receive path of every frame: ims.ClientHeader, the
 * MIMCPacket (and the MIMCPacketList of a COMPOUND), its acks, the P2P and P2T messages, and the
 * UC packet, message and message list. It reads the wire bytes straight into the domain objects
 * of packets.ts and uc.ts: no Reader object, no Long, no message object with prototype defaults.
 *
 * The decoded objects are exactly those of the protobufjs code generated from proto/ (which
 * spec/protocol/proto-reader.spec.ts holds it to):
 * - proto2 presence: an optional field the domain type marks optional is set only when it was
 *   on the wire; the others read as protobufjs' defaults when absent (e.g. dirFlag 1, status 1).
 * - the last occurrence of a scalar field wins; a repeated occurrence of an embedded message
 *   merges into the earlier one, field by field, as protobufjs does.
 * - an enum value the schema does not know is dropped (the field keeps its earlier value).
 * - int32 fields are the low 32 bits of the varint; bool is true when any bit of it is set;
 *   uint64 and int64 fields come back as exact bigints (int64 signed, uint64 unsigned).
 * - `bytes` fields are views into the input (of its type: a Buffer in gives Buffer views).
 * - strings: UTF-8 decoded; invalid UTF-8 becomes U+FFFD per the WHATWG decoder (maximal
 *   subparts), as protobufjs does too (TextDecoder, or Buffer's utf8Slice for a Buffer). A
 *   leading byte order mark is kept. Fields whose values repeat across messages (accounts,
 *   resources, packages, commands, the server) go through a 256-slot cache keyed by their exact
 *   bytes, which saves most of the decoding (the largest cost here besides the bigints).
 * - unknown fields are skipped, groups included (iteratively, nested up to protobufjs' limit).
 *
 * It is stricter than protobufjs where that only refuses nonsense no encoder writes: a known
 * field with the wrong wire type, and an unknown varint longer than 10 bytes. Everything
 * protobufjs refuses is refused too. Any failure is a MIMCError MALFORMED_FRAME
 * "cannot parse <message>"; every read is bounds-checked and the work is linear in the input.
 */
import { MIMCError, ErrorCode } from '../errors.js';
import type { ClientHeader, MimcPacket, P2PMessage, P2TMessage, PacketAck, PacketList } from './packets.js';
import type { GroupRef, UserRef } from './proto-fields.js';
import type { UcMessage, UcMessageList, UcPacket } from './uc.js';
import { WideValues } from './wide-values.js';

/** protobufjs' Reader.recursionLimit (protoc's default): nesting depth of messages and groups. */
const RECURSION_LIMIT = 100;

/** What an absent `bytes` field of a P2P/P2T message reads as: protobufjs' prototype default, a Buffer. */
const ABSENT_BYTES: Uint8Array = Buffer.alloc(0);

const TWO_32 = 4294967296;

type Utf8Slice = (this: Uint8Array, start: number, end: number) => string;
/** Node's native UTF-8 slice (what protobufjs uses for a Buffer); works on any Uint8Array. */
const utf8Slice = (Buffer.prototype as unknown as { utf8Slice?: Utf8Slice }).utf8Slice;
const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** Strings the text cache holds: up to this many bytes, in this many slots (a power of 2). */
const TEXT_CACHE_MAX_BYTES = 64;
const TEXT_CACHE_SLOTS = 256;

/** UTF-8 of b[from, to): very short ASCII without a native call (faster there), else utf8Slice. */
function decodeUtf8(b: Uint8Array, from: number, to: number): string {
  if (to - from <= 8) {
    let s = '';
    let i = from;
    for (; i < to; i++) {
      const c = b[i]!;
      if (c > 127) break;
      s += String.fromCharCode(c);
    }
    if (i === to) return s;
  }
  return utf8Slice ? utf8Slice.call(b, from, to) : utf8Decoder.decode(b.subarray(from, to));
}

/** Whether `cached` holds exactly the `n` bytes of `b` from `from`. */
function sameBytes(cached: Uint8Array, b: Uint8Array, from: number, n: number): boolean {
  if (cached.length !== n) return false;
  let i = 0;
  while (i < n && cached[i] === b[from + i]) i++;
  return i === n;
}

/** The bigint of an unsigned 64-bit value given as its 32-bit halves; one conversion when below 2^53. */
function uint64(lo: number, hi: number): bigint {
  return hi < 0x200000 ? BigInt(hi * TWO_32 + lo) : (BigInt(hi) << 32n) | BigInt(lo);
}

/** The bigint of a signed (two's-complement) 64-bit value given as its 32-bit halves. */
function int64(lo: number, hi: number): bigint {
  const h = hi | 0;
  return h < 0x200000 && h >= -0x200000 ? BigInt(h * TWO_32 + lo) : (BigInt(h) << 32n) | BigInt(lo);
}

/**
 * A cursor over one input. Every read takes the end of the message being read, so nothing
 * reads past an embedded message. Synchronous use only; the one instance is reset per decode.
 */
class ProtoReader {
  buf: Uint8Array = ABSENT_BYTES;
  pos = 0;
  /** The 32-bit halves of the last varint64 read (unsigned). */
  lo = 0;
  hi = 0;
  /** The fifth byte of the last tag or varint32 that had one, else 0 (see low32). */
  private lastByte = 0;
  /** Names the message in errors. */
  what = '';
  /** Field numbers of the groups being skipped, innermost last. */
  private readonly groups = new Int32Array(RECURSION_LIMIT + 2);
  /** The text cache, two ways per slot (`2 * slot`, `2 * slot + 1`): each way's bytes (empty: none yet) and string. */
  private readonly cacheBytes: Uint8Array[] = Array.from({ length: 2 * TEXT_CACHE_SLOTS }, () => new Uint8Array(0));
  private readonly cacheText: string[] = Array.from({ length: 2 * TEXT_CACHE_SLOTS }, () => '');
  private readonly wide = new WideValues();

  start(bytes: Uint8Array, what: string): void {
    this.buf = bytes;
    this.pos = 0;
    this.what = what;
  }

  /** `details`: what was wrong and near which offset; `cause`: the same as an Error, as the protobufjs error was. */
  fail(reason: string): never {
    const offset = this.pos;
    throw new MIMCError(ErrorCode.MALFORMED_FRAME, `cannot parse ${this.what}`, {
      cause: new Error(`protobuf: ${reason} at offset ${offset}`),
      details: { reason, offset },
    });
  }

  /** A field tag: a varint of at most 5 bytes that fits 32 bits (as protobufjs reads it). */
  tag(end: number): number {
    const value = this.low32(end, 'truncated tag');
    if (this.lastByte > 15) this.fail('tag beyond 32 bits');
    return value;
  }

  /** A varint's low 32 bits, unsigned (protobufjs' uint32; int32 is this `| 0`). At most 10 bytes. */
  varint32(end: number): number {
    const value = this.low32(end, 'truncated varint');
    if (this.lastByte < 128) return value;
    // bytes 6 to 10 only carry bits above 32
    const b = this.buf;
    let p = this.pos;
    for (let k = 0; k < 5; k++) {
      if (p >= end) this.fail('truncated varint');
      if (b[p++]! < 128) {
        this.pos = p;
        return value;
      }
    }
    this.pos = p;
    return this.fail('varint longer than 10 bytes');
  }

  /**
   * The first (at most five) bytes of a varint as its low 32 bits, unsigned; `pos` moves past
   * them. A varint that reaches a fifth byte leaves it in `lastByte` (the caller decides whether
   * it may have more bits or bytes); a shorter one leaves `lastByte` below 16.
   */
  private low32(end: number, truncated: string): number {
    const b = this.buf;
    let p = this.pos;
    this.lastByte = 0;
    let value = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (p >= end) this.fail(truncated);
      const byte = b[p++]!;
      value |= (byte & 127) << shift;
      if (byte < 128) {
        this.pos = p;
        return value >>> 0;
      }
    }
    if (p >= end) this.fail(truncated);
    const byte = b[p++]!;
    this.pos = p;
    this.lastByte = byte;
    return (value | ((byte & 127) << 28)) >>> 0;
  }

  /** A 64-bit varint into `lo` and `hi` (protobufjs' readLongVarint: bits above 64 are dropped). */
  varint64(end: number): void {
    const b = this.buf;
    let p = this.pos;
    if (p < end) {
      const first = b[p]!;
      if (first < 128) {
        this.pos = p + 1;
        this.lo = first;
        this.hi = 0;
        return;
      }
    }
    let lo = 0;
    let byte = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (p >= end) this.fail('truncated varint');
      byte = b[p++]!;
      lo |= (byte & 127) << shift;
      if (byte < 128) {
        this.pos = p;
        this.lo = lo >>> 0;
        this.hi = 0;
        return;
      }
    }
    if (p >= end) this.fail('truncated varint');
    byte = b[p++]!;
    lo |= (byte & 127) << 28;
    let hi = (byte & 127) >> 4;
    if (byte >= 128) {
      for (let shift = 3; ; shift += 7) {
        if (shift > 31) {
          this.pos = p;
          this.fail('varint longer than 10 bytes');
        }
        if (p >= end) this.fail('truncated varint');
        byte = b[p++]!;
        hi |= (byte & 127) << shift;
        if (byte < 128) break;
      }
    }
    this.pos = p;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  uint64(end: number): bigint {
    this.varint64(end);
    const { lo, hi } = this;
    return hi < 0x200000 ? BigInt(hi * TWO_32 + lo) : this.wideValue(lo, hi);
  }

  int64(end: number): bigint {
    this.varint64(end);
    const { lo, hi } = this;
    // from 2^53 up to 2^63 the signed and the unsigned value are the same number
    return hi >= 0x200000 && hi < 0x80000000 ? this.wideValue(lo, hi) : int64(lo, hi);
  }

  /** The unsigned value of `hi`:`lo`, at least 2^53: remembered, as such values repeat (see WideValues). */
  private wideValue(lo: number, hi: number): bigint {
    const known = this.wide.valueOf(lo, hi);
    if (known !== undefined) return known;
    const value = uint64(lo, hi);
    this.wide.remember(value, lo, hi);
    return value;
  }

  /** protobufjs' bool: true when any of the (at most 10) bytes carries a set bit. */
  bool(end: number): boolean {
    const b = this.buf;
    let p = this.pos;
    let any = 0;
    for (let k = 0; k < 10; k++) {
      if (p >= end) this.fail('truncated varint');
      const byte = b[p++]!;
      any |= byte & 127;
      if (byte < 128) {
        this.pos = p;
        return any !== 0;
      }
    }
    this.pos = p;
    return this.fail('varint longer than 10 bytes');
  }

  /** A length prefix (below 2^31, as protobufjs reads it) whose bytes fit before `end`; returns where they end. */
  length(end: number): number {
    const b = this.buf;
    let p = this.pos;
    let n: number;
    if (p < end && b[p]! < 128) {
      n = b[p++]!;
    } else {
      n = 0;
      let shift = 0;
      for (; shift < 28; shift += 7) {
        if (p >= end) this.fail('truncated length');
        const byte = b[p++]!;
        n |= (byte & 127) << shift;
        if (byte < 128) break;
      }
      if (shift === 28) {
        if (p >= end) this.fail('truncated length');
        const byte = b[p++]!;
        if (byte > 7) {
          this.pos = p;
          this.fail('length beyond 2^31');
        }
        n |= byte << 28;
      }
    }
    this.pos = p;
    if (n > end - p) this.fail('length past the end');
    return p + n;
  }

  /** A string field whose values are unique (packet ids, error texts). */
  string(end: number): string {
    const to = this.length(end);
    const from = this.pos;
    this.pos = to;
    return decodeUtf8(this.buf, from, to);
  }

  /**
   * A string field whose values repeat from message to message (accounts, resources, packages,
   * commands, the server): looked up by its bytes in a small cache first, two ways per slot, so
   * two strings that share a slot (`tp1_s0` and `tp1_r0`, a message's sender and recipient, hash
   * alike) stay side by side instead of evicting each other on every message. A hit compares every
   * byte, so it returns exactly what decoding would; the cache holds copies.
   */
  text(end: number): string {
    const to = this.length(end);
    const from = this.pos;
    this.pos = to;
    const n = to - from;
    if (n === 0) return '';
    if (n > TEXT_CACHE_MAX_BYTES) return decodeUtf8(this.buf, from, to);
    const b = this.buf;
    const way0 = ((n * 31 + b[from]! * 7 + b[from + (n >> 1)]! * 13 + b[to - 1]!) & (TEXT_CACHE_SLOTS - 1)) << 1;
    const bytes = this.cacheBytes;
    if (sameBytes(bytes[way0]!, b, from, n)) return this.cacheText[way0]!;
    if (sameBytes(bytes[way0 + 1]!, b, from, n)) return this.cacheText[way0 + 1]!;
    // a miss: the newer entry moves to the second way, the older one there is dropped
    const s = decodeUtf8(b, from, to);
    const copy = new Uint8Array(n);
    for (let i = 0; i < n; i++) copy[i] = b[from + i]!;
    bytes[way0 + 1] = bytes[way0]!;
    this.cacheText[way0 + 1] = this.cacheText[way0]!;
    bytes[way0] = copy;
    this.cacheText[way0] = s;
    return s;
  }

  bytes(end: number): Uint8Array {
    const to = this.length(end);
    const from = this.pos;
    this.pos = to;
    return this.buf.subarray(from, to);
  }

  /**
   * Skips the field of `tag`, which the message does not know (field numbers above `known`);
   * refuses a known field with the wrong wire type. `depth`: of the message, 0 for the outermost.
   */
  skip(tag: number, end: number, depth: number, known: number): void {
    const field = tag >>> 3;
    if (field === 0) this.fail('field number 0');
    if (field <= known) this.fail('wrong wire type');
    this.skipValue(tag & 7, field, end, depth);
  }

  private skipValue(wire: number, field: number, end: number, depth: number): void {
    switch (wire) {
      case 0:
        this.varint64(end);
        return;
      case 1:
        this.skipBytes(8, end);
        return;
      case 2:
        this.pos = this.length(end);
        return;
      case 3:
        this.skipGroup(field, end, depth);
        return;
      case 5:
        this.skipBytes(4, end);
        return;
      default:
        this.fail(`wire type ${wire}`);
    }
  }

  private skipBytes(n: number, end: number): void {
    if (n > end - this.pos) this.fail('truncated field');
    this.pos += n;
  }

  /** Skips a group (start tag read) up to its matching end tag, nested groups included, without recursion. */
  private skipGroup(field: number, end: number, depth: number): void {
    const open = this.groups;
    let count = 1;
    open[0] = field;
    while (count > 0) {
      const tag = this.tag(end);
      const nested = tag >>> 3;
      const wire = tag & 7;
      if (nested === 0) this.fail('field number 0');
      if (wire === 4) {
        if (nested !== open[count - 1]) this.fail('unmatched end group');
        count--;
        continue;
      }
      // protobufjs skips what a group holds one level deeper than the group
      if (depth + count > RECURSION_LIMIT) this.fail('nested too deep');
      if (wire === 3) open[count++] = nested;
      else this.skipValue(wire, nested, end, depth);
    }
  }
}

const r: ProtoReader = new ProtoReader();

/** The end of an embedded message whose length prefix is next. */
function embedded(end: number): number {
  return r.length(end);
}

// ---------------------------------------------------------------------------------------------
// Embedded MIMCUser, MIMCGroup / UCGroup

/** A MIMCUser up to `end`, merged over `prev` (a repeated occurrence of the field). */
function readUser(end: number, depth: number, prev: UserRef | null): UserRef {
  let appId = prev === null ? 0n : prev.appId;
  let appAccount = prev === null ? '' : prev.appAccount;
  let uuid = prev === null ? undefined : prev.uuid;
  let resource = prev === null ? undefined : prev.resource;
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 8:
        appId = r.uint64(end);
        break;
      case 18:
        appAccount = r.text(end);
        break;
      case 24:
        uuid = r.uint64(end);
        break;
      case 34:
        resource = r.text(end);
        break;
      default:
        r.skip(tag, end, depth, 4);
    }
  }
  const user: UserRef = { appId, appAccount };
  if (uuid !== undefined) user.uuid = uuid;
  if (resource !== undefined) user.resource = resource;
  return user;
}

/** A MIMCGroup or UCGroup up to `end`, merged over `prev`. */
function readGroup(end: number, depth: number, prev: GroupRef | null): GroupRef {
  let appId = prev === null ? 0n : prev.appId;
  let topicId = prev === null ? 0n : prev.topicId;
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 8:
        appId = r.uint64(end);
        break;
      case 16:
        topicId = r.uint64(end);
        break;
      default:
        r.skip(tag, end, depth, 2);
    }
  }
  return { appId, topicId };
}

// ---------------------------------------------------------------------------------------------
// ims.ClientHeader

export function readClientHeader(bytes: Uint8Array): ClientHeader {
  r.start(bytes, 'client header');
  const end = bytes.length;
  let chid = 0;
  let uuid = 0n;
  let server = '';
  let resource = '';
  let cmd = '';
  let subcmd: string | undefined;
  let id = '';
  let dirFlag = 1;
  let cipher = 0;
  let errCode: number | undefined;
  let errStr: string | undefined;
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 8:
        chid = r.varint32(end) | 0;
        break;
      case 16:
        uuid = r.int64(end);
        break;
      case 26:
        server = r.text(end);
        break;
      case 34:
        resource = r.text(end);
        break;
      case 42:
        cmd = r.text(end);
        break;
      case 50:
        subcmd = r.text(end);
        break;
      case 58:
        id = r.string(end);
        break;
      case 64: {
        // MSG_DIR_FLAG: 1..6
        const v = r.varint32(end) | 0;
        if (v >= 1 && v <= 6) dirFlag = v;
        break;
      }
      case 72:
        cipher = r.varint32(end) | 0;
        break;
      case 80:
        errCode = r.varint32(end) | 0;
        break;
      case 90:
        errStr = r.string(end);
        break;
      default:
        r.skip(tag, end, 0, 11);
    }
  }
  const header: ClientHeader = { chid, uuid, server, resource, cmd, id, dirFlag, cipher };
  if (subcmd !== undefined) header.subcmd = subcmd;
  if (errCode !== undefined) header.errCode = errCode;
  if (errStr !== undefined) header.errStr = errStr;
  return header;
}

// ---------------------------------------------------------------------------------------------
// mimc.MIMCPacket, MIMCPacketList, MIMCPacketAck

function readPacketFields(end: number, depth: number): MimcPacket {
  let packetId = '';
  let pkg = '';
  let type = 0;
  let sequence: bigint | undefined;
  let payload: Uint8Array | undefined;
  let timestamp: bigint | undefined;
  let conversation: boolean | undefined;
  let convIndex: bigint | undefined;
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 10:
        packetId = r.string(end);
        break;
      case 18:
        pkg = r.text(end);
        break;
      case 24:
        sequence = r.int64(end);
        break;
      case 32: {
        // MIMC_MSG_TYPE: 1..12; another value is dropped, an absent type reads as 0
        const v = r.varint32(end) | 0;
        if (v >= 1 && v <= 12) type = v;
        break;
      }
      case 42:
        payload = r.bytes(end);
        break;
      case 48:
        timestamp = r.int64(end);
        break;
      case 56:
        conversation = r.bool(end);
        break;
      case 64:
        convIndex = r.int64(end);
        break;
      default:
        r.skip(tag, end, depth, 8);
    }
  }
  const p: MimcPacket = { packetId, package: pkg, type };
  if (sequence !== undefined) p.sequence = sequence;
  if (payload !== undefined) p.payload = payload;
  if (timestamp !== undefined) p.timestamp = timestamp;
  if (conversation !== undefined) p.conversation = conversation;
  if (convIndex !== undefined) p.convIndex = convIndex;
  return p;
}

export function readMimcPacket(bytes: Uint8Array): MimcPacket {
  r.start(bytes, 'MIMC packet');
  return readPacketFields(bytes.length, 0);
}

export function readPacketList(bytes: Uint8Array): PacketList {
  r.start(bytes, 'packet list');
  const end = bytes.length;
  let uuid = 0n;
  let resource = '';
  let maxSequence = 0n;
  const packets: MimcPacket[] = [];
  let status = 1;
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 8:
        uuid = r.uint64(end);
        break;
      case 18:
        resource = r.text(end);
        break;
      case 24:
        maxSequence = r.int64(end);
        break;
      case 34:
        packets.push(readPacketFields(embedded(end), 1));
        break;
      case 40: {
        // MIMC_PUSH_STATUS: 1..2
        const v = r.varint32(end) | 0;
        if (v === 1 || v === 2) status = v;
        break;
      }
      default:
        r.skip(tag, end, 0, 5);
    }
  }
  return { uuid, resource, maxSequence, packets, status };
}

export function readPacketAck(bytes: Uint8Array): PacketAck {
  r.start(bytes, 'packet ack');
  const end = bytes.length;
  let packetId = '';
  let uuid = 0n;
  let resource = '';
  let sequence = 0n;
  let timestamp = 0n;
  let pkg = '';
  let errorMsg = '';
  let code: number | undefined;
  let convIndex: bigint | undefined;
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 10:
        packetId = r.string(end);
        break;
      case 16:
        uuid = r.uint64(end);
        break;
      case 26:
        resource = r.text(end);
        break;
      case 32:
        sequence = r.int64(end);
        break;
      case 40:
        timestamp = r.int64(end);
        break;
      case 50:
        pkg = r.text(end);
        break;
      case 58:
        errorMsg = r.string(end);
        break;
      case 64:
        code = r.varint32(end) | 0;
        break;
      case 72:
        convIndex = r.int64(end);
        break;
      default:
        r.skip(tag, end, 0, 9);
    }
  }
  const ack: PacketAck = {
    packetId,
    uuid,
    resource,
    sequence,
    timestamp,
    package: pkg,
    errorMsg,
  };
  if (code !== undefined) ack.code = code;
  if (convIndex !== undefined) ack.convIndex = convIndex;
  return ack;
}

// ---------------------------------------------------------------------------------------------
// mimc.MIMCP2PMessage, MIMCP2TMessage

export function readP2PMessage(bytes: Uint8Array): P2PMessage {
  return readMessage(bytes, 'P2P message', readUser, NO_USER);
}

export function readP2TMessage(bytes: Uint8Array): P2TMessage {
  return readMessage(bytes, 'P2T message', readGroup, NO_GROUP);
}

const NO_USER: UserRef = Object.freeze({ appId: 0n, appAccount: '' });
const NO_GROUP: GroupRef = Object.freeze({ appId: 0n, topicId: 0n });

/** The two message kinds differ only in field 2, `to`: a user (P2P) or a group (P2T). */
function readMessage<To extends object>(
  bytes: Uint8Array,
  what: string,
  readTo: (end: number, depth: number, prev: To | null) => To,
  noTo: To,
): { from: UserRef; to: To; payload: Uint8Array; isStore?: boolean; bizType?: string } {
  r.start(bytes, what);
  const end = bytes.length;
  let from: UserRef | null = null;
  let to: To | null = null;
  let payload = ABSENT_BYTES;
  let isStore: boolean | undefined;
  let bizType: string | undefined;
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 10:
        from = readUser(embedded(end), 1, from);
        break;
      case 18:
        to = readTo(embedded(end), 1, to);
        break;
      case 26:
        payload = r.bytes(end);
        break;
      case 32:
        isStore = r.bool(end);
        break;
      case 42:
        bizType = r.text(end);
        break;
      default:
        r.skip(tag, end, 0, 5);
    }
  }
  // absent users and groups read as zero values (a fresh object each time: the app may mutate it)
  const msg: { from: UserRef; to: To; payload: Uint8Array; isStore?: boolean; bizType?: string } = {
    from: from ?? { ...NO_USER },
    to: to ?? { ...noTo },
    payload,
  };
  if (isStore !== undefined) msg.isStore = isStore;
  if (bizType !== undefined) msg.bizType = bizType;
  return msg;
}

// ---------------------------------------------------------------------------------------------
// UC: mimc.UCPacket, UCMessage, UCMessageList (proto2 required fields are checked)

export function readUcPacket(bytes: Uint8Array): UcPacket {
  r.start(bytes, 'UC packet');
  const end = bytes.length;
  let user: UserRef | null = null;
  let type = 0;
  let hasType = false;
  let payload: Uint8Array | undefined;
  let packetId: string | undefined;
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 10:
        user = readUser(embedded(end), 1, user);
        break;
      case 16: {
        // UC_MSG_TYPE: 1..12; another value is dropped (and the required field may stay missing)
        const v = r.varint32(end) | 0;
        if (v >= 1 && v <= 12) {
          type = v;
          hasType = true;
        }
        break;
      }
      case 26:
        payload = r.bytes(end);
        break;
      case 34:
        packetId = r.string(end);
        break;
      default:
        r.skip(tag, end, 0, 4);
    }
  }
  if (user === null) r.fail("missing required 'user'");
  if (!hasType) r.fail("missing required 'type'");
  if (payload === undefined) r.fail("missing required 'payload'");
  if (packetId === undefined) r.fail("missing required 'packetId'");
  return { user, type, payload, packetId };
}

function readUcMessageFields(end: number, depth: number): UcMessage {
  let group: GroupRef | null = null;
  let payload: Uint8Array | undefined;
  let sequence: bigint | undefined;
  let isStore: boolean | undefined;
  let user: UserRef | null = null;
  let timestamp: bigint | undefined;
  let packetId: string | undefined;
  let bizType: string | undefined;
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 10:
        group = readGroup(embedded(end), depth + 1, group);
        break;
      case 18:
        payload = r.bytes(end);
        break;
      case 24:
        sequence = r.int64(end);
        break;
      case 32:
        isStore = r.bool(end);
        break;
      case 42:
        user = readUser(embedded(end), depth + 1, user);
        break;
      case 48:
        timestamp = r.int64(end);
        break;
      case 58:
        packetId = r.string(end);
        break;
      case 66:
        bizType = r.text(end);
        break;
      default:
        r.skip(tag, end, depth, 8);
    }
  }
  if (group === null) r.fail("missing required 'group'");
  if (payload === undefined) r.fail("missing required 'payload'");
  const msg: UcMessage = { group, payload };
  if (sequence !== undefined) msg.sequence = sequence;
  if (isStore !== undefined) msg.isStore = isStore;
  if (user !== null) msg.user = user;
  if (timestamp !== undefined) msg.timestamp = timestamp;
  if (packetId !== undefined) msg.packetId = packetId;
  if (bizType !== undefined) msg.bizType = bizType;
  return msg;
}

export function readUcMessage(bytes: Uint8Array): UcMessage {
  r.start(bytes, 'UC message');
  return readUcMessageFields(bytes.length, 0);
}

export function readUcMessageList(bytes: Uint8Array): UcMessageList {
  r.start(bytes, 'UC message list');
  const end = bytes.length;
  let group: GroupRef | null = null;
  const messages: UcMessage[] = [];
  let maxSequence: bigint | undefined;
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 10:
        group = readGroup(embedded(end), 1, group);
        break;
      case 18:
        messages.push(readUcMessageFields(embedded(end), 1));
        break;
      case 24:
        maxSequence = r.int64(end);
        break;
      default:
        r.skip(tag, end, 0, 3);
    }
  }
  if (group === null) r.fail("missing required 'group'");
  const list: UcMessageList = { group, messages };
  if (maxSequence !== undefined) list.maxSequence = maxSequence;
  return list;
}
