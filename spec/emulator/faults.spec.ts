/** Each fault switch of the emulator, observed from raw clients. */
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { ErrorCode } from '../../lib/protocol/index.js';
import { RawClient, innerMessages, isAck, loginRaw } from '../helpers/raw-client.js';

let emu: Emulator;
const clients: RawClient[] = [];
let n = 0;
const fresh = (name: string): string => `${name}_${++n}`;

async function login(account: string, resource: string): Promise<RawClient> {
  const c = await loginRaw(emu, account, resource);
  clients.push(c);
  return c;
}

beforeAll(async () => {
  emu = await startEmulator();
});
afterEach(() => {
  emu.faults.reset();
  for (const c of clients.splice(0)) c.close();
});
afterAll(async () => {
  await emu.close();
});

describe('faults', () => {
  it('dropConnections(account) destroys only that account’s sockets; without account, all', async () => {
    const [a, b] = [fresh('a'), fresh('b')];
    const a1 = await login(a, 'r1');
    const a2 = await login(a, 'r2');
    const b1 = await login(b, 'r1');
    emu.faults.dropConnections(a);
    await Promise.all([a1.waitClosed(), a2.waitClosed()]);
    expect(emu.onlineResources(a)).toEqual([]);
    await b1.ping();
    emu.faults.dropConnections();
    await b1.waitClosed();
    expect(emu.stats.connections).toBe(0);
  });

  it('stall keeps the socket open but answers nothing until lifted; held messages then flow', async () => {
    const [a, b] = [fresh('a'), fresh('b')];
    const alice = await login(a, 'ra');
    const bob = await login(b, 'rb');
    emu.faults.stall(true, b);
    await alice.nextAck(alice.sendP2P(b, 'held'));
    bob.sendPing();
    // A bounded wait is the only way to observe silence from a stalled server.
    await expect(bob.nextPong(150)).rejects.toThrow(/timed out/);
    expect(bob.isClosed).toBe(false);
    expect(bob.inbox).toHaveLength(0);
    await alice.ping();

    emu.faults.stall(false, b);
    const [m] = innerMessages(await bob.nextCompound());
    expect(Buffer.from(m!.p2p!.payload).toString()).toBe('held');
    await bob.ping();
  });

  it('stall without account silences every connection, including new handshakes', async () => {
    const alice = await login(fresh('a'), 'ra');
    emu.faults.stall(true);
    alice.sendPing();
    const c = await RawClient.connect(emu.frontend.port);
    clients.push(c);
    await expect(c.conn({ resource: 'x', timeoutMs: 150 })).rejects.toThrow(/timed out/);
    emu.faults.stall(false);
    await alice.ping();
  });

  it('dropAcks routes messages but never acks them', async () => {
    const [a, b] = [fresh('a'), fresh('b')];
    const alice = await login(a, 'ra');
    const bob = await login(b, 'rb');
    emu.faults.dropAcks(true);
    const id = alice.sendP2P(b, 'no ack for you');
    await bob.nextCompound();
    // The ack would have been written before the pong.
    await alice.ping();
    expect(alice.inbox.filter(isAck(id))).toHaveLength(0);
    emu.faults.dropAcks(false);
    await alice.nextAck(alice.sendP2P(b, 'acked again'));
  });

  it('delayDelivery delays COMPOUND and PACKET_ACK, not pongs', async () => {
    const [a, b] = [fresh('a'), fresh('b')];
    const alice = await login(a, 'ra');
    const bob = await login(b, 'rb');
    emu.faults.delayDelivery(120);
    const started = Date.now();
    const id = alice.sendP2P(b, 'slow');
    await alice.ping();
    expect(alice.inbox.filter(isAck(id))).toHaveLength(0);
    await Promise.all([alice.nextAck(id), bob.nextCompound()]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
    emu.faults.delayDelivery(0);
    await alice.nextAck(alice.sendP2P(b, 'fast'));
  });

  it('corruptNextFrame(account) makes the next frame to that account fail its checksum', async () => {
    const [a, b] = [fresh('a'), fresh('b')];
    const alice = await login(a, 'ra');
    const bob = await login(b, 'rb');
    emu.faults.corruptNextFrame(a);
    await bob.ping();
    alice.sendPing();
    await alice.waitClosed();
    expect(alice.decodeError?.code).toBe(ErrorCode.BAD_CHECKSUM);
    await bob.ping();
  });

  it('corruptNextFrame() hits the next frame on any connection, once', async () => {
    const alice = await login(fresh('a'), 'ra');
    emu.faults.corruptNextFrame();
    alice.sendPing();
    await alice.waitClosed();
    expect(alice.decodeError?.code).toBe(ErrorCode.BAD_CHECKSUM);
    const again = await login(fresh('a'), 'ra');
    await again.ping();
  });

  it('sendOversizedFrame announces a body over 16 MiB', async () => {
    const [a, b] = [fresh('a'), fresh('b')];
    const alice = await login(a, 'ra');
    const bob = await login(b, 'rb');
    emu.faults.sendOversizedFrame(a);
    await alice.waitClosed();
    expect(alice.decodeError?.code).toBe(ErrorCode.FRAME_TOO_LARGE);
    expect(alice.decodeError?.details).toMatchObject({ bodyLength: 16 * 1024 * 1024 + 1 });
    await bob.ping();
  });

  it('expireTokens() without account kicks every bound session with token-expired', async () => {
    const alice = await login(fresh('a'), 'ra');
    const bob = await login(fresh('b'), 'rb');
    emu.faults.expireTokens();
    expect((await alice.nextKick()).errorType).toBe('token-expired');
    expect((await bob.nextKick()).errorType).toBe('token-expired');
    expect(emu.onlineResources(alice.token!.appAccount)).toEqual([]);
  });

  it('kick(account, resource) sends KICK multi-login and closes only that resource', async () => {
    const a = fresh('a');
    const r1 = await login(a, 'r1');
    const r2 = await login(a, 'r2');
    emu.faults.kick(a, 'r1');
    expect(await r1.nextKick()).toMatchObject({ result: false, errorType: 'multi-login' });
    await r1.waitClosed();
    await r2.ping();
    expect(emu.onlineResources(a)).toEqual(['r2']);
    emu.faults.kick(a);
    await r2.nextKick();
    await r2.waitClosed();
  });

  it('reset turns every switch off', async () => {
    const [a, b] = [fresh('a'), fresh('b')];
    const alice = await login(a, 'ra');
    const bob = await login(b, 'rb');
    emu.faults.dropAcks(true);
    emu.faults.delayDelivery(10_000);
    emu.faults.stall(true, b);
    emu.faults.corruptNextFrame(fresh('nobody'));
    emu.faults.reset();
    await alice.nextAck(alice.sendP2P(b, 'normal'));
    await bob.nextCompound();
    await bob.ping();
  });

  it('rejects nonsense arguments', () => {
    expect(() => emu.faults.delayDelivery(-1)).toThrow();
    expect(() => emu.faults.stall(true, '')).toThrow();
  });
});
