/** Socket backpressure: a reader that does not keep up is held back, or cut off at the cap. */
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { RawClient, innerMessages, loginRaw } from '../helpers/raw-client.js';

/** Resolves when `condition` holds; checks on a short timer (server-side state has no event). */
async function eventually(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const big = new Uint8Array(16 * 1024).fill(0x62);

describe('backpressure', () => {
  let emu: Emulator;
  const clients: RawClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await emu.close();
  });

  it('holds deliveries for a paused reader and sends them all, in order, once it reads again', async () => {
    emu = await startEmulator({ compoundBatchSize: 5000, maxQueuedBytes: 64 * 1024 * 1024 });
    const sender = await loginRaw(emu, 'flood', 'rs');
    const reader = await loginRaw(emu, 'slow', 'rr');
    clients.push(sender, reader);
    reader.socket.pause();
    const count = 600;
    for (let i = 0; i < count; i++) {
      const id = sender.sendP2P('slow', big);
      if (i % 50 === 49) await sender.nextAck(id);
    }
    await sender.ping();
    expect(emu.stats.connections).toBe(2);
    reader.socket.resume();
    let got = 0;
    let last = 0n;
    while (got < count) {
      const list = await reader.nextCompound();
      for (const m of innerMessages(list)) {
        expect(m.sequence > last).toBe(true);
        last = m.sequence;
      }
      got += list.packets.length;
      reader.ackList(list);
    }
    expect(got).toBe(count);
  }, 30_000);

  it('closes a connection whose unread bytes exceed maxQueuedBytes, and only that one', async () => {
    emu = await startEmulator({ compoundBatchSize: 5000, maxQueuedBytes: 1024 });
    const sender = await loginRaw(emu, 'flood', 'rs');
    const reader = await loginRaw(emu, 'slow', 'rr');
    clients.push(sender, reader);
    reader.socket.pause();
    for (let i = 0; i < 1000 && emu.onlineResources('slow').length > 0; i++) {
      const id = sender.sendP2P('slow', big, { isStore: false });
      if (i % 20 === 19) await sender.nextAck(id);
    }
    await eventually(() => emu.onlineResources('slow').length === 0, 'the slow reader is cut off');
    await sender.ping();
    expect(emu.onlineResources('flood')).toEqual(['rs']);
  }, 30_000);
});
