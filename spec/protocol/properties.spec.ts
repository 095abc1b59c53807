/**
 * Property-based tests of the protocol core: round trips through the frame codec, the MIMC
 * messages and SECMSG, and robustness of the decoders against random and corrupted input.
 * Every property runs 10 000 cases; sizes are kept small so the file stays fast.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import {
  adler32,
  clientHeader,
  Cmd,
  decodeBody,
  decodeMimcPacket,
  decodeOnlineMessageAck,
  decodeP2PMessage,
  decodeP2TMessage,
  decodePacketAck,
  decodePacketList,
  decodePullRequest,
  decodeSecMsgPayload,
  decodeSequenceAck,
  EMPTY_FRAME,
  encodeBody,
  encodeFrame,
  encodeMimcPacket,
  encodeP2PMessage,
  encodeP2TMessage,
  encodePacketAck,
  encodePacketList,
  encodeSecMsgFrame,
  encodeSequenceAck,
  encodeV6Frame,
  ErrorCode,
  FrameDecoder,
  MIMCError,
  PacketType,
  Rc4,
  RC4_KEYSTREAM_CAP,
  rc4,
  type ClientHeader,
  type MimcPacket,
} from '../../lib/protocol/index.js';
import { ims, mimc } from '../../lib/protocol/gen/proto.js';
import { present } from '../../lib/protocol/proto-fields.js';
import { toLong } from '../../lib/protocol/int64.js';
import { encodeHeaderChecked } from '../../lib/protocol/packets.js';
import { cryptPayload, derivePayloadKey } from '../../lib/protocol/keys.js';
import { concatBytes as concat, referenceRc4 } from '../helpers/bytes.js';

const RUNS = { numRuns: 10_000 };
const HEAD = 8;
const CHECKSUM = 4;

// ---------------------------------------------------------------------------------------------
// Arbitraries

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
const EDGES = [0n, 1n, (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, (1n << 62n) + 3n, I64_MAX];

/** uint64 values, often above 2^53 where a JS number would lose precision. */
const u64 = fc.oneof(fc.bigInt({ min: 0n, max: U64_MAX }), fc.bigInt({ min: 0n, max: 1n << 54n }), fc.constantFrom(...EDGES, 1n << 63n, U64_MAX));
/** int64 values (sequence, timestamp, ClientHeader.uuid). */
const i64 = fc.oneof(fc.bigInt({ min: I64_MIN, max: I64_MAX }), fc.bigInt({ min: -(1n << 54n), max: 1n << 54n }), fc.constantFrom(...EDGES, -1n, I64_MIN));
const i32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });

/** Any UTF-16 text: mostly valid code points, sometimes an unpaired surrogate. */
const textUnit = fc.oneof(
  { weight: 12, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
);
/** Short and long strings: protobufjs writes strings below 40 code units with its own encoder. */
const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: textUnit, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: textUnit, minLength: 38, maxLength: 64 }) },
);
const nonEmptyText = text.filter((s) => s.length > 0);
const bytes = (maxLength: number) => fc.uint8Array({ maxLength });

const headerArb: fc.Arbitrary<ClientHeader> = fc.record(
  {
    chid: i32,
    uuid: i64,
    server: text,
    resource: text,
    cmd: fc.oneof(fc.constantFrom(...Object.values(Cmd)), text),
    id: text,
    dirFlag: fc.integer({ min: 1, max: 6 }),
    cipher: i32,
    subcmd: text,
    errCode: i32,
    errStr: text,
  },
  { requiredKeys: ['chid', 'uuid', 'server', 'resource', 'cmd', 'id', 'dirFlag', 'cipher'] },
);

const rc4Key = fc.uint8Array({ minLength: 1, maxLength: 40 });
/** A security key as the token service issues it: standard base64 of random bytes. */
const securityKey = fc.uint8Array({ maxLength: 48 }).map((b) => Buffer.from(b).toString('base64'));

const knownPacketTypes = [...Object.values(PacketType), 9, 10];
const userRef = fc.record(
  { appId: u64, appAccount: text, uuid: u64, resource: text },
  { requiredKeys: ['appId', 'appAccount'] },
);
const p2pMessage = fc.record(
  { from: userRef, to: userRef, payload: bytes(64), isStore: fc.boolean(), bizType: text },
  { requiredKeys: ['from', 'to', 'payload'] },
);
const p2tMessage = fc.record(
  { from: userRef, to: fc.record({ appId: u64, topicId: u64 }), payload: bytes(64), isStore: fc.boolean(), bizType: text },
  { requiredKeys: ['from', 'to', 'payload'] },
);
const packetAck = fc.record(
  { packetId: text, uuid: u64, resource: text, sequence: i64, timestamp: i64, package: text, errorMsg: text, code: i32 },
  { requiredKeys: ['packetId', 'uuid', 'resource', 'sequence', 'timestamp', 'package', 'errorMsg'] },
);
const mimcPacket: fc.Arbitrary<MimcPacket> = fc.record(
  { packetId: text, package: text, type: fc.constantFrom(...knownPacketTypes), sequence: i64, payload: bytes(64), timestamp: i64 },
  { requiredKeys: ['packetId', 'package', 'type'] },
);
const packetList = fc.record({
  uuid: u64,
  resource: text,
  maxSequence: i64,
  packets: fc.array(mimcPacket, { maxLength: 4 }),
  status: fc.constantFrom(1, 2),
});
const sequenceAck = fc.record({ uuid: u64, resource: text, sequence: i64, appId: u64 });

/**
 * How a byte stream is cut into chunks: sizes are used in turn, cyclically. A 0 pushes an empty
 * chunk. "[1]" feeds byte by byte; small sizes split inside heads, bodies and checksums.
 */
const chunkPlan = fc.oneof(
  { weight: 1, arbitrary: fc.constant([1]) },
  { weight: 2, arbitrary: fc.array(fc.integer({ min: 0, max: 14 }), { minLength: 1, maxLength: 16 }) },
  { weight: 2, arbitrary: fc.array(fc.integer({ min: 1, max: 600 }), { minLength: 1, maxLength: 6 }) },
);

// ---------------------------------------------------------------------------------------------
// Helpers


function chunks(stream: Uint8Array, plan: readonly number[]): Uint8Array[] {
  const sizes = plan.some((n) => n > 0) ? plan : [1];
  const out: Uint8Array[] = [];
  let pos = 0;
  for (let k = 0; pos < stream.length; k++) {
    const size = sizes[k % sizes.length]!;
    out.push(stream.subarray(pos, pos + size));
    pos += size;
  }
  return out;
}

/** What a JS string becomes after a UTF-8 round trip: unpaired surrogates turn into U+FFFD. */
const utf8Text = (s: string): string => Buffer.from(s, 'utf8').toString('utf8');

/**
 * A comparable copy of a decoded or expected value: byte arrays (Buffer or Uint8Array, views
 * or not) become plain Uint8Array copies; with `asSent`, strings become what UTF-8 keeps.
 */
function canon(value: unknown, asSent = false): unknown {
  if (typeof value === 'string') return asSent ? utf8Text(value) : value;
  if (value instanceof Uint8Array) return Uint8Array.from(value);
  if (Array.isArray(value)) return value.map((v) => canon(v, asSent));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, canon(v, asSent)]));
  }
  return value;
}

/*
 * Cheap assertions: a jest matcher costs far more than the code under test, and these run
 * hundreds of thousands of times. On failure `same` still lets jest print its diff.
 */
function check(condition: boolean, message: () => string): void {
  if (!condition) throw new Error(message());
}

function same(actual: unknown, expected: unknown): void {
  if (isDeepStrictEqual(actual, expected)) return;
  expect(actual).toStrictEqual(expected);
  throw new Error('values differ (node:util isDeepStrictEqual)');
}

function expectRoundTrip<T>(encode: (v: T) => Uint8Array, decode: (b: Uint8Array) => T, value: T): void {
  same(canon(decode(encode(value))), canon(value, true));
}

const errorCodes = new Set<string>(Object.values(ErrorCode));

/** Runs `fn`; anything it throws must be a MIMCError with a known code (and one of `allowed`). */
function onlyMIMCError<T>(fn: () => T, allowed?: readonly string[]): { value?: T; error?: MIMCError } {
  try {
    return { value: fn() };
  } catch (err) {
    if (!MIMCError.is(err)) throw new Error(`non-MIMCError thrown: ${String(err)}`, { cause: err });
    if (!errorCodes.has(err.code)) throw new Error(`unknown error code ${String(err.code)}`);
    if (allowed && !allowed.includes(err.code)) throw new Error(`unexpected code ${err.code}: ${err.message}`);
    return { error: err };
  }
}

const DECODER_CODES = [ErrorCode.BAD_MAGIC, ErrorCode.BAD_VERSION, ErrorCode.BAD_CHECKSUM, ErrorCode.FRAME_TOO_LARGE];
const BODY_CODES = [ErrorCode.MALFORMED_FRAME];

/** Adler-32 taking the modulus at every byte, as a reference. */
function referenceAdler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (const byte of data) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return b * 65536 + a;
}

// ---------------------------------------------------------------------------------------------
// Primitives

describe('primitives', () => {
  it('RC4 matches a textbook reference, one-shot and with a reused key schedule, and is an involution', () => {
    fc.assert(
      fc.property(rc4Key, bytes(300), bytes(300), (key, a, b) => {
        const cipher = new Rc4(key);
        const ea = cipher.apply(a);
        same(ea, referenceRc4(key, a));
        // a second message under the same schedule starts from a fresh state
        same(cipher.apply(b), referenceRc4(key, b));
        same(rc4(key, ea), a);
        // in place
        const copy = Uint8Array.from(a);
        same(cipher.apply(copy, copy), ea);
      }),
      RUNS,
    );
  });

  it('RC4 with a cached keystream stays byte-exact for any order of lengths, offsets and sizes past the cap', () => {
    // lengths around the growth steps and the cap, and views at odd offsets (no word alignment)
    const length = fc.oneof(
      fc.integer({ min: 0, max: 600 }),
      fc.integer({ min: RC4_KEYSTREAM_CAP - 8, max: RC4_KEYSTREAM_CAP + 300 }),
    );
    fc.assert(
      fc.property(rc4Key, fc.array(fc.tuple(length, fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 5 }), (key, calls) => {
        const cipher = new Rc4(key);
        for (const [n, offset] of calls) {
          const backing = new Uint8Array(n + offset);
          for (let k = 0; k < backing.length; k++) backing[k] = (k * 131 + n) & 0xff;
          const data = backing.subarray(offset);
          const expected = referenceRc4(key, data);
          same(cipher.apply(data), expected);
          same(cipher.apply(data, data), expected);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('the SECMSG payload cipher, in place or between offsets, is RC4 under secret + "_" + id, for any id', () => {
    // ids past 256 UTF-8 bytes make the key scratch grow; non-ASCII ids take the encoder path
    const id = fc.oneof(nonEmptyText, fc.string({ minLength: 200, maxLength: 400 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 300 }));
    fc.assert(
      fc.property(securityKey.filter((k) => k.length > 0), id, bytes(700), fc.integer({ min: 0, max: 5 }), (secKey, headerId, data, offset) => {
        const expected = referenceRc4(derivePayloadKey(secKey, headerId), data);
        const out = new Uint8Array(data.length + offset);
        cryptPayload(secKey, headerId, data, 0, data.length, out, offset);
        same(out.subarray(offset), expected);
        const inPlace = Uint8Array.from(data);
        cryptPayload(secKey, headerId, inPlace, 0, inPlace.length, inPlace, 0);
        same(inPlace, expected);
      }),
      { numRuns: 2_000 },
    );
  });

  it('Adler-32 matches a per-byte reference, also past the deferred-modulo block size', () => {
    // Long runs of one byte value (often 0xff) stress the deferred reduction without generating megabytes.
    const data = fc
      .record({
        length: fc.integer({ min: 0, max: 12_000 }),
        fill: fc.oneof(fc.constant(0xff), fc.integer({ min: 0, max: 255 })),
        patches: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        start: fc.nat(),
      })
      .map(({ length, fill, patches, start }) => {
        const d = new Uint8Array(length).fill(fill);
        for (const [at, value] of patches) if (length > 0) d[at % length] = value;
        return { d, start: length === 0 ? 0 : start % (length + 1) };
      });
    fc.assert(
      fc.property(data, ({ d, start }) => {
        same(adler32(d), referenceAdler32(d));
        same(adler32(d, start), referenceAdler32(d.subarray(start)));
      }),
      RUNS,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Round trips

describe('frame codec round trip', () => {
  /** null stands for the empty frame (pong). */
  const frameSpec = fc.oneof(
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 5, arbitrary: fc.record({ header: headerArb, payload: bytes(200) }) },
  );

  it('several frames, cut anywhere, come back equal through FrameDecoder + decodeBody', () => {
    fc.assert(
      fc.property(
        fc.array(frameSpec, { minLength: 1, maxLength: 6 }),
        fc.option(rc4Key, { nil: undefined }),
        chunkPlan,
        (specs, keyBytes, plan) => {
          const key = keyBytes ? new Rc4(keyBytes) : null;
          const frames = specs.map((s) => (s === null ? EMPTY_FRAME : encodeV6Frame(s.header, s.payload, key)));
          const decoder = new FrameDecoder();
          const bodies: Uint8Array[] = [];
          for (const chunk of chunks(concat(frames), plan)) {
            bodies.push(...decoder.push(chunk));
            check(decoder.bufferedBytes < HEAD + decoder.maxBodyLength + CHECKSUM, () => `buffered ${decoder.bufferedBytes}`);
          }
          same(decoder.bufferedBytes, 0);
          same(bodies.length, specs.length);
          specs.forEach((spec, i) => {
            const body = bodies[i]!;
            // the decoder returns the body exactly as sent
            same(canon(body), canon(frames[i]!.subarray(HEAD, frames[i]!.length - CHECKSUM)));
            const decoded = decodeBody(body, key);
            if (spec === null) {
              same(decoded, null);
              return;
            }
            check(decoded !== null, () => 'a non-empty frame decoded as a pong');
            // ClientHeader.uuid is an int64 on the wire: every int64 comes back exactly
            same(canon(decoded!.header), canon(spec.header, true));
            same(canon(decoded!.payload), canon(spec.payload));
          });
        },
      ),
      RUNS,
    );
  });

  it('a ClientHeader.uuid given as uint64 keeps its 64 bits (int64 on the wire)', () => {
    fc.assert(
      fc.property(u64, text, nonEmptyText, (uuid, resource, id) => {
        const frame = encodeV6Frame(clientHeader(Cmd.PING, uuid, resource, id), new Uint8Array(0), null);
        const decoded = decodeBody(new FrameDecoder().push(frame)[0]!, null)!;
        same(decoded.header.uuid, BigInt.asIntN(64, uuid));
        same(BigInt.asUintN(64, decoded.header.uuid), uuid);
      }),
      RUNS,
    );
  });
});

describe('the shared protobuf writer writes the bytes of the generated protobufjs code', () => {
  const long = (v: bigint | undefined) => (v === undefined ? undefined : toLong(v, false));
  const refPacket = (p: MimcPacket) =>
    present({ ...p, sequence: long(p.sequence), timestamp: long(p.timestamp), convIndex: long(p.convIndex) }) as mimc.MIMCPacket;
  const anyPacket: fc.Arbitrary<MimcPacket> = fc.record(
    { packetId: text, package: text, type: i32, sequence: i64, payload: bytes(300), timestamp: i64, conversation: fc.boolean(), convIndex: i64 },
    { requiredKeys: ['packetId', 'package', 'type'] },
  );

  it('ClientHeader', () => {
    fc.assert(
      fc.property(headerArb, (h) => {
        const ref = ims.ClientHeader.encode(present({ ...h, uuid: toLong(h.uuid, false) }) as ims.ClientHeader).finish();
        same(Buffer.from(encodeHeaderChecked(h)).toString('hex'), Buffer.from(ref).toString('hex'));
      }),
      RUNS,
    );
  });

  it('MIMCPacket', () => {
    fc.assert(
      fc.property(anyPacket, (p) => {
        same(Buffer.from(encodeMimcPacket(p)).toString('hex'), Buffer.from(mimc.MIMCPacket.encode(refPacket(p)).finish()).toString('hex'));
      }),
      RUNS,
    );
  });

  it('64-bit values at and past 2^53 stay exact when they repeat, alternate and evict each other', () => {
    const wide = [-1n, 1n << 53n, U64_MAX, I64_MIN, 2882303761517479657n, (1n << 53n) + 1n, -2n, 1n << 63n];
    // every value again after more distinct ones than a small cache could hold, and back to back
    const order = [...wide, ...wide, ...wide.slice().reverse(), wide[0]!, wide[0]!, wide[3]!, wide[0]!];
    for (const v of order) {
      const p: MimcPacket = { packetId: 'p', package: 'q', type: 1, sequence: BigInt.asIntN(64, v), timestamp: BigInt.asIntN(64, v) };
      same(Buffer.from(encodeMimcPacket(p)).toString('hex'), Buffer.from(mimc.MIMCPacket.encode(refPacket(p)).finish()).toString('hex'));
    }
  });

  it('MIMCPacketList, with packets large enough for multi-byte lengths', () => {
    const list = fc.record({ uuid: u64, resource: text, maxSequence: i64, packets: fc.array(anyPacket, { maxLength: 4 }), status: fc.constantFrom(1, 2) });
    fc.assert(
      fc.property(list, (l) => {
        const ref = mimc.MIMCPacketList.encode(
          present({ uuid: toLong(l.uuid, true), resource: l.resource, maxSequence: toLong(l.maxSequence, false), packets: l.packets.map(refPacket), status: l.status }) as mimc.MIMCPacketList,
        ).finish();
        same(Buffer.from(encodePacketList(l)).toString('hex'), Buffer.from(ref).toString('hex'));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('the shared writer encodes the per-message payloads as the generated code does', () => {
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  const refUser = (u: { appId: bigint; appAccount: string; uuid?: bigint; resource?: string }) =>
    present({ appId: toLong(u.appId, true), appAccount: u.appAccount, uuid: u.uuid === undefined ? undefined : toLong(u.uuid, true), resource: u.resource });
  const bigPayload = fc.oneof(bytes(64), fc.uint8Array({ minLength: 120, maxLength: 400 }));

  it('MIMCP2PMessage, with payloads long enough for multi-byte lengths', () => {
    const message = fc.record(
      { from: userRef, to: userRef, payload: bigPayload, isStore: fc.boolean(), bizType: text },
      { requiredKeys: ['from', 'to', 'payload'] },
    );
    fc.assert(
      fc.property(message, (m) => {
        const ref = mimc.MIMCP2PMessage.encode(present({ ...m, from: refUser(m.from), to: refUser(m.to) }) as mimc.MIMCP2PMessage).finish();
        same(hex(encodeP2PMessage(m)), hex(ref));
      }),
      RUNS,
    );
  });

  it('MIMCP2TMessage', () => {
    const message = fc.record(
      { from: userRef, to: fc.record({ appId: u64, topicId: u64 }), payload: bigPayload, isStore: fc.boolean(), bizType: text },
      { requiredKeys: ['from', 'to', 'payload'] },
    );
    fc.assert(
      fc.property(message, (m) => {
        const to = { appId: toLong(m.to.appId, true), topicId: toLong(m.to.topicId, true) };
        const ref = mimc.MIMCP2TMessage.encode(present({ ...m, from: refUser(m.from), to }) as mimc.MIMCP2TMessage).finish();
        same(hex(encodeP2TMessage(m)), hex(ref));
      }),
      RUNS,
    );
  });

  it('MIMCPacketAck and MIMCSequenceAck', () => {
    const ack = fc.record(
      { packetId: text, uuid: u64, resource: text, sequence: i64, timestamp: i64, package: text, errorMsg: text, code: i32, convIndex: i64 },
      { requiredKeys: ['packetId', 'uuid', 'resource', 'sequence', 'timestamp', 'package', 'errorMsg'] },
    );
    fc.assert(
      fc.property(ack, sequenceAck, (a, q) => {
        const refAck = present({
          ...a,
          uuid: toLong(a.uuid, true),
          sequence: toLong(a.sequence, false),
          timestamp: toLong(a.timestamp, false),
          convIndex: a.convIndex === undefined ? undefined : toLong(a.convIndex, false),
        });
        same(hex(encodePacketAck(a)), hex(mimc.MIMCPacketAck.encode(refAck as mimc.MIMCPacketAck).finish()));
        const refSeq = { uuid: toLong(q.uuid, true), resource: q.resource, sequence: toLong(q.sequence, false), appId: toLong(q.appId, true) };
        same(hex(encodeSequenceAck(q)), hex(mimc.MIMCSequenceAck.encode(present(refSeq) as mimc.MIMCSequenceAck).finish()));
      }),
      RUNS,
    );
  });
});

describe('MIMC messages round trip exactly', () => {
  it('P2P message', () => {
    fc.assert(fc.property(p2pMessage, (m) => expectRoundTrip(encodeP2PMessage, decodeP2PMessage, m)), RUNS);
  });

  it('P2T message', () => {
    fc.assert(fc.property(p2tMessage, (m) => expectRoundTrip(encodeP2TMessage, decodeP2TMessage, m)), RUNS);
  });

  it('packet ack', () => {
    fc.assert(fc.property(packetAck, (m) => expectRoundTrip(encodePacketAck, decodePacketAck, m)), RUNS);
  });

  it('packet list (COMPOUND)', () => {
    fc.assert(fc.property(packetList, (m) => expectRoundTrip(encodePacketList, decodePacketList, m)), RUNS);
  });

  it('sequence ack', () => {
    fc.assert(fc.property(sequenceAck, (m) => expectRoundTrip(encodeSequenceAck, decodeSequenceAck, m)), RUNS);
  });

  it('a packet of an unknown or missing type never decodes as a known type', () => {
    const unknownType = i32.filter((t) => !knownPacketTypes.includes(t));
    fc.assert(
      fc.property(mimcPacket, fc.option(unknownType, { nil: undefined }), (packet, type) => {
        const decoded = decodeMimcPacket(encodeMimcPacket({ ...packet, type: type ?? 0 }));
        same(decoded.type, 0);
        same(canon(decoded), canon({ ...packet, type: 0 }, true));
      }),
      RUNS,
    );
  });
});

describe('SECMSG round trip', () => {
  it('encodeSecMsgFrame → FrameDecoder → decodeBody → decodeSecMsgPayload gives the packet back', () => {
    const header = fc.oneof(
      fc.tuple(i64, text, nonEmptyText).map(([uuid, resource, id]) => clientHeader(Cmd.SECMSG, uuid, resource, id)),
      headerArb.filter((h) => h.id.length > 0),
    );
    fc.assert(
      fc.property(header, mimcPacket, securityKey, rc4Key, chunkPlan, (h, packet, secKey, keyBytes, plan) => {
        const bodyKey = new Rc4(keyBytes);
        const frame = encodeSecMsgFrame(h, packet, secKey, bodyKey);
        const decoder = new FrameDecoder();
        const bodies = chunks(frame, plan).flatMap((c) => decoder.push(c));
        same(bodies.length, 1);
        const decoded = decodeBody(bodies[0]!, bodyKey)!;
        same(canon(decoded.header), canon(h, true));
        // a Buffer whose slice() is a view: the input must still come back untouched
        const input = Buffer.from(decoded.payload);
        const back = decodeSecMsgPayload(decoded.header, input, secKey);
        same(canon(back), canon(packet, true));
        same(Buffer.compare(input, decoded.payload), 0);
      }),
      RUNS,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Robustness

describe('decoders only ever throw MIMCError', () => {
  const MAX_BODY = 4096;
  const BUFFER_BOUND = HEAD + MAX_BODY + CHECKSUM;
  const innerDecoders = [decodeP2PMessage, decodeP2TMessage, decodePacketAck, decodePacketList, decodeSequenceAck, decodePullRequest, decodeOnlineMessageAck];

  /**
   * Feeds `stream` in chunks to a decoder with a small limit and runs every body through
   * decodeBody, decodeSecMsgPayload and the inner message parsers, checking the invariants.
   */
  function feedHostile(stream: Uint8Array, plan: readonly number[], key: Rc4 | null, secKey: string): void {
    const decoder = new FrameDecoder({ maxBodyLength: MAX_BODY });
    for (const chunk of chunks(stream, plan)) {
      const pushed = onlyMIMCError(() => decoder.push(chunk), DECODER_CODES);
      check(decoder.bufferedBytes <= BUFFER_BOUND, () => `buffered ${decoder.bufferedBytes} > ${BUFFER_BOUND}`);
      if (pushed.error) {
        // failed for good: any further input is refused with a MIMCError
        for (const more of [Uint8Array.of(0xc2), EMPTY_FRAME, new Uint8Array(0)]) {
          check(onlyMIMCError(() => decoder.push(more)).error !== undefined, () => 'a failed decoder accepted more input');
        }
        check(decoder.bufferedBytes <= BUFFER_BOUND, () => `buffered ${decoder.bufferedBytes} > ${BUFFER_BOUND}`);
        return;
      }
      for (const body of pushed.value!) {
        check(body.length <= MAX_BODY, () => `body of ${body.length} bytes`);
        const decoded = onlyMIMCError(() => decodeBody(body, key), BODY_CODES).value;
        if (!decoded) continue;
        const packet = onlyMIMCError(() => decodeSecMsgPayload(decoded.header, decoded.payload, secKey), BODY_CODES).value;
        const inner = packet?.payload ?? decoded.payload;
        for (const decode of innerDecoders) onlyMIMCError(() => decode(inner), BODY_CODES);
      }
    }
  }

  type Mutation =
    | { kind: 'flip'; at: number; bit: number }
    | { kind: 'set'; at: number; value: number }
    | { kind: 'insert'; at: number; bytes: Uint8Array }
    | { kind: 'delete'; at: number; count: number }
    | { kind: 'length'; at: number; value: number };

  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
    fc.record({
      kind: fc.constant('length' as const),
      at: fc.nat(),
      value: fc.oneof(fc.integer({ min: 0, max: MAX_BODY + 16 }), fc.constantFrom(MAX_BODY + 1, 0x7fffffff, 0xffffffff), fc.nat()),
    }),
  );

  function mutate(data: Uint8Array, m: Mutation, frameStarts: number[] = []): Uint8Array {
    const at = data.length === 0 ? 0 : m.at % data.length;
    switch (m.kind) {
      case 'flip':
      case 'set': {
        if (data.length === 0) return data;
        const out = Uint8Array.from(data);
        out[at] = m.kind === 'flip' ? out[at]! ^ (1 << m.bit) : m.value;
        return out;
      }
      case 'insert':
        return concat([data.subarray(0, at), m.bytes, data.subarray(at)]);
      case 'delete':
        return concat([data.subarray(0, at), data.subarray(at + m.count)]);
      case 'length': {
        // a huge or wrong declared length: the bodyLen of a frame head, or the lengths of a body header
        const out = Uint8Array.from(data);
        const offset = frameStarts.length > 0 ? frameStarts[m.at % frameStarts.length]! + 4 : 2 + (m.at % 2) * 2;
        if (offset + 4 <= out.length) new DataView(out.buffer).setUint32(offset, m.value >>> 0);
        return out;
      }
    }
  }

  /** Frames as sent on a connection: SECMSG frames, other frames with a random header, pongs. */
  const wireFrame = (key: Rc4 | null, secKey: string) =>
    fc.oneof(
      { weight: 1, arbitrary: fc.constant(EMPTY_FRAME) },
      {
        weight: 3,
        arbitrary: fc
          .tuple(nonEmptyText, fc.oneof(mimcPacket, p2pMessage.map((m) => ({ packetId: 'p', package: 'q', type: 1, payload: encodeP2PMessage(m) }))))
          .map(([id, packet]) =>
            key
              ? encodeSecMsgFrame(clientHeader(Cmd.SECMSG, 7n, 'r', id), packet, secKey, key)
              : encodeV6Frame(clientHeader(Cmd.SECMSG, 7n, 'r', id), encodeMimcPacket(packet), null),
          ),
      },
      { weight: 1, arbitrary: fc.tuple(headerArb, bytes(64)).map(([h, p]) => encodeV6Frame(h, p, key)) },
    );

  const hostileStream = fc
    .tuple(fc.option(rc4Key, { nil: undefined }), securityKey)
    .chain(([keyBytes, secKey]) => {
      const key = keyBytes ? new Rc4(keyBytes) : null;
      return fc.record({
        key: fc.constant(key),
        secKey: fc.constant(secKey),
        frames: fc.array(wireFrame(key, secKey), { minLength: 1, maxLength: 4 }),
        /** mutations of a body before it is framed, so the checksum still matches */
        bodyMutations: fc.array(fc.tuple(fc.nat(), mutation), { maxLength: 3 }),
        /** mutations of the byte stream */
        streamMutations: fc.array(mutation, { maxLength: 3 }),
        plan: chunkPlan,
      });
    });

  it('mutated valid frames (flipped, inserted, deleted bytes, wrong and huge lengths)', () => {
    fc.assert(
      fc.property(hostileStream, ({ key, secKey, frames, bodyMutations, streamMutations, plan }) => {
        const resealed = frames.map((f) => f);
        for (const [which, m] of bodyMutations) {
          const i = which % resealed.length;
          const body = resealed[i]!.subarray(HEAD, resealed[i]!.length - CHECKSUM);
          resealed[i] = encodeFrame(mutate(body, m));
        }
        const starts: number[] = [];
        resealed.reduce((at, f) => (starts.push(at), at + f.length), 0);
        let stream = concat(resealed);
        for (const m of streamMutations) stream = mutate(stream, m, starts);
        feedHostile(stream, plan, key, secKey);
      }),
      RUNS,
    );
  });

  it('random bytes, raw or behind a valid head', () => {
    const head = fc.integer({ min: 0, max: MAX_BODY + 64 }).map((len) => {
      const h = new Uint8Array(HEAD);
      new DataView(h.buffer).setUint32(0, 0xc2fe0005);
      new DataView(h.buffer).setUint32(4, len);
      return h;
    });
    const stream = fc
      .tuple(fc.option(head, { nil: undefined }), bytes(200))
      .map(([h, rest]) => (h ? concat([h, rest]) : rest));
    fc.assert(
      fc.property(stream, fc.option(rc4Key, { nil: undefined }), securityKey, chunkPlan, (s, keyBytes, secKey, plan) => {
        feedHostile(s, plan, keyBytes ? new Rc4(keyBytes) : null, secKey);
      }),
      RUNS,
    );
  });

  it('random bodies with a well-formed body header go through decodeBody and decodeSecMsgPayload', () => {
    const body = fc
      .tuple(fc.constantFrom(2, 2, 2, 0, 3, 0xffff), bytes(80), bytes(80), fc.boolean())
      .map(([payloadType, header, payload, consistent]) => {
        const b = new Uint8Array(8 + header.length + payload.length);
        const view = new DataView(b.buffer);
        view.setUint16(0, payloadType);
        view.setUint16(2, consistent ? header.length : (header.length * 7 + 1) & 0xffff);
        view.setUint32(4, consistent ? payload.length : payload.length + 1);
        b.set(header, 8);
        b.set(payload, 8 + header.length);
        return b;
      });
    fc.assert(
      fc.property(body, securityKey, text, (b, secKey, id) => {
        const decoded = onlyMIMCError(() => decodeBody(b, null), BODY_CODES).value;
        if (decoded) onlyMIMCError(() => decodeSecMsgPayload(decoded.header, decoded.payload, secKey), BODY_CODES);
        const payload = b.subarray(8);
        onlyMIMCError(() => decodeSecMsgPayload({ ...clientHeader(Cmd.SECMSG, 1n, 'r', id) }, payload, secKey), BODY_CODES);
        for (const decode of innerDecoders) onlyMIMCError(() => decode(payload), BODY_CODES);
      }),
      RUNS,
    );
  });

  it('a body larger than the limit is refused as soon as the 8 head bytes are in, before any body byte', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 64, max: 1 << 16 }),
        fc.integer({ min: 1, max: 0xffffffff }),
        fc.array(fc.integer({ min: 1, max: 7 }), { maxLength: 8 }),
        fc.array(fc.constantFrom(EMPTY_FRAME, encodeV6Frame(clientHeader(Cmd.PING, 1n, 'r', 'i'), new Uint8Array(0), null)), { maxLength: 2 }),
        (maxBodyLength, excess, cuts, before) => {
          const declared = Math.min(maxBodyLength + excess, 0xffffffff);
          const head = new Uint8Array(HEAD);
          new DataView(head.buffer).setUint32(0, 0xc2fe0005);
          new DataView(head.buffer).setUint32(4, declared);
          const decoder = new FrameDecoder({ maxBodyLength });
          // earlier complete frames share the first chunk with the start of the oversized head
          const positions = [...new Set(cuts.map((c) => c % HEAD))].filter((c) => c > 0).sort((a, b) => a - b);
          const pieces: Uint8Array[] = [0, ...positions].map((from, i, all) => head.subarray(from, all[i + 1] ?? HEAD));
          pieces[0] = concat([...before, pieces[0]!]);
          pieces.forEach((piece, i) => {
            const last = i === pieces.length - 1;
            const result = onlyMIMCError(() => decoder.push(piece));
            if (!last) {
              same(result.error, undefined);
              check(decoder.bufferedBytes < HEAD, () => `buffered ${decoder.bufferedBytes}`);
              return;
            }
            same(result.error?.code, ErrorCode.FRAME_TOO_LARGE);
            same(result.error?.details, { bodyLength: declared, maxBodyLength });
            check(decoder.bufferedBytes <= HEAD, () => `buffered ${decoder.bufferedBytes}`);
          });
          // and it stays failed
          same(onlyMIMCError(() => decoder.push(new Uint8Array(16))).error?.code, ErrorCode.MALFORMED_FRAME);
        },
      ),
      RUNS,
    );
  });
});
