/** UC (unlimited group) codecs: field numbers, exact 64-bit ids and required fields. */
import fc from 'fast-check';
import { ErrorCode } from '../../lib/errors.js';
import {
  UcType,
  decodeUcGroupRequest,
  decodeUcGroupResponse,
  decodeUcMessageList,
  decodeUcOnlineUsers,
  decodeUcPacket,
  decodeUcPing,
  decodeUcSequenceAck,
  encodeUcGroupRequest,
  encodeUcGroupResponse,
  encodeUcMessageList,
  encodeUcOnlineUsers,
  encodeUcPacket,
  encodeUcPing,
  encodeUcSequenceAck,
} from '../../lib/protocol/uc.js';

const group = { appId: 2882303761517669588n, topicId: 2n ** 64n - 1n };
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('UC codecs', () => {
  it('lays out UCPacket and UCGroupRequest with the documented field numbers', () => {
    const join = encodeUcGroupRequest({ appId: 1n, topicId: 2n });
    expect(hex(join)).toBe('0a0408011002'); // 1: group { 1: appId 1, 2: topicId 2 }
    const packet = encodeUcPacket({ user: { appId: 1n, appAccount: 'a' }, type: UcType.JOIN, payload: join, packetId: 'p' });
    // 1 user {1: 1, 2: "a"}, 2 type 3, 3 payload, 4 packetId "p"
    expect(hex(packet)).toBe('0a050801120161' + '1003' + '1a06' + hex(join) + '220170');
    expect(decodeUcPacket(packet)).toEqual({ user: { appId: 1n, appAccount: 'a' }, type: UcType.JOIN, payload: join, packetId: 'p' });
  });

  it('keeps 64-bit ids and sequences exact', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (topicId, sequence) => {
        const g = { appId: group.appId, topicId };
        expect(decodeUcGroupRequest(encodeUcGroupRequest(g))).toEqual(g);
        expect(decodeUcSequenceAck(encodeUcSequenceAck({ group: g, sequence }))).toEqual({ group: g, sequence });
        const list = { group: g, messages: [{ group: g, payload: new Uint8Array([1]), sequence, isStore: true, packetId: 'x', bizType: '' }], maxSequence: sequence };
        expect(decodeUcMessageList(encodeUcMessageList(list))).toEqual(list);
      }),
    );
  });

  it('round-trips join answers, pings and online counts', () => {
    expect(decodeUcGroupResponse(encodeUcGroupResponse({ group, code: 0 }))).toEqual({ group, code: 0 });
    expect(decodeUcGroupResponse(encodeUcGroupResponse({ group, code: 404, message: 'no such group' }))).toEqual({ group, code: 404, message: 'no such group' });
    expect(decodeUcPing(encodeUcPing([group, { ...group, topicId: 5n }]))).toEqual([group, { ...group, topicId: 5n }]);
    expect(decodeUcPing(encodeUcPing([]))).toEqual([]);
    expect(decodeUcOnlineUsers(encodeUcOnlineUsers({ group, userCount: 10_000n }))).toEqual({ group, userCount: 10_000n });
  });

  it('refuses packets missing a required field, or of an unknown type, with ERR_MALFORMED_FRAME', () => {
    const malformed = expect.objectContaining({ code: ErrorCode.MALFORMED_FRAME });
    expect(() => decodeUcPacket(new Uint8Array([0x10, 0x03]))).toThrow(malformed); // type only
    expect(() => decodeUcGroupResponse(encodeUcGroupRequest(group))).toThrow(malformed); // no code
    expect(() => decodeUcSequenceAck(encodeUcGroupRequest(group))).toThrow(malformed); // no sequence
    const unknownType = encodeUcPacket({ user: { appId: 1n, appAccount: 'a' }, type: 99, payload: new Uint8Array(0), packetId: 'p' });
    expect(() => decodeUcPacket(unknownType)).toThrow(malformed);
    expect(() => decodeUcMessageList(new Uint8Array([0xff, 0xff]))).toThrow(malformed);
  });
});
