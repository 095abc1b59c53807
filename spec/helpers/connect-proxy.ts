/**
 * A tiny HTTP CONNECT proxy on 127.0.0.1 with an OS-chosen port, for tests of clients that reach
 * their server through a proxy (e.g. `agent: new HttpsProxyAgent(proxy.url)`). It only tunnels to
 * loopback targets, so a test can never leave the machine through it.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';

export interface ConnectProxyOptions {
  /**
   * Answer 407 to a CONNECT without `Proxy-Authorization: Basic base64(user:password)`. Put the
   * credentials in the proxy URL (`http://user:password@127.0.0.1:port`) to pass.
   */
  requireAuth?: { user: string; password: string };
}

export interface ConnectProxy {
  /** `http://127.0.0.1:<port>`, without credentials. */
  readonly url: string;
  readonly port: number;
  /** Tunnels established (CONNECT answered 200 and the target reached). */
  readonly tunnels: number;
  /** `host:port` of every CONNECT request, answered or refused, in arrival order. */
  readonly requests: readonly string[];
  /** CONNECT requests refused with 407. */
  readonly refused: number;
  /** Destroys every open socket (client and target side) and stops listening. */
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export async function startConnectProxy(options: ConnectProxyOptions = {}): Promise<ConnectProxy> {
  const sockets = new Set<Duplex>();
  const requests: string[] = [];
  let tunnels = 0;
  let refused = 0;
  const expectedAuth = options.requireAuth
    ? `Basic ${Buffer.from(`${options.requireAuth.user}:${options.requireAuth.password}`).toString('base64')}`
    : undefined;

  const track = (socket: Duplex): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // a peer resetting its side is normal here; the other side is torn down with it
    socket.on('error', () => socket.destroy());
  };

  const server: Server = createServer((_req, res) => {
    // only CONNECT is proxied
    res.writeHead(405, { connection: 'close' }).end();
  });
  server.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) => {
    const target = req.url ?? '';
    requests.push(target);
    if (expectedAuth !== undefined && req.headers['proxy-authorization'] !== expectedAuth) {
      refused++;
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const colon = target.lastIndexOf(':');
    const host = target.slice(0, colon);
    const port = Number(target.slice(colon + 1));
    if (colon < 0 || !LOOPBACK.has(host) || !Number.isInteger(port) || port <= 0 || port > 65535) {
      client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const upstream: Socket = connect({ host: host.replace(/^\[|\]$/g, ''), port });
    track(upstream);
    let open = false;
    upstream.once('connect', () => {
      open = true;
      tunnels++;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.once('close', () => {
      if (open) client.destroy(); // either side going away ends the tunnel
      else if (!client.destroyed) client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
    });
    client.once('close', () => upstream.destroy());
  });
  // every client socket, whether it ends up tunnelled or not
  server.on('connection', track);

  server.listen({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get tunnels() {
      return tunnels;
    },
    get requests() {
      return requests;
    },
    get refused() {
      return refused;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
