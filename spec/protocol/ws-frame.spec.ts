/**
 * The WebSocket framing of the WebJS SDK (mimc.js buildPakcetV5 / handleWSMsg), checked byte for
 * byte against frames laid out independently of lib/protocol, and fuzzed like the TCP codec.
 */
import fc from 'fast-check';
import {
  clientHeader,
  Cmd,
  decodeSecMsgPayload,
  decodeWsFrame,
  encodeMimcPacket,
  encodeWsFrame,
  encodeWsSecMsgFrame,
  ErrorCode,
  MIMCError,
  PacketType,
  rc4,
  derivePayloadKey,
  type ClientHeader,
} from '../../lib/protocol/index.js';
import { ims } from '../../lib/protocol/gen/proto.js';

/** Adler-32 written out here so the vectors do not depend on lib/protocol/adler32.ts. */
function referenceAdler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (const byte of bytes) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** The layout mimc.js writes: C2 FE | 00 04 | 00 03 | 00 02 | headerLen u16 | payloadLen u32 | header | payload | adler32. */
function referenceFrame(headerBytes: Uint8Array, payload: Uint8Array): Uint8Array {
  const out = Buffer.alloc(18 + headerBytes.length + payload.length);
  out.set([0xc2, 0xfe, 0x00, 0x04, 0x00, 0x03, 0x00, 0x02], 0);
  out.writeUInt16BE(headerBytes.length, 8);
  out.writeUInt32BE(payload.length, 10);
  out.set(headerBytes, 14);
  out.set(payload, 14 + headerBytes.length);
  out.writeUInt32BE(referenceAdler32(out.subarray(0, out.length - 4)), out.length - 4);
  return new Uint8Array(out);
}

function headerBytesOf(h: ClientHeader): Uint8Array {
  return ims.ClientHeader.encode({ chid: h.chid, uuid: h.uuid.toString(), server: h.server, resource: h.resource, cmd: h.cmd, id: h.id, dirFlag: h.dirFlag, cipher: h.cipher } as unknown as ims.ClientHeader).finish();
}

const fromHex = (hex: string) => new Uint8Array(Buffer.from(hex.replace(/\s+/g, ''), 'hex'));

describe('WebSocket frame codec', () => {
  it('encodes a PING exactly as laid out by hand', () => {
    const frame = encodeWsFrame(clientHeader(Cmd.PING, 12345n, 'r', 'web1'), new Uint8Array(0));
    const expected = fromHex(`
      c2fe 0004 0003 0002 0024 00000000
      0809 10b960 1a0a7869616f6d692e636f6d 220172 2a0450494e47 3a0477656231 4002 4800
      15a50b68`);
    expect(Buffer.from(frame).toString('hex')).toBe(Buffer.from(expected).toString('hex'));
    expect(referenceAdler32(frame.subarray(0, frame.length - 4))).toBe(0x15a50b68);
  });

  it('sends a client SECMSG payload in plain text (no body or payload cipher)', () => {
    const header = clientHeader(Cmd.SECMSG, (1n << 62n) + 7n, 'res', 'web17000000000001');
    const packet = { packetId: 'p1', package: 'pkg', type: PacketType.P2P_MESSAGE, payload: new Uint8Array([1, 2, 3]) };
    const frame = encodeWsSecMsgFrame(header, packet);
    expect(frame).toEqual(referenceFrame(headerBytesOf(header), encodeMimcPacket(packet)));
  });

  it('decodes a server SECMSG whose payload is keyed with the security key and the header id', () => {
    const securityKey = Buffer.from('secret-key-bytes').toString('base64');
    const header = { ...clientHeader(Cmd.SECMSG, 99n, 'res', 'srv-1'), dirFlag: 6 };
    const packet = { packetId: 'p9', package: 'pkg', type: PacketType.PACKET_ACK, payload: new Uint8Array([9]) };
    const plain = encodeMimcPacket(packet);
    // mimc.js: rc4(payload, atob(securityKey) + '_' + header id)
    const key = Buffer.concat([Buffer.from('secret-key-bytes'), Buffer.from('_srv-1')]);
    expect(Buffer.from(derivePayloadKey(securityKey, 'srv-1'))).toEqual(key);
    const wire = referenceFrame(headerBytesOf(header), rc4(new Uint8Array(key), plain));
    const decoded = decodeWsFrame(wire);
    expect(decoded.header.cmd).toBe('SECMSG');
    expect(decoded.header.id).toBe('srv-1');
    expect(decodeSecMsgPayload(decoded.header, decoded.payload, securityKey)).toMatchObject({ packetId: 'p9', type: PacketType.PACKET_ACK });
  });

  const code = (fn: () => unknown): string | undefined => {
    try {
      fn();
      return undefined;
    } catch (err) {
      expect(err).toBeInstanceOf(MIMCError);
      return (err as MIMCError).code;
    }
  };

  it('rejects bad input with typed errors', () => {
    const good = encodeWsFrame(clientHeader(Cmd.PING, 1n, 'r', 'id'), new Uint8Array([5, 6]));
    const patched = (at: number, value: number) => {
      const copy = good.slice();
      copy[at] = value;
      return copy;
    };
    expect(code(() => decodeWsFrame(good.subarray(0, 17)))).toBe(ErrorCode.MALFORMED_FRAME);
    expect(code(() => decodeWsFrame(patched(0, 0xc3)))).toBe(ErrorCode.BAD_MAGIC);
    expect(code(() => decodeWsFrame(patched(3, 5)))).toBe(ErrorCode.BAD_VERSION);
    expect(code(() => decodeWsFrame(patched(good.length - 1, good[good.length - 1]! ^ 1)))).toBe(ErrorCode.BAD_CHECKSUM);
    expect(code(() => decodeWsFrame(good.subarray(0, good.length - 1)))).toBe(ErrorCode.MALFORMED_FRAME);
    expect(code(() => decodeWsFrame(new Uint8Array([...good, 0])))).toBe(ErrorCode.MALFORMED_FRAME);
    expect(code(() => decodeWsFrame(good, { maxFrameBody: 8 }))).toBe(ErrorCode.FRAME_TOO_LARGE);
    // a payloadLen of 4 GiB is refused from the head alone
    const huge = good.slice();
    huge.set([0xff, 0xff, 0xff, 0xff], 10);
    expect(code(() => decodeWsFrame(huge))).toBe(ErrorCode.FRAME_TOO_LARGE);
  });

  it('round-trips any header and payload, matching the reference layout', () => {
    const header = fc.record({
      cmd: fc.constantFrom(Cmd.PING, Cmd.SECMSG, Cmd.BIND, Cmd.CONN),
      uuid: fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }),
      resource: fc.string({ maxLength: 12 }),
      id: fc.string({ maxLength: 24 }),
    });
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 256 }), (h, payload) => {
        const ch = clientHeader(h.cmd, h.uuid, h.resource, h.id);
        const frame = encodeWsFrame(ch, payload);
        expect(frame).toEqual(referenceFrame(headerBytesOf(ch), payload));
        const decoded = decodeWsFrame(frame);
        expect(decoded.header).toMatchObject({ cmd: h.cmd, uuid: h.uuid, resource: h.resource, id: h.id });
        expect(decoded.payload).toEqual(payload);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws anything but a MIMCError on random or corrupted messages', () => {
    const good = encodeWsFrame(clientHeader(Cmd.SECMSG, 5n, 'r', 'x'), new Uint8Array(40).fill(7));
    const mutated = fc
      .array(fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 })
      .map((edits) => {
        const copy = good.slice();
        for (const [at, value] of edits) copy[at] = value;
        return copy;
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), mutated), (message) => {
        try {
          decodeWsFrame(message);
        } catch (err) {
          if (!(err instanceof MIMCError)) throw err;
        }
      }),
      { numRuns: 10_000 },
    );
  });
});
