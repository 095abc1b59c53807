/**
 * Unlimited groups ("UC"): the UCPacket carried by a MIMCPacket of type UC_PACKET, and each
 * UC payload. Pure codecs over the generated protobuf code (UCPacket, UCMessage and
 * UCMessageList decode with proto-reader.ts); required proto2 fields are checked by the
 * decoder, so a UC frame missing one is a MALFORMED_FRAME.
 */
import { mimc } from './gen/proto.js';
import { fromLong, toLong } from './int64.js';
import { readUcMessage, readUcMessageList, readUcPacket } from './proto-reader.js';
import { groupFromProto, groupToProto, optionalString, parse, present, userToProto, type GroupRef, type UserRef } from './proto-fields.js';

export const UcType = {
  PING: 1,
  PONG: 2,
  JOIN: 3,
  JOIN_RESP: 4,
  QUIT: 5,
  QUIT_RESP: 6,
  SEQ_ACK: 7,
  MESSAGE: 8,
  MESSAGE_LIST: 9,
  DISMISS: 10,
  QUERY_ONLINE_USERS: 11,
  QUERY_ONLINE_USERS_RESP: 12,
} as const;

export type UcType = (typeof UcType)[keyof typeof UcType];

/** Largest UC message payload the server takes (the official SDKs' cap is 15 KiB). */
export const UC_MAX_PAYLOAD_BYTES = 15 * 1024;

export interface UcPacket {
  /** Upstream: the sender; downstream: the recipient. */
  user: UserRef;
  type: number;
  payload: Uint8Array;
  packetId: string;
}

export interface UcMessage {
  group: GroupRef;
  payload: Uint8Array;
  /** Assigned by the server; unique across every group of the app. */
  sequence?: bigint;
  isStore?: boolean;
  /** The sender. */
  user?: UserRef;
  timestamp?: bigint;
  packetId?: string;
  bizType?: string;
}

export interface UcMessageList {
  group: GroupRef;
  messages: UcMessage[];
  maxSequence?: bigint;
}

/** JOIN_RESP and QUIT_RESP. */
export interface UcGroupResponse {
  group: GroupRef;
  /** 0: done. */
  code: number;
  message?: string;
}

export interface UcSequenceAck {
  group: GroupRef;
  sequence: bigint;
}

export interface UcOnlineUsers {
  group: GroupRef;
  userCount: bigint;
}

export function encodeUcPacket(p: UcPacket): Uint8Array {
  return mimc.UCPacket.encode(
    present({ user: userToProto(p.user), type: p.type, payload: p.payload, packetId: p.packetId }) as mimc.UCPacket,
  ).finish();
}

/** A UC packet of a type this SDK does not know misses its required type: MALFORMED_FRAME. */
export function decodeUcPacket(bytes: Uint8Array): UcPacket {
  return readUcPacket(bytes);
}

/** The payload of JOIN, QUIT, DISMISS and QUERY_ONLINE_USERS: the group alone. */
export function encodeUcGroupRequest(group: GroupRef): Uint8Array {
  return mimc.UCGroupRequest.encode({ group: groupToProto(group) } as mimc.UCGroupRequest).finish();
}

export function decodeUcGroupRequest(bytes: Uint8Array): GroupRef {
  return groupFromProto(parse('UC group request', () => mimc.UCGroupRequest.decode(bytes)).group);
}

export function encodeUcGroupResponse(r: UcGroupResponse): Uint8Array {
  return mimc.UCGroupResponse.encode(present({ group: groupToProto(r.group), code: r.code, message: r.message }) as mimc.UCGroupResponse).finish();
}

export function decodeUcGroupResponse(bytes: Uint8Array): UcGroupResponse {
  const m = parse('UC join/quit answer', () => mimc.UCGroupResponse.decode(bytes));
  const r: UcGroupResponse = { group: groupFromProto(m.group), code: m.code };
  const message = optionalString(m, 'message');
  if (message !== undefined) r.message = message;
  return r;
}

export function encodeUcPing(groups: readonly GroupRef[]): Uint8Array {
  return mimc.UCPing.encode({ group: groups.map(groupToProto) } as mimc.UCPing).finish();
}

export function decodeUcPing(bytes: Uint8Array): GroupRef[] {
  return parse('UC ping', () => mimc.UCPing.decode(bytes)).group.map(groupFromProto);
}

function messageToProto(msg: UcMessage): mimc.UCMessage {
  return present({
    group: groupToProto(msg.group),
    payload: msg.payload,
    sequence: msg.sequence === undefined ? undefined : toLong(msg.sequence, false),
    isStore: msg.isStore,
    user: msg.user === undefined ? undefined : userToProto(msg.user),
    timestamp: msg.timestamp === undefined ? undefined : toLong(msg.timestamp, false),
    packetId: msg.packetId,
    bizType: msg.bizType,
  }) as mimc.UCMessage;
}

export function encodeUcMessage(msg: UcMessage): Uint8Array {
  return mimc.UCMessage.encode(messageToProto(msg)).finish();
}

export function decodeUcMessage(bytes: Uint8Array): UcMessage {
  return readUcMessage(bytes);
}

export function encodeUcMessageList(list: UcMessageList): Uint8Array {
  return mimc.UCMessageList.encode(
    present({
      group: groupToProto(list.group),
      message: list.messages.map(messageToProto),
      maxSequence: list.maxSequence === undefined ? undefined : toLong(list.maxSequence, false),
    }) as mimc.UCMessageList,
  ).finish();
}

export function decodeUcMessageList(bytes: Uint8Array): UcMessageList {
  return readUcMessageList(bytes);
}

export function encodeUcSequenceAck(a: UcSequenceAck): Uint8Array {
  return mimc.UCSequenceAck.encode({ group: groupToProto(a.group), sequence: toLong(a.sequence, false) } as mimc.UCSequenceAck).finish();
}

export function decodeUcSequenceAck(bytes: Uint8Array): UcSequenceAck {
  const m = parse('UC sequence ack', () => mimc.UCSequenceAck.decode(bytes));
  return { group: groupFromProto(m.group), sequence: fromLong(m.sequence, false) };
}

export function encodeUcOnlineUsers(r: UcOnlineUsers): Uint8Array {
  return mimc.UCQueryOnlineUsersResp.encode({ group: groupToProto(r.group), userCount: toLong(r.userCount, false) } as mimc.UCQueryOnlineUsersResp).finish();
}

export function decodeUcOnlineUsers(bytes: Uint8Array): UcOnlineUsers {
  const m = parse('UC online users', () => mimc.UCQueryOnlineUsersResp.decode(bytes));
  return { group: groupFromProto(m.group), userCount: fromLong(m.userCount, false) };
}
