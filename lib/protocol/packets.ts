/**
 * Typed builders and parsers for every MIMC frame in both directions, over the protobufjs
 * code generated from proto/, except the hot paths: the header and MIMC packet encode in
 * proto-writer.ts, and the receive-path decoders (header, packet, packet list, ack, P2P/P2T
 * message) in proto-reader.ts. Ids are bigint here; Long never leaves this module.
 */
import { MIMCError, ErrorCode } from '../errors.js';
import { ims, mimc } from './gen/proto.js';
import {
  BIND_KICK,
  BIND_KICK_OTHERS,
  BIND_METHOD,
  BODY_HEADER_LENGTH,
  CHECKSUM_LENGTH,
  CHID,
  CONN_OS,
  CONN_SDK,
  CONN_VERSION,
  Cipher,
  Cmd,
  DirFlag,
  HEAD_LENGTH,
  PAYLOAD_TYPE_PROTOBUF,
  SERVER,
} from './constants.js';
import { ownBytes, ownCopy } from './bytes.js';
import { sealFrame } from './frame.js';
import { fromLong, toLong } from './int64.js';
import { cryptPayload } from './keys.js';
import { readClientHeader, readMimcPacket, readP2PMessage, readP2TMessage, readPacketAck, readPacketList } from './proto-reader.js';
import { protoWriter } from './proto-writer.js';
import type { Rc4 } from './rc4.js';
import { groupToProto, has, type GroupRef, type UserRef, optionalString, parse, present, userToProto } from './proto-fields.js';

// ---------------------------------------------------------------------------------------------
// Domain types

export interface ClientHeader {
  chid: number;
  uuid: bigint;
  server: string;
  resource: string;
  cmd: string;
  id: string;
  dirFlag: number;
  cipher: number;
  subcmd?: string;
  errCode?: number;
  errStr?: string;
}

export interface ConnRequest {
  version: number;
  os?: string;
  udid: string;
  sdk: number;
  model?: string;
}

export interface BindRequest {
  token: string;
  kick: string;
  method: string;
  clientAttrs: string;
  cloudAttrs: string;
  sig: string;
  /** XMMsgBind field 7; written only when true, so a default BIND stays byte-identical to Go's. */
  sso?: boolean;
}

/** The login choices a client puts in its BIND besides the token and signature. */
export interface BindOptions {
  /** `kick` "1": this login kicks the account's other resources. */
  kick: boolean;
  /** Single sign-on: this login kicks the other resources, and so does any later login while it is bound. */
  sso: boolean;
  clientAttrs: string;
  cloudAttrs: string;
}

/** What every official SDK sends: kick "0", no SSO, empty attributes. */
export const DEFAULT_BIND_OPTIONS: Readonly<BindOptions> = Object.freeze({ kick: false, sso: false, clientAttrs: '', cloudAttrs: '' });

/** The wire value of the BIND `kick` field (also signed). */
export function bindKickValue(kick: boolean): string {
  return kick ? BIND_KICK_OTHERS : BIND_KICK;
}

/** BIND response, also the payload of KICK. */
export interface BindResult {
  result: boolean;
  errorType: string;
  errorReason: string;
  errorDesc: string;
}

export type { GroupRef, UserRef };

export interface P2PMessage {
  from: UserRef;
  to: UserRef;
  payload: Uint8Array;
  isStore?: boolean;
  bizType?: string;
}

export interface P2TMessage {
  from: UserRef;
  to: GroupRef;
  payload: Uint8Array;
  isStore?: boolean;
  bizType?: string;
}

export interface MimcPacket {
  packetId: string;
  package: string;
  /** A PacketType; decodes as 0 when the packet has no type or one this SDK does not know. */
  type: number;
  sequence?: bigint;
  payload?: Uint8Array;
  timestamp?: bigint;
  /** Field 7: the sender asks the server to record this message in the recent chat list. */
  conversation?: boolean;
  /** Field 8: the message's index within its conversation, assigned by the server. */
  convIndex?: bigint;
}

export interface PacketAck {
  packetId: string;
  uuid: bigint;
  resource: string;
  sequence: bigint;
  timestamp: bigint;
  package: string;
  errorMsg: string;
  code?: number;
  /** Field 9: the acked message's index within its conversation (when the server assigned one). */
  convIndex?: bigint;
}

export interface PacketList {
  uuid: bigint;
  resource: string;
  maxSequence: bigint;
  packets: MimcPacket[];
  status: number;
}

export interface SequenceAck {
  uuid: bigint;
  resource: string;
  sequence: bigint;
  appId: bigint;
}

export interface PullRequest {
  uuid: bigint;
  resource: string;
  appId?: bigint;
}

export interface OnlineMessageAck {
  packetId: string;
  uuid?: bigint;
  resource?: string;
  code: number;
  errorMsg?: string;
}

/** A decoded frame body: the header and the payload after body decryption. */
export interface DecodedBody {
  header: ClientHeader;
  /** For SECMSG still payload-encrypted; use decodeSecMsgPayload. */
  payload: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// Helpers

// ---------------------------------------------------------------------------------------------
// Frame body

/** Header of a frame written by the client: chid 9, server xiaomi.com, CS_REQ, cipher by command. */
export function clientHeader(cmd: Cmd, uuid: bigint, resource: string, id: string): ClientHeader {
  return {
    chid: CHID,
    uuid,
    server: SERVER,
    resource,
    cmd,
    id,
    dirFlag: DirFlag.CS_REQ,
    cipher: cmd === Cmd.SECMSG ? Cipher.RC4 : Cipher.NONE,
  };
}

/** Header of a frame written by the server to the connection of (uuid, resource). */
export function serverHeader(cmd: Cmd, uuid: bigint, resource: string, id: string, dirFlag: number = DirFlag.SC_RESP): ClientHeader {
  const header = clientHeader(cmd, uuid, resource, id);
  header.dirFlag = dirFlag; // not `{ ...header, dirFlag }`: a spread with more properties takes V8's slow path
  return header;
}

/** Writes `h` at the start of the (reset) shared writer; returns its length, refusing one over the u16 headerLen. */
function writeHeader(h: ClientHeader): number {
  protoWriter.reset();
  protoWriter.header(h);
  if (protoWriter.pos > 0xffff) throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'client header too large');
  return protoWriter.pos;
}

export function decodeHeader(bytes: Uint8Array): ClientHeader {
  return readClientHeader(bytes);
}

/** The protobuf bytes of a ClientHeader; refuses one that does not fit the u16 headerLen of either framing. */
export function encodeHeaderChecked(header: ClientHeader): Uint8Array {
  return protoWriter.copy(0, writeHeader(header));
}

/**
 * Lays out a whole frame in one new buffer, the only allocation: head | body | checksum, the body
 * being payloadType | headerLen | payloadLen | header | payload. The header is at the start of
 * the shared writer (`headerLength` bytes); the payload is `src[payloadStart, +payloadLength)`
 * (often the writer's buffer too). With a `securityKey` the payload is RC4-encrypted on the way
 * in under its payload key (the key of `payloadKeyId`); with a `bodyKey` the whole body is then
 * encrypted in place. Offsets, not subarrays: on a small frame a view costs more than the copy.
 *
 * The frame comes from Node's Buffer pool: it goes to a socket and is never handed to the app.
 */
function layoutFrame(
  headerLength: number,
  src: Uint8Array,
  payloadStart: number,
  payloadLength: number,
  securityKey: string | null,
  payloadKeyId: string,
  bodyKey: Rc4 | null,
): Uint8Array {
  const bodyLength = BODY_HEADER_LENGTH + headerLength + payloadLength;
  const frame = Buffer.allocUnsafe(HEAD_LENGTH + bodyLength + CHECKSUM_LENGTH);
  let at = HEAD_LENGTH;
  frame[at++] = PAYLOAD_TYPE_PROTOBUF >>> 8;
  frame[at++] = PAYLOAD_TYPE_PROTOBUF & 0xff;
  frame[at++] = headerLength >>> 8;
  frame[at++] = headerLength & 0xff;
  frame[at++] = payloadLength >>> 24;
  frame[at++] = (payloadLength >>> 16) & 0xff;
  frame[at++] = (payloadLength >>> 8) & 0xff;
  frame[at++] = payloadLength & 0xff;
  protoWriter.buf.copy(frame, at, 0, headerLength);
  at += headerLength;
  if (securityKey !== null && payloadLength > 0) cryptPayload(securityKey, payloadKeyId, src, payloadStart, payloadLength, frame, at);
  else copyBytes(src, payloadStart, payloadLength, frame, at);
  if (bodyKey) bodyKey.applyRange(frame, HEAD_LENGTH, bodyLength, frame, HEAD_LENGTH);
  return sealFrame(frame);
}

/** Copies `src[start, +length)` to `dst` at `at`; a loop for the few bytes of most payloads, native beyond. */
function copyBytes(src: Uint8Array, start: number, length: number, dst: Uint8Array, at: number): void {
  if (length <= 64) {
    for (let i = 0; i < length; i++) dst[at + i] = src[start + i]!;
  } else {
    dst.set(src.subarray(start, start + length), at);
  }
}

/** Plain body: payloadType | headerLen | payloadLen | header | payload; encrypted in place when a key is given. */
export function encodeBody(header: ClientHeader, payload: Uint8Array, bodyKey: Rc4 | null): Uint8Array {
  const frame = encodeV6Frame(header, payload, bodyKey);
  return new Uint8Array(frame.subarray(HEAD_LENGTH, frame.length - CHECKSUM_LENGTH));
}

/** A complete frame carrying `header` and `payload`. */
export function encodeV6Frame(header: ClientHeader, payload: Uint8Array, bodyKey: Rc4 | null): Uint8Array {
  return layoutFrame(writeHeader(header), payload, 0, payload.length, null, '', bodyKey);
}

/**
 * Decodes a frame body as returned by FrameDecoder. Returns null for the empty frame (pong).
 * `bodyKey` is null until the CONN exchange produced one. The body is decrypted into a fresh
 * buffer, or with `inPlace` where it is (for a caller that owns those bytes and copies out
 * whatever it keeps: the payload is a view into them).
 */
export function decodeBody(body: Uint8Array, bodyKey: Rc4 | null, inPlace = false): DecodedBody | null {
  if (body.length === 0) return null;
  if (body.length < BODY_HEADER_LENGTH) {
    throw new MIMCError(ErrorCode.MALFORMED_FRAME, `frame body of ${body.length} bytes is shorter than its header`);
  }
  const plain = bodyKey ? bodyKey.apply(body, inPlace ? body : ownBytes(body.length)) : body;
  const payloadType = (plain[0]! << 8) | plain[1]!;
  if (payloadType !== PAYLOAD_TYPE_PROTOBUF) {
    throw new MIMCError(ErrorCode.MALFORMED_FRAME, `unsupported payload type ${payloadType}`);
  }
  const headerLength = (plain[2]! << 8) | plain[3]!;
  const payloadLength = ((plain[4]! << 24) | (plain[5]! << 16) | (plain[6]! << 8) | plain[7]!) >>> 0;
  if (headerLength === 0 || BODY_HEADER_LENGTH + headerLength + payloadLength !== plain.length) {
    throw new MIMCError(ErrorCode.MALFORMED_FRAME, 'frame body lengths are inconsistent', {
      details: { bodyLength: plain.length, headerLength, payloadLength },
    });
  }
  const headerEnd = BODY_HEADER_LENGTH + headerLength;
  return {
    header: decodeHeader(plain.subarray(BODY_HEADER_LENGTH, headerEnd)),
    payload: plain.subarray(headerEnd),
  };
}

// ---------------------------------------------------------------------------------------------
// CONN / BIND / KICK payloads

export function encodeConn(c: ConnRequest): Uint8Array {
  return ims.XMMsgConn.encode(present({ version: c.version, model: c.model, os: c.os, udid: c.udid, sdk: c.sdk }) as ims.XMMsgConn).finish();
}

export function decodeConn(bytes: Uint8Array): ConnRequest {
  const m = parse('CONN request', () => ims.XMMsgConn.decode(bytes));
  const conn: ConnRequest = { version: m.version, udid: m.udid, sdk: m.sdk };
  const os = optionalString(m, 'os');
  if (os !== undefined) conn.os = os;
  const model = optionalString(m, 'model');
  if (model !== undefined) conn.model = model;
  return conn;
}

export function encodeConnResp(challenge: string): Uint8Array {
  return ims.XMMsgConnResp.encode(present({ challenge }) as ims.XMMsgConnResp).finish();
}

export function decodeConnResp(bytes: Uint8Array): { challenge: string } {
  const m = parse('CONN response', () => ims.XMMsgConnResp.decode(bytes));
  if (!has(m, 'challenge') || m.challenge.length === 0) {
    throw new MIMCError(ErrorCode.MALFORMED_FRAME, 'CONN response without a challenge');
  }
  return { challenge: m.challenge };
}

export function encodeBind(b: BindRequest): Uint8Array {
  return ims.XMMsgBind.encode(
    present({
      token: b.token,
      kick: b.kick,
      method: b.method,
      clientAttrs: b.clientAttrs,
      cloudAttrs: b.cloudAttrs,
      sig: b.sig,
      sso: b.sso === true ? true : undefined,
    }) as ims.XMMsgBind,
  ).finish();
}

export function decodeBind(bytes: Uint8Array): BindRequest {
  const m = parse('BIND request', () => ims.XMMsgBind.decode(bytes));
  return {
    token: m.token,
    kick: m.kick,
    method: m.method,
    clientAttrs: m.clientAttrs,
    cloudAttrs: m.cloudAttrs,
    sig: m.sig,
    sso: has(m, 'sso') ? m.sso : false,
  };
}

export function encodeBindResult(r: Partial<BindResult> & { result: boolean }): Uint8Array {
  return ims.XMMsgBindResp.encode(
    present({ result: r.result, errorType: r.errorType, errorReason: r.errorReason, errorDesc: r.errorDesc }) as ims.XMMsgBindResp,
  ).finish();
}

export function decodeBindResult(bytes: Uint8Array): BindResult {
  const m = parse('BIND result', () => ims.XMMsgBindResp.decode(bytes));
  return { result: m.result === true, errorType: m.errorType, errorReason: m.errorReason, errorDesc: m.errorDesc };
}

// ---------------------------------------------------------------------------------------------
// MIMC layer

export function encodeP2PMessage(msg: P2PMessage): Uint8Array {
  protoWriter.reset();
  protoWriter.p2pMessage(msg);
  return protoWriter.copy(0);
}

export function decodeP2PMessage(bytes: Uint8Array): P2PMessage {
  return readP2PMessage(bytes);
}

export function encodeP2TMessage(msg: P2TMessage): Uint8Array {
  protoWriter.reset();
  protoWriter.p2tMessage(msg);
  return protoWriter.copy(0);
}

export function decodeP2TMessage(bytes: Uint8Array): P2TMessage {
  return readP2TMessage(bytes);
}

export function encodeMimcPacket(p: MimcPacket): Uint8Array {
  protoWriter.reset();
  protoWriter.packet(p);
  return protoWriter.copy(0);
}

/** A packet without a type, or with one this SDK does not know, has type 0. */
export function decodeMimcPacket(bytes: Uint8Array): MimcPacket {
  return readMimcPacket(bytes);
}

export function encodePacketAck(a: PacketAck): Uint8Array {
  protoWriter.reset();
  protoWriter.packetAck(a);
  return protoWriter.copy(0);
}

export function decodePacketAck(bytes: Uint8Array): PacketAck {
  return readPacketAck(bytes);
}

export function encodePacketList(l: PacketList): Uint8Array {
  protoWriter.reset();
  protoWriter.packetList(l);
  return protoWriter.copy(0);
}

export function decodePacketList(bytes: Uint8Array): PacketList {
  return readPacketList(bytes);
}

export function encodeSequenceAck(a: SequenceAck): Uint8Array {
  protoWriter.reset();
  protoWriter.sequenceAck(a);
  return protoWriter.copy(0);
}

export function decodeSequenceAck(bytes: Uint8Array): SequenceAck {
  const m = parse('sequence ack', () => mimc.MIMCSequenceAck.decode(bytes));
  return { uuid: fromLong(m.uuid, true), resource: m.resource, sequence: fromLong(m.sequence, false), appId: fromLong(m.appId, true) };
}

export function encodePullRequest(p: PullRequest): Uint8Array {
  return mimc.PullMessageRequest.encode(
    present({
      uuid: toLong(p.uuid, true),
      resource: p.resource,
      appId: p.appId === undefined ? undefined : toLong(p.appId, true),
    }) as mimc.PullMessageRequest,
  ).finish();
}

export function decodePullRequest(bytes: Uint8Array): PullRequest {
  const m = parse('pull request', () => mimc.PullMessageRequest.decode(bytes));
  const p: PullRequest = { uuid: fromLong(m.uuid, true), resource: m.resource };
  if (has(m, 'appId')) p.appId = fromLong(m.appId, true);
  return p;
}

export function encodeOnlineMessageAck(a: OnlineMessageAck): Uint8Array {
  return mimc.MIMCOnlineMessageAck.encode(
    present({
      packetId: a.packetId,
      uuid: a.uuid === undefined ? undefined : toLong(a.uuid, true),
      resource: a.resource,
      code: a.code,
      errorMsg: a.errorMsg,
    }) as mimc.MIMCOnlineMessageAck,
  ).finish();
}

export function decodeOnlineMessageAck(bytes: Uint8Array): OnlineMessageAck {
  const m = parse('online message ack', () => mimc.MIMCOnlineMessageAck.decode(bytes));
  const a: OnlineMessageAck = { packetId: m.packetId, code: m.code };
  if (has(m, 'uuid')) a.uuid = fromLong(m.uuid, true);
  const resource = optionalString(m, 'resource');
  if (resource !== undefined) a.resource = resource;
  const errorMsg = optionalString(m, 'errorMsg');
  if (errorMsg !== undefined) a.errorMsg = errorMsg;
  return a;
}

// ---------------------------------------------------------------------------------------------
// SECMSG: the MIMC packet, payload-encrypted with securityKey + '_' + header id

/** A SECMSG frame: `packet` encrypted with the payload key of `securityKey` and `header.id`, then body-encrypted. */
export function encodeSecMsgFrame(header: ClientHeader, packet: MimcPacket, securityKey: string, bodyKey: Rc4): Uint8Array {
  // header, then the plain packet, in the shared writer; the packet is encrypted straight into the frame
  const headerLength = writeHeader(header);
  protoWriter.packet(packet);
  return layoutFrame(headerLength, protoWriter.buf, headerLength, protoWriter.pos - headerLength, securityKey, header.id, bodyKey);
}

/**
 * Decrypts (in place: `payload` is overwritten) and parses the payload of a received SECMSG
 * frame. For a payload the caller owns, such as the fresh body `decodeBody` returns; bytes the
 * packet carries (its `payload`) are views into it.
 */
export function openSecMsgPayload(header: ClientHeader, payload: Uint8Array, securityKey: string): MimcPacket {
  if (payload.length === 0) throw new MIMCError(ErrorCode.MALFORMED_FRAME, 'SECMSG frame without payload');
  if (header.id.length === 0) throw new MIMCError(ErrorCode.MALFORMED_FRAME, 'SECMSG frame without header id');
  cryptPayload(securityKey, header.id, payload, 0, payload.length, payload, 0);
  return decodeMimcPacket(payload);
}

/** Decrypts and parses the payload of a received SECMSG frame; `payload` itself is left as it is. */
export function decodeSecMsgPayload(header: ClientHeader, payload: Uint8Array, securityKey: string): MimcPacket {
  return openSecMsgPayload(header, ownCopy(payload), securityKey);
}

// ---------------------------------------------------------------------------------------------
// Client frames

export interface ClientIdentity {
  uuid: bigint;
  resource: string;
}

// The CONN payload depends on the udid alone (the TCP client always sends ''): encoded once, read-only.
let connPayloadUdid: string | undefined;
let connPayload: Uint8Array = new Uint8Array(0);

export function buildConnFrame(who: ClientIdentity, id: string, udid: string): Uint8Array {
  if (udid !== connPayloadUdid) {
    connPayload = encodeConn({ version: CONN_VERSION, os: CONN_OS, udid, sdk: CONN_SDK });
    connPayloadUdid = udid;
  }
  return encodeV6Frame(clientHeader(Cmd.CONN, who.uuid, who.resource, id), connPayload, null);
}

export function buildBindFrame(
  who: ClientIdentity,
  id: string,
  token: string,
  sig: string,
  bodyKey: Rc4,
  options: Readonly<BindOptions> = DEFAULT_BIND_OPTIONS,
): Uint8Array {
  const payload = encodeBind({
    token,
    kick: bindKickValue(options.kick),
    method: BIND_METHOD,
    clientAttrs: options.clientAttrs,
    cloudAttrs: options.cloudAttrs,
    sig,
    sso: options.sso,
  });
  return encodeV6Frame(clientHeader(Cmd.BIND, who.uuid, who.resource, id), payload, bodyKey);
}

/** PING or UBND: header-only, body-encrypted. */
export function buildHeaderOnlyFrame(cmd: typeof Cmd.PING | typeof Cmd.UBND, who: ClientIdentity, id: string, bodyKey: Rc4): Uint8Array {
  return encodeV6Frame(clientHeader(cmd, who.uuid, who.resource, id), new Uint8Array(0), bodyKey);
}

export function buildClientSecMsgFrame(who: ClientIdentity, packet: MimcPacket, securityKey: string, bodyKey: Rc4): Uint8Array {
  return encodeSecMsgFrame(clientHeader(Cmd.SECMSG, who.uuid, who.resource, packet.packetId), packet, securityKey, bodyKey);
}
