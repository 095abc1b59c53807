/**
 * The emulator's WebSocket frontend at the byte level: the WebJS framing (CONN answer, pong,
 * downstream SECMSG under the payload key), and strictness — a text message, an oversized or
 * corrupt frame closes that one connection with the matching close code and is counted.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HttpsProxyAgent } from 'https-proxy-agent';
import WebSocket from 'ws';
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { ErrorCode } from '../../lib/errors.js';
import { Cmd, WS_HEAD_LENGTH, clientHeader, decodeConnResp, decodeWsFrame, encodeConn, encodeWsFrame } from '../../lib/protocol/index.js';
import { MCUser } from '../../lib/user/mcuser.js';
import { startConnectProxy } from '../helpers/connect-proxy.js';
import { until } from '../helpers/users.js';

const tlsDir = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));

let emu: Emulator;
const sockets: WebSocket[] = [];

beforeEach(async () => {
  emu = await startEmulator({ maxFrameBody: 8192, maxPreBindFrameBody: 1024 });
});

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await emu.close();
});

async function open(url = emu.websocketUrl!): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  sockets.push(ws);
  await once(ws, 'open');
  return ws;
}

/** Resolves with the next binary message, decoded. */
async function nextFrame(ws: WebSocket): Promise<ReturnType<typeof decodeWsFrame>> {
  const [data] = (await once(ws, 'message')) as [Buffer];
  return decodeWsFrame(new Uint8Array(data));
}

async function closeCode(ws: WebSocket): Promise<number> {
  const [code] = (await once(ws, 'close')) as [number];
  return code;
}

const connFrame = (uuid = 1n): Uint8Array =>
  encodeWsFrame(clientHeader(Cmd.CONN, uuid, 'res', 'c1'), encodeConn({ version: 106, os: 'test', udid: 'websocket', sdk: 31 }));

describe('emulator WebSocket frontend', () => {
  it('answers CONN with a plain challenge and a PING with a header-only PING of the same id', async () => {
    const ws = await open();
    ws.send(connFrame());
    const conn = await nextFrame(ws);
    expect(conn.header.cmd).toBe(Cmd.CONN);
    expect(decodeConnResp(conn.payload).challenge.length).toBeGreaterThanOrEqual(16);
    ws.send(encodeWsFrame(clientHeader(Cmd.PING, 1n, 'res', 'p7'), new Uint8Array(0)));
    const pong = await nextFrame(ws);
    expect(pong.header).toMatchObject({ cmd: Cmd.PING, id: 'p7' });
    expect(pong.payload.length).toBe(0);
  });

  it('closes a connection that sends a text message with 1003 and counts it', async () => {
    const ws = await open();
    const before = emu.stats.rejectedFrames;
    ws.send('{"cmd":"CONN"}');
    expect(await closeCode(ws)).toBe(1003);
    expect(emu.stats.rejectedFrames).toBe(before + 1);
  });

  it('closes with 1002 on a corrupt frame, after handling the verified one before it', async () => {
    const ws = await open();
    const answered = nextFrame(ws);
    ws.send(connFrame());
    const bad = Uint8Array.from(connFrame());
    bad[WS_HEAD_LENGTH + 3] ^= 0xff; // checksum no longer matches
    ws.send(bad);
    expect((await answered).header.cmd).toBe(Cmd.CONN);
    expect(await closeCode(ws)).toBe(1002);
  });

  it('refuses a message over the pre-bind limit with 1009, and one over maxPayload too', async () => {
    const small = await open();
    small.send(encodeWsFrame(clientHeader(Cmd.CONN, 1n, 'res', 'c1'), new Uint8Array(2000)));
    expect(await closeCode(small)).toBe(1009);
    expect(emu.stats.preBindFramesRefused).toBe(1);
    const huge = await open();
    huge.send(new Uint8Array(8192 + 1000));
    expect(await closeCode(huge)).toBe(1009);
  });

  it('answers a plain HTTP request with 426 Upgrade Required', async () => {
    const res = await fetch(emu.websocketUrl!.replace('ws:', 'http:'));
    expect(res.status).toBe(426);
    await res.text();
  });

  it('keeps serving the other connections while one is refused', async () => {
    const bad = await open();
    const good = await open();
    bad.send('text');
    expect(await closeCode(bad)).toBe(1003);
    good.send(connFrame());
    expect((await nextFrame(good)).header.cmd).toBe(Cmd.CONN);
  });

  it('can be turned off', async () => {
    const off = await startEmulator({ websocket: false });
    try {
      expect(off.websocketUrl).toBeUndefined();
    } finally {
      await off.close();
    }
  });

  it('drops WebSocket connections on restartFrontend and accepts new ones on the same URL', async () => {
    const ws = await open();
    const url = emu.websocketUrl;
    const closed = closeCode(ws);
    await emu.restartFrontend();
    expect(await closed).toBe(1006); // terminated, as a crash would
    expect(emu.websocketUrl).toBe(url);
    const again = await open();
    again.send(connFrame());
    expect((await nextFrame(again)).header.cmd).toBe(Cmd.CONN);
  });
});

describe('emulator wss:// frontend (self-signed test certificate)', () => {
  const cert = readFileSync(`${tlsDir}localhost-cert.pem`);
  const key = readFileSync(`${tlsDir}localhost-key.pem`);

  it('serves wss:// and an MCUser trusting the test CA logs in and messages a TCP user', async () => {
    const secure = await startEmulator({ websocket: { tls: { key, cert } } });
    const users: MCUser[] = [];
    try {
      expect(secure.websocketUrl).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/$/);
      const received: string[] = [];
      const mk = (account: string, ws: boolean): MCUser => {
        const user = new MCUser({
          appId: secure.app.appId,
          appAccount: account,
          tokenDelegate: { fetchToken: () => secure.fetchToken(account) },
          ...(ws ? { transport: 'websocket' as const, websocket: { url: secure.websocketUrl!, ca: cert } } : { frontendAddress: secure.frontendAddress() }),
          messageDelegate: { handleMessage: (messages) => void received.push(...messages.map((m) => `${account}<-${m.fromAccount}`)) },
        });
        users.push(user);
        return user;
      };
      const overWss = mk('wss_user', true);
      const overTcp = mk('tcp_user', false);
      await Promise.all([overWss.login(), overTcp.login()]);
      expect(secure.onlineSessions('wss_user')[0]!.transport).toBe('websocket');
      await overWss.sendMessageAndWait('tcp_user', new Uint8Array([1]));
      await overTcp.sendMessageAndWait('wss_user', new Uint8Array([2]));
      await until(() => received.length === 2);
      expect(received.sort()).toEqual(['tcp_user<-wss_user', 'wss_user<-tcp_user']);
    } finally {
      for (const user of users) user.destroy();
      await secure.close();
    }
  });

  it('an MCUser reaches wss:// through an HTTP CONNECT proxy (with proxy credentials), and is refused a 407 without them', async () => {
    const secure = await startEmulator({ websocket: { tls: { key, cert } } });
    const proxy = await startConnectProxy({ requireAuth: { user: 'ops', password: 'proxy-pass' } });
    const users: MCUser[] = [];
    const viaProxy = (account: string, proxyUrl: string, maxAttempts?: number): MCUser => {
      const user = new MCUser({
        appId: secure.app.appId,
        appAccount: account,
        tokenDelegate: { fetchToken: () => secure.fetchToken(account) },
        transport: 'websocket',
        websocket: { url: secure.websocketUrl!, ca: cert, agent: new HttpsProxyAgent(proxyUrl) },
        ...(maxAttempts ? { reconnect: { maxAttempts } } : {}),
      });
      users.push(user);
      return user;
    };
    try {
      const withAuth = proxy.url.replace('http://', 'http://ops:proxy-pass@');
      const sender = viaProxy('proxied_a', withAuth);
      const receiver = viaProxy('proxied_b', withAuth);
      let delivered = 0;
      receiver.on('message', () => void delivered++);
      await Promise.all([sender.login(), receiver.login()]);
      expect(proxy.tunnels).toBe(2);
      expect(proxy.requests.every((target) => target === `127.0.0.1:${new URL(secure.websocketUrl!).port}`)).toBe(true);
      await sender.sendMessageAndWait('proxied_b', new Uint8Array([7]));
      await until(() => delivered === 1);
      const refused = viaProxy('proxied_c', proxy.url, 1);
      await expect(refused.login()).rejects.toMatchObject({ code: ErrorCode.RETRIES_EXHAUSTED, cause: { code: ErrorCode.CONNECTION_LOST } });
      expect(proxy.refused).toBe(1);
    } finally {
      for (const user of users) user.destroy();
      await proxy.close();
      await secure.close();
    }
  });

  it('an MCUser without the test CA is refused (certificate verification is on)', async () => {
    const secure = await startEmulator({ websocket: { tls: { key, cert } } });
    const user = new MCUser({
      appId: secure.app.appId,
      appAccount: 'untrusting',
      tokenDelegate: { fetchToken: () => secure.fetchToken('untrusting') },
      transport: 'websocket',
      websocket: { url: secure.websocketUrl! },
      reconnect: { maxAttempts: 1 },
    });
    try {
      await expect(user.login()).rejects.toMatchObject({ name: 'MIMCError' });
      expect(secure.stats.connectionsTotal).toBe(0);
    } finally {
      user.destroy();
      await secure.close();
    }
  });
});
