/**
 * How the emulator lays out and reads frames for one connection, per transport:
 * - TCP: V6 frames, bodies RC4-encrypted with the key derived from the CONN challenge and the
 *   client's udid, client SECMSG payloads under the payload key;
 * - WebSocket: the WebJS framing, one frame per message, no body cipher, client payloads plain.
 * Server SECMSG payloads carry the payload key on both. The connection above never asks which.
 */
import { CHECKSUM_LENGTH, HEAD_LENGTH, MAGIC, VERSION, type Cmd } from '../protocol/constants.js';
import type { TransportKind } from '../protocol/client-codec.js';
import { EMPTY_FRAME } from '../protocol/frame.js';
import { cryptPayload, deriveBodyKey } from '../protocol/keys.js';
import {
  decodeBody,
  decodeMimcPacket,
  openSecMsgPayload,
  encodeMimcPacket,
  encodeSecMsgFrame,
  encodeV6Frame,
  serverHeader,
  type ClientHeader,
  type DecodedBody,
  type MimcPacket,
} from '../protocol/packets.js';
import { Rc4 } from '../protocol/rc4.js';
import { WS_HEAD_LENGTH, WS_VERSION, decodeWsFrame, encodeWsFrame } from '../protocol/ws-frame.js';

/** Announced body length of the oversized-frame fault: 16 MiB + 1. */
const OVERSIZED_BODY = 16 * 1024 * 1024 + 1;

export interface ServerWire {
  readonly kind: TransportKind;
  /** One unit its link handed over (a verified TCP frame body, a whole WebSocket message); null = empty frame. */
  decode(unit: Uint8Array): DecodedBody | null;
  /** The CONN answer went out with this challenge: TCP keys the bodies from here on. */
  keyWith(challenge: string, udid: string): void;
  /** A frame with a plain payload (CONN, BIND and KICK answers). */
  frame(header: ClientHeader, payload: Uint8Array): Uint8Array;
  /** The answer to a client PING or UBND with this header. */
  pong(request: ClientHeader): Uint8Array;
  /** A downstream SECMSG; the payload key is the recipient's security key and the header id. */
  secMsg(header: ClientHeader, packet: MimcPacket, securityKey: string): Uint8Array;
  /** The MIMC packet of a client SECMSG. */
  clientPacket(header: ClientHeader, payload: Uint8Array, securityKey: string): MimcPacket;
  /** A copy of `frame` with one byte of its body flipped, so the checksum no longer matches. */
  corrupt(frame: Uint8Array): Uint8Array;
  /** A frame head announcing a body over 16 MiB (the oversized-frame fault). */
  oversizedHead(): Uint8Array;
}

function flipBodyByte(frame: Uint8Array, headLength: number): Uint8Array {
  const bytes = Uint8Array.from(frame);
  const bodyLength = bytes.length - headLength - CHECKSUM_LENGTH;
  // Any single changed byte changes Adler-32, so the receiver sees a checksum mismatch.
  const at = bodyLength > 0 ? headLength + (bodyLength >>> 1) : bytes.length - 1;
  bytes[at] = bytes[at]! ^ 0xff;
  return bytes;
}

class TcpWire implements ServerWire {
  readonly kind = 'tcp';
  private bodyKey: Rc4 | null = null;

  decode(unit: Uint8Array): DecodedBody | null {
    return decodeBody(unit, this.bodyKey);
  }

  keyWith(challenge: string, udid: string): void {
    this.bodyKey = new Rc4(deriveBodyKey(challenge, udid));
  }

  frame(header: ClientHeader, payload: Uint8Array): Uint8Array {
    return encodeV6Frame(header, payload, this.bodyKey);
  }

  pong(): Uint8Array {
    return EMPTY_FRAME;
  }

  secMsg(header: ClientHeader, packet: MimcPacket, securityKey: string): Uint8Array {
    return encodeSecMsgFrame(header, packet, securityKey, this.bodyKey!);
  }

  clientPacket(header: ClientHeader, payload: Uint8Array, securityKey: string): MimcPacket {
    return openSecMsgPayload(header, payload, securityKey); // a fresh body from decode(): ours to decrypt in place
  }

  corrupt(frame: Uint8Array): Uint8Array {
    return flipBodyByte(frame, HEAD_LENGTH);
  }

  oversizedHead(): Uint8Array {
    const head = Buffer.alloc(HEAD_LENGTH);
    head.writeUInt16BE(MAGIC, 0);
    head.writeUInt16BE(VERSION, 2);
    head.writeUInt32BE(OVERSIZED_BODY, 4);
    return head;
  }
}

class WsWire implements ServerWire {
  readonly kind = 'websocket';

  constructor(private readonly maxFrameBody: number) {}

  decode(unit: Uint8Array): DecodedBody {
    return decodeWsFrame(unit, { maxFrameBody: this.maxFrameBody });
  }

  keyWith(): void {
    // TLS protects a WebSocket connection; bodies are never RC4-encrypted
  }

  frame(header: ClientHeader, payload: Uint8Array): Uint8Array {
    return encodeWsFrame(header, payload);
  }

  pong(request: ClientHeader): Uint8Array {
    // There is no empty frame over WebSocket: the answer is a header-only frame of the same command and id.
    return encodeWsFrame(serverHeader(request.cmd as Cmd, request.uuid, request.resource, request.id), new Uint8Array(0));
  }

  secMsg(header: ClientHeader, packet: MimcPacket, securityKey: string): Uint8Array {
    const plain = encodeMimcPacket(packet);
    if (plain.length > 0) cryptPayload(securityKey, header.id, plain, 0, plain.length, plain, 0);
    return encodeWsFrame(header, plain);
  }

  clientPacket(_header: ClientHeader, payload: Uint8Array): MimcPacket {
    return decodeMimcPacket(payload);
  }

  corrupt(frame: Uint8Array): Uint8Array {
    return flipBodyByte(frame, WS_HEAD_LENGTH);
  }

  oversizedHead(): Uint8Array {
    const head = Buffer.alloc(WS_HEAD_LENGTH + CHECKSUM_LENGTH);
    head.writeUInt16BE(MAGIC, 0);
    head.writeUInt16BE(WS_VERSION, 2);
    head.writeUInt32BE(OVERSIZED_BODY, 10);
    return head;
  }
}

export function createServerWire(kind: TransportKind, maxFrameBody: number): ServerWire {
  return kind === 'tcp' ? new TcpWire() : new WsWire(maxFrameBody);
}
