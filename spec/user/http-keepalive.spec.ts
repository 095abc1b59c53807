/**
 * The SDK's own HTTP calls (token service, resolver, uctopic) share one keep-alive agent per
 * scheme: users logging in one after another fetch their tokens over one reused connection, a
 * crowd of them opens at most HTTP_MAX_SOCKETS, a connection the server dropped while idle is
 * replaced once, and idle pooled connections never keep the process alive.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { once } from 'node:events';
import { ErrorCode, MIMCError } from '../../lib/errors.js';
import { MCUser } from '../../lib/user/mcuser.js';
import { HttpTokenFetcher } from '../../lib/user/token.js';
import { resolveFrontends } from '../../lib/user/resolver.js';
import { HTTP_MAX_SOCKETS } from '../../lib/user/http-client.js';
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { mimcRejection as rejection } from '../rest/helpers.js';
import { until } from '../helpers/users.js';

interface CountingServer {
  url: string;
  /** TCP connections accepted so far. */
  connections(): number;
  /** Requests seen so far. */
  requests(): number;
  /** Connections still open. */
  open(): number;
  close(): Promise<void>;
}

/**
 * An HTTP server on 127.0.0.1 that counts connections and requests. Its own sockets are unref'd,
 * so that only the client's sockets show in process.getActiveResourcesInfo().
 */
async function countingServer(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<CountingServer> {
  let connections = 0;
  let requests = 0;
  let open = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  server.on('connection', (socket: Socket) => {
    connections++;
    open++;
    socket.once('close', () => open--);
    socket.unref();
  });
  server.listen({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/account/token`,
    connections: () => connections,
    requests: () => requests,
    open: () => open,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const tcpSockets = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;

let server: CountingServer | undefined;
let emulator: Emulator | undefined;
const users: MCUser[] = [];

afterEach(async () => {
  for (const user of users.splice(0)) user.destroy();
  await server?.close();
  server = undefined;
  await emulator?.close();
  emulator = undefined;
});

describe('the token fetcher reuses connections', () => {
  it('users logging in one after another fetch their tokens over one connection, which then keeps nothing alive', async () => {
    const emu = (emulator = await startEmulator());
    // the token service: the emulator's answer for the account in the request body
    server = await countingServer((_req, res, body) => {
      const { appAccount } = JSON.parse(body) as { appAccount: string };
      void emu.fetchToken(appAccount).then((json) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
        res.end(json);
      });
    });
    const before = tcpSockets();
    for (const account of ['alice', 'bob', 'carol', 'dave']) {
      const user = new MCUser({
        appId: emu.app.appId,
        appAccount: account,
        frontendAddress: emu.frontendAddress(),
        tokenDelegate: new HttpTokenFetcher({ appId: emu.app.appId, appKey: emu.app.appKey, appSecret: emu.app.appSecret, appAccount: account, url: server.url }),
      });
      users.push(user);
      await user.login();
    }
    expect(server.requests()).toBe(4);
    expect(server.connections()).toBe(1);
    for (const user of users.splice(0)) user.destroy();
    // the pooled connection is still open, but unref'd: no TCP handle keeps the process alive
    await until(() => tcpSockets() <= before, 5000, 'client sockets released');
    expect(server.open()).toBe(1);
  });

  it(`a crowd of fetches opens at most HTTP_MAX_SOCKETS (${HTTP_MAX_SOCKETS}) connections`, async () => {
    const held: ServerResponse[] = [];
    const crowd = HTTP_MAX_SOCKETS * 2 + 10;
    // answers nothing until every allowed connection carries a request, then everything
    server = await countingServer((_req, res) => {
      held.push(res);
      if (held.length === HTTP_MAX_SOCKETS) setImmediate(() => held.forEach((r) => r.end('{}')));
      else if (held.length > HTTP_MAX_SOCKETS) res.end('{}');
    });
    const url = server.url;
    const fetches = Array.from({ length: crowd }, (_, i) =>
      new HttpTokenFetcher({ appId: '1', appKey: 'k', appSecret: 's', appAccount: `u${i}`, url }).fetchToken(),
    );
    await expect(Promise.all(fetches)).resolves.toHaveLength(crowd);
    expect(server.requests()).toBe(crowd);
    expect(server.connections()).toBe(HTTP_MAX_SOCKETS);
  });

  it('a pooled connection the server dropped is replaced once; a fresh one that fails is an error', async () => {
    const served = new WeakSet<Socket>();
    let dropReused = true;
    server = await countingServer((req, res) => {
      if (served.has(req.socket) && dropReused) return void req.socket.destroy();
      if (!dropReused) return void req.socket.destroy();
      served.add(req.socket);
      res.end('{"code":200}');
    });
    const fetcher = new HttpTokenFetcher({ appId: '1', appKey: 'k', appSecret: 's', appAccount: 'alice', url: server.url });
    await expect(fetcher.fetchToken()).resolves.toBe('{"code":200}');
    // the idle connection is dropped when reused: the request goes again over a new one
    await expect(fetcher.fetchToken()).resolves.toBe('{"code":200}');
    expect(server.requests()).toBe(3);
    expect(server.connections()).toBe(2);
    dropReused = false;
    const err = await rejection(fetcher.fetchToken());
    expect(err.code).toBe(ErrorCode.TOKEN_FETCH_FAILED);
    expect((err.cause as MIMCError).code).toBe(ErrorCode.HTTP_ERROR);
  });
});

describe('deadline and abort', () => {
  it('a token service that never answers: ERR_TOKEN_FETCH_FAILED caused by ERR_HTTP_TIMEOUT', async () => {
    server = await countingServer(() => {});
    const fetcher = new HttpTokenFetcher({ appId: '1', appKey: 'k', appSecret: 's', appAccount: 'alice', url: server.url, timeoutMs: 50 });
    const err = await rejection(fetcher.fetchToken());
    expect(err.code).toBe(ErrorCode.TOKEN_FETCH_FAILED);
    expect((err.cause as MIMCError).code).toBe(ErrorCode.HTTP_TIMEOUT);
  });

  it('an HTTP error status: ERR_TOKEN_FETCH_FAILED with the status', async () => {
    server = await countingServer((_req, res) => {
      res.writeHead(503);
      res.end('busy');
    });
    const fetcher = new HttpTokenFetcher({ appId: '1', appKey: 'k', appSecret: 's', appAccount: 'alice', url: server.url });
    const err = await rejection(fetcher.fetchToken());
    expect(err.code).toBe(ErrorCode.TOKEN_FETCH_FAILED);
    expect(err.details).toMatchObject({ status: 503 });
  });

  it('resolver: an abort while waiting is ERR_RESOLVER_FAILED caused by ERR_ABORTED, an aborted signal sends nothing', async () => {
    server = await countingServer(() => {});
    const controller = new AbortController();
    const pending = rejection(resolveFrontends(server.url, 'app.chat.xiaomi.net', 10_000, controller.signal));
    await until(() => server!.requests() === 1, 5000, 'request arrived');
    controller.abort();
    const err = await pending;
    expect(err.code).toBe(ErrorCode.RESOLVER_FAILED);
    expect((err.cause as MIMCError).code).toBe(ErrorCode.ABORTED);
    const again = await rejection(resolveFrontends(server.url, 'app.chat.xiaomi.net', 10_000, controller.signal));
    expect((again.cause as MIMCError).code).toBe(ErrorCode.ABORTED);
    expect(server.requests()).toBe(1);
  });

  it('a URL that is not http(s): ERR_TOKEN_FETCH_FAILED caused by ERR_HTTP', async () => {
    const fetcher = new HttpTokenFetcher({ appId: '1', appKey: 'k', appSecret: 's', appAccount: 'alice', url: 'ftp://127.0.0.1/token' });
    const err = await rejection(fetcher.fetchToken());
    expect((err.cause as MIMCError).code).toBe(ErrorCode.HTTP_ERROR);
  });
});
