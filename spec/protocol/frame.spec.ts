/** Example tests of the streaming frame decoder and of decodeBody's checks. */
import {
  adler32,
  clientHeader,
  Cmd,
  decodeBody,
  EMPTY_FRAME,
  encodeFrame,
  encodeV6Frame,
  ErrorCode,
  FrameDecoder,
  MIMCError,
  Rc4,
  type ClientHeader,
} from '../../lib/protocol/index.js';
import { concatBytes } from '../helpers/bytes.js';

const HEAD = 8;
const CHECKSUM = 4;
const fromHex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

const bodyKey = new Rc4(text('p9Lw4Rt1'));
const header = (id: string): ClientHeader => clientHeader(Cmd.SECMSG, 10776577642332160n, 'mimc_node_res', id);
const frameA = encodeV6Frame(header('a-1'), text('first payload'), bodyKey);
const frameB = encodeV6Frame(header('b-2'), text('second, somewhat longer payload'), bodyKey);
const frameC = encodeV6Frame(clientHeader(Cmd.PING, 1n, 'r', 'c-3'), new Uint8Array(0), null);

const concat = (...parts: Uint8Array[]): Uint8Array => concatBytes(parts);

const bodyOf = (frame: Uint8Array): Uint8Array => frame.subarray(HEAD, frame.length - CHECKSUM);

/** The MIMCError `fn` throws (fails the test if it throws anything else or nothing). */
function errorOf(fn: () => unknown): MIMCError {
  try {
    fn();
  } catch (err) {
    expect(MIMCError.is(err)).toBe(true);
    return err as MIMCError;
  }
  throw new Error('expected a MIMCError, nothing was thrown');
}

/** A body with the given body-header fields around the given header and payload bytes. */
function rawBody(payloadType: number, headerLength: number, payloadLength: number, rest: Uint8Array): Uint8Array {
  const body = new Uint8Array(8 + rest.length);
  const view = new DataView(body.buffer);
  view.setUint16(0, payloadType);
  view.setUint16(2, headerLength);
  view.setUint32(4, payloadLength);
  body.set(rest, 8);
  return body;
}

describe('FrameDecoder: feeding', () => {
  it('a frame fed byte by byte comes out once, on its last byte', () => {
    const decoder = new FrameDecoder();
    for (let i = 0; i < frameA.length - 1; i++) {
      expect(decoder.push(frameA.subarray(i, i + 1))).toEqual([]);
      expect(decoder.bufferedBytes).toBe(i + 1);
    }
    const out = decoder.push(frameA.subarray(frameA.length - 1));
    expect(out).toHaveLength(1);
    expect(toHex(out[0]!)).toBe(toHex(bodyOf(frameA)));
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('several frames in one chunk come out in order', () => {
    const decoder = new FrameDecoder();
    const out = decoder.push(concat(frameA, EMPTY_FRAME, frameB, frameC));
    expect(out.map(toHex)).toEqual([frameA, EMPTY_FRAME, frameB, frameC].map((f) => toHex(bodyOf(f))));
    expect(decoder.bufferedBytes).toBe(0);
    expect(decodeBody(out[0]!, bodyKey)!.header.id).toBe('a-1');
    expect(decodeBody(out[1]!, bodyKey)).toBeNull();
    expect(decodeBody(out[2]!, bodyKey)!.header.id).toBe('b-2');
    expect(decodeBody(out[3]!, null)!.header.cmd).toBe('PING');
  });

  it('a chunk can end one frame and start the next', () => {
    const stream = concat(frameA, frameB);
    const decoder = new FrameDecoder();
    const cut = frameA.length + 3;
    expect(decoder.push(stream.subarray(0, cut)).map(toHex)).toEqual([toHex(bodyOf(frameA))]);
    expect(decoder.bufferedBytes).toBe(3);
    expect(decoder.push(stream.subarray(cut)).map(toHex)).toEqual([toHex(bodyOf(frameB))]);
  });

  it('splits inside the checksum: every cut of the 4 checksum bytes', () => {
    const end = frameA.length;
    for (let cut = end - CHECKSUM; cut < end; cut++) {
      const decoder = new FrameDecoder();
      expect(decoder.push(frameA.subarray(0, cut))).toEqual([]);
      expect(decoder.bufferedBytes).toBe(cut);
      expect(decoder.push(frameA.subarray(cut)).map(toHex)).toEqual([toHex(bodyOf(frameA))]);
    }
  });

  it('every pair of cut points in a two-frame stream (head, body, checksum, boundary)', () => {
    const stream = concat(frameC, EMPTY_FRAME);
    const want = [toHex(bodyOf(frameC)), ''];
    for (let i = 0; i <= stream.length; i++) {
      for (let j = i; j <= stream.length; j++) {
        const decoder = new FrameDecoder();
        const out = [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)].flatMap((c) => decoder.push(c));
        expect(out.map(toHex)).toEqual(want);
      }
    }
  });

  it('empty chunks change nothing', () => {
    const decoder = new FrameDecoder();
    expect(decoder.push(new Uint8Array(0))).toEqual([]);
    decoder.push(frameA.subarray(0, 5));
    expect(decoder.push(new Uint8Array(0))).toEqual([]);
    expect(decoder.bufferedBytes).toBe(5);
    expect(decoder.push(frameA.subarray(5))).toHaveLength(1);
  });

  it('works on views with a non-zero byteOffset, and on Buffers', () => {
    const backing = concat(new Uint8Array(13).fill(0xaa), frameB, new Uint8Array(5));
    const view = backing.subarray(13, 13 + frameB.length);
    expect(new FrameDecoder().push(view).map(toHex)).toEqual([toHex(bodyOf(frameB))]);
    expect(new FrameDecoder().push(Buffer.from(frameB)).map(toHex)).toEqual([toHex(bodyOf(frameB))]);
  });
});

describe('FrameDecoder: the empty frame (pong)', () => {
  it('is exactly the bytes of the protocol description', () => {
    expect(toHex(EMPTY_FRAME)).toBe('c2fe0005000000000d2301c6');
    expect(adler32(EMPTY_FRAME, 0, HEAD)).toBe(0x0d2301c6);
  });

  it('decodes to an empty body, which decodeBody maps to null with or without a key', () => {
    const decoder = new FrameDecoder();
    const out = decoder.push(EMPTY_FRAME);
    expect(out).toHaveLength(1);
    expect(out[0]!.length).toBe(0);
    expect(decodeBody(out[0]!, null)).toBeNull();
    expect(decodeBody(out[0]!, bodyKey)).toBeNull();
  });

  it('byte by byte, and several in a row', () => {
    const decoder = new FrameDecoder();
    const stream = concat(EMPTY_FRAME, EMPTY_FRAME, EMPTY_FRAME);
    let bodies = 0;
    for (let i = 0; i < stream.length; i++) bodies += decoder.push(stream.subarray(i, i + 1)).length;
    expect(bodies).toBe(3);
  });
});

describe('FrameDecoder: invalid frames', () => {
  it('bad magic → ERR_BAD_MAGIC', () => {
    const bad = Uint8Array.from(frameA);
    bad[0] = 0xc3;
    const err = errorOf(() => new FrameDecoder().push(bad));
    expect(err.code).toBe(ErrorCode.BAD_MAGIC);
    expect(err.message).toContain('0xc3fe');
  });

  it('bad magic is detected from a partial head too', () => {
    const decoder = new FrameDecoder();
    decoder.push(Uint8Array.of(0xc2));
    expect(decoder.push(Uint8Array.of(0xff, 0x00, 0x05, 0, 0, 0))).toEqual([]);
    expect(errorOf(() => decoder.push(Uint8Array.of(0))).code).toBe(ErrorCode.BAD_MAGIC);
  });

  it('bad version → ERR_BAD_VERSION', () => {
    const bad = Uint8Array.from(EMPTY_FRAME);
    bad[3] = 6;
    const err = errorOf(() => new FrameDecoder().push(bad));
    expect(err.code).toBe(ErrorCode.BAD_VERSION);
    expect(err.message).toContain('6');
  });

  it('bad checksum → ERR_BAD_CHECKSUM, also when a body byte was changed', () => {
    const badSum = Uint8Array.from(frameA);
    badSum[badSum.length - 1]! ^= 1;
    const err = errorOf(() => new FrameDecoder().push(badSum));
    expect(err.code).toBe(ErrorCode.BAD_CHECKSUM);
    expect(err.details).toEqual({ expected: adler32(frameA, 0, frameA.length - CHECKSUM) ^ 1, actual: adler32(frameA, 0, frameA.length - CHECKSUM) });

    const badBody = Uint8Array.from(frameA);
    badBody[HEAD + 2]! ^= 0x40;
    expect(errorOf(() => new FrameDecoder().push(badBody)).code).toBe(ErrorCode.BAD_CHECKSUM);

    // and when the frame arrives in pieces
    const decoder = new FrameDecoder();
    decoder.push(badSum.subarray(0, badSum.length - 2));
    expect(errorOf(() => decoder.push(badSum.subarray(badSum.length - 2))).code).toBe(ErrorCode.BAD_CHECKSUM);
  });

  it('the body limit: exactly maxBodyLength is accepted, one more is refused from the head alone', () => {
    const body = new Uint8Array(100).fill(7);
    expect(new FrameDecoder({ maxBodyLength: 100 }).push(encodeFrame(body))).toHaveLength(1);

    const decoder = new FrameDecoder({ maxBodyLength: 99 });
    const frame = encodeFrame(body);
    expect(decoder.push(frame.subarray(0, HEAD - 1))).toEqual([]);
    const err = errorOf(() => decoder.push(frame.subarray(HEAD - 1, HEAD)));
    expect(err.code).toBe(ErrorCode.FRAME_TOO_LARGE);
    expect(err.details).toEqual({ bodyLength: 100, maxBodyLength: 99 });
    expect(decoder.bufferedBytes).toBeLessThanOrEqual(HEAD);
  });

  it('memory grows with the bytes received, not with the length a head announces', () => {
    const decoder = new FrameDecoder({ maxBodyLength: 1024 * 1024 });
    const head = fromHex('c2fe0005 00100000');
    expect(decoder.push(concat(head, new Uint8Array(8)))).toEqual([]);
    expect(decoder.bufferedBytes).toBe(HEAD + 8);
    // A 1 MiB body is not reserved up front: memory follows what arrived (at most 4 KiB or twice it).
    expect(decoder.heldBytes).toBeLessThanOrEqual(4096);
    for (let i = 0; i < 16; i++) decoder.push(new Uint8Array(4096));
    expect(decoder.heldBytes).toBeLessThanOrEqual(2 * (HEAD + 8 + 16 * 4096));
    expect(decoder.heldBytes).toBeGreaterThanOrEqual(HEAD + 8 + 16 * 4096);
  });

  it('a frame collected from many chunks decodes to the same body', () => {
    const body = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff);
    const frame = encodeFrame(body);
    const decoder = new FrameDecoder();
    const out: Uint8Array[] = [];
    for (let at = 0; at < frame.length; at += 333) out.push(...decoder.push(frame.subarray(at, at + 333)));
    expect(out).toHaveLength(1);
    expect(toHex(out[0]!)).toBe(toHex(body));
    expect(decoder.heldBytes).toBe(0);
  });

  it('the body limit can be raised after construction (the emulator does so after BIND)', () => {
    const decoder = new FrameDecoder({ maxBodyLength: 100 });
    decoder.setMaxBodyLength(4096);
    expect(decoder.maxBodyLength).toBe(4096);
    expect(decoder.push(encodeFrame(new Uint8Array(1000)))).toHaveLength(1);
  });

  it('a head announcing 4 GiB is refused without allocating it', () => {
    const head = fromHex('c2fe0005 ffffffff');
    const err = errorOf(() => new FrameDecoder().push(head));
    expect(err.code).toBe(ErrorCode.FRAME_TOO_LARGE);
    expect(err.details).toEqual({ bodyLength: 0xffffffff, maxBodyLength: 1024 * 1024 });
  });

  it('after an error the decoder stays failed, even for valid input', () => {
    const decoder = new FrameDecoder();
    expect(errorOf(() => decoder.push(fromHex('0000 0005 00000000'))).code).toBe(ErrorCode.BAD_MAGIC);
    for (const next of [EMPTY_FRAME, frameA, new Uint8Array(0)]) {
      const err = errorOf(() => decoder.push(next));
      expect(err.code).toBe(ErrorCode.MALFORMED_FRAME);
    }
  });
});

describe('decodeBody', () => {
  const validHeader = bodyOf(encodeV6Frame(clientHeader(Cmd.PING, 1n, 'r', 'x'), new Uint8Array(0), null)).subarray(8);

  it('accepts a well-formed plain body', () => {
    const body = rawBody(2, validHeader.length, 3, concat(validHeader, text('abc')));
    const decoded = decodeBody(body, null)!;
    expect(decoded.header.id).toBe('x');
    expect(new TextDecoder().decode(decoded.payload)).toBe('abc');
  });

  it.each([0, 1, 3, 0x0102, 0xffff])('payloadType %i → ERR_MALFORMED_FRAME', (payloadType) => {
    const err = errorOf(() => decodeBody(rawBody(payloadType, validHeader.length, 0, validHeader), null));
    expect(err.code).toBe(ErrorCode.MALFORMED_FRAME);
    expect(err.message).toContain(`payload type ${payloadType}`);
  });

  it('payloadType is checked after body decryption', () => {
    const plain = rawBody(3, validHeader.length, 0, validHeader);
    expect(errorOf(() => decodeBody(bodyKey.apply(plain), bodyKey)).code).toBe(ErrorCode.MALFORMED_FRAME);
    // the same body, not decrypted, does not even have a sensible payloadType
    const good = rawBody(2, validHeader.length, 0, validHeader);
    expect(decodeBody(bodyKey.apply(good), bodyKey)!.header.id).toBe('x');
    expect(errorOf(() => decodeBody(bodyKey.apply(good), null)).code).toBe(ErrorCode.MALFORMED_FRAME);
  });

  it.each([
    ['payloadLen one too large', validHeader.length, 4, 3],
    ['payloadLen one too small', validHeader.length, 2, 3],
    ['headerLen one too large', validHeader.length + 1, 3, 3],
    ['headerLen one too small', validHeader.length - 1, 3, 3],
    ['headerLen 0', 0, validHeader.length + 3, 3],
    ['lengths summing past 2^32', validHeader.length, 0xffffffff, 3],
    ['headerLen past the body', 0xffff, 0, 0],
  ])('inconsistent lengths (%s) → ERR_MALFORMED_FRAME', (_name, headerLength, payloadLength, extra) => {
    const body = rawBody(2, headerLength, payloadLength, concat(validHeader, new Uint8Array(extra)));
    const err = errorOf(() => decodeBody(body, null));
    expect(err.code).toBe(ErrorCode.MALFORMED_FRAME);
    expect(err.details).toEqual({ bodyLength: body.length, headerLength, payloadLength });
  });

  it.each([1, 4, 7])('a body of %i bytes (shorter than the body header) → ERR_MALFORMED_FRAME', (n) => {
    expect(errorOf(() => decodeBody(new Uint8Array(n).fill(2), null)).code).toBe(ErrorCode.MALFORMED_FRAME);
    expect(errorOf(() => decodeBody(new Uint8Array(n), bodyKey)).code).toBe(ErrorCode.MALFORMED_FRAME);
  });

  it('an unparsable ClientHeader → ERR_MALFORMED_FRAME with the protobuf error as cause', () => {
    const junk = fromHex('0a ff ff ff ff 0f');
    const err = errorOf(() => decodeBody(rawBody(2, junk.length, 0, junk), null));
    expect(err.code).toBe(ErrorCode.MALFORMED_FRAME);
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('a body that fills the decoder limit exactly decodes', () => {
    const payload = new Uint8Array(4096 - 8 - validHeader.length).fill(1);
    const frame = encodeFrame(rawBody(2, validHeader.length, payload.length, concat(validHeader, payload)));
    const out = new FrameDecoder({ maxBodyLength: 4096 }).push(frame);
    expect(decodeBody(out[0]!, null)!.payload.length).toBe(payload.length);
  });
});
