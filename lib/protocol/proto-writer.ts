/**
 * The protobuf encoder of the messages on the per-message path: ClientHeader and MIMCPacket, the
 * MIMCPacketList of a COMPOUND, the P2P/P2T message inside, and the packet and sequence acks,
 * written straight into one reusable scratch buffer: no Writer, no operation list, no Long and
 * no copy of the fields per encode. Bytes are those of the protobufjs code generated from proto/
 * (fields in number order, proto2 presence: a field goes out when it is neither undefined nor
 * null, strings as well-formed UTF-8); spec/protocol/vectors.spec.ts and properties.spec.ts hold
 * it to that. Every other message still goes through protobufjs.
 */

import { WideValues } from './wide-values.js';

/** Field tags: (number << 3) | wire type (0 varint, 2 length-delimited). */
const VARINT = 0;
const LENGTH = 2;
const TWO_32 = 2 ** 32;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Fields of ims.ClientHeader that may be set. */
export interface HeaderFields {
  chid?: number;
  uuid?: bigint;
  server?: string;
  resource?: string;
  cmd?: string;
  subcmd?: string;
  id?: string;
  dirFlag?: number;
  cipher?: number;
  errCode?: number;
  errStr?: string;
}

/** Fields of mimc.MIMCPacket that may be set. */
export interface PacketFields {
  packetId?: string;
  package?: string;
  sequence?: bigint;
  type?: number;
  payload?: Uint8Array;
  timestamp?: bigint;
  conversation?: boolean;
  convIndex?: bigint;
}

/** Fields of mimc.MIMCUser (appId and appAccount always go out, as userToProto writes them). */
export interface UserFields {
  appId: bigint;
  appAccount: string;
  uuid?: bigint;
  resource?: string;
}

/** Fields of mimc.MIMCP2PMessage and mimc.MIMCP2TMessage (`to` a user or a group). */
export interface MessageFields<To> {
  from: UserFields;
  to: To;
  payload?: Uint8Array;
  isStore?: boolean;
  bizType?: string;
}

/** Fields of mimc.MIMCSequenceAck. */
export interface SequenceAckFields {
  uuid: bigint;
  resource: string;
  sequence: bigint;
  appId: bigint;
}

/** Fields of mimc.MIMCPacketAck. */
export interface PacketAckFields {
  packetId?: string;
  uuid?: bigint;
  resource?: string;
  sequence?: bigint;
  timestamp?: bigint;
  package?: string;
  errorMsg?: string;
  code?: number;
  convIndex?: bigint;
}

/** Fields of mimc.MIMCPacketList. */
export interface PacketListFields {
  uuid?: bigint;
  resource?: string;
  maxSequence?: bigint;
  packets: readonly PacketFields[];
  status?: number;
}

/**
 * A growable scratch buffer the encoders write into; `pos` is the end of what was written.
 * Synchronous use only: a caller copies (or encrypts) the bytes out before encoding again.
 */
export class ProtoWriter {
  buf: Buffer = Buffer.allocUnsafe(4096);
  pos = 0;
  private readonly wide = new WideValues();

  reset(): void {
    this.pos = 0;
  }

  /** Room for `n` more bytes. */
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  /** An unsigned 32-bit varint (`v` already in [0, 2^32)). */
  private uint32(v: number): void {
    this.ensure(5);
    const b = this.buf;
    while (v > 127) {
      b[this.pos++] = (v & 127) | 128;
      v >>>= 7;
    }
    b[this.pos++] = v;
  }

  /**
   * A 64-bit varint of the two's-complement bits of `v`. Ids, sequences and timestamps are below
   * 2^53, so one Number conversion splits them; BigInt masks and shifts allocate each time.
   */
  private uint64(v: bigint): void {
    let lo: number;
    let hi: number;
    if (v >= 0n && v <= MAX_SAFE) {
      const n = Number(v);
      lo = n >>> 0;
      hi = (n - lo) / TWO_32;
    } else {
      const slot = this.wide.slotOf(v);
      if (slot >= 0) {
        lo = this.wide.lo[slot]!;
        hi = this.wide.hi[slot]!;
      } else {
        const bits = BigInt.asUintN(64, v);
        lo = Number(bits & 0xffffffffn);
        hi = Number(bits >> 32n);
        this.wide.remember(v, lo, hi);
      }
    }
    this.ensure(10);
    const b = this.buf;
    while (hi > 0 || lo > 127) {
      b[this.pos++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    b[this.pos++] = lo;
  }

  /** protobufjs' int32: a negative value as its 64-bit sign extension, others as uint32. */
  private int32(v: number): void {
    if (v < 0) this.uint64(BigInt(Math.trunc(v)));
    else this.uint32(v >>> 0);
  }

  private tag(field: number, wire: number): void {
    this.uint32((field << 3) | wire);
  }

  int32Field(field: number, v: number | undefined | null): void {
    if (v === undefined || v === null) return;
    this.tag(field, VARINT);
    this.int32(v);
  }

  int64Field(field: number, v: bigint | undefined | null): void {
    if (v === undefined || v === null) return;
    this.tag(field, VARINT);
    this.uint64(v);
  }

  boolField(field: number, v: boolean | undefined | null): void {
    if (v === undefined || v === null) return;
    this.tag(field, VARINT);
    this.uint32(v ? 1 : 0);
  }

  /** UTF-8, unpaired surrogates as U+FFFD (what Buffer writes, and what `present` makes of them). */
  stringField(field: number, v: string | undefined | null): void {
    if (v === undefined || v === null) return;
    this.tag(field, LENGTH);
    if (v.length < 128) {
      // ASCII in one pass: the length is one byte, the bytes are the char codes; at the first
      // code above 127 the bytes written so far are abandoned for the general path below
      const n = v.length;
      this.ensure(n + 1);
      const b = this.buf;
      const at = this.pos;
      let i = 0;
      for (; i < n; i++) {
        const c = v.charCodeAt(i);
        if (c > 127) break;
        b[at + 1 + i] = c;
      }
      if (i === n) {
        b[at] = n;
        this.pos = at + 1 + n;
        return;
      }
    }
    const length = Buffer.byteLength(v, 'utf8');
    this.uint32(length);
    this.ensure(length);
    this.pos += this.buf.write(v, this.pos, length, 'utf8');
  }

  bytesField(field: number, v: Uint8Array | undefined | null): void {
    if (v === undefined || v === null) return;
    this.tag(field, LENGTH);
    this.uint32(v.length);
    this.ensure(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
  }

  /** Appends an ims.ClientHeader. */
  header(h: HeaderFields): void {
    this.int32Field(1, h.chid);
    this.int64Field(2, h.uuid);
    this.stringField(3, h.server);
    this.stringField(4, h.resource);
    this.stringField(5, h.cmd);
    this.stringField(6, h.subcmd);
    this.stringField(7, h.id);
    this.int32Field(8, h.dirFlag);
    this.int32Field(9, h.cipher);
    this.int32Field(10, h.errCode);
    this.stringField(11, h.errStr);
  }

  /** Appends a mimc.MIMCPacket. */
  packet(p: PacketFields): void {
    this.stringField(1, p.packetId);
    this.stringField(2, p.package);
    this.int64Field(3, p.sequence);
    this.int32Field(4, p.type);
    this.bytesField(5, p.payload);
    this.int64Field(6, p.timestamp);
    this.boolField(7, p.conversation);
    this.int64Field(8, p.convIndex);
  }

  /** Appends a mimc.MIMCPacketList. */
  packetList(l: PacketListFields): void {
    this.int64Field(1, l.uuid);
    this.stringField(2, l.resource);
    this.int64Field(3, l.maxSequence);
    for (const p of l.packets) {
      const start = this.pos;
      this.packet(p);
      this.embed(4, start);
    }
    this.int32Field(5, l.status);
  }

  /** Appends a mimc.MIMCUser as field `field`. */
  userField(field: number, u: UserFields): void {
    const start = this.pos;
    this.int64Field(1, u.appId);
    this.stringField(2, u.appAccount);
    this.int64Field(3, u.uuid);
    this.stringField(4, u.resource);
    this.embed(field, start);
  }

  /** Appends a mimc.MIMCP2PMessage. */
  p2pMessage(m: MessageFields<UserFields>): void {
    this.userField(1, m.from);
    this.userField(2, m.to);
    this.messageTail(m);
  }

  /** Appends a mimc.MIMCP2TMessage. */
  p2tMessage(m: MessageFields<{ appId: bigint; topicId: bigint }>): void {
    this.userField(1, m.from);
    const start = this.pos;
    this.int64Field(1, m.to.appId);
    this.int64Field(2, m.to.topicId);
    this.embed(2, start);
    this.messageTail(m);
  }

  private messageTail(m: MessageFields<unknown>): void {
    this.bytesField(3, m.payload);
    this.boolField(4, m.isStore);
    this.stringField(5, m.bizType);
  }

  /** Appends a mimc.MIMCSequenceAck. */
  sequenceAck(a: SequenceAckFields): void {
    this.int64Field(1, a.uuid);
    this.stringField(2, a.resource);
    this.int64Field(3, a.sequence);
    this.int64Field(4, a.appId);
  }

  /** Appends a mimc.MIMCPacketAck. */
  packetAck(a: PacketAckFields): void {
    this.stringField(1, a.packetId);
    this.int64Field(2, a.uuid);
    this.stringField(3, a.resource);
    this.int64Field(4, a.sequence);
    this.int64Field(5, a.timestamp);
    this.stringField(6, a.package);
    this.stringField(7, a.errorMsg);
    this.int32Field(8, a.code);
    this.int64Field(9, a.convIndex);
  }

  /**
   * Makes the bytes written since `start` an embedded message, field `field`: they go out first
   * and then move up by the size of their tag and length (known only once they are written).
   */
  private embed(field: number, start: number): void {
    const length = this.pos - start;
    const prefix = varintSize((field << 3) | LENGTH) + varintSize(length);
    this.ensure(prefix);
    this.buf.copyWithin(start + prefix, start, this.pos);
    this.pos = start;
    this.tag(field, LENGTH);
    this.uint32(length);
    this.pos += length;
  }

  /** A copy of the bytes in [from, to), from Node's Buffer pool as protobufjs' own `finish()` gives. */
  copy(from: number, to = this.pos): Uint8Array {
    const out = Buffer.allocUnsafe(to - from);
    this.buf.copy(out, 0, from, to);
    return out;
  }
}

function varintSize(v: number): number {
  let n = 1;
  while (v > 127) {
    v >>>= 7;
    n++;
  }
  return n;
}

/** The one writer of this thread (encoding is synchronous, so one is enough). */
export const protoWriter = new ProtoWriter();
