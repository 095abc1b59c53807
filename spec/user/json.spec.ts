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
    const alice = makeUser(emulator, 'alice');
    const carol = makeUser(emulator, 'carol', { sendTimeoutMs: 100 });
    const timeouts: SendTimeout[] = [];
    carol.user.on('sendTimeout', (t) => void timeouts.push(t));
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
    await Promise.all([alice.user.login(), bob.user.login(), carol.user.login()]);

    await alice.user.sendMessageAndWait('bob', text('to the dead letters'));
    await until(() => letters.length === 1);
    const letter = roundTrip(letters[0]);
    expect(letter).toMatchObject({ kind: 'p2p', attempts: 1, error: { name: 'MIMCError', code: ErrorCode.HANDLER_FAILED } });
    expect(typeof (letter.error as { message: unknown }).message).toBe('string');
    expect((letter.messages as Array<Record<string, unknown>>)[0]).toMatchObject({ sequence: letters[0]!.messages[0]!.sequence.toString(), payload: base64(text('to the dead letters')) });

    emulator.faults.dropAcks(true);
    const topicId = emulator.createTopic('carol', ['bob']);
    carol.user.sendGroupMessage(topicId, text('lost'));
    await until(() => timeouts.length === 1);
    expect(roundTrip(timeouts[0])).toMatchObject({ kind: 'p2t', message: { topicId: topicId.toString(), sequence: '0', payload: base64(text('lost')) } });

    const metrics = carol.user.metrics();
    const health = carol.user.health();
    expect(roundTrip(metrics)).toEqual(metrics);
    expect(roundTrip(health)).toEqual(health);
  });

  it('a MIMCError writes its name, code, message and details (64-bit values as strings), never its cause', () => {
    const err = new MIMCError(ErrorCode.UC_REFUSED, 'refused', { cause: new Error('secret-ish upstream text'), details: { topicId: 2n ** 63n, code: 403 } });
    expect(roundTrip(err)).toEqual({ name: 'MIMCError', code: ErrorCode.UC_REFUSED, message: 'refused', details: { topicId: (2n ** 63n).toString(), code: 403 } });
  });
});

describe('toJsonSafe', () => {
  it('converts deeply, honours toJSON, writes Buffers as base64 and cycles as "[Circular]"', async () => {
    const { toJsonSafe } = await import('../../lib/index.js');
    const cyclic: Record<string, unknown> = { id: 1n };
    cyclic.self = cyclic;
    expect(toJsonSafe({ a: [2n ** 64n - 1n, Buffer.from('xyz')], at: new Date(0), n: 1, s: 's', u: undefined, nil: null, cyclic })).toEqual({
      a: ['18446744073709551615', 'eHl6'],
      at: '1970-01-01T00:00:00.000Z',
      n: 1,
      s: 's',
      u: undefined,
      nil: null,
      cyclic: { id: '1', self: '[Circular]' },
    });
    expect(toJsonSafe(5n)).toBe('5');
  });
});
