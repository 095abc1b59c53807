/**
 * Every entry of the Go SDK's golden vectors, reproduced byte for byte (client frames) and
 * parsed to the recorded fields (server frames).
 */
import {
  adler32,
  bindSignature,
  bindSignatureInput,
  buildBindFrame,
  buildClientSecMsgFrame,
  buildConnFrame,
  buildHeaderOnlyFrame,
  Cmd,
  decodeBindResult,
  decodeBody,
  decodeConn,
  decodeConnResp,
  decodePacketAck,
  decodePacketList,
  decodeP2PMessage,
  decodeP2TMessage,
  decodeSecMsgPayload,
  deriveBodyKey,
  derivePayloadKey,
  encodeP2PMessage,
  encodeP2TMessage,
  encodeSequenceAck,
  FrameDecoder,
  PacketType,
  rc4,
  Rc4,
  type ClientHeader,
} from '../../lib/protocol/index.js';
import { hex, loadVectors, toHex, type Json } from '../helpers/vectors.js';

const v = loadVectors();
const input = v.inputs;
const who = { uuid: BigInt(input.uuid), resource: input.resource };
const bodyKey = new Rc4(hex(v.sessionKey.rc4KeyHex));
const utf8 = (s: string) => new TextEncoder().encode(s);

function expectHeader(actual: ClientHeader, expected: Json): void {
  expect(actual.chid).toBe(expected.chid);
  expect(actual.uuid.toString()).toBe(expected.uuid);
  expect(actual.server).toBe(expected.server);
  expect(actual.resource).toBe(expected.resource);
  expect(actual.cmd).toBe(expected.cmd);
  expect(actual.id).toBe(expected.id);
  expect(actual.dirFlag).toBe(expected.dirFlag);
  expect(actual.cipher).toBe(expected.cipher);
  expect(actual.subcmd).toBe(expected.subcmd ?? undefined);
  expect(actual.errCode).toBe(expected.errCode ?? undefined);
  expect(actual.errStr).toBe(expected.errStr ?? undefined);
}

/** Decodes a whole frame with the streaming decoder, then the body with the session key. */
function decodeWholeFrame(frameHex: string, key: Rc4 | null) {
  const bodies = new FrameDecoder().push(hex(frameHex));
  expect(bodies).toHaveLength(1);
  return decodeBody(bodies[0]!, key);
}

describe('primitives', () => {
  it.each(v.rc4 as Json[])('RC4 vector %#', (c) => {
    expect(toHex(rc4(hex(c.keyHex), hex(c.plainHex)))).toBe(c.cipherHex);
    // decryption is the same operation
    expect(toHex(rc4(hex(c.keyHex), hex(c.cipherHex)))).toBe(c.plainHex);
  });

  it.each(v.adler32 as Json[])('Adler-32 of $valueHex', (c) => {
    expect(adler32(hex(c.dataHex))).toBe(c.value);
  });

  it.each(v.sessionKey.cases as Json[])('session key of challenge $challenge and udid "$udid"', (c) => {
    expect(toHex(deriveBodyKey(c.challenge, c.udid))).toBe(c.rc4KeyHex);
  });

  it('session key of the inputs', () => {
    expect(toHex(deriveBodyKey(v.sessionKey.challenge, v.sessionKey.udid))).toBe(v.sessionKey.rc4KeyHex);
  });

  it('payload key', () => {
    expect(toHex(derivePayloadKey(v.payloadKey.securityKey, v.payloadKey.packetId))).toBe(v.payloadKey.keyHex);
  });

  it('bind signature and the text it signs', () => {
    const sigInput = {
      method: v.clientFrames.bind.xmMsgBind.method,
      challenge: input.challenge,
      chid: input.chid,
      clientAttrs: input.clientAttrs,
      cloudAttrs: input.cloudAttrs,
      uuid: BigInt(input.uuid),
      resource: input.resource,
      headerId: v.clientFrames.bind.header.id,
      kick: v.clientFrames.bind.xmMsgBind.kick,
      server: v.clientFrames.bind.header.server,
      token: input.token,
      securityKey: input.securityKey,
    };
    expect(bindSignatureInput(sigInput)).toBe(v.bindSignature.stringToSign);
    expect(bindSignature(sigInput)).toBe(v.bindSignature.sig);
    expect(v.clientFrames.bind.xmMsgBind.sig).toBe(v.bindSignature.sig);
  });
});

describe('client frames are reproduced byte for byte', () => {
  const f = v.clientFrames;

  it('CONN (plaintext)', () => {
    const frame = buildConnFrame(who, f.conn.header.id, f.conn.xmMsgConn.udid);
    expect(toHex(frame)).toBe(f.conn.frameHex);
    expect(frame.length).toBe(f.conn.frameLen);
    const decoded = decodeWholeFrame(f.conn.frameHex, null)!;
    expectHeader(decoded.header, f.conn.header);
    expect(decodeConn(decoded.payload)).toEqual(f.conn.xmMsgConn);
  });

  it('BIND (body-encrypted, signed)', () => {
    const frame = buildBindFrame(who, f.bind.header.id, f.bind.xmMsgBind.token, f.bind.xmMsgBind.sig, bodyKey);
    expect(toHex(frame)).toBe(f.bind.frameHex);
    expect(toHex(frame.subarray(0, 8))).toBe(f.bind.headHex);
    expect(toHex(frame.subarray(frame.length - 4))).toBe(f.bind.crcHex);
  });

  it.each(['ping', 'unbind'])('%s (header only)', (name) => {
    const c = f[name];
    const frame = buildHeaderOnlyFrame(c.header.cmd === 'PING' ? Cmd.PING : Cmd.UBND, who, c.header.id, bodyKey);
    expect(toHex(frame)).toBe(c.frameHex);
    const decoded = decodeWholeFrame(c.frameHex, bodyKey)!;
    expectHeader(decoded.header, c.header);
    expect(decoded.payload.length).toBe(0);
  });

  it.each(['p2p', 'p2p_biztype_nostore'])('%s message', (name) => {
    const c = f[name];
    const inner = encodeP2PMessage({
      from: { appId: BigInt(input.appId), appAccount: input.appAccount, uuid: BigInt(input.uuid), resource: input.resource },
      to: { appId: BigInt(input.appId), appAccount: c.toAccount, uuid: 0n, resource: '' },
      payload: utf8(c.payloadUtf8),
      isStore: c.isStore,
      ...(c.bizType === null ? {} : { bizType: c.bizType }),
    });
    expect(toHex(inner)).toBe(c.innerMessageHex);
    const packet = { packetId: c.packetId, package: input.appPackage, type: PacketType.P2P_MESSAGE, payload: inner };
    const frame = buildClientSecMsgFrame(who, packet, input.securityKey, bodyKey);
    expect(toHex(frame)).toBe(c.frameHex);

    // and back: what the emulator does with it
    const decoded = decodeWholeFrame(c.frameHex, bodyKey)!;
    expectHeader(decoded.header, c.header);
    expect(toHex(decoded.payload)).toBe(c.payloadEncHex);
    const parsed = decodeSecMsgPayload(decoded.header, decoded.payload, input.securityKey);
    expect(parsed.packetId).toBe(c.packetId);
    const message = decodeP2PMessage(parsed.payload!);
    expect(message.to.appAccount).toBe(c.toAccount);
    expect(new TextDecoder().decode(message.payload)).toBe(c.payloadUtf8);
    expect(message.isStore).toBe(c.isStore);
    expect(message.bizType).toBe(c.bizType ?? undefined);
    expect(message.from.uuid).toBe(BigInt(input.uuid));
  });

  it('p2t message', () => {
    const c = f.p2t;
    const inner = encodeP2TMessage({
      from: { appId: BigInt(input.appId), appAccount: input.appAccount, uuid: BigInt(input.uuid), resource: input.resource },
      to: { appId: BigInt(input.appId), topicId: BigInt(c.topicId) },
      payload: utf8(c.payloadUtf8),
      isStore: c.isStore,
    });
    expect(toHex(inner)).toBe(c.innerMessageHex);
    const frame = buildClientSecMsgFrame(
      who,
      { packetId: c.packetId, package: input.appPackage, type: PacketType.P2T_MESSAGE, payload: inner },
      input.securityKey,
      bodyKey,
    );
    expect(toHex(frame)).toBe(c.frameHex);
    const decoded = decodeWholeFrame(c.frameHex, bodyKey)!;
    const message = decodeP2TMessage(decodeSecMsgPayload(decoded.header, decoded.payload, input.securityKey).payload!);
    expect(message.to.topicId.toString()).toBe(c.topicId);
  });

  it('sequence ack', () => {
    const c = f.sequence_ack;
    const inner = encodeSequenceAck({ uuid: BigInt(input.uuid), resource: input.resource, sequence: BigInt(c.sequence), appId: BigInt(input.appId) });
    expect(toHex(inner)).toBe(c.innerMessageHex);
    const frame = buildClientSecMsgFrame(
      who,
      { packetId: c.packetId, package: input.appPackage, type: PacketType.SEQUENCE_ACK, sequence: BigInt(c.sequence), payload: inner },
      input.securityKey,
      bodyKey,
    );
    expect(toHex(frame)).toBe(c.frameHex);
    expect(frame.length).toBe(c.frameLen);
  });
});

describe('server frames parse to the recorded fields', () => {
  const s = v.serverFrames;

  it('CONN response (plaintext) yields the challenge and the session key', () => {
    const decoded = decodeWholeFrame(s.conn_response.frameHex, null)!;
    expectHeader(decoded.header, s.conn_response.header);
    const { challenge } = decodeConnResp(decoded.payload);
    expect(challenge).toBe(s.conn_response.parsed.challenge);
    expect(toHex(deriveBodyKey(challenge, input.udid))).toBe(s.conn_response.parsed.derivedRc4KeyHex);
  });

  it.each(['bind_ok', 'bind_token_expired', 'kick'])('%s', (name) => {
    const c = s[name];
    const decoded = decodeWholeFrame(c.frameHex, bodyKey)!;
    expectHeader(decoded.header, c.header);
    expect(toHex(decoded.payload)).toBe(c.payloadPlainHex);
    const r = decodeBindResult(decoded.payload);
    const expected = c.parsed.statusCallback;
    expect(r.result).toBe(expected.online);
    expect(r.errorType).toBe(expected.errType ?? '');
    expect(r.errorReason).toBe(expected.errReason ?? '');
    expect(r.errorDesc).toBe(expected.errDesc ?? '');
  });

  it('pong is the empty frame', () => {
    expect(decodeWholeFrame(s.pong.frameHex, bodyKey)).toBeNull();
  });

  it('PING answered with a header', () => {
    const decoded = decodeWholeFrame(s.ping_response_with_header.frameHex, bodyKey)!;
    expectHeader(decoded.header, s.ping_response_with_header.header);
    expect(decoded.payload.length).toBe(s.ping_response_with_header.parsed.payloadLen);
  });

  it('packet ack', () => {
    const c = s.packet_ack;
    const decoded = decodeWholeFrame(c.frameHex, bodyKey)!;
    expectHeader(decoded.header, c.header);
    const packet = decodeSecMsgPayload(decoded.header, decoded.payload, input.securityKey);
    expect(packet.type).toBe(PacketType.PACKET_ACK);
    expect(toHex(packet.payload!)).toBe(c.innerMessageHex);
    const ack = decodePacketAck(packet.payload!);
    expect(ack.packetId).toBe(c.parsed.packetId);
    expect(ack.sequence.toString()).toBe(c.parsed.sequence);
    expect(ack.timestamp.toString()).toBe(c.parsed.timestamp);
    expect(ack.errorMsg).toBe(c.parsed.errorMsg);
  });

  it('compound list', () => {
    const c = s.compound;
    const decoded = decodeWholeFrame(c.frameHex, bodyKey)!;
    expectHeader(decoded.header, c.header);
    const packet = decodeSecMsgPayload(decoded.header, decoded.payload, input.securityKey);
    expect(packet.type).toBe(PacketType.COMPOUND);
    expect(toHex(packet.payload!)).toBe(c.packetListHex);
    const list = decodePacketList(packet.payload!);
    expect(list.maxSequence.toString()).toBe(c.maxSequence);
    expect(list.resource).toBe(input.resource);
    expect(list.uuid.toString()).toBe(input.uuid);

    const p2p = list.packets.filter((p) => p.type === PacketType.P2P_MESSAGE);
    const p2t = list.packets.filter((p) => p.type === PacketType.P2T_MESSAGE);
    expect(p2p).toHaveLength(c.parsed.p2p.length);
    expect(p2t).toHaveLength(c.parsed.p2t.length);
    p2p.forEach((p, i) => {
      const want = c.parsed.p2p[i];
      const m = decodeP2PMessage(p.payload!);
      expect(toHex(p.payload!)).toBe(c.p2pInnerHex);
      expect(p.packetId).toBe(want.packetId);
      expect(p.sequence!.toString()).toBe(want.sequence);
      expect(p.timestamp!.toString()).toBe(want.timestamp);
      expect(m.from.appAccount).toBe(want.fromAccount);
      expect(m.to.appAccount).toBe(want.toAccount);
      expect(new TextDecoder().decode(m.payload)).toBe(want.payloadUtf8);
      expect(m.from.resource).toBe(c.parsed.protoLevel[0].fromResource);
      expect(m.from.uuid!.toString()).toBe(c.parsed.protoLevel[0].fromUuid);
    });
    p2t.forEach((p, i) => {
      const want = c.parsed.p2t[i];
      const m = decodeP2TMessage(p.payload!);
      expect(toHex(p.payload!)).toBe(c.p2tInnerHex);
      expect(p.packetId).toBe(want.packetId);
      expect(p.sequence!.toString()).toBe(want.sequence);
      expect(p.timestamp!.toString()).toBe(want.timestamp);
      expect(m.from.appAccount).toBe(want.fromAccount);
      expect(m.to.topicId.toString()).toBe(want.topicId);
      expect(new TextDecoder().decode(m.payload)).toBe(want.payloadUtf8);
    });
  });
});
