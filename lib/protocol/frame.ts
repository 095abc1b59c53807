import { MIMCError, ErrorCode } from '../errors.js';
import { adler32 } from './adler32.js';
import { ownBytes } from './bytes.js';
import { CHECKSUM_LENGTH, DEFAULT_MAX_FRAME_BODY, HEAD_LENGTH, MAGIC, VERSION } from './constants.js';

/**
 * Completes a frame whose body is already in place at `frame[8, frame.length - 4)`: writes the
 * head and the checksum. Lets encoders lay out a whole frame in one buffer without a copy.
 */
export function sealFrame(frame: Uint8Array): Uint8Array {
  const end = frame.length - CHECKSUM_LENGTH;
  writeUint16(frame, 0, MAGIC);
  writeUint16(frame, 2, VERSION);
  writeUint32(frame, 4, end - HEAD_LENGTH);
  writeUint32(frame, end, adler32(frame, 0, end));
  return frame;
}

// big-endian byte writes: a DataView per frame would cost more than the writes
function writeUint16(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >>> 8;
  bytes[at + 1] = value & 0xff;
}

function writeUint32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >>> 24;
  bytes[at + 1] = (value >>> 16) & 0xff;
  bytes[at + 2] = (value >>> 8) & 0xff;
  bytes[at + 3] = value & 0xff;
}

/**
 * Wraps a (possibly encrypted) body into a frame: head(8) | body | adler32(head+body).
 * The body is copied once into the frame buffer.
 */
export function encodeFrame(body: Uint8Array): Uint8Array {
  const frame = new Uint8Array(HEAD_LENGTH + body.length + CHECKSUM_LENGTH);
  frame.set(body, HEAD_LENGTH);
  return sealFrame(frame);
}

/** The empty frame (bodyLen 0): the server's pong, and a ping in the C++ SDK. */
export const EMPTY_FRAME: Uint8Array = encodeFrame(new Uint8Array(0));

export interface FrameDecoderOptions {
  /** Largest accepted body; a frame announcing more is rejected before any of it is buffered. */
  maxBodyLength?: number;
}

/** What one chunk produced: the verified frames, then the error that ended the stream, if any. */
export interface DecodeResult {
  frames: Uint8Array[];
  error?: MIMCError;
}

function checkLimit(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'maxBodyLength must be an integer in [0, 2^32)');
  }
  return value;
}

/** First size of the buffer of a frame split across chunks (or its whole length when smaller). */
const INITIAL_FRAME_BUFFER = 4096;
const EMPTY = new Uint8Array(0);

const enum DecodeState {
  Head,
  Rest,
  Failed,
}

/**
 * Streaming frame decoder. Feed it chunks of any size with `decode`; it returns the bodies
 * (exactly as sent, i.e. still encrypted) of every frame completed by the chunk. It holds
 * at most one partial frame, never more than head + maxBodyLength + checksum bytes, and only
 * the bytes that arrived: a head announcing a large body reserves nothing.
 *
 * After an error the decoder is failed for good: a corrupt stream cannot be resynchronised,
 * so the owner must close the connection — after handling the frames verified before it.
 */
export class FrameDecoder {
  private maxBody: number;
  private state = DecodeState.Head;
  private readonly head = new Uint8Array(HEAD_LENGTH);
  private headFill = 0;
  /**
   * The incomplete frame (head first) as received so far. It grows by doubling as bytes arrive,
   * up to the frame's length: memory follows the bytes received (at most twice them), never
   * the length a head announced.
   */
  private frame: Uint8Array = EMPTY;
  /** Total length (head + body + checksum) of the incomplete frame. */
  private frameLength = 0;
  private frameFill = 0;

  constructor(options: FrameDecoderOptions = {}) {
    this.maxBody = checkLimit(options.maxBodyLength ?? DEFAULT_MAX_FRAME_BODY);
  }

  /** Largest accepted body right now. */
  get maxBodyLength(): number {
    return this.maxBody;
  }

  /**
   * Changes the body limit for the frames whose head has not been read yet (a server raises it
   * once the peer authenticated). The frame in progress keeps the limit its head was checked against.
   */
  setMaxBodyLength(maxBodyLength: number): void {
    this.maxBody = checkLimit(maxBodyLength);
  }

  /** Bytes received and held for an incomplete frame. */
  get bufferedBytes(): number {
    return this.state === DecodeState.Rest ? this.frameFill : this.headFill;
  }

  /**
   * Bytes of memory held for the incomplete frame beyond the fixed 8-byte head buffer: at most
   * max(4 KiB, twice the bytes received), never the length a head announced.
   */
  get heldBytes(): number {
    return this.frame.length;
  }

  /**
   * Decodes a chunk. Returns every frame it completes that passed verification, in order, and
   * — if the stream turned out corrupt or oversized — the error, *after* those frames: the owner
   * handles the verified frames first, then closes the connection. Never throws.
   */
  decode(chunk: Uint8Array): DecodeResult {
    if (this.state === DecodeState.Failed) {
      return { frames: [], error: new MIMCError(ErrorCode.MALFORMED_FRAME, 'decoder already failed on an earlier frame') };
    }
    const frames: Uint8Array[] = [];
    try {
      this.consume(chunk, frames);
    } catch (err) {
      this.resetFrame();
      this.state = DecodeState.Failed;
      const error = MIMCError.is(err) ? err : new MIMCError(ErrorCode.MALFORMED_FRAME, 'undecodable input', { cause: err });
      return { frames, error };
    }
    return { frames };
  }

  /** Strict variant of `decode` for tools and tests: throws the error (dropping the frames before it). */
  push(chunk: Uint8Array): Uint8Array[] {
    const { frames, error } = this.decode(chunk);
    if (error) throw error;
    return frames;
  }

  private consume(chunk: Uint8Array, bodies: Uint8Array[]): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.state === DecodeState.Head) {
        // Fast path: a whole frame inside the chunk needs no copy of the head.
        if (this.headFill === 0 && chunk.length - pos >= HEAD_LENGTH) {
          const bodyLength = this.checkHead(chunk, pos);
          const total = HEAD_LENGTH + bodyLength + CHECKSUM_LENGTH;
          if (chunk.length - pos >= total) {
            bodies.push(this.verify(chunk.subarray(pos, pos + total), bodyLength));
            pos += total;
            continue;
          }
          this.startFrame(chunk.subarray(pos, pos + HEAD_LENGTH), bodyLength);
          pos += HEAD_LENGTH;
          continue;
        }
        const take = Math.min(HEAD_LENGTH - this.headFill, chunk.length - pos);
        this.head.set(chunk.subarray(pos, pos + take), this.headFill);
        this.headFill += take;
        pos += take;
        if (this.headFill === HEAD_LENGTH) {
          this.startFrame(this.head, this.checkHead(this.head, 0));
        }
        continue;
      }
      const take = Math.min(this.frameLength - this.frameFill, chunk.length - pos);
      this.reserve(this.frameFill + take);
      this.frame.set(chunk.subarray(pos, pos + take), this.frameFill);
      this.frameFill += take;
      pos += take;
      if (this.frameFill === this.frameLength) {
        const frame = this.frame.length === this.frameLength ? this.frame : this.frame.subarray(0, this.frameLength);
        this.resetFrame();
        bodies.push(this.verify(frame, frame.length - HEAD_LENGTH - CHECKSUM_LENGTH));
      }
    }
  }

  /** Grows the buffer (doubling, capped at the frame's length) so that it holds `needed` bytes. */
  private reserve(needed: number): void {
    if (needed <= this.frame.length) return;
    let capacity = Math.max(this.frame.length * 2, INITIAL_FRAME_BUFFER);
    while (capacity < needed) capacity *= 2;
    const grown = ownBytes(Math.min(capacity, this.frameLength));
    grown.set(this.frame.subarray(0, this.frameFill));
    this.frame = grown;
  }

  private resetFrame(): void {
    this.frame = EMPTY;
    this.frameLength = 0;
    this.frameFill = 0;
    this.headFill = 0;
    this.state = DecodeState.Head;
  }

  private startFrame(head: Uint8Array, bodyLength: number): void {
    this.frameLength = HEAD_LENGTH + bodyLength + CHECKSUM_LENGTH;
    this.frame = EMPTY;
    this.frameFill = 0;
    this.reserve(HEAD_LENGTH);
    this.frame.set(head.subarray(0, HEAD_LENGTH), 0);
    this.frameFill = HEAD_LENGTH;
    this.headFill = 0;
    this.state = DecodeState.Rest;
  }

  /** Validates magic, version and announced length; returns the body length. */
  private checkHead(bytes: Uint8Array, at: number): number {
    const magic = (bytes[at]! << 8) | bytes[at + 1]!;
    if (magic !== MAGIC) {
      throw new MIMCError(ErrorCode.BAD_MAGIC, `bad frame magic 0x${magic.toString(16).padStart(4, '0')}`);
    }
    const version = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    if (version !== VERSION) throw new MIMCError(ErrorCode.BAD_VERSION, `unsupported frame version ${version}`);
    const bodyLength = ((bytes[at + 4]! << 24) | (bytes[at + 5]! << 16) | (bytes[at + 6]! << 8) | bytes[at + 7]!) >>> 0;
    if (bodyLength > this.maxBody) {
      throw new MIMCError(ErrorCode.FRAME_TOO_LARGE, `frame body of ${bodyLength} bytes exceeds the limit of ${this.maxBody}`, {
        details: { bodyLength, maxBodyLength: this.maxBody },
      });
    }
    return bodyLength;
  }

  /** Checks the checksum of a complete frame and returns a view of its body. */
  private verify(frame: Uint8Array, bodyLength: number): Uint8Array {
    const end = HEAD_LENGTH + bodyLength;
    const expected =
      ((frame[end]! << 24) | (frame[end + 1]! << 16) | (frame[end + 2]! << 8) | frame[end + 3]!) >>> 0;
    const actual = adler32(frame, 0, end);
    if (actual !== expected) {
      throw new MIMCError(ErrorCode.BAD_CHECKSUM, 'frame checksum mismatch', { details: { expected, actual } });
    }
    return frame.subarray(HEAD_LENGTH, end);
  }
}
