import { decodeP2PMessage, decodeP2TMessage, type MimcPacket, type P2PMessage as P2PBody, type P2TMessage as P2TBody } from '../protocol/packets.js';
import { withJsonSafe } from '../json-safe.js';
import type { P2PMessage, P2TMessage, UCMessage } from './types.js';

/** An incoming message as yielded by `MCUser.messages()`. */
export type IncomingMessage = { kind: 'p2p'; message: P2PMessage } | { kind: 'p2t'; message: P2TMessage } | { kind: 'uc'; message: UCMessage };

/** The fields P2P and group messages share, from the carrying packet and the decoded message. */
function commonFields(packet: MimcPacket, m: P2PBody | P2TBody) {
  return {
    packetId: packet.packetId,
    sequence: packet.sequence ?? 0n,
    timestamp: Number(packet.timestamp ?? 0n),
    fromAccount: m.from.appAccount,
    fromResource: m.from.resource ?? '',
    payload: m.payload,
    bizType: m.bizType ?? '',
    isStore: m.isStore ?? false,
    ...(packet.convIndex === undefined ? {} : { convIndex: packet.convIndex }),
  };
}

export function toP2PMessage(packet: MimcPacket): P2PMessage {
  const m = decodeP2PMessage(packet.payload ?? new Uint8Array(0));
  return withJsonSafe({ ...commonFields(packet, m), toAccount: m.to.appAccount });
}

export function toP2TMessage(packet: MimcPacket): P2TMessage {
  const m = decodeP2TMessage(packet.payload ?? new Uint8Array(0));
  return withJsonSafe({ ...commonFields(packet, m), topicId: m.to.topicId });
}
