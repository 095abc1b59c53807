/** Conversation index (MIMCPacket 7/8, MIMCPacketAck 9) and the recent chat list REST API (/api/contact/). */
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { ErrorCode } from '../../lib/errors.js';
import { MIMCRestClient } from '../../lib/rest/index.js';
import { RawClient, loginRaw } from '../helpers/raw-client.js';
import { mimcRejection as failure } from '../rest/helpers.js';

let emu: Emulator;
let rest: MIMCRestClient;
const clients: RawClient[] = [];
let n = 0;
const fresh = (name: string): string => `${name}_${++n}`;
const TWO_53 = 1n << 53n;

async function login(account: string, resource: string): Promise<RawClient> {
  const c = await loginRaw(emu, account, resource);
  clients.push(c);
  return c;
}

beforeAll(async () => {
  emu = await startEmulator();
  rest = new MIMCRestClient({ appId: emu.app.appId, appKey: emu.app.appKey, appSecret: emu.app.appSecret, baseUrl: emu.restUrl });
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});
afterAll(async () => {
  await emu.close();
});

describe('conversation index', () => {
  it('numbers the stored conversation messages of a P2P pair 1, 2, 3 (both directions) in the ack and on delivery', async () => {
    const [a, b] = [fresh('alice'), fresh('bob')];
    const alice = await login(a, 'ra');
    const bob = await login(b, 'rb');
    const indexes: bigint[] = [];
    for (const [from, to, peer] of [[alice, b, bob], [alice, b, bob]] as const) {
      const id = from.sendP2P(to, 'x', { conversation: true });
      const ack = await from.nextAck(id);
      const list = await peer.nextCompound();
      peer.ackList(list);
      expect(list.packets[0]!.convIndex).toBe(ack.convIndex);
      indexes.push(ack.convIndex!);
    }
    const back = bob.sendP2P(a, 'y', { conversation: true });
    indexes.push((await bob.nextAck(back)).convIndex!);
    expect(indexes).toEqual([1n, 2n, 3n]);
  });

  it('gives no index without the flag or to a message that is not stored', async () => {
    const [a, b] = [fresh('alice'), fresh('bob')];
    const alice = await login(a, 'ra');
    const plain = alice.sendP2P(b, 'x');
    expect((await alice.nextAck(plain)).convIndex).toBeUndefined();
    const unstored = alice.sendP2P(b, 'x', { conversation: true, isStore: false });
    expect((await alice.nextAck(unstored)).convIndex).toBeUndefined();
    expect(await rest.getChatList(a)).toEqual([]);
  });

  it('counts a topic conversation on its own', async () => {
    const [a, b] = [fresh('alice'), fresh('bob')];
    const alice = await login(a, 'ra');
    const topic = emu.createTopic(a, [b]);
    const p2p = alice.sendP2P(b, 'x', { conversation: true });
    expect((await alice.nextAck(p2p)).convIndex).toBe(1n);
    const first = alice.sendP2T(topic, 'g1', { conversation: true });
    expect((await alice.nextAck(first)).convIndex).toBe(1n);
    const second = alice.sendP2T(topic, 'g2', { conversation: true });
    expect((await alice.nextAck(second)).convIndex).toBe(2n);
  });
});

describe('recent chat list', () => {
  it('lists each conversation once with its last message, newest first, exact ids', async () => {
    const [a, b, c] = [fresh('alice'), fresh('bob'), fresh('carol')];
    const alice = await login(a, 'ra');
    const topic = emu.createTopic(c, [a]);
    const carol = await login(c, 'rc');
    await alice.nextAck(alice.sendP2P(b, 'first', { conversation: true }));
    await alice.nextAck(alice.sendP2P(b, 'second', { conversation: true }));
    await carol.nextAck(carol.sendP2T(topic, 'hello group', { conversation: true }));

    const list = await rest.getChatList(a);
    expect(list.map((r) => [r.userType, r.name])).toEqual([
      ['TOPIC', expect.any(String)],
      ['USER', b],
    ]);
    const [group, peer] = list;
    expect(group!.id).toBe(topic);
    expect(group!.lastMessage).toMatchObject({ fromAccount: c, fromUuid: emu.uuidOf(c) });
    expect(Buffer.from(group!.lastMessage.payload).toString()).toBe('hello group');
    expect(peer!.id).toBe(emu.uuidOf(b));
    expect(peer!.id > TWO_53).toBe(true);
    expect(Buffer.from(peer!.lastMessage.payload).toString()).toBe('second');
    expect(peer!.lastMessage.sequence > TWO_53).toBe(true);
    expect(peer!.timestamp).toBeLessThanOrEqual(group!.timestamp);
    // The recipient sees the same conversation, named after the sender.
    const bobs = await rest.getChatList(b);
    expect(bobs.map((r) => [r.userType, r.name, r.id])).toEqual([['USER', a, emu.uuidOf(a)]]);
  });

  it('deletes a conversation from the caller only and answers with the updated list', async () => {
    const [a, b] = [fresh('alice'), fresh('bob')];
    const alice = await login(a, 'ra');
    const topic = emu.createTopic(a, [b]);
    await alice.nextAck(alice.sendP2P(b, 'x', { conversation: true }));
    await alice.nextAck(alice.sendP2T(topic, 'g', { conversation: true }));

    const afterP2P = await rest.deleteP2PChat(a, b);
    expect(afterP2P.map((r) => r.userType)).toEqual(['TOPIC']);
    expect(await rest.deleteP2TChat(a, topic)).toEqual([]);
    expect((await rest.getChatList(b)).map((r) => r.userType).sort()).toEqual(['TOPIC', 'USER']);
    // A new message brings the conversation back.
    await alice.nextAck(alice.sendP2P(b, 'again', { conversation: true }));
    expect((await rest.getChatList(a)).map((r) => r.name)).toEqual([b]);
  });

  it('refuses unknown sessions, bad members and bad topic ids with typed errors', async () => {
    const [a, b] = [fresh('alice'), fresh('bob')];
    await rest.mintToken(b);
    const unknown = await failure(rest.deleteP2PChat(a, b));
    expect(unknown.code).toBe(ErrorCode.API_ERROR);
    expect(unknown.details?.code).toBe(404);
    expect((await failure(rest.deleteP2TChat(a, 12345n))).details?.code).toBe(404);
    expect((await failure(rest.deleteP2PChat(a, ''))).code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect((await failure(rest.deleteP2TChat(a, 'not-a-number'))).code).toBe(ErrorCode.INVALID_ARGUMENT);
  });

  it("refuses reading another user's chat list", async () => {
    const [a, b] = [fresh('alice'), fresh('bob')];
    const { token } = await rest.mintToken(a);
    const alice = await login(a, 'ra');
    await alice.nextAck(alice.sendP2P(b, 'secret', { conversation: true }));
    const res = await fetch(`${emu.restUrl}/api/contact/`, { headers: { token, appAccount: b } });
    const body = (await res.json()) as { code: number; data?: unknown };
    expect(body.code).toBe(403);
    expect(body.data ?? null).toBeNull();
    const noToken = (await (await fetch(`${emu.restUrl}/api/contact/`)).json()) as { code: number };
    expect(noToken.code).toBe(401);
  });
});
