/** Many concurrent connections, and a clean shutdown that leaves no handles behind. */
import { connect } from 'node:net';
import { jest } from '@jest/globals';
import { startEmulator } from '../../lib/emulator/index.js';
import { RawClient, loginRaw } from '../helpers/raw-client.js';

describe('scale and lifecycle', () => {
  it('binds 1,000 concurrent raw connections, then sees them all go', async () => {
    const emu = await startEmulator();
    const clients: RawClient[] = [];
    try {
      const count = 1000;
      // 1,000 handshakes at once take seconds on a loaded 2-core machine: wait for answers generously
      const patient = { timeoutMs: 25_000 };
      const logins = Array.from({ length: count }, (_, i) => loginRaw(emu, `user_${i % 250}`, `res_${i}`, patient));
      clients.push(...(await Promise.all(logins)));
      expect(emu.stats.bound).toBe(count);
      expect(emu.stats.connections).toBe(count);
      expect(emu.onlineResources('user_7')).toHaveLength(4);
      // Every connection is live: one round trip each.
      await Promise.all(clients.map((c) => c.ping(25_000)));
      for (const c of clients) c.close();
      await Promise.all(clients.map((c) => c.closed));
      // The server side notices every close.
      await new Promise<void>((resolve, reject) => {
        const deadline = Date.now() + 25_000;
        const check = (): void => {
          if (emu.stats.connections === 0) resolve();
          else if (Date.now() > deadline) reject(new Error(`${emu.stats.connections} connections still open`));
          else setTimeout(check, 5);
        };
        check();
      });
      expect(emu.stats.bound).toBe(0);
    } finally {
      for (const c of clients) c.close();
      await emu.close();
    }
  }, 90_000);

  it('close() is idempotent, releases the ports and ends open connections', async () => {
    const emu = await startEmulator();
    const { port } = emu.frontend;
    const httpPort = Number(new URL(emu.tokenUrl).port);
    const c = await loginRaw(emu, 'leaver', 'r');
    // An HTTP keep-alive connection must not hold close() up.
    await (await fetch(`${emu.resolverUrl}?list=x&`)).text();
    const first = emu.close();
    const second = emu.close();
    await Promise.all([first, second]);
    await c.waitClosed();
    await expect(emu.restartFrontend()).rejects.toThrow();
    for (const p of [port, httpPort]) {
      await expect(
        new Promise((resolve, reject) => {
          const s = connect({ host: '127.0.0.1', port: p });
          s.once('connect', () => {
            s.destroy();
            resolve('connected');
          });
          s.once('error', reject);
        }),
      ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    }
  });

  it('close() also ends connections still in a graceful close (peer ignoring FIN after KICK)', async () => {
    const emu = await startEmulator();
    const c = await loginRaw(emu, 'stubborn', 'r', { allowHalfOpen: true });
    // Without the fix close() waited for the 2 s grace timer of the half-closed socket. With
    // setTimeout faked before the KICK that timer never fires: close() resolving proves it does not wait.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'queueMicrotask', 'hrtime', 'performance', 'Date'] });
    try {
      emu.faults.kick('stubborn');
      await c.nextKick();
      expect(emu.stats.connections).toBe(1);
      await emu.close();
    } finally {
      jest.useRealTimers();
    }
    expect(emu.stats.connections).toBe(0);
    c.close();
  });

  it('a second emulator can take a fixed port after the first closed', async () => {
    const first = await startEmulator();
    const { port } = first.frontend;
    await first.close();
    const second = await startEmulator({ port });
    try {
      expect(second.frontend.port).toBe(port);
      await (await loginRaw(second, 'again', 'r')).ping();
    } finally {
      await second.close();
    }
  });
});
