/** The emulator's unlimited groups (UC), with raw frames: strict, windowed, per-group sequences. */
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { UnlimitedGroups, type UcPeer } from '../../lib/emulator/unlimited.js';
import { Store } from '../../lib/emulator/store.js';
import {
  UcType,
  decodeUcGroupResponse,
  decodeUcMessageList,
  decodeUcOnlineUsers,
  decodeUcPing,
  encodeUcGroupRequest,
  encodeUcPing,
  encodeUcSequenceAck,
} from '../../lib/protocol/uc.js';
import { ErrorCode } from '../../lib/errors.js';
import { MIMCRestClient } from '../../lib/rest/index.js';
import { RawClient, loginRaw } from '../helpers/raw-client.js';

let emu: Emulator;
const clients: RawClient[] = [];

async function login(account: string, resource = 'res'): Promise<RawClient> {
  const c = await loginRaw(emu, account, resource);
  clients.push(c);
  return c;
}

const group = (topicId: bigint) => ({ appId: emu.app.appId, topicId });

async function join(c: RawClient, topicId: bigint): Promise<number> {
  const id = c.sendUc(UcType.JOIN, encodeUcGroupRequest(group(topicId)));
  const answer = await c.nextUc(UcType.JOIN_RESP);
  expect(answer.packetId).toBe(id);
  return decodeUcGroupResponse(answer.payload).code;
}

beforeEach(async () => {
  emu = await startEmulator();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await emu.close();
});

describe('UC over TCP', () => {
  it('answers JOIN, QUIT and online queries with codes, echoing the packet id', async () => {
    const a = await login('alice');
    const topicId = emu.createUnlimitedGroup('alice');
    expect(await join(a, 424242n)).toBe(404);
    expect(await join(a, topicId)).toBe(0);
    a.sendUc(UcType.QUERY_ONLINE_USERS, encodeUcGroupRequest(group(topicId)));
    expect(decodeUcOnlineUsers((await a.nextUc(UcType.QUERY_ONLINE_USERS_RESP)).payload)).toEqual({ group: group(topicId), userCount: 1n });
    a.sendUc(UcType.QUIT, encodeUcGroupRequest(group(topicId)));
    expect(decodeUcGroupResponse((await a.nextUc(UcType.QUIT_RESP)).payload).code).toBe(0);
    a.sendUc(UcType.QUIT, encodeUcGroupRequest(group(topicId)));
    expect(decodeUcGroupResponse((await a.nextUc(UcType.QUIT_RESP)).payload).code).toBe(403);
  });

  it('answers a UC ping with a pong listing the same groups', async () => {
    const a = await login('alice');
    const g = group(emu.createUnlimitedGroup('alice'));
    a.sendUc(UcType.PING, encodeUcPing([g]));
    expect(decodeUcPing((await a.nextUc(UcType.PONG)).payload)).toEqual([g]);
  });

  it('only joined members send and receive; lists name the recipient and wait for the SEQ_ACK', async () => {
    const [a, b, outsider] = [await login('alice'), await login('bob'), await login('mallory')];
    const topicId = emu.createUnlimitedGroup('alice');
    await join(a, topicId);
    await join(b, topicId);
    const refused = outsider.sendUcMessage(topicId, 'let me in');
    expect(await outsider.nextAck(refused)).toMatchObject({ code: 403 });
    const first = a.sendUcMessage(topicId, 'one');
    const ack = await a.nextAck(first);
    expect(ack.code).toBe(0);
    const packet = await b.nextUc(UcType.MESSAGE_LIST);
    expect(packet.user).toMatchObject({ appAccount: 'bob', uuid: b.uuid });
    const list = decodeUcMessageList(packet.payload);
    expect(list.messages.map((m) => [Buffer.from(m.payload).toString(), m.sequence, m.user?.appAccount])).toEqual([['one', ack.sequence, 'alice']]);
    expect(list.maxSequence).toBe(ack.sequence);
    // window: the next stored message waits for bob's ack of the list in flight
    await a.nextAck(a.sendUcMessage(topicId, 'two'));
    await b.ping();
    expect(b.take((f) => f.packet?.type === 8)).toHaveLength(0);
    b.sendUc(UcType.SEQ_ACK, encodeUcSequenceAck({ group: group(topicId), sequence: list.maxSequence! }));
    const second = decodeUcMessageList((await b.nextUc(UcType.MESSAGE_LIST)).payload);
    expect(second.messages.map((m) => Buffer.from(m.payload).toString())).toEqual(['two']);
    expect(outsider.take((f) => f.packet?.type === 8)).toHaveLength(0);
    expect(a.take((f) => f.packet?.type === 8 && f.packet.payload !== undefined)).toHaveLength(0); // no echo to the sender
  });

  it('never reuses a sequence across groups', async () => {
    const a = await login('alice');
    const [g1, g2] = [emu.createUnlimitedGroup('alice'), emu.createUnlimitedGroup('alice')];
    await join(a, g1);
    await join(a, g2);
    const s1 = (await a.nextAck(a.sendUcMessage(g1, 'x'))).sequence;
    const s2 = (await a.nextAck(a.sendUcMessage(g2, 'y'))).sequence;
    const s3 = (await a.nextAck(a.sendUcMessage(g1, 'z'))).sequence;
    expect(new Set([s1, s2, s3]).size).toBe(3);
    expect(s1 < s2 && s2 < s3).toBe(true);
  });

  it('closes the connection on a UC packet id that differs from its MIMC packet id, or an ack never assigned', async () => {
    const a = await login('alice');
    const topicId = emu.createUnlimitedGroup('alice');
    const before = emu.stats.rejectedFrames;
    a.sendUc(UcType.JOIN, encodeUcGroupRequest(group(topicId)), { ucPacketId: 'another' });
    await a.waitClosed();
    const b = await login('bob');
    await join(b, topicId);
    b.sendUc(UcType.SEQ_ACK, encodeUcSequenceAck({ group: group(topicId), sequence: 10n ** 15n }));
    await b.waitClosed();
    const c = await login('carol');
    c.sendUc(UcType.MESSAGE_LIST, new Uint8Array(0)); // a server-only type
    await c.waitClosed();
    expect(emu.stats.rejectedFrames).toBe(before + 3);
  });
});

describe('uctopic REST API', () => {
  it('creates, lists, counts and dismisses with user tokens; exact ids; only the owner dismisses', async () => {
    const rest = new MIMCRestClient({ appId: emu.app.appId, appKey: emu.app.appKey, appSecret: emu.app.appSecret, baseUrl: emu.restUrl });
    const topicId = await rest.createUnlimitedGroup('alice', 'room');
    expect(topicId > 2n ** 53n).toBe(true);
    expect(await rest.getUnlimitedGroups('alice')).toEqual([]); // created, not joined yet
    const [a, b] = [await login('alice'), await login('bob')];
    await join(a, topicId);
    await join(b, topicId);
    expect(await rest.getUnlimitedGroups('bob')).toEqual([topicId]);
    expect((await rest.getUnlimitedGroupMembers('bob', topicId)).map((m) => m.account).sort()).toEqual(['alice', 'bob']);
    expect(await rest.getUnlimitedGroupOnlineCount('bob', topicId)).toBe(2);
    await expect(rest.dismissUnlimitedGroup('bob', topicId)).rejects.toMatchObject({ code: ErrorCode.API_ERROR, details: { code: 403 } });
    await expect(rest.getUnlimitedGroupOnlineCount('bob', 5n)).rejects.toMatchObject({ code: ErrorCode.API_ERROR, details: { code: 404 } });
    await expect(rest.getUnlimitedGroupMembers('bob', 'x')).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    await rest.dismissUnlimitedGroup('alice', topicId);
    const [da, db] = await Promise.all([a.nextUc(UcType.DISMISS), b.nextUc(UcType.DISMISS)]);
    expect([da.user.appAccount, db.user.appAccount]).toEqual(['alice', 'bob']);
    expect(await rest.getUnlimitedGroups('bob')).toEqual([]);
    const refused = b.sendUcMessage(topicId, 'anyone?');
    expect(await b.nextAck(refused)).toMatchObject({ code: 404 });
  });
});

describe('UC bounds', () => {
  it('caps the number of groups: REST answers 429, the emulator API throws ERR_LIMIT_REACHED', async () => {
    const small = await startEmulator({ maxUnlimitedGroups: 2 });
    try {
      const rest = new MIMCRestClient({ appId: small.app.appId, appKey: small.app.appKey, appSecret: small.app.appSecret, baseUrl: small.restUrl });
      const first = await rest.createUnlimitedGroup('alice', 'one');
      small.createUnlimitedGroup('alice');
      expect(small.stats.unlimitedGroups).toBe(2);
      await expect(rest.createUnlimitedGroup('alice', 'three')).rejects.toMatchObject({ code: ErrorCode.HTTP_ERROR, details: { code: 429 } });
      expect(() => small.createUnlimitedGroup('alice')).toThrow(expect.objectContaining({ code: ErrorCode.LIMIT_REACHED }));
      expect(small.dismissUnlimitedGroup(first)).toBe(true);
      expect(small.stats.unlimitedGroups).toBe(1);
      await rest.createUnlimitedGroup('alice', 'after a dismiss');
    } finally {
      await small.close();
    }
  });

  it('keeps at most unlimitedGroupStoreLimit stored messages per group', async () => {
    const small = await startEmulator({ unlimitedGroupStoreLimit: 3 });
    try {
      const c = await loginRaw(small, 'alice', 'res');
      clients.push(c);
      const topicId = small.createUnlimitedGroup('alice');
      c.sendUc(UcType.JOIN, encodeUcGroupRequest({ appId: small.app.appId, topicId }));
      await c.nextUc(UcType.JOIN_RESP);
      for (let i = 0; i < 5; i++) await c.nextAck(c.sendUcMessage(topicId, `m${i}`));
      expect(small.unlimitedGroupStats(topicId)).toMatchObject({ stored: 3 });
    } finally {
      await small.close();
    }
  });
});

describe('UC bookkeeping at scale', () => {
  it('fans one message out to 10 000 joined members, one list each, in one process', () => {
    const store = new Store({ appId: 1n, appKey: 'k', appSecret: 's', appPackage: 'p' } as never, 60_000, 100, { maxAccounts: 100_000, stats: { accounts: 0, accountsRefused: 0 } });
    const groups = new UnlimitedGroups(1n);
    const owner = store.account('owner');
    const g = groups.create(owner, 'stadium');
    const received = new Map<number, number>();
    const peers: UcPeer[] = [];
    for (let i = 0; i < 10_000; i++) {
      const identity = { account: store.account(`fan${i}`), resource: 'r' };
      peers.push({ ucIdentity: identity, sendUc: (type) => void (type === UcType.MESSAGE_LIST && received.set(i, (received.get(i) ?? 0) + 1)) });
      expect(groups.join(peers[i]!, g.topicId)).toBe(0);
    }
    const sender: UcPeer = { ucIdentity: { account: owner, resource: 'r' }, sendUc: () => {} };
    groups.join(sender, g.topicId);
    const result = groups.send(sender, { group: { appId: 1n, topicId: g.topicId }, payload: new Uint8Array(10), isStore: true }, { appId: 1n, appAccount: 'owner' }, 15 * 1024);
    expect(result.code).toBe(0);
    expect(received.size).toBe(10_000);
    expect([...received.values()].every((n) => n === 1)).toBe(true);
    expect(groups.onlineCount(g)).toBe(10_001);
  });
});
