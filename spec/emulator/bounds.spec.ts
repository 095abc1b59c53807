/**
 * Bounded emulator state (issue 17, item 2): what a hostile peer or a careless operator can make
 * the emulator hold is capped by an option, and what is refused or dropped is counted.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { pino } from 'pino';
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { CallbackDispatcher } from '../../lib/emulator/callbacks.js';
import { newEmulatorStats } from '../../lib/emulator/core.js';
import { HEAD_LENGTH, MAGIC, VERSION } from '../../lib/protocol/index.js';
import { RawClient, loginRaw } from '../helpers/raw-client.js';

/** A frame head announcing `bodyLength` bytes, followed by `extra` bytes of the body. */
function headAnnouncing(bodyLength: number, extra: number): Buffer {
  const bytes = Buffer.alloc(HEAD_LENGTH + extra, 0x61);
  bytes.writeUInt16BE(MAGIC, 0);
  bytes.writeUInt16BE(VERSION, 2);
  bytes.writeUInt32BE(bodyLength, 4);
  return bytes;
}

async function adminGet(emu: Emulator, path: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${emu.adminUrl}${path}`);
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('frames before BIND', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ maxPreBindFrameBody: 4096 });
  });
  afterAll(async () => {
    await emu.close();
  });

  it('a head announcing 1 MiB before login closes the connection at once and is counted', async () => {
    const before = emu.stats.rejectedFrames;
    const client = await RawClient.connect(emu.frontend.port);
    client.send(headAnnouncing(1024 * 1024, 8));
    // No BIND timeout involved: the head alone is refused.
    await client.waitClosed(5000);
    expect(emu.stats.rejectedFrames).toBe(before + 1);
    expect(emu.stats.preBindFramesRefused).toBeGreaterThanOrEqual(1);
  });

  it('after BIND the full maxFrameBody applies again', async () => {
    const alice = await loginRaw(emu, 'prebind-alice', 'r');
    const bob = await loginRaw(emu, 'prebind-bob', 'r');
    try {
      const ack = await alice.nextAck(alice.sendP2P('prebind-bob', Buffer.alloc(8000, 1)));
      expect(ack.code ?? 0).toBe(0);
      const list = await bob.nextCompound();
      expect(list.packets.length).toBe(1);
    } finally {
      alice.close();
      bob.close();
    }
  });

  it('rejects an option below the size of a CONN or BIND frame', async () => {
    await expect(startEmulator({ maxPreBindFrameBody: 10 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });
});

describe('accounts', () => {
  it('GET /admin/accounts/<name> does not create the account', async () => {
    const emu = await startEmulator();
    try {
      const accounts = emu.stats.accounts;
      for (let i = 0; i < 50; i++) {
        const { status, json } = await adminGet(emu, `/accounts/ghost-${i}`);
        expect(status).toBe(404);
        expect(json.code).toBe(404);
      }
      expect(emu.stats.accounts).toBe(accounts);
      emu.uuidOf('known');
      const { status, json } = await adminGet(emu, '/accounts/known');
      expect(status).toBe(200);
      expect((json.data as Record<string, unknown>).uuid).toBe(emu.uuidOf('known').toString());
    } finally {
      await emu.close();
    }
  });

  it('maxAccounts caps every path that creates accounts: token service, uuidOf, P2P and REST push', async () => {
    const emu = await startEmulator({ maxAccounts: 3 });
    try {
      const alice = await loginRaw(emu, 'alice', 'r');
      emu.uuidOf('bob');
      emu.uuidOf('carol');
      expect(emu.stats.accounts).toBe(3);

      // The programmatic API: a typed error.
      expect(() => emu.uuidOf('dave')).toThrow(expect.objectContaining({ code: 'ERR_LIMIT_REACHED' }));
      await expect(emu.fetchToken('dave')).rejects.toMatchObject({ code: 'ERR_LIMIT_REACHED' });

      // The token service: refused, so no login.
      const app = emu.app;
      const res = await fetch(emu.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ appId: app.appId.toString(), appKey: app.appKey, appSecret: app.appSecret, appAccount: 'dave' }),
      });
      expect(res.status).toBe(429);
      expect(((await res.json()) as Record<string, unknown>).code).toBe(429);

      // P2P to unknown names: refused in the PACKET_ACK, nothing created.
      for (let i = 0; i < 20; i++) {
        const ack = await alice.nextAck(alice.sendP2P(`stranger-${i}`, 'hi'));
        expect(ack.code).toBe(429);
      }
      // A known recipient still works.
      expect((await alice.nextAck(alice.sendP2P('bob', 'hi'))).code ?? 0).toBe(0);

      // REST push to an unknown account.
      const push = await fetch(`${emu.restUrl}/api/push/p2p/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ appId: app.appId.toString(), appKey: app.appKey, appSecret: app.appSecret, fromAccount: 'alice', toAccount: 'erin', msg: 'x' }),
      });
      expect(push.status).toBe(429);
      expect(emu.stats.accounts).toBe(3);
      expect(emu.stats.accountsRefused).toBeGreaterThanOrEqual(24);
      alice.close();
    } finally {
      await emu.close();
    }
  });
});

describe('malformed %-encoding in a path', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator();
  });
  afterAll(async () => {
    await emu.close();
  });

  it.each(['/admin/accounts/%zz', '/admin/topics/%E0%A4%A', '/api/topic/%ff/account', '/api/contact/%'])('%s answers 400', async (path) => {
    const res = await fetch(`${emu.restUrl}${path}`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as Record<string, unknown>).code).toBe(400);
  });
});

describe('odd request targets and malformed HTTP (found by the HTTP fuzzer)', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator();
  });
  afterAll(async () => {
    await emu.close();
  });

  /** Writes raw bytes to the HTTP port; resolves with the status line of the answer ('' when none). */
  function raw(text: string): Promise<string> {
    return new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: Number(new URL(emu.restUrl).port) });
      let answer = '';
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(answer.split('\r\n')[0] ?? ''));
      socket.end(text);
    });
  }

  it("'//x/admin/stats' is routed as the path it is (404), not as host 'x' + path '/admin/stats'", async () => {
    expect(await raw('GET //x/admin/stats HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')).toBe('HTTP/1.1 404 Not Found');
    expect(await raw('GET //%C0%AF$$m HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 4\d\d /);
  });

  it('malformed HTTP gets 400 Bad Request', async () => {
    expect(await raw('GARBAGE\r\n\r\n')).toBe('HTTP/1.1 400 Bad Request');
    expect(await raw('POST /api/push/p2p/ HTTP/1.1\r\nhost: x\r\ncontent-length: nope\r\n\r\n')).toBe('HTTP/1.1 400 Bad Request');
  });
});

describe('callbacks to a receiver that never answers', () => {
  let receiver: Server;
  const sockets = new Set<Socket>();
  let url: string;
  beforeAll(async () => {
    receiver = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
      // reads the request, never answers
      socket.resume();
    });
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    const address = receiver.address() as { port: number };
    url = `http://127.0.0.1:${address.port}/cb`;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });


  it('holds at most maxInFlight requests and maxQueued waiting events; the rest are dropped and counted', async () => {
    const s = newEmulatorStats();
    const dispatcher = new CallbackDispatcher({ instant: url }, { retryDelaysMs: [10, 10], timeoutMs: 60_000, maxInFlight: 4, maxQueued: 10 }, s, pino({ level: 'silent' }));
    try {
      for (let i = 0; i < 200; i++) dispatcher.emit('instant', { msgType: 'NORMAL_MSG', n: i });
      expect(dispatcher.inFlight).toBe(4);
      expect(dispatcher.pending).toBe(14);
      expect(s.callbacksDropped).toBe(186);
      // The receiver sees exactly the in-flight requests.
      while (sockets.size < 4) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(sockets.size).toBe(4);
    } finally {
      dispatcher.close();
    }
    expect(dispatcher.inFlight).toBe(0);
  });

  it('a failed attempt waiting for its retry counts against maxQueued', async () => {
    const s = newEmulatorStats();
    // Every attempt times out after 1 ms; retries wait 60 s.
    const dispatcher = new CallbackDispatcher({ instant: url }, { retryDelaysMs: [60_000], timeoutMs: 1, maxInFlight: 2, maxQueued: 3 }, s, pino({ level: 'silent' }));
    try {
      for (let i = 0; i < 5; i++) dispatcher.emit('instant', { msgType: 'NORMAL_MSG', n: i });
      expect(dispatcher.inFlight).toBe(2);
      expect(dispatcher.pending).toBe(5);
      // All five fail; at most three wait for a retry, the rest are dropped.
      while (s.callbackFailures < 5) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(dispatcher.inFlight).toBe(0);
      expect(dispatcher.pending).toBe(3);
      expect(s.callbacksDropped).toBe(2);
    } finally {
      dispatcher.close();
    }
  });

  it('the emulator counts dropped callbacks in its stats', async () => {
    const emu = await startEmulator({ callbackUrl: url, callbackMaxInFlight: 1, callbackMaxQueued: 1, callbackTimeoutMs: 60_000 });
    try {
      const app = emu.app;
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${emu.restUrl}/api/push/p2p/`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ appId: app.appId.toString(), appKey: app.appKey, appSecret: app.appSecret, fromAccount: 'a', toAccount: 'b', msg: `m${i}` }),
        });
        expect(((await res.json()) as Record<string, unknown>).code).toBe(200);
      }
      expect(emu.pendingCallbacks).toBe(2);
      expect(emu.stats.callbacksDropped).toBe(3);
    } finally {
      await emu.close();
    }
  });
});
