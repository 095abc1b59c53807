/** MCUser against the embedded emulator: the behaviour an app relies on. */
import { MIMCError, ErrorCode } from '../../lib/errors.js';
import { MCUser } from '../../lib/user/mcuser.js';
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { captureLogger, destroyUsers, makeUser, str, text, until } from '../helpers/users.js';

let emulator: Emulator;

beforeEach(async () => {
  emulator = await startEmulator();
});

afterEach(async () => {
  destroyUsers();
  await emulator.close();
});

describe('login', () => {
  it('goes online, reports the status and learns its exact uuid', async () => {
    const { user, seen } = makeUser(emulator, 'alice');
    expect(user.state).toBe('offline');
    await user.login();
    expect(user.isOnline).toBe(true);
    expect(user.uuid).toBe(emulator.uuidOf('alice'));
    expect(user.uuid! > 2n ** 53n).toBe(true);
    await until(() => seen.statuses.length > 0);
    expect(seen.statuses[0]).toEqual({ online: true });
    expect(emulator.onlineResources('alice')).toEqual([user.resource]);
  });

  it('connects straight to a frontend address, skipping the resolver', async () => {
    const { user } = makeUser(emulator, 'alice', {
      resolverUrl: 'http://127.0.0.1:1/unused',
      frontendAddress: `${emulator.frontend.host}:${emulator.frontend.port}`,
    });
    await user.login();
    expect(user.isOnline).toBe(true);
  });

  it('rejects with ERR_INVALID_TOKEN when the token is for another account, and stops trying', async () => {
    const user = new MCUser({
      appId: emulator.app.appId,
      appAccount: 'alice',
      resolverUrl: emulator.resolverUrl,
      tokenDelegate: { fetchToken: () => emulator.fetchToken('mallory') },
    });
    try {
      await expect(user.login()).rejects.toMatchObject({ code: ErrorCode.INVALID_TOKEN });
      expect(user.state).toBe('offline');
    } finally {
      user.destroy();
    }
  });

  it('rejects bad arguments with typed errors', () => {
    expect(() => new MCUser({ appId: emulator.app.appId, appAccount: '' })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
    expect(() => new MCUser({ appId: 1.5 as unknown as string, appAccount: 'a' })).toThrow(MIMCError);
  });

  it('refuses to send before login', () => {
    const { user } = makeUser(emulator, 'alice');
    expect(() => user.sendMessage('bob', text('x'))).toThrow(expect.objectContaining({ code: ErrorCode.NOT_LOGGED_IN }));
  });
});

describe('messaging', () => {
  it('delivers P2P both ways with server acks carrying increasing sequences', async () => {
    const alice = makeUser(emulator, 'alice');
    const bob = makeUser(emulator, 'bob');
    await Promise.all([alice.user.login(), bob.user.login()]);

    const id1 = alice.user.sendMessage('bob', text('hello bob'));
    const id2 = alice.user.sendMessage('bob', text('second'), { bizType: 'greeting', isStore: false });
    const back = bob.user.sendMessage('alice', text('hi alice'));
    await until(() => bob.seen.messages.length === 2 && alice.seen.messages.length === 1 && alice.seen.acks.length === 2);

    expect(bob.seen.messages.map((m) => str(m.payload))).toEqual(['hello bob', 'second']);
    expect(bob.seen.messages.map((m) => m.packetId)).toEqual([id1, id2]);
    expect(bob.seen.messages[0]).toMatchObject({ fromAccount: 'alice', fromResource: alice.user.resource, toAccount: 'bob', isStore: true });
    expect(bob.seen.messages[1]).toMatchObject({ bizType: 'greeting', isStore: false });
    expect(bob.seen.messages[0]!.sequence < bob.seen.messages[1]!.sequence).toBe(true);
    expect(alice.seen.messages[0]!.packetId).toBe(back);

    const [ack1, ack2] = alice.seen.acks;
    expect(ack1).toMatchObject({ packetId: id1, errorMsg: '' });
    expect(ack2!.packetId).toBe(id2);
    expect(ack1!.sequence < ack2!.sequence).toBe(true);
    expect(Math.abs(ack1!.timestamp - Date.now())).toBeLessThan(60_000);
    expect(alice.seen.timeouts).toEqual([]);
    expect(alice.user.pendingCount).toBe(0);
  });

  it('sendMessageAndWait resolves with the ack', async () => {
    const alice = makeUser(emulator, 'alice');
    await alice.user.login();
    const ack = await alice.user.sendMessageAndWait('bob', text('x'));
    expect(ack.errorMsg).toBe('');
    expect(typeof ack.sequence).toBe('bigint');
  });

  it('delivers group messages to topic members and refuses non-members', async () => {
    const alice = makeUser(emulator, 'alice');
    const bob = makeUser(emulator, 'bob');
    const carol = makeUser(emulator, 'carol');
    await Promise.all([alice.user.login(), bob.user.login(), carol.user.login()]);
    const topicId = emulator.createTopic('alice', ['bob']);
    expect(topicId > 2n ** 53n).toBe(true);

    const ack = await alice.user.sendGroupMessageAndWait(topicId, text('hello group'));
    expect(ack.errorMsg).toBe('');
    await until(() => bob.seen.groupMessages.length === 1);
    expect(bob.seen.groupMessages[0]).toMatchObject({ topicId, fromAccount: 'alice' });
    expect(str(bob.seen.groupMessages[0]!.payload)).toBe('hello group');

    await expect(carol.user.sendGroupMessageAndWait(topicId.toString(), text('intruder'))).rejects.toMatchObject({
      code: ErrorCode.SERVER_REJECTED,
    });
    expect(carol.seen.acks[0]!.errorMsg).not.toBe('');
    expect(alice.seen.groupMessages).toEqual([]);
  });

  it('delivers stored messages to an offline user when it logs in, exactly once', async () => {
    const alice = makeUser(emulator, 'alice');
    await alice.user.login();
    await alice.user.sendMessageAndWait('dave', text('while you were away 1'));
    await alice.user.sendMessageAndWait('dave', text('while you were away 2'));
    await alice.user.sendMessageAndWait('dave', text('not stored'), { isStore: false });

    const dave = makeUser(emulator, 'dave');
    await dave.user.login();
    await until(() => dave.seen.messages.length === 2);
    expect(dave.seen.messages.map((m) => str(m.payload))).toEqual(['while you were away 1', 'while you were away 2']);

    // acknowledged: a new resource of the same account after logout gets nothing again on this one
    await dave.user.logout();
    await dave.user.login();
    await alice.user.sendMessageAndWait('dave', text('fresh'));
    await until(() => dave.seen.messages.length === 3);
    expect(str(dave.seen.messages[2]!.payload)).toBe('fresh');
  });

  it('delivers to every online resource of the recipient', async () => {
    const alice = makeUser(emulator, 'alice');
    const bob1 = makeUser(emulator, 'bob');
    const bob2 = makeUser(emulator, 'bob');
    await Promise.all([alice.user.login(), bob1.user.login(), bob2.user.login()]);
    await alice.user.sendMessageAndWait('bob', text('to all of bob'));
    await until(() => bob1.seen.messages.length === 1 && bob2.seen.messages.length === 1);
  });

  it('rejects bad send input with typed errors', async () => {
    const { user } = makeUser(emulator, 'alice', { maxPayloadBytes: 16 });
    await user.login();
    expect(() => user.sendMessage('', text('x'))).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    expect(() => user.sendMessage('bob', 'text' as unknown as Uint8Array)).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
    expect(() => user.sendMessage('bob', new Uint8Array(17))).toThrow(expect.objectContaining({ code: ErrorCode.PAYLOAD_TOO_LARGE }));
    expect(() => user.sendGroupMessage(1.5 as unknown as bigint, text('x'))).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
  });

  it('refuses sends beyond the pending table bound', async () => {
    const { user } = makeUser(emulator, 'alice', { maxPendingMessages: 2 });
    await user.login();
    emulator.faults.dropAcks(true);
    user.sendMessage('bob', text('1'));
    user.sendMessage('bob', text('2'));
    expect(() => user.sendMessage('bob', text('3'))).toThrow(expect.objectContaining({ code: ErrorCode.PENDING_FULL }));
  });
});

describe('failures', () => {
  it('reports exactly one timeout (and no ack) when the server drops acks', async () => {
    const alice = makeUser(emulator, 'alice', { sendTimeoutMs: 300 });
    await alice.user.login();
    emulator.faults.dropAcks(true);
    const waited = alice.user.sendMessageAndWait('bob', text('lost ack'));
    await expect(waited).rejects.toMatchObject({ code: ErrorCode.SEND_TIMEOUT });
    emulator.faults.dropAcks(false);
    await alice.user.sendMessageAndWait('bob', text('after'));
    expect(alice.seen.timeouts).toHaveLength(1);
    expect(alice.seen.acks).toHaveLength(1);
  });

  it('reconnects after the server drops the connection, and sends queued messages after bind', async () => {
    const alice = makeUser(emulator, 'alice', { reconnect: { minDelayMs: 20, maxDelayMs: 100 } });
    const bob = makeUser(emulator, 'bob');
    await Promise.all([alice.user.login(), bob.user.login()]);
    let queued = '';
    alice.user.on('stateChange', (state) => {
      if (state === 'reconnecting' && !queued) queued = alice.user.sendMessage('bob', text('sent while reconnecting'));
    });
    emulator.faults.dropConnections('alice');
    await until(() => queued !== '' && bob.seen.messages.length === 1);
    expect(bob.seen.messages[0]!.packetId).toBe(queued);
    await until(() => alice.seen.acks.length === 1);
    expect(alice.seen.acks[0]!.packetId).toBe(queued);
    expect(alice.seen.statuses.map((s) => s.online)).toEqual([true, false, true]);
    expect(alice.seen.statuses[1]!.type).toBe('NETWORK_ERROR');
  });

  it('reconnects after a frontend restart and still gets stored messages', async () => {
    const alice = makeUser(emulator, 'alice', { reconnect: { minDelayMs: 20, maxDelayMs: 100 } });
    await alice.user.login();
    await emulator.restartFrontend();
    await until(() => alice.user.isOnline && alice.seen.statuses.length >= 3);
    const bob = makeUser(emulator, 'bob');
    await bob.user.login();
    await bob.user.sendMessageAndWait('alice', text('after restart'));
    await until(() => alice.seen.messages.length === 1);
  });

  it('refreshes the token and binds again when the server says it expired', async () => {
    let fetches = 0;
    const alice = makeUser(emulator, 'alice', {
      reconnect: { minDelayMs: 20, maxDelayMs: 100 },
      tokenDelegate: {
        fetchToken: () => {
          fetches += 1;
          return emulator.fetchToken('alice');
        },
      },
    });
    await alice.user.login();
    expect(fetches).toBe(1);
    emulator.faults.expireTokens('alice');
    await until(() => fetches === 2 && alice.user.isOnline, 5000, 'token refresh');
    expect(alice.seen.statuses.some((s) => !s.online && s.type === 'token-expired')).toBe(true);
    await alice.user.sendMessageAndWait('bob', text('still works'));
  });

  it('does not reconnect after a kick', async () => {
    const first = makeUser(emulator, 'alice', { resource: 'shared_res' });
    await first.user.login();
    const second = makeUser(emulator, 'alice', { resource: 'shared_res' });
    await second.user.login();
    await until(() => first.user.state === 'offline');
    expect(first.seen.statuses.at(-1)).toMatchObject({ online: false, type: 'multi-login' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(first.user.state).toBe('offline');
    expect(second.user.isOnline).toBe(true);
    expect(emulator.onlineResources('alice')).toEqual(['shared_res']);
  });

  it('detects a stalled server and reconnects', async () => {
    const alice = makeUser(emulator, 'alice', {
      pingIntervalMs: 50,
      responseTimeoutMs: 200,
      loginTimeoutMs: 300,
      reconnect: { minDelayMs: 20, maxDelayMs: 50 },
    });
    await alice.user.login();
    let detectedAt = 0;
    alice.user.on('stateChange', (state, previous) => {
      if (previous === 'online' && !detectedAt) {
        detectedAt = Date.now();
        emulator.faults.stall(false, 'alice');
      }
    });
    const stalledAt = Date.now();
    emulator.faults.stall(true, 'alice');
    await until(() => detectedAt > 0, 2000, 'dead connection detection');
    // within one ping interval plus the response timeout (with scheduling slack)
    expect(detectedAt - stalledAt).toBeLessThan(50 + 200 + 500);
    await until(() => alice.user.isOnline, 5000, 'reconnect');
    expect(alice.seen.statuses.at(-2)).toMatchObject({ online: false, type: 'NETWORK_ERROR' });
  });

  it('survives a corrupt frame from the server by reconnecting', async () => {
    const alice = makeUser(emulator, 'alice', { reconnect: { minDelayMs: 20, maxDelayMs: 50 } });
    await alice.user.login();
    emulator.faults.corruptNextFrame('alice');
    alice.user.sendMessage('bob', text('x')); // its ack is the corrupted frame
    await until(() => alice.seen.statuses.some((s) => !s.online));
    await until(() => alice.user.isOnline);
  });

  it('retries a delegate that throws, then keeps delivering in order', async () => {
    let calls = 0;
    const received: string[] = [];
    const bob = makeUser(emulator, 'bob', {
      ackMode: 'before-handler',
      handlerRetry: { minDelayMs: 1 },
      messageDelegate: {
        handleMessage: (messages) => {
          calls += 1;
          if (calls === 1) throw new Error('app bug');
          received.push(...messages.map((m) => str(m.payload)));
        },
      },
    });
    const alice = makeUser(emulator, 'alice');
    await Promise.all([alice.user.login(), bob.user.login()]);
    await alice.user.sendMessageAndWait('bob', text('first'));
    await until(() => received.length === 1);
    await alice.user.sendMessageAndWait('bob', text('second'));
    await until(() => received.length === 2);
    expect(received).toEqual(['first', 'second']);
    expect(bob.user.metrics().handlerFailures).toBe(1);
    expect(bob.user.isOnline).toBe(true);
  });
});

describe('shutdown', () => {
  it('logout unbinds, settles pending sends and allows a new login', async () => {
    const alice = makeUser(emulator, 'alice');
    await alice.user.login();
    emulator.faults.dropAcks(true);
    const waiting = alice.user.sendMessageAndWait('bob', text('never acked'));
    await alice.user.logout();
    await expect(waiting).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    expect(alice.seen.timeouts).toHaveLength(1);
    expect(alice.user.state).toBe('offline');
    await until(() => emulator.onlineResources('alice').length === 0);
    emulator.faults.dropAcks(false);
    await alice.user.login();
    expect(alice.user.isOnline).toBe(true);
  });

  it('destroy during login settles the login promise', async () => {
    const { user } = makeUser(emulator, 'alice');
    const login = user.login();
    user.destroy();
    await expect(login).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    expect(user.state).toBe('closed');
    expect(() => user.sendMessage('bob', text('x'))).toThrow(expect.objectContaining({ code: ErrorCode.CLOSED }));
  });

  it('logout during reconnect stops for good', async () => {
    const alice = makeUser(emulator, 'alice', { reconnect: { minDelayMs: 20, maxDelayMs: 50 } });
    await alice.user.login();
    let loggedOut: Promise<void> | undefined;
    alice.user.on('stateChange', (state) => {
      if (state === 'reconnecting' && !loggedOut) loggedOut = alice.user.logout();
    });
    emulator.faults.dropConnections('alice');
    await until(() => loggedOut !== undefined);
    await loggedOut;
    expect(alice.user.state).toBe('offline');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(alice.user.state).toBe('offline');
    expect(emulator.onlineResources('alice')).toEqual([]);
  });

  it('ends message iterators on destroy', async () => {
    const alice = makeUser(emulator, 'alice');
    const bob = makeUser(emulator, 'bob');
    await Promise.all([alice.user.login(), bob.user.login()]);
    const iterator = bob.user.messages();
    await alice.user.sendMessageAndWait('bob', text('via iterator'));
    const first = await iterator.next();
    expect(first.done).toBe(false);
    expect(str((first.value as { message: { payload: Uint8Array } }).message.payload)).toBe('via iterator');
    bob.user.destroy();
    expect((await iterator.next()).done).toBe(true);
  });
});

describe('logging', () => {
  it('never logs the token, the security key or payloads, even at trace level', async () => {
    const { logger, output } = captureLogger();
    const secretPayload = 'payload-secret-0123456789';
    const alice = makeUser(emulator, 'alice', { logger });
    const bob = makeUser(emulator, 'bob', { logger });
    await Promise.all([alice.user.login(), bob.user.login()]);
    await alice.user.sendMessageAndWait('bob', text(secretPayload));
    await until(() => bob.seen.messages.length === 1);
    await alice.user.logout();
    const tokenJson = JSON.parse(await emulator.fetchToken('alice')) as { data: { token: string; miUserSecurityKey: string } };
    const log = output();
    expect(log.length).toBeGreaterThan(0);
    expect(log).not.toContain(secretPayload);
    expect(log).not.toContain(Buffer.from(secretPayload).toString('base64'));
    expect(log).not.toContain(tokenJson.data.miUserSecurityKey);
    expect(log).not.toContain(emulator.app.appSecret);
  });
});
