/** ONLINE_MESSAGE (type 11): direct delivery to bound resources, ONLINE_MESSAGE_ACK (type 12) to the sender. */
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import {
  Cmd,
  DirFlag,
  PacketType,
  decodeOnlineMessageAck,
  decodeP2PMessage,
  encodeP2PMessage,
  type OnlineMessageAck,
  type P2PMessage as WireP2PMessage,
} from '../../lib/protocol/index.js';
import type { P2PMessage } from '../../lib/user/types.js';
import { RawClient, loginRaw, type FramePredicate, type ReceivedFrame } from '../helpers/raw-client.js';
import { destroyUsers, makeUser, str, text, until } from '../helpers/users.js';

let emu: Emulator;
const clients: RawClient[] = [];
let n = 0;
const fresh = (name: string): string => `${name}_${++n}`;

async function login(account: string, resource: string): Promise<RawClient> {
  const c = await loginRaw(emu, account, resource);
  clients.push(c);
  return c;
}

const isType =
  (type: number, packetId?: string): FramePredicate =>
  (f) =>
    f.packet?.type === type && (packetId === undefined || f.packet.packetId === packetId);

/** Sends an ONLINE_MESSAGE from a raw client; returns the packet id. */
function sendOnline(c: RawClient, to: string, body: string, options: { from?: WireP2PMessage['from']; appId?: bigint; toResource?: string } = {}): string {
  const token = c.token!;
  const packetId = c.nextId();
  const message: WireP2PMessage = {
    from: options.from ?? { appId: token.appId, appAccount: token.appAccount, uuid: c.uuid, resource: c.resource },
    to: { appId: options.appId ?? token.appId, appAccount: to, uuid: 0n, resource: options.toResource ?? '' },
    payload: Buffer.from(body),
    isStore: false,
  };
  c.sendPacket({ packetId, package: token.appPackage, type: PacketType.ONLINE_MESSAGE, payload: encodeP2PMessage(message) });
  return packetId;
}

async function nextOnlineAck(c: RawClient, packetId: string): Promise<OnlineMessageAck> {
  const isOnlineAck: FramePredicate = (f) =>
    f.packet?.type === PacketType.ONLINE_MESSAGE_ACK && decodeOnlineMessageAck(f.packet.payload!).packetId === packetId;
  const frame = await c.next(isOnlineAck, `ONLINE_MESSAGE_ACK ${packetId}`);
  expect(frame.header).toMatchObject({ cmd: Cmd.SECMSG, dirFlag: DirFlag.SC_RESP });
  return decodeOnlineMessageAck(frame.packet!.payload!);
}

beforeAll(async () => {
  emu = await startEmulator();
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  destroyUsers();
  emu.faults.reset();
});
afterAll(async () => {
  await emu.close();
});

describe('ONLINE_MESSAGE with raw frames', () => {
  it('delivers a standalone type-11 SECMSG with the authenticated sender, and acks with type 12', async () => {
    const [a, b] = [fresh('alice'), fresh('bob')];
    const alice = await login(a, 'ra');
    const bob1 = await login(b, 'rb1');
    const bob2 = await login(b, 'rb2');
    const before = Date.now();
    // A forged `from` is replaced by the bound identity.
    const packetId = sendOnline(alice, b, 'are you there?', { from: { appId: emu.app.appId, appAccount: 'mallory', uuid: 7n, resource: 'x' } });
    const ack = await nextOnlineAck(alice, packetId);
    expect(ack).toEqual({ packetId, uuid: alice.uuid, resource: 'ra', code: 0, errorMsg: '' });

    for (const bob of [bob1, bob2]) {
      const frame: ReceivedFrame = await bob.next(isType(PacketType.ONLINE_MESSAGE), 'ONLINE_MESSAGE');
      expect(frame.header).toMatchObject({ cmd: Cmd.SECMSG, uuid: bob.uuid, dirFlag: DirFlag.SC_ONEWAY });
      const packet = frame.packet!;
      expect(packet.packetId).toBe(packetId);
      expect(packet.package).toBe(emu.app.appPackage);
      expect(packet.sequence ?? 0n).toBe(0n);
      expect(Number(packet.timestamp)).toBeGreaterThanOrEqual(before);
      const inner = decodeP2PMessage(packet.payload!);
      expect(inner.from).toEqual({ appId: emu.app.appId, appAccount: a, uuid: alice.uuid, resource: 'ra' });
      expect(inner.to.appAccount).toBe(b);
      expect(Buffer.from(inner.payload).toString()).toBe('are you there?');
    }
    // Never wrapped in a COMPOUND, never stored.
    await bob1.ping();
    expect(bob1.take((f) => f.list !== undefined)).toHaveLength(0);
    expect(emu.storedCount(b)).toBe(0);
  });

  it('honours to.resource', async () => {
    const [a, b] = [fresh('alice'), fresh('bob')];
    const alice = await login(a, 'ra');
    const bob1 = await login(b, 'rb1');
    const bob2 = await login(b, 'rb2');
    const packetId = sendOnline(alice, b, 'only rb2', { toResource: 'rb2' });
    await nextOnlineAck(alice, packetId);
    await bob2.next(isType(PacketType.ONLINE_MESSAGE, packetId), 'online message on rb2');
    await bob1.ping();
    expect(bob1.take(isType(PacketType.ONLINE_MESSAGE))).toHaveLength(0);
  });

  it('acks an offline recipient with code 0 and never delivers it later', async () => {
    const [a, b] = [fresh('alice'), fresh('bob')];
    const alice = await login(a, 'ra');
    emu.uuidOf(b);
    const packetId = sendOnline(alice, b, 'lost');
    expect(await nextOnlineAck(alice, packetId)).toMatchObject({ code: 0, errorMsg: '' });
    const bob = await login(b, 'rb');
    await bob.ping();
    await new Promise((r) => setTimeout(r, 50));
    expect(bob.take(isType(PacketType.ONLINE_MESSAGE))).toHaveLength(0);
    expect(bob.take((f) => f.list !== undefined)).toHaveLength(0);
  });

  it('refuses a bad recipient with code 400', async () => {
    const a = fresh('alice');
    const alice = await login(a, 'ra');
    const empty = sendOnline(alice, '', 'x');
    expect(await nextOnlineAck(alice, empty)).toMatchObject({ code: 400, errorMsg: 'to.appAccount is empty' });
    const otherApp = sendOnline(alice, 'bob', 'x', { appId: 42n });
    expect(await nextOnlineAck(alice, otherApp)).toMatchObject({ code: 400, errorMsg: 'to.appId is not this app' });
  });

  it('closes the connection on an online message without packetId', async () => {
    const alice = await login(fresh('alice'), 'ra');
    const token = alice.token!;
    const message: WireP2PMessage = {
      from: { appId: token.appId, appAccount: token.appAccount, uuid: alice.uuid, resource: 'ra' },
      to: { appId: token.appId, appAccount: 'bob', uuid: 0n, resource: '' },
      payload: Buffer.from('x'),
      isStore: false,
    };
    alice.sendPacket({ packetId: '', package: token.appPackage, type: PacketType.ONLINE_MESSAGE, payload: encodeP2PMessage(message) }, 'hdr1');
    await alice.waitClosed();
  });
});

describe('ONLINE_MESSAGE with MCUser', () => {
  it('sendOnlineMessage reaches the online peer (delegate and event) and yields exactly one ack', async () => {
    const [a, b] = [fresh('alice'), fresh('bob')];
    const alice = makeUser(emu, a);
    const received: P2PMessage[] = [];
    const events: P2PMessage[] = [];
    const stored: P2PMessage[] = [];
    const bob = makeUser(emu, b, {
      messageDelegate: { handleOnlineMessage: (m) => void received.push(m), handleMessage: (ms) => void stored.push(...ms) },
    });
    bob.user.on('onlineMessage', (m) => events.push(m));
    bob.user.on('message', (m) => stored.push(m));
    await Promise.all([alice.user.login(), bob.user.login()]);
    const packetId = alice.user.sendOnlineMessage(b, text('typing...'), { bizType: 'TYPING' });
    await until(() => received.length === 1 && events.length === 1 && alice.seen.acks.length === 1, 5000, 'online message and ack');
    expect(received[0]).toMatchObject({ packetId, fromAccount: a, toAccount: b, bizType: 'TYPING', isStore: false, sequence: 0n });
    expect(str(received[0]!.payload)).toBe('typing...');
    expect(events[0]!.packetId).toBe(packetId);
    expect(alice.seen.acks[0]).toMatchObject({ packetId, code: 0, errorMsg: '' });
    // Nothing else arrives: no COMPOUND copy, no second ack, no timeout.
    await new Promise((r) => setTimeout(r, 100));
    expect(stored).toHaveLength(0);
    expect(alice.seen.acks).toHaveLength(1);
    expect(alice.seen.timeouts).toHaveLength(0);
  });

  it('an offline peer gets nothing later; the sender still gets one ack', async () => {
    const [a, b] = [fresh('alice'), fresh('bob')];
    const alice = makeUser(emu, a);
    await alice.user.login();
    const packetId = alice.user.sendOnlineMessage(b, text('ping'));
    await until(() => alice.seen.acks.length === 1, 5000, 'ack');
    expect(alice.seen.acks[0]).toMatchObject({ packetId, code: 0 });
    const received: P2PMessage[] = [];
    const bob = makeUser(emu, b);
    bob.user.on('onlineMessage', (m) => received.push(m));
    bob.user.on('message', (m) => received.push(m));
    await bob.user.login();
    await new Promise((r) => setTimeout(r, 150));
    expect(received).toHaveLength(0);
    expect(alice.seen.acks).toHaveLength(1);
    expect(alice.seen.timeouts).toHaveLength(0);
  });
});
