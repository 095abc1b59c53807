/** MIMCPacket.conversation (7) / convIndex (8) and MIMCPacketAck.convIndex (9): exact round trips, absent stays absent. */
import { decodeMimcPacket, decodePacketAck, encodeMimcPacket, encodePacketAck, PacketType } from '../../lib/protocol/index.js';

const BIG = (1n << 62n) + 7n;

describe('conversation fields', () => {
  it('round-trips conversation and a convIndex above 2^53 on a packet, with the field numbers of the protocol', () => {
    const bytes = encodeMimcPacket({ packetId: 'p', package: 'pkg', type: PacketType.P2P_MESSAGE, conversation: true, convIndex: BIG });
    // Field 7 varint (tag 0x38) true, field 8 varint (tag 0x40).
    expect(Buffer.from(bytes).includes(Buffer.from([0x38, 0x01, 0x40]))).toBe(true);
    expect(decodeMimcPacket(bytes)).toMatchObject({ conversation: true, convIndex: BIG });
  });

  it('leaves both absent when not set', () => {
    const p = decodeMimcPacket(encodeMimcPacket({ packetId: 'p', package: 'pkg', type: PacketType.P2P_MESSAGE }));
    expect('conversation' in p).toBe(false);
    expect('convIndex' in p).toBe(false);
  });

  it('round-trips convIndex on an ack (field 9, tag 0x48)', () => {
    const ack = { packetId: 'p', uuid: 1n, resource: 'r', sequence: 2n, timestamp: 3n, package: 'pkg', errorMsg: '', code: 0 };
    const bytes = encodePacketAck({ ...ack, convIndex: BIG });
    expect(bytes[bytes.length - 10]).toBe(0x48);
    expect(decodePacketAck(bytes).convIndex).toBe(BIG);
    expect(decodePacketAck(encodePacketAck(ack)).convIndex).toBeUndefined();
  });
});
