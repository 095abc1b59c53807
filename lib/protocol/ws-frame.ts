import { MIMCError, ErrorCode } from '../errors.js';
import { adler32 } from './adler32.js';
import { CHECKSUM_LENGTH, DEFAULT_MAX_FRAME_BODY, MAGIC, PAYLOAD_TYPE_PROTOBUF } from './constants.js';
import { decodeHeader, encodeHeaderChecked, encodeMimcPacket, type ClientHeader, type MimcPacket } from './packets.js';

/**
 * MIMC over WebSocket (the framing of the official WebJS SDK): one frame per binary WebSocket
 * message, no body cipher (TLS protects the connection), integers big-endian:
 *
 *   magic 0xC2FE (2) | version 4 (2) | headerType 3 (2) | payloadType 2 (2) |
 *   headerLen (2) | payloadLen (4) | ClientHeader | payload | Adler-32 of everything before (4)
 *
 * Client payloads are plain; a server SECMSG payload is still RC4-encrypted with the payload key
 * (decode it with decodeSecMsgPayload, as on TCP).
 */
export const WS_VERSION = 4;
/** The value mimc.js writes at offset 4; it names the ClientHeader encoding (protobuf). */
export const WS_HEADER_TYPE = 3;
export const WS_HEAD_LENGTH = 14;
/** CONN fields the WebJS SDK sends instead of the TCP ones. */
export const WS_CONN_UDID = 'websocket';
export const WS_CONN_SDK = 31;
/** The WebJS SDK pings every 30 s whatever the traffic (TCP clients ping when idle). */
export const WS_PING_INTERVAL_MS = 30_000;
export const WS_ENDPOINT = 'wss://wsapp.chat.xiaomi.net';

/**
 * The RFC 6455 close code (§7.4.1) for refusing a peer's input that failed with `code`: 1009 for
 * a frame over the limit, 1002 for a corrupt or malformed one; undefined when `code` is not about
 * the peer's frames. (A text message is refused with 1003 where it is detected.)
 */
export function wsCloseCodeFor(code: string): number | undefined {
  switch (code) {
    case ErrorCode.FRAME_TOO_LARGE:
      return 1009;
    case ErrorCode.BAD_MAGIC:
    case ErrorCode.BAD_VERSION:
    case ErrorCode.BAD_CHECKSUM:
    case ErrorCode.MALFORMED_FRAME:
      return 1002;
    default:
      return undefined;
  }
}

export interface WsFrame {
  header: ClientHeader;
  /** A view into the message it was decoded from. */
  payload: Uint8Array;
}

export interface WsFrameDecodeOptions {
  /** Largest accepted headerLen + payloadLen; default the TCP codec's body cap (1 MiB). */
  maxFrameBody?: number;
}

/** Encodes one WebSocket message carrying `header` and `payload` (sent as is). */
export function encodeWsFrame(header: ClientHeader, payload: Uint8Array): Uint8Array {
  const headerBytes = encodeHeaderChecked(header);
  const frame = new Uint8Array(WS_HEAD_LENGTH + headerBytes.length + payload.length + CHECKSUM_LENGTH);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  view.setUint16(0, MAGIC);
  view.setUint16(2, WS_VERSION);
  view.setUint16(4, WS_HEADER_TYPE);
  view.setUint16(6, PAYLOAD_TYPE_PROTOBUF);
  view.setUint16(8, headerBytes.length);
  view.setUint32(10, payload.length);
  frame.set(headerBytes, WS_HEAD_LENGTH);
  frame.set(payload, WS_HEAD_LENGTH + headerBytes.length);
  const end = frame.length - CHECKSUM_LENGTH;
  view.setUint32(end, adler32(frame, 0, end));
  return frame;
}

/** A client SECMSG message: the MIMCPacket travels plain over WebSocket. */
export function encodeWsSecMsgFrame(header: ClientHeader, packet: MimcPacket): Uint8Array {
  return encodeWsFrame(header, encodeMimcPacket(packet));
}

/**
 * Decodes one whole WebSocket message. Unlike TCP there is no stream to resynchronise: the
 * message must be exactly one frame, so any length disagreement is a malformed frame.
 * Runs in time linear in the message length.
 */
export function decodeWsFrame(message: Uint8Array, options: WsFrameDecodeOptions = {}): WsFrame {
  const maxFrameBody = options.maxFrameBody ?? DEFAULT_MAX_FRAME_BODY;
  if (message.length < WS_HEAD_LENGTH + CHECKSUM_LENGTH) {
    throw new MIMCError(ErrorCode.MALFORMED_FRAME, `WebSocket message of ${message.length} bytes is shorter than a frame head`);
  }
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const magic = view.getUint16(0);
  if (magic !== MAGIC) throw new MIMCError(ErrorCode.BAD_MAGIC, `bad frame magic 0x${magic.toString(16).padStart(4, '0')}`);
  const version = view.getUint16(2);
  if (version !== WS_VERSION) throw new MIMCError(ErrorCode.BAD_VERSION, `unsupported WebSocket frame version ${version}`);
  const headerLength = view.getUint16(8);
  const payloadLength = view.getUint32(10);
  const bodyLength = headerLength + payloadLength;
  if (bodyLength > maxFrameBody) {
    throw new MIMCError(ErrorCode.FRAME_TOO_LARGE, `frame body of ${bodyLength} bytes exceeds the limit of ${maxFrameBody}`, {
      details: { bodyLength, maxBodyLength: maxFrameBody },
    });
  }
  const end = WS_HEAD_LENGTH + bodyLength;
  if (message.length !== end + CHECKSUM_LENGTH) {
    throw new MIMCError(ErrorCode.MALFORMED_FRAME, `WebSocket message of ${message.length} bytes announces a frame of ${end + CHECKSUM_LENGTH}`);
  }
  const expected = view.getUint32(end);
  const actual = adler32(message, 0, end);
  if (actual !== expected) throw new MIMCError(ErrorCode.BAD_CHECKSUM, 'frame checksum mismatch', { details: { expected, actual } });
  const header = decodeHeader(message.subarray(WS_HEAD_LENGTH, WS_HEAD_LENGTH + headerLength));
  return { header, payload: message.subarray(WS_HEAD_LENGTH + headerLength, end) };
}
