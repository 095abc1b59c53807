/** P2P / P2T routing, acks, sequences, offline store and redelivery, driven with raw frames. */
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { Cmd, DirFlag, PacketType, PushStatus, decodeSecMsgPayload, encodePullRequest } from '../../lib/protocol/index.js';
import { RawClient, innerMessages, isCompound, loginRaw } from '../helpers/raw-client.js';

let emu: Emulator;
const clients: RawClient[] = [];
let n = 0;
/** A fresh account name per test, so tests never share stores or sequences. */
const fresh = (name: string): string => `${name}_${++n}`;

async function login(account: string, resource: string, e: Emulator = emu): Promise<RawClient> {
  const c = await loginRaw(e, account, resource);
  clients.push(c);
  return c;
}

beforeAll(async () => {
  emu = await startEmulator();
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  emu.faults.reset();
});
afterAll(async () => {
  await emu.close();
});

describe('P2P', () => {
  it('acks the sender and delivers a COMPOUND to the recipient with the authenticated sender', async () => {
    const [a, b] = [fresh('alice'), fresh('bob')];
    const alice = await login(a, 'ra');
    const bob = await login(b, 'rb');
    const before = Date.now();
    // A forged `from` is overwritten with the bound identity.
    const packetId = alice.sendP2P(b, 'hello bob', { bizType: 'TEXT', from: { appId: emu.app.appId, appAccount: 'mallory', uuid: 1n, resource: 'x' } });
    const ack = await alice.nextAck(packetId);
    expect(ack).toMatchObject({ packetId, uuid: alice.uuid, resource: 'ra', errorMsg: '', code: 0, package: emu.app.appPackage });
    expect(ack.sequence > 0n).toBe(true);
    expect(Number(ack.timestamp)).toBeGreaterThanOrEqual(before);

    const frame = await bob.next(isCompound, 'COMPOUND');
    expect(frame.header).toMatchObject({ cmd: Cmd.SECMSG, uuid: bob.uuid, resource: 'rb', dirFlag: DirFlag.SC_ONEWAY, cipher: 1 });
    // The downstream payload key is the recipient's key + this header's id (not the sender's).
    expect(decodeSecMsgPayload(frame.header!, frame.payload, bob.token!.securityKey).type).toBe(PacketType.COMPOUND);
    const list = frame.list!;
    expect(list).toMatchObject({ uuid: bob.uuid, resource: 'rb', status: PushStatus.NORMAL });
    const [msg] = innerMessages(list);
    expect(list.maxSequence).toBe(msg!.sequence);
    expect(msg).toMatchObject({ packetId, type: PacketType.P2P_MESSAGE, timestamp: ack.timestamp });
    expect(msg!.p2p).toMatchObject({
      from: { appId: emu.app.appId, appAccount: a, uuid: alice.uuid, resource: 'ra' },
      to: { appAccount: b },
      isStore: true,
      bizType: 'TEXT',
    });
    expect(Buffer.from(msg!.p2p!.payload).toString()).toBe('hello bob');
    expect(list.packets[0]!.package).toBe(emu.app.appPackage);
  });

  it('assigns strictly increasing recipient sequences, never reused across P2P and P2T', async () => {
    const [a, b] = [fresh('alice'), fresh('bob')];
    const alice = await login(a, 'ra');
    const bob = await login(b, 'rb');
    const topic = emu.createTopic(a, [b]);
    const sequences: bigint[] = [];
    for (let i = 0; i < 5; i++) {
      const id = i % 2 === 0 ? alice.sendP2P(b, `m${i}`) : alice.sendP2T(topic, `m${i}`);
      await alice.nextAck(id);
      const list = await bob.nextCompound();
      bob.ackList(list);
      sequences.push(...list.packets.map((p) => p.sequence!));
    }
    expect(sequences).toHaveLength(5);
    for (let i = 1; i < sequences.length; i++) expect(sequences[i]! > sequences[i - 1]!).toBe(true);
  });

  it('acks with increasing sender-side sequences', async () => {
    const [a, b] = [fresh('alice'), fresh('bob')];
    const alice = await login(a, 'ra');
    const first = await alice.nextAck(alice.sendP2P(b, '1'));
    const second = await alice.nextAck(alice.sendP2P(b, '2'));
    expect(second.sequence > first.sequence).toBe(true);
  });

  it('delivers to every bound resource of the recipient, or only to to.resource', async () => {
    const [a, b] = [fresh('alice'), fresh('bob')];
    const alice = await login(a, 'ra');
    const bob1 = await login(b, 'phone');
    const bob2 = await login(b, 'laptop');
    expect(emu.onlineResources(b).sort()).toEqual(['laptop', 'phone']);
    await alice.nextAck(alice.sendP2P(b, 'to all'));
    const [l1, l2] = await Promise.all([bob1.nextCompound(), bob2.nextCompound()]);
    expect(l1.resource).toBe('phone');
    expect(l2.resource).toBe('laptop');
    expect(l1.packets[0]!.sequence).toBe(l2.packets[0]!.sequence);
    bob1.ackList(l1);
    bob2.ackList(l2);

    await alice.nextAck(alice.sendP2P(b, 'laptop only', { toResource: 'laptop' }));
    const only = innerMessages(await bob2.nextCompound());
    expect(Buffer.from(only[0]!.p2p!.payload).toString()).toBe('laptop only');
    // Barrier: by the time phone's pong arrives any COMPOUND for it would have been written.
    await bob1.ping();
    expect(bob1.inbox.filter((f) => f.list)).toHaveLength(0);
  });

  it('answers an unsupported packet type with an error PACKET_ACK', async () => {
    const alice = await login(fresh('alice'), 'ra');
    alice.sendPacket({ packetId: 'weird_1', package: emu.app.appPackage, type: PacketType.RTS_SIGNAL, payload: new Uint8Array([1, 2]) });
    const ack = await alice.nextAck('weird_1');
    expect(ack.errorMsg).not.toBe('');
    expect(ack.code).not.toBe(0);
  });
});

describe('P2T', () => {
  it('fans out to members (not to the sending resource) and refuses non-members', async () => {
    const [a, b, c, outsider] = [fresh('alice'), fresh('bob'), fresh('carol'), fresh('olly')];
    const alice = await login(a, 'ra');
    const alice2 = await login(a, 'ra2');
    const bob = await login(b, 'rb');
    const carol = await login(c, 'rc');
    const out = await login(outsider, 'ro');
    const topic = emu.createTopic(a, [b]);
    emu.addTopicMembers(topic, [c]);

    const id = alice.sendP2T(topic, 'hi group');
    const ack = await alice.nextAck(id);
    expect(ack).toMatchObject({ packetId: id, code: 0, errorMsg: '' });
    for (const member of [alice2, bob, carol]) {
      const [m] = innerMessages(await member.nextCompound());
      expect(m).toMatchObject({ packetId: id, type: PacketType.P2T_MESSAGE });
      expect(m!.p2t).toMatchObject({ from: { appAccount: a, resource: 'ra' }, to: { topicId: topic } });
    }
    await alice.ping();
    expect(alice.inbox.filter((f) => f.list)).toHaveLength(0);

    const refused = await out.nextAck(out.sendP2T(topic, 'let me in'));
    expect(refused.errorMsg).not.toBe('');
    expect(refused.code).not.toBe(0);
    await bob.ping();
    expect(bob.inbox.filter((f) => f.list)).toHaveLength(0);

    emu.removeTopicMembers(topic, [c]);
    await alice.nextAck(alice.sendP2T(topic, 'without carol'));
    await bob.nextCompound();
    await carol.ping();
    expect(carol.inbox.filter((f) => f.list)).toHaveLength(0);
    expect((await carol.nextAck(carol.sendP2T(topic, 'still here?'))).code).toBe(403);

    expect((await alice.nextAck(alice.sendP2T(123n, 'no such topic'))).code).toBe(404);
  });
});

describe('offline store', () => {
  it('delivers stored messages at the next BIND, not again after SEQUENCE_ACK', async () => {
    const [a, b] = [fresh('alice'), fresh('bob')];
    const alice = await login(a, 'ra');
    for (let i = 0; i < 3; i++) await alice.nextAck(alice.sendP2P(b, `stored ${i}`));
    await alice.nextAck(alice.sendP2P(b, 'not stored', { isStore: false }));
    expect(emu.storedCount(b)).toBe(3);

    const bob = await login(b, 'rb');
    const list = await bob.nextCompound();
    expect(innerMessages(list).map((m) => Buffer.from(m.p2p!.payload).toString())).toEqual(['stored 0', 'stored 1', 'stored 2']);
    bob.ackList(list);
    await bob.ping();
    bob.close();
    await bob.closed;

    const again = await login(b, 'rb');
    await again.ping();
    expect(again.inbox.filter((f) => f.list)).toHaveLength(0);
    // A resource never seen before still gets everything stored.
    const tablet = await login(b, 'tablet');
    expect((await tablet.nextCompound()).packets).toHaveLength(3);
  });

  it('redelivers stored messages that were delivered but not acknowledged', async () => {
    const [a, b] = [fresh('alice'), fresh('bob')];
    const alice = await login(a, 'ra');
    const bob = await login(b, 'rb');
    const id = alice.sendP2P(b, 'ack me');
    await alice.nextAck(id);
    const first = await bob.nextCompound();
    bob.close();
    await bob.closed;

    const again = await login(b, 'rb');
    const second = await again.nextCompound();
    expect(second.packets.map((p) => [p.packetId, p.sequence])).toEqual(first.packets.map((p) => [p.packetId, p.sequence]));
  });

  it('splits the backlog into COMPOUND batches, status 2 while more are waiting, paced by SEQUENCE_ACK', async () => {
    const small = await startEmulator({ compoundBatchSize: 2 });
    try {
      const [a, b] = [fresh('alice'), fresh('bob')];
      const alice = await login(a, 'ra', small);
      for (let i = 0; i < 5; i++) await alice.nextAck(alice.sendP2P(b, `m${i}`));
      const bob = await login(b, 'rb', small);
      const seen: string[] = [];
      const statuses: number[] = [];
      while (seen.length < 5) {
        const list = await bob.nextCompound();
        expect(list.packets.length).toBeLessThanOrEqual(2);
        statuses.push(list.status);
        seen.push(...innerMessages(list).map((m) => Buffer.from(m.p2p!.payload).toString()));
        bob.ackList(list);
      }
      expect(seen).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
      expect(statuses).toEqual([PushStatus.EXCEED_COUNT_LIMIT, PushStatus.EXCEED_COUNT_LIMIT, PushStatus.NORMAL]);
    } finally {
      await small.close();
    }
  });

  it('cuts COMPOUND batches at compoundMaxBytes (60 KiB by default), a larger message going alone', async () => {
    const [a, b] = [fresh('alice'), fresh('bob')];
    const alice = await login(a, 'ra');
    const payloads = Array.from({ length: 7 }, (_, i) => `${i}`.padEnd(16 * 1024, '.'));
    for (const p of payloads) await alice.nextAck(alice.sendP2P(b, p));
    const bob = await login(b, 'rb');
    const sizes: number[] = [];
    const seen: string[] = [];
    while (seen.length < payloads.length) {
      const list = await bob.nextCompound();
      sizes.push(list.packets.length);
      seen.push(...innerMessages(list).map((m) => Buffer.from(m.p2p!.payload).toString()));
      bob.ackList(list);
    }
    expect(seen).toEqual(payloads);
    expect(sizes).toEqual([3, 3, 1]); // four 16 KiB messages would pass 60 KiB

    const tight = await startEmulator({ compoundMaxBytes: 1 });
    try {
      const sender = await login(fresh('carol'), 'rc', tight);
      const dave = fresh('dave');
      for (const p of payloads.slice(0, 3)) await sender.nextAck(sender.sendP2P(dave, p));
      const reader = await login(dave, 'rd', tight);
      for (const expected of payloads.slice(0, 3)) {
        const list = await reader.nextCompound();
        expect(innerMessages(list).map((m) => Buffer.from(m.p2p!.payload).toString())).toEqual([expected]);
        reader.ackList(list);
      }
    } finally {
      await tight.close();
    }
  });

  it('keeps maxUnackedBatches batches in flight, frees them with one cumulative ack, redelivers from the acked point after a reconnect', async () => {
    const small = await startEmulator({ compoundBatchSize: 2, maxUnackedBatches: 3 });
    try {
      const [a, b] = [fresh('alice'), fresh('bob')];
      const alice = await login(a, 'ra', small);
      for (let i = 0; i < 9; i++) await alice.nextAck(alice.sendP2P(b, `m${i}`));
      const bob = await login(b, 'rb', small);
      const lists = [await bob.nextCompound(), await bob.nextCompound(), await bob.nextCompound()];
      const text = (list: (typeof lists)[number]): string[] => innerMessages(list).map((m) => Buffer.from(m.p2p!.payload).toString());
      expect(lists.map(text)).toEqual([
        ['m0', 'm1'],
        ['m2', 'm3'],
        ['m4', 'm5'],
      ]);
      expect(lists.map((l) => l.status)).toEqual([PushStatus.EXCEED_COUNT_LIMIT, PushStatus.EXCEED_COUNT_LIMIT, PushStatus.EXCEED_COUNT_LIMIT]);
      // the window is full: the server handled a ping, and still nothing more came
      await bob.ping();
      expect(bob.take(isCompound)).toEqual([]);
      // acking the second list frees two batches at once
      bob.ackList(lists[1]!);
      const after = [await bob.nextCompound(), await bob.nextCompound()];
      expect(after.map(text)).toEqual([['m6', 'm7'], ['m8']]);
      expect(after.map((l) => l.status)).toEqual([PushStatus.EXCEED_COUNT_LIMIT, PushStatus.NORMAL]);
      bob.close();
      await bob.closed;
      // a new connection gets everything above the acknowledged point again, in order
      const again = await login(b, 'rb', small);
      const redelivered: string[] = [];
      while (redelivered.length < 5) {
        const list = await again.nextCompound();
        redelivered.push(...text(list));
      }
      expect(redelivered).toEqual(['m4', 'm5', 'm6', 'm7', 'm8']);
    } finally {
      await small.close();
    }
  });

  it('answers PULL with the unacknowledged backlog', async () => {
    const small = await startEmulator({ compoundBatchSize: 2, maxUnackedBatches: 1 });
    try {
      const [a, b] = [fresh('alice'), fresh('bob')];
      const alice = await login(a, 'ra', small);
      for (let i = 0; i < 3; i++) await alice.nextAck(alice.sendP2P(b, `m${i}`));
      const bob = await login(b, 'rb', small);
      const first = await bob.nextCompound();
      expect(first.status).toBe(PushStatus.EXCEED_COUNT_LIMIT);
      // Without an ack nothing more comes; PULL sends the unacknowledged window again.
      bob.sendPull();
      const pulled = await bob.nextCompound();
      expect(pulled.packets.map((p) => p.sequence)).toEqual(first.packets.map((p) => p.sequence));
      bob.ackList(pulled);
      const rest = await bob.nextCompound();
      expect(innerMessages(rest).map((m) => Buffer.from(m.p2p!.payload).toString())).toEqual(['m2']);
    } finally {
      await small.close();
    }
  });

  it('drops the oldest stored messages beyond offlineStoreLimit and counts them', async () => {
    const tiny = await startEmulator({ offlineStoreLimit: 2 });
    try {
      const [a, b] = [fresh('alice'), fresh('bob')];
      const alice = await login(a, 'ra', tiny);
      for (let i = 0; i < 4; i++) await alice.nextAck(alice.sendP2P(b, `m${i}`));
      expect(tiny.storedCount(b)).toBe(2);
      expect(tiny.stats.messagesDropped).toBe(2);
      const bob = await login(b, 'rb', tiny);
      expect(innerMessages(await bob.nextCompound()).map((m) => Buffer.from(m.p2p!.payload).toString())).toEqual(['m2', 'm3']);
    } finally {
      await tiny.close();
    }
  });

  it('restartFrontend drops every connection but keeps stored messages, tokens and sequences', async () => {
    const [a, b] = [fresh('alice'), fresh('bob')];
    const alice = await login(a, 'ra');
    const port = emu.frontend.port;
    const ack1 = await alice.nextAck(alice.sendP2P(b, 'before restart'));
    await emu.restartFrontend();
    await alice.waitClosed();
    expect(emu.frontend.port).toBe(port);
    expect(emu.stats.connections).toBe(0);
    expect(emu.storedCount(b)).toBe(1);

    const alice2 = await RawClient.connect(port);
    clients.push(alice2);
    await alice2.conn({ uuid: alice.uuid, resource: 'ra' });
    expect((await alice2.bind(alice.token!)).result).toBe(true);
    const ack2 = await alice2.nextAck(alice2.sendP2P(b, 'after restart'));
    expect(ack2.sequence > ack1.sequence).toBe(true);
    const bob = await login(b, 'rb');
    const list = await bob.nextCompound();
    expect(innerMessages(list).map((m) => Buffer.from(m.p2p!.payload).toString())).toEqual(['before restart', 'after restart']);
  });

  it('stores a to.resource message for that resource only, and a group message for every member resource but the sender’s', async () => {
    const [a, b] = [fresh('alice'), fresh('bob')];
    const alice = await login(a, 'ra');
    await alice.nextAck(alice.sendP2P(b, 'for the laptop', { toResource: 'laptop' }));
    const topic = emu.createTopic(a, [b]);
    await alice.nextAck(alice.sendP2T(topic, 'group'));
    alice.close();
    await alice.closed;

    const phone = await login(b, 'phone');
    expect(innerMessages(await phone.nextCompound()).map((m) => Buffer.from((m.p2p ?? m.p2t)!.payload).toString())).toEqual(['group']);
    const laptop = await login(b, 'laptop');
    expect(innerMessages(await laptop.nextCompound()).map((m) => Buffer.from((m.p2p ?? m.p2t)!.payload).toString())).toEqual(['for the laptop', 'group']);
    // The sending resource does not get its own group message back; alice's other resources do.
    const again = await login(a, 'ra');
    await again.ping();
    expect(again.inbox.filter((f) => f.list)).toHaveLength(0);
    const tablet = await login(a, 'tablet');
    expect(innerMessages(await tablet.nextCompound())[0]!.p2t).toBeDefined();
  });

  it('refuses a SEQUENCE_ACK beyond any assigned sequence, and a PULL for another resource', async () => {
    const b = fresh('bob');
    const bob = await login(b, 'rb');
    bob.sendSequenceAck(1_000_000n);
    await bob.waitClosed();
    const bob2 = await login(b, 'rb2');
    const token = bob2.token!;
    bob2.sendPacket({
      packetId: 'pull_x',
      package: token.appPackage,
      type: PacketType.PULL,
      payload: encodePullRequest({ uuid: bob2.uuid, resource: 'not-me', appId: token.appId }),
    });
    await bob2.waitClosed();
  });

  it('does not store isStore=false messages and drops them for offline recipients', async () => {
    const [a, b] = [fresh('alice'), fresh('bob')];
    const alice = await login(a, 'ra');
    await alice.nextAck(alice.sendP2P(b, 'ephemeral', { isStore: false }));
    expect(emu.storedCount(b)).toBe(0);
    const bob = await login(b, 'rb');
    await alice.nextAck(alice.sendP2P(b, 'live ephemeral', { isStore: false }));
    const [m] = innerMessages(await bob.nextCompound());
    expect(m!.p2p!.isStore).toBe(false);
    expect(Buffer.from(m!.p2p!.payload).toString()).toBe('live ephemeral');
    expect(emu.storedCount(b)).toBe(0);
  });
});
