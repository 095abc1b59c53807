import { decodeP2PMessage, decodeP2TMessage, type MimcPacket } from '../protocol/packets.js';
import { JsonSafeValue } from '../json-safe.js';
import type { P2PMessage, P2TMessage, UCMessage } from './types.js';

/** An incoming message as yielded by `MCUser.messages()`. */
export type IncomingMessage = { kind: 'p2p'; message: P2PMessage } | { kind: 'p2t'; message: P2TMessage } | { kind: 'uc'; message: UCMessage };

/** What every message kind carries besides its destination. */
export interface MessageFields {
  packetId: string;
  sequence: bigint;
  timestamp: number;
  fromAccount: string;
  fromResource: string;
  payload: Uint8Array;
  bizType: string;
  isStore: boolean;
}

/**
 * The classes behind the P2PMessage/P2TMessage/UCMessage values the app gets: plain data, exact
 * in JSON through the shared prototype. Classes rather than literals because one of these is
 * made per message, and each literal would need its own non-enumerable `toJSON`.
 */
abstract class MessageValue extends JsonSafeValue implements MessageFields {
  packetId: string;
  sequence: bigint;
  timestamp: number;
  fromAccount: string;
  fromResource: string;
  payload: Uint8Array;
  bizType: string;
  isStore: boolean;
  /** Set only when the server assigned one (`conversation: true`). */
  declare convIndex?: bigint;

  constructor(f: MessageFields) {
    super();
    this.packetId = f.packetId;
    this.sequence = f.sequence;
    this.timestamp = f.timestamp;
    this.fromAccount = f.fromAccount;
    this.fromResource = f.fromResource;
    this.payload = f.payload;
    this.bizType = f.bizType;
    this.isStore = f.isStore;
  }
}

export class P2PMessageValue extends MessageValue implements P2PMessage {
  toAccount: string;

  constructor(f: MessageFields, toAccount: string, convIndex?: bigint) {
    super(f);
    this.toAccount = toAccount;
    if (convIndex !== undefined) this.convIndex = convIndex;
  }
}

/** A group message: P2T, or unlimited group (UC, which never has a convIndex). */
export class GroupMessageValue extends MessageValue implements P2TMessage {
  topicId: bigint;

  constructor(f: MessageFields, topicId: bigint, convIndex?: bigint) {
    super(f);
    this.topicId = topicId;
    if (convIndex !== undefined) this.convIndex = convIndex;
  }
}

/** The fields P2P and group messages share, from the carrying packet and the decoded message. */
function commonFields(packet: MimcPacket, m: { from: { appAccount: string; resource?: string }; payload: Uint8Array; bizType?: string; isStore?: boolean }): MessageFields {
  return {
    packetId: packet.packetId,
    sequence: packet.sequence ?? 0n,
    timestamp: Number(packet.timestamp ?? 0n),
    fromAccount: m.from.appAccount,
    fromResource: m.from.resource ?? '',
    payload: m.payload,
    bizType: m.bizType ?? '',
    isStore: m.isStore ?? false,
  };
}

const NO_BYTES = new Uint8Array(0);

export function toP2PMessage(packet: MimcPacket): P2PMessage {
  const m = decodeP2PMessage(packet.payload ?? NO_BYTES);
  return new P2PMessageValue(commonFields(packet, m), m.to.appAccount, packet.convIndex);
}

export function toP2TMessage(packet: MimcPacket): P2TMessage {
  const m = decodeP2TMessage(packet.payload ?? NO_BYTES);
  return new GroupMessageValue(commonFields(packet, m), m.to.topicId, packet.convIndex);
}
