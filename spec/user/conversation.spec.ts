/** The conversation flag on sends and the convIndex the server returns on acks and deliveries. */
import { ErrorCode } from '../../lib/errors.js';
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { destroyUsers, makeUser, text, until } from '../helpers/users.js';

let emulator: Emulator;

beforeEach(async () => {
  emulator = await startEmulator();
});

afterEach(async () => {
  destroyUsers();
  await emulator.close();
});

describe('conversation index', () => {
  it('a send with conversation: true gets its convIndex on the ack and on the delivered message', async () => {
    const alice = makeUser(emulator, 'alice');
    const bob = makeUser(emulator, 'bob');
    await Promise.all([alice.user.login(), bob.user.login()]);
    const first = await alice.user.sendMessageAndWait('bob', text('one'), { conversation: true });
    const second = await bob.user.sendMessageAndWait('alice', text('two'), { conversation: true });
    expect(first.convIndex).toBe(1n);
    expect(second.convIndex).toBe(2n); // one counter per pair, both directions
    await until(() => bob.seen.messages.length === 1 && alice.seen.messages.length === 1);
    expect(bob.seen.messages[0]!.convIndex).toBe(1n);
    expect(alice.seen.messages[0]!.convIndex).toBe(2n);
    expect(JSON.stringify({ convIndex: String(first.convIndex) })).toBe('{"convIndex":"1"}');
  });

  it('without the flag nothing is indexed, and a non-boolean flag is refused', async () => {
    const alice = makeUser(emulator, 'alice');
    await alice.user.login();
    const ack = await alice.user.sendMessageAndWait('bob', text('plain'));
    expect(ack.convIndex).toBeUndefined();
    expect(() => alice.user.sendMessage('bob', text('x'), { conversation: 'yes' as unknown as boolean })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
  });
});
