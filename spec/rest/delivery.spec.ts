/** The REST API and the TCP frontend share one state: pushes reach MCUsers, TCP messages reach history, topic and blacklist changes apply to routing. */
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { ErrorCode } from '../../lib/errors.js';
import { MIMCRestClient } from '../../lib/rest/index.js';
import type { P2PMessage } from '../../lib/user/types.js';
import { destroyUsers, makeUser, str, text, until } from '../helpers/users.js';
import { mimcRejection as failure } from './helpers.js';

let emu: Emulator;
let rest: MIMCRestClient;
let n = 0;
const fresh = (name: string): string => `${name}_${++n}`;
const settle = (ms = 100): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  emu = await startEmulator();
  rest = new MIMCRestClient({ appId: emu.app.appId, appKey: emu.app.appKey, appSecret: emu.app.appSecret, baseUrl: emu.restUrl });
});
afterEach(() => {
  destroyUsers();
});
afterAll(async () => {
  await emu.close();
});

describe('REST push to TCP users', () => {
  it('reaches an online MCUser as an ordinary P2P message', async () => {
    const [bot, bob] = [fresh('bot'), fresh('bob')];
    const b = makeUser(emu, bob);
    await b.user.login();
    const packetId = await rest.pushP2P({ fromAccount: bot, fromResource: 'backend', toAccount: bob, payload: new Uint8Array([104, 105, 0, 255]), bizType: 'NOTICE' });
    await until(() => b.seen.messages.length === 1, 5000, 'pushed message');
    const [m] = b.seen.messages;
    expect(m).toMatchObject({ packetId, fromAccount: bot, fromResource: 'backend', toAccount: bob, bizType: 'NOTICE', isStore: true });
    expect([...m!.payload]).toEqual([104, 105, 0, 255]);
    expect(m!.sequence > 0n).toBe(true);
    // A raw-string push arrives as its UTF-8 bytes.
    await rest.pushP2P({ fromAccount: bot, toAccount: bob, payload: 'héllo ✓' });
    await until(() => b.seen.messages.length === 2, 5000, 'second push');
    expect(str(b.seen.messages[1]!.payload)).toBe('héllo ✓');
    expect(b.seen.messages[1]!.fromResource).toBe('mimc_node_rest');
  });

  it('is stored for an offline user (isStore) and delivered at login; isStore=false is not', async () => {
    const [bot, carol] = [fresh('bot'), fresh('carol')];
    await rest.pushP2P({ fromAccount: bot, toAccount: carol, payload: 'kept for you' });
    await rest.pushP2P({ fromAccount: bot, toAccount: carol, payload: 'only if online', isStore: false });
    await rest.pushP2PBatch({ fromAccount: bot, toAccounts: [carol], payload: 'batch, kept' });
    expect(emu.storedCount(carol)).toBe(2);
    const c = makeUser(emu, carol);
    await c.user.login();
    await until(() => c.seen.messages.length === 2, 5000, 'stored messages');
    await settle();
    expect(c.seen.messages.map((m) => str(m.payload))).toEqual(['kept for you', 'batch, kept']);
  });

  it('a P2T push reaches every online member with the exact topic id', async () => {
    const [bot, alice, bob] = [fresh('bot'), fresh('alice'), fresh('bob')];
    const topicId = (await rest.createTopic(alice, { topicName: 'news', accounts: [bob] })).topicInfo.topicId;
    const a = makeUser(emu, alice);
    const b = makeUser(emu, bob);
    await Promise.all([a.user.login(), b.user.login()]);
    // The bot is not a member: the emulator lets a server push in anyway.
    const packetId = await rest.pushP2T({ fromAccount: bot, topicId, payload: 'to the room' });
    await until(() => a.seen.groupMessages.length === 1 && b.seen.groupMessages.length === 1, 5000, 'group push');
    for (const u of [a, b]) {
      expect(u.seen.groupMessages[0]).toMatchObject({ packetId, fromAccount: bot, topicId });
      expect(str(u.seen.groupMessages[0]!.payload)).toBe('to the room');
    }
  });
});

describe('TCP messages in the history API', () => {
  it('returns what MCUsers sent (P2P and P2T), not isStore=false messages', async () => {
    const [alice, bob] = [fresh('alice'), fresh('bob')];
    const a = makeUser(emu, alice);
    const b = makeUser(emu, bob);
    await Promise.all([a.user.login(), b.user.login()]);
    const start = Date.now();
    const ack1 = await a.user.sendMessageAndWait(bob, text('hi bob'), { bizType: 'TEXT' });
    await b.user.sendMessageAndWait(alice, text('hi alice'));
    await a.user.sendMessageAndWait(bob, text('ephemeral'), { isStore: false });
    const topicId = (await rest.createTopic(alice, { topicName: 'tcp', accounts: [bob] })).topicInfo.topicId;
    await b.user.sendGroupMessageAndWait(topicId, text('group hello'));
    const end = Date.now() + 1;

    const p2p = await rest.p2pHistoryByTime(alice, { fromAccount: alice, toAccount: bob, fromTime: start, toTime: end });
    expect(p2p.messages.map((m) => [m.fromAccount, m.toAccount, str(m.payload)])).toEqual([
      [alice, bob, 'hi bob'],
      [bob, alice, 'hi alice'],
    ]);
    expect(p2p.messages[0]!.bizType).toBe('TEXT');
    expect(p2p.messages[0]!.ts).toBe(ack1.timestamp);
    const p2t = await rest.p2tHistoryByCount(bob, { topicId, toTime: end, count: 10 });
    expect(p2t.messages.map((m) => [m.fromAccount, str(m.payload)])).toEqual([[bob, 'group hello']]);
  });
});

describe('blacklist and topic changes apply to TCP routing', () => {
  it('a blacklisted sender is refused (ack code 403) and nothing is delivered', async () => {
    const [alice, bob] = [fresh('alice'), fresh('bob')];
    const a = makeUser(emu, alice);
    const b = makeUser(emu, bob);
    const online: P2PMessage[] = [];
    b.user.on('onlineMessage', (m) => online.push(m));
    await Promise.all([a.user.login(), b.user.login()]);
    await rest.addToBlacklist(bob, alice);
    const err = await failure(a.user.sendMessageAndWait(bob, text('let me in')));
    expect(err.code).toBe(ErrorCode.SERVER_REJECTED);
    expect(err.details).toMatchObject({ code: 403 });
    a.user.sendOnlineMessage(bob, text('online too'));
    await until(() => a.seen.acks.length === 2, 5000, 'online ack');
    expect(a.seen.acks[1]).toMatchObject({ code: 403 });
    // The other direction still works; so does alice after the unblock.
    await b.user.sendMessageAndWait(alice, text('I can write you'));
    await rest.removeFromBlacklist(bob, alice);
    await a.user.sendMessageAndWait(bob, text('thanks'));
    await until(() => b.seen.messages.length === 1 && a.seen.messages.length === 1, 5000, 'messages after unblock');
    await settle();
    expect(b.seen.messages.map((m) => str(m.payload))).toEqual(['thanks']);
    expect(online).toHaveLength(0);
  });

  it('invite, kick and dismiss change who gets and who may send group messages', async () => {
    const [alice, bob, carol] = [fresh('alice'), fresh('bob'), fresh('carol')];
    const a = makeUser(emu, alice);
    const b = makeUser(emu, bob);
    const c = makeUser(emu, carol);
    await Promise.all([a.user.login(), b.user.login(), c.user.login()]);
    const topicId = (await rest.createTopic(alice, { topicName: 'routing', accounts: [bob] })).topicInfo.topicId;

    await a.user.sendGroupMessageAndWait(topicId, text('one'));
    await until(() => b.seen.groupMessages.length === 1, 5000, 'first group message');
    expect((await failure(c.user.sendGroupMessageAndWait(topicId, text('not yet')))).details).toMatchObject({ code: 403 });

    await rest.inviteToTopic(bob, topicId, [carol]);
    await rest.kickFromTopic(alice, topicId, [bob]);
    await a.user.sendGroupMessageAndWait(topicId, text('two'));
    await until(() => c.seen.groupMessages.length === 1, 5000, 'carol gets the second');
    expect((await failure(b.user.sendGroupMessageAndWait(topicId, text('kicked')))).details).toMatchObject({ code: 403 });

    await rest.dismissTopic(alice, topicId);
    expect((await failure(a.user.sendGroupMessageAndWait(topicId, text('gone')))).details).toMatchObject({ code: 404 });
    await settle();
    expect(b.seen.groupMessages.map((m) => str(m.payload))).toEqual(['one']);
    expect(c.seen.groupMessages.map((m) => str(m.payload))).toEqual(['two']);
  });
});
