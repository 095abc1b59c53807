/** Unlimited groups (UC) end to end: MCUser against the strict emulator. */
import { ErrorCode } from '../../lib/errors.js';
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import type { MCUserOptions, UCMessage } from '../../lib/user/types.js';
import { destroyUsers, makeUser, str, text, until, type TestUser } from '../helpers/users.js';

let emulator: Emulator;

beforeEach(async () => {
  emulator = await startEmulator();
});

afterEach(async () => {
  destroyUsers();
  await emulator.close();
});

interface UcUser extends TestUser {
  uc: UCMessage[];
  dismissed: bigint[];
  ucTimeouts: string[];
}

/** A logged-in user recording its UC deliveries (after handler success), dismissals and UC timeouts. */
async function ucUser(account: string, options: Partial<MCUserOptions> = {}, handler?: (m: UCMessage[]) => void | Promise<void>): Promise<UcUser> {
  const t = makeUser(emulator, account, { restUrl: emulator.restUrl, ...options });
  const u: UcUser = { ...t, uc: [], dismissed: [], ucTimeouts: [] };
  t.user.registerMessageDelegate({
    handleUnlimitedGroupMessage: handler,
    handleUnlimitedGroupDismissed: (topicId) => void u.dismissed.push(topicId),
    handleSendUnlimitedGroupMessageTimeout: (m) => void u.ucTimeouts.push(m.packetId),
  });
  t.user.on('unlimitedGroupMessage', (m) => void u.uc.push(m));
  await t.user.login();
  return u;
}

const payloads = (u: UcUser) => u.uc.map((m) => str(m.payload));

describe('unlimited groups', () => {
  it('create, join, send and receive: members get each other’s messages once, exact ids, sender not echoed', async () => {
    const alice = await ucUser('alice');
    const bob = await ucUser('bob');
    const topicId = await alice.user.createUnlimitedGroup('live room');
    expect(topicId > 2n ** 53n).toBe(true);
    expect(alice.user.unlimitedGroups()).toEqual([topicId]);
    await bob.user.joinUnlimitedGroup(topicId.toString());
    const ack = await alice.user.sendUnlimitedGroupMessageAndWait(topicId, text('hello room'), { bizType: 'TEXT' });
    expect(ack.code).toBe(0);
    expect(ack.sequence > 0n).toBe(true);
    await bob.user.sendUnlimitedGroupMessageAndWait(topicId, text('hi alice'));
    await until(() => bob.uc.length === 1 && alice.uc.length === 1, 5000, 'both deliveries');
    expect(bob.uc[0]).toMatchObject({ topicId, fromAccount: 'alice', bizType: 'TEXT', isStore: true, sequence: ack.sequence, packetId: ack.packetId });
    expect(payloads(alice)).toEqual(['hi alice']);
    expect(await alice.user.queryUnlimitedGroupOnlineUsers(topicId)).toBe(2n);
    expect(emulator.unlimitedGroupStats(topicId)).toMatchObject({ members: 2, online: 2 });
  });

  it('delivers in sequence order per group and acks only after the handler succeeded', async () => {
    let failures = 0;
    const alice = await ucUser('alice');
    const bob = await ucUser('bob', { handlerRetry: { minDelayMs: 5, maxDelayMs: 10 } }, () => {
      if (failures++ < 2) throw new Error('downstream not ready');
    });
    const topicId = await alice.user.createUnlimitedGroup('');
    await bob.user.joinUnlimitedGroup(topicId);
    for (let i = 0; i < 5; i++) alice.user.sendUnlimitedGroupMessage(topicId, text(`m${i}`));
    await until(() => bob.uc.length === 5, 5000, 'five deliveries');
    expect(payloads(bob)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(failures).toBeGreaterThanOrEqual(3);
    expect(bob.user.metrics()).toMatchObject({ handlerFailures: 2, deadLettered: 0 });
  });

  it('re-joins after a reconnect and redelivers what was not acknowledged, without duplicates', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    const alice = await ucUser('alice');
    const bob = await ucUser('bob', { reconnect: { minDelayMs: 10, maxDelayMs: 20 } }, async () => {
      if (calls++ === 0) await gate; // the first batch is still being handled when the connection drops
    });
    const topicId = await alice.user.createUnlimitedGroup('');
    await bob.user.joinUnlimitedGroup(topicId);
    await alice.user.sendUnlimitedGroupMessageAndWait(topicId, text('before'));
    await until(() => calls === 1, 5000, 'first handler call');
    let dropped = false;
    bob.user.on('stateChange', (_state, previous) => void (previous === 'online' && (dropped = true)));
    emulator.faults.dropConnections('bob');
    await until(() => dropped, 5000, 'bob offline'); // the reconnect may be quicker than any poll of state
    await until(() => bob.user.isOnline && emulator.unlimitedGroupStats(topicId)!.online === 2, 5000, 'bob re-joined');
    await alice.user.sendUnlimitedGroupMessageAndWait(topicId, text('after'));
    release();
    await until(() => bob.uc.length === 2, 5000, 'both messages');
    await new Promise((r) => setTimeout(r, 50));
    expect(payloads(bob)).toEqual(['before', 'after']);
    expect(bob.user.unlimitedGroups()).toEqual([topicId]);
  });

  it('refuses bad input with typed errors and keeps the connection', async () => {
    const alice = await ucUser('alice');
    const topicId = await alice.user.createUnlimitedGroup('');
    await expect(alice.user.joinUnlimitedGroup(12345n)).rejects.toMatchObject({ code: ErrorCode.UC_REFUSED, details: { code: 404 } });
    expect(() => alice.user.sendUnlimitedGroupMessage(999n, text('x'))).toThrow(expect.objectContaining({ code: ErrorCode.UC_NOT_JOINED }));
    expect(() => alice.user.sendUnlimitedGroupMessage(topicId, new Uint8Array(15 * 1024 + 1))).toThrow(expect.objectContaining({ code: ErrorCode.PAYLOAD_TOO_LARGE }));
    expect(() => alice.user.sendUnlimitedGroupMessage('nope', text('x'))).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    await expect(alice.user.quitUnlimitedGroup(777n)).rejects.toMatchObject({ code: ErrorCode.UC_NOT_JOINED });
    await alice.user.sendUnlimitedGroupMessageAndWait(topicId, new Uint8Array(15 * 1024));
    expect(alice.user.isOnline).toBe(true);
    expect(alice.user.unlimitedGroups()).toEqual([topicId]);
  });

  it('the server refuses a message to a group the sender left; only the owner dismisses', async () => {
    const alice = await ucUser('alice');
    const bob = await ucUser('bob');
    const topicId = await alice.user.createUnlimitedGroup('');
    await bob.user.joinUnlimitedGroup(topicId);
    await expect(bob.user.dismissUnlimitedGroup(topicId)).rejects.toMatchObject({ code: ErrorCode.API_ERROR, details: { code: 403 } });
    await bob.user.quitUnlimitedGroup(topicId);
    expect(bob.user.unlimitedGroups()).toEqual([]);
    await alice.user.sendUnlimitedGroupMessageAndWait(topicId, text('bob is gone'));
    await new Promise((r) => setTimeout(r, 50));
    expect(bob.uc).toEqual([]);
    expect(emulator.unlimitedGroupStats(topicId)).toMatchObject({ members: 1 });
  });

  it('dismiss: members are told, the group is gone, and sends to it are refused', async () => {
    const alice = await ucUser('alice');
    const bob = await ucUser('bob');
    const topicId = await alice.user.createUnlimitedGroup('');
    await bob.user.joinUnlimitedGroup(topicId);
    const pending = bob.user.sendUnlimitedGroupMessageAndWait(topicId, text('last words'));
    await pending;
    await alice.user.dismissUnlimitedGroup(topicId);
    await until(() => bob.dismissed.length === 1 && alice.dismissed.length === 1, 5000, 'dismiss pushed');
    expect(bob.dismissed).toEqual([topicId]);
    expect(bob.user.unlimitedGroups()).toEqual([]);
    expect(() => bob.user.sendUnlimitedGroupMessage(topicId, text('x'))).toThrow(expect.objectContaining({ code: ErrorCode.UC_NOT_JOINED }));
    await expect(bob.user.joinUnlimitedGroup(topicId)).rejects.toMatchObject({ code: ErrorCode.UC_REFUSED, details: { code: 404 } });
    expect(emulator.unlimitedGroupStats(topicId)).toBeUndefined();
    expect(bob.user.isOnline).toBe(true);
  });

  it('every send ends in one ack or one timeout; a join without an answer times out', async () => {
    const alice = await ucUser('alice', { sendTimeoutMs: 150 });
    const topicId = await alice.user.createUnlimitedGroup('');
    emulator.faults.dropAcks(true);
    const id = alice.user.sendUnlimitedGroupMessage(topicId, text('lost ack'));
    await expect(alice.user.sendUnlimitedGroupMessageAndWait(topicId, text('again'))).rejects.toMatchObject({ code: ErrorCode.SEND_TIMEOUT });
    await until(() => alice.ucTimeouts.length === 2, 5000, 'two timeouts');
    expect(alice.ucTimeouts[0]).toBe(id);
    emulator.faults.dropAcks(false);
    emulator.faults.stall(true, 'alice');
    await expect(alice.user.joinUnlimitedGroup(emulator.createUnlimitedGroup('bob'))).rejects.toMatchObject({ code: ErrorCode.SEND_TIMEOUT });
    expect(alice.user.unlimitedGroups()).toEqual([topicId]); // the unanswered join left nothing behind
  });

  it('pings while a group is joined, listing the groups, and stops when none is', async () => {
    const alice = await ucUser('alice', { unlimitedGroupPingIntervalMs: 20 });
    await new Promise((r) => setTimeout(r, 60));
    expect(emulator.stats.ucPings).toBe(0); // no group yet: no UC keep-alive
    const topicId = await alice.user.createUnlimitedGroup('');
    await until(() => emulator.stats.ucPings >= 2, 5000, 'UC pings');
    await alice.user.quitUnlimitedGroup(topicId);
    const after = emulator.stats.ucPings;
    await new Promise((r) => setTimeout(r, 80));
    expect(emulator.stats.ucPings).toBeLessThanOrEqual(after + 1); // one may have been in flight
  });

  it('token expiry and a kick: groups are joined again after the new login, or dropped by logout', async () => {
    const alice = await ucUser('alice');
    const bob = await ucUser('bob');
    const topicId = await alice.user.createUnlimitedGroup('');
    await bob.user.joinUnlimitedGroup(topicId);
    emulator.faults.expireTokens('bob');
    await until(() => bob.seen.statuses.some((s) => s.type === 'token-expired'), 5000, 'token expired');
    await until(() => bob.user.isOnline && emulator.unlimitedGroupStats(topicId)!.online === 2, 5000, 're-joined with a fresh token');
    await alice.user.sendUnlimitedGroupMessageAndWait(topicId, text('after refresh'));
    await until(() => bob.uc.length === 1, 5000, 'delivered');

    emulator.faults.kick('bob');
    await until(() => bob.user.state === 'offline', 5000, 'kicked');
    await bob.user.login();
    expect(bob.user.unlimitedGroups()).toEqual([topicId]);
    await until(() => emulator.unlimitedGroupStats(topicId)!.online === 2, 5000, 're-joined after the new login');

    const join = bob.user.joinUnlimitedGroup(emulator.createUnlimitedGroup('carol'));
    await bob.user.logout();
    // settled either way: answered before the unbind, or ended by the logout
    await expect(join.then(() => 'joined', (e: { code: string }) => e.code)).resolves.toMatch(/^(joined|ERR_CLOSED)$/);
    expect(bob.user.unlimitedGroups()).toEqual([]);
  });
});
