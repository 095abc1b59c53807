/**
 * What the SDK hands to the app can be written with plain JSON.stringify: 64-bit values become
 * decimal strings, payload bytes base64, while the values themselves keep their bigint fields.
 */
import { MIMCError, ErrorCode } from '../../lib/errors.js';
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import type { DeadLetter, P2PMessage, ServerAck, UCMessage } from '../../lib/user/types.js';
import type { SendTimeout } from '../../lib/user/outgoing.js';
import { destroyUsers, makeUser, text, until } from '../helpers/users.js';

let emulator: Emulator;

beforeEach(async () => {
  emulator = await startEmulator();
});

afterEach(async () => {
  destroyUsers();
  await emulator.close();
});

const roundTrip = (value: unknown): Record<string, unknown> => JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
const base64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

describe('JSON.stringify of SDK values', () => {
  it('acks and P2P, group and unlimited-group messages: 64-bit values as decimal strings, payloads as base64', async () => {
    const alice = makeUser(emulator, 'alice', { restUrl: emulator.restUrl });
    const ucSeen: UCMessage[] = [];
    const bob = makeUser(emulator, 'bob', { restUrl: emulator.restUrl });
    bob.user.on('unlimitedGroupMessage', (m) => void ucSeen.push(m));
    await Promise.all([alice.user.login(), bob.user.login()]);

    const ack: ServerAck = await alice.user.sendMessageAndWait('bob', text('hi'), { conversation: true });
    expect(typeof ack.sequence).toBe('bigint');
    expect(roundTrip(ack)).toEqual({
      packetId: ack.packetId,
      sequence: ack.sequence.toString(),
      timestamp: ack.timestamp,
      errorMsg: '',
      code: 0,
      convIndex: '1',
    });
    expect(Object.keys(ack)).not.toContain('toJSON'); // nothing new to spread, compare or iterate

    await until(() => bob.seen.messages.length === 1);
    const message: P2PMessage = bob.seen.messages[0]!;
    expect(typeof message.sequence).toBe('bigint');
    expect(message.payload).toBeInstanceOf(Uint8Array);
    const json = roundTrip(message);
    expect(json).toMatchObject({ sequence: message.sequence.toString(), convIndex: '1', payload: base64(text('hi')), fromAccount: 'alice', toAccount: 'bob' });
    expect(Buffer.from(json.payload as string, 'base64').toString()).toBe('hi');

    const topicId = emulator.createTopic('alice', ['bob']);
    await alice.user.sendGroupMessageAndWait(topicId, text('group'));
    await until(() => bob.seen.groupMessages.length === 1);
    expect(roundTrip(bob.seen.groupMessages[0])).toMatchObject({ topicId: topicId.toString(), sequence: bob.seen.groupMessages[0]!.sequence.toString(), payload: base64(text('group')) });

    const room = await alice.user.createUnlimitedGroup('room');
    await bob.user.joinUnlimitedGroup(room);
    await alice.user.sendUnlimitedGroupMessageAndWait(room, text('live'));
    await until(() => ucSeen.length === 1);
    expect(roundTrip(ucSeen[0])).toMatchObject({ topicId: room.toString(), sequence: ucSeen[0]!.sequence.toString(), payload: base64(text('live')) });
  });

  it('send timeouts, dead letters (with their error), metrics and health', async () => {
    const alice = makeUser(emulator, 'alice', { sendTimeoutMs: 50 });
    const timeouts: SendTimeout[] = [];
    alice.user.on('sendTimeout', (t) => void timeouts.push(t));
    const letters: DeadLetter[] = [];
    const bob = makeUser(emulator, 'bob', {
      handlerRetry: { maxAttempts: 1 },
      messageDelegate: {
        handleMessage: () => {
          throw new Error('app failure');
        },
        handleDeadLetter: (letter) => void letters.push(letter),
      },
    });
    await Promise.all([alice.user.login(), bob.user.login()]);

    await alice.user.sendMessageAndWait('bob', text('to the dead letters'));
    await until(() => letters.length === 1);
    const letter = roundTrip(letters[0]);
    expect(letter).toMatchObject({ kind: 'p2p', attempts: 1, error: { name: 'MIMCError', code: ErrorCode.HANDLER_FAILED } });
    expect(typeof (letter.error as { message: unknown }).message).toBe('string');
    expect((letter.messages as Array<Record<string, unknown>>)[0]).toMatchObject({ sequence: letters[0]!.messages[0]!.sequence.toString(), payload: base64(text('to the dead letters')) });

    emulator.faults.dropAcks(true);
    const topicId = emulator.createTopic('alice', ['bob']);
    alice.user.sendGroupMessage(topicId, text('lost'));
    await until(() => timeouts.length === 1);
    expect(roundTrip(timeouts[0])).toMatchObject({ kind: 'p2t', message: { topicId: topicId.toString(), sequence: '0', payload: base64(text('lost')) } });

    expect(roundTrip(alice.user.metrics())).toEqual(alice.user.metrics());
    expect(roundTrip(alice.user.health())).toEqual(alice.user.health());
  });

  it('a MIMCError writes its name, code, message and details (64-bit values as strings), never its cause', () => {
    const err = new MIMCError(ErrorCode.UC_REFUSED, 'refused', { cause: new Error('secret-ish upstream text'), details: { topicId: 2n ** 63n, code: 403 } });
    expect(roundTrip(err)).toEqual({ name: 'MIMCError', code: ErrorCode.UC_REFUSED, message: 'refused', details: { topicId: (2n ** 63n).toString(), code: 403 } });
  });
});
