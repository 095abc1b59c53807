/**
 * The two ways a client lays out and reads MIMC frames, behind one interface so the session
 * above does not care which transport carries them:
 * - TCP: V6 frames, the body RC4-encrypted with the key derived from the CONN challenge, client
 *   SECMSG payloads encrypted with the payload key (the Go/Java/C++ SDKs);
 * - WebSocket: the WebJS framing, no body cipher (TLS protects the connection), client payloads
 *   plain (mimc.js).
 * Server SECMSG payloads carry the payload key on both, so decodeSecMsgPayload serves both.
 */
import { MIMCError, ErrorCode } from '../errors.js';
import { BIND_METHOD, Cipher, Cmd, CONN_VERSION } from './constants.js';
import { deriveBodyKey } from './keys.js';
import {
  buildBindFrame,
  buildClientSecMsgFrame,
  buildConnFrame,
  buildHeaderOnlyFrame,
  clientHeader,
  decodeBody,
  encodeBind,
  encodeConn,
  bindKickValue,
  type BindOptions,
  type ClientIdentity,
  type DecodedBody,
  type MimcPacket,
} from './packets.js';
import { Rc4 } from './rc4.js';
import { decodeWsFrame, encodeWsFrame, encodeWsSecMsgFrame, WS_CONN_SDK, WS_CONN_UDID } from './ws-frame.js';

export type TransportKind = 'tcp' | 'websocket';

/** What the CONN and BIND frames of a login carry besides the identity. */
export interface BindFrameInput {
  token: string;
  sig: string;
  options: Readonly<BindOptions>;
}

/**
 * Encodes the frames a client writes and decodes the units its transport hands over (a
 * verified TCP frame body, or one whole WebSocket message). Stateful only in the TCP body key,
 * which the CONN answer's challenge sets.
 */
export interface ClientFrameCodec {
  readonly kind: TransportKind;
  conn(who: ClientIdentity, id: string): Uint8Array;
  /** The CONN answer arrived with this challenge (TCP derives its body key from it). */
  keyWith(challenge: string): void;
  bind(who: ClientIdentity, id: string, input: BindFrameInput): Uint8Array;
  headerOnly(cmd: typeof Cmd.PING | typeof Cmd.UBND, who: ClientIdentity, id: string): Uint8Array;
  secMsg(who: ClientIdentity, packet: MimcPacket, securityKey: string): Uint8Array;
  /**
   * One received unit; null for the TCP pong (an empty frame). Throws MIMCError on a malformed
   * one. The unit belongs to the codec from here on: it may be decrypted in place, and the
   * payload returned is a view into it (copy out whatever outlives the call).
   */
  decode(unit: Uint8Array): DecodedBody | null;
}

/** Largest frame body the codec accepts; WebSocket messages are checked against it too. */
export interface ClientCodecOptions {
  maxFrameBody: number;
}

class TcpClientCodec implements ClientFrameCodec {
  readonly kind = 'tcp';
  private bodyKey: Rc4 | null = null;

  conn(who: ClientIdentity, id: string): Uint8Array {
    return buildConnFrame(who, id, '');
  }

  keyWith(challenge: string): void {
    this.bodyKey = new Rc4(deriveBodyKey(challenge, ''));
  }

  bind(who: ClientIdentity, id: string, input: BindFrameInput): Uint8Array {
    return buildBindFrame(who, id, input.token, input.sig, this.keyed(), input.options);
  }

  headerOnly(cmd: typeof Cmd.PING | typeof Cmd.UBND, who: ClientIdentity, id: string): Uint8Array {
    return buildHeaderOnlyFrame(cmd, who, id, this.keyed());
  }

  secMsg(who: ClientIdentity, packet: MimcPacket, securityKey: string): Uint8Array {
    return buildClientSecMsgFrame(who, packet, securityKey, this.keyed());
  }

  decode(unit: Uint8Array): DecodedBody | null {
    return decodeBody(unit, this.bodyKey, true); // the unit is ours (see ClientFrameCodec.decode)
  }

  private keyed(): Rc4 {
    if (!this.bodyKey) throw new MIMCError(ErrorCode.NOT_LOGGED_IN, 'a TCP frame was encoded before the CONN answer keyed the connection');
    return this.bodyKey;
  }
}

/** The CONN payload of a WebSocket client: mimc.js's version, udid and sdk number; our os. */
const WS_CONN_OS = 'node';

class WsClientCodec implements ClientFrameCodec {
  readonly kind = 'websocket';

  constructor(private readonly maxFrameBody: number) {}

  conn(who: ClientIdentity, id: string): Uint8Array {
    const payload = encodeConn({ version: CONN_VERSION, os: WS_CONN_OS, udid: WS_CONN_UDID, sdk: WS_CONN_SDK });
    return encodeWsFrame(clientHeader(Cmd.CONN, who.uuid, who.resource, id), payload);
  }

  keyWith(): void {
    // no body cipher over WebSocket
  }

  bind(who: ClientIdentity, id: string, input: BindFrameInput): Uint8Array {
    const payload = encodeBind({
      token: input.token,
      kick: bindKickValue(input.options.kick),
      method: BIND_METHOD,
      clientAttrs: input.options.clientAttrs,
      cloudAttrs: input.options.cloudAttrs,
      sig: input.sig,
      sso: input.options.sso,
    });
    return encodeWsFrame(clientHeader(Cmd.BIND, who.uuid, who.resource, id), payload);
  }

  headerOnly(cmd: typeof Cmd.PING | typeof Cmd.UBND, who: ClientIdentity, id: string): Uint8Array {
    return encodeWsFrame(clientHeader(cmd, who.uuid, who.resource, id), new Uint8Array(0));
  }

  secMsg(who: ClientIdentity, packet: MimcPacket, _securityKey: string): Uint8Array {
    // The packet travels plain, so the header says so (mimc.js leaves cipher unset, i.e. 0).
    const header = { ...clientHeader(Cmd.SECMSG, who.uuid, who.resource, packet.packetId), cipher: Cipher.NONE };
    return encodeWsSecMsgFrame(header, packet);
  }

  decode(unit: Uint8Array): DecodedBody {
    return decodeWsFrame(unit, { maxFrameBody: this.maxFrameBody });
  }
}

/** A fresh codec for one connection of the given transport. */
export function createClientCodec(kind: TransportKind, options: ClientCodecOptions): ClientFrameCodec {
  return kind === 'tcp' ? new TcpClientCodec() : new WsClientCodec(options.maxFrameBody);
}
