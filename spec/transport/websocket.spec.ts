/**
 * The client WebSocket transport against small hand-made `ws` servers on 127.0.0.1 (not the
 * emulator): framing (one binary message per frame), the typed closes and their close codes,
 * connect failures that leave nothing behind, wss:// with a test CA, an HTTP CONNECT proxy, and
 * the write loop under a burst of large frames.
 */
import { jest } from '@jest/globals';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { HttpsProxyAgent } from 'https-proxy-agent';
import WebSocket, { WebSocketServer, type ServerOptions } from 'ws';
import { ErrorCode, MIMCError } from '../../lib/errors.js';
import type { FrameSink, OpenOptions, WebSocketEndpoint } from '../../lib/transport/types.js';
import { WebSocketConnection } from '../../lib/transport/websocket.js';
import { startConnectProxy, type ConnectProxy, type ConnectProxyOptions } from '../helpers/connect-proxy.js';
import { activeHandles, waitFor } from '../helpers/invariants.js';
import { until } from '../helpers/users.js';
import { mimcRejection } from '../rest/helpers.js';

const tlsDir = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));
const cert = readFileSync(`${tlsDir}localhost-cert.pem`, 'utf8');
const key = readFileSync(`${tlsDir}localhost-key.pem`, 'utf8');

const OPTIONS: OpenOptions = { connectTimeoutMs: 5000, maxFrameBody: 1024 * 1024 };
/** What a frame adds to its body: the 14-byte WebSocket head and the 4-byte checksum. */
const FRAME_OVERHEAD = 18;

// ---- cleanup --------------------------------------------------------------------------------------

const cleanups: Array<() => unknown> = [];

afterEach(async () => {
  jest.useRealTimers();
  // last opened first: connections before the servers they talk to
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// ---- the sink ---------------------------------------------------------------------------------------

class RecordingSink implements FrameSink {
  readonly frames: Buffer[] = [];
  readonly closes: Array<MIMCError | undefined> = [];
  /** 'frame' and 'close' in the order the connection called them. */
  readonly events: Array<'frame' | 'close'> = [];
  readonly closed: Promise<MIMCError | undefined>;
  /** Called after a frame is recorded, as the codec above would (it may close the connection). */
  afterFrame: ((unit: Uint8Array) => void) | undefined;
  private resolveClosed!: (error: MIMCError | undefined) => void;

  constructor() {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  onFrame(unit: Uint8Array): void {
    this.frames.push(Buffer.from(unit));
    this.events.push('frame');
    this.afterFrame?.(unit);
  }

  onClose(error: MIMCError | undefined): void {
    this.closes.push(error);
    this.events.push('close');
    this.resolveClosed(error);
  }
}

// ---- servers ------------------------------------------------------------------------------------------

interface Peer {
  ws: WebSocket;
  /** The upgrade request (headers the client sent). */
  request: IncomingMessage;
  /** The raw socket under the WebSocket, to write bytes no well-behaved server would. */
  socket: Duplex;
  messages: Array<{ data: Buffer; isBinary: boolean }>;
  /** Close code and reason as this server saw them (1006: the client sent no close frame). */
  closed: Promise<{ code: number; reason: string }>;
}

interface TestWsServer {
  url: string;
  port: number;
  peers: Peer[];
  nextPeer(): Promise<Peer>;
}

/** Tracks a server's sockets so that cleanup can destroy them all, then closes it. */
function closeable(server: HttpServer | NetServer): () => Promise<void> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
}

async function listen(server: HttpServer | NetServer): Promise<number> {
  server.listen({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function startWsServer(options: { tls?: boolean; ws?: Omit<ServerOptions, 'server' | 'port' | 'noServer'> } = {}): Promise<TestWsServer> {
  const server = options.tls ? createHttpsServer({ key, cert }) : createHttpServer();
  const close = closeable(server);
  const wss = new WebSocketServer({ ...options.ws, server });
  const peers: Peer[] = [];
  wss.on('connection', (ws, request) => {
    const messages: Peer['messages'] = [];
    ws.on('message', (data: Buffer, isBinary) => messages.push({ data, isBinary }));
    ws.on('error', () => undefined); // the client misbehaving on purpose is part of several tests
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })),
    );
    peers.push({ ws, request, socket: request.socket, messages, closed });
  });
  const port = await listen(server);
  cleanups.push(async () => {
    for (const client of wss.clients) client.terminate();
    await new Promise((resolve) => wss.close(resolve));
    await close();
  });
  let taken = 0;
  return {
    url: `${options.tls ? 'wss' : 'ws'}://127.0.0.1:${port}/`,
    port,
    peers,
    async nextPeer() {
      while (peers.length <= taken) await once(wss, 'connection');
      return peers[taken++]!;
    },
  };
}

/** A server that accepts TCP connections and never answers anything. */
async function startSilentServer(): Promise<{ port: number; connections: () => number; connected: () => Promise<void> }> {
  const server = createNetServer();
  const close = closeable(server);
  let count = 0;
  server.on('connection', (socket: Socket) => {
    count++;
    // read (and drop) the upgrade request, so that the client hanging up ends this side too
    socket.resume();
  });
  const port = await listen(server);
  cleanups.push(close);
  return {
    port,
    connections: () => count,
    connected: async () => {
      if (count === 0) await once(server, 'connection');
    },
  };
}

/** An HTTP server answering every upgrade request with `response` (raw HTTP). */
async function startUpgradeRefuser(response: string): Promise<{ url: string; upgrades: () => number }> {
  const server = createHttpServer();
  const close = closeable(server);
  let upgrades = 0;
  server.on('upgrade', (_req, socket: Duplex) => {
    upgrades++;
    socket.on('error', () => undefined);
    socket.end(response);
  });
  const port = await listen(server);
  cleanups.push(close);
  return { url: `ws://127.0.0.1:${port}/`, upgrades: () => upgrades };
}

async function startProxy(options?: ConnectProxyOptions): Promise<ConnectProxy> {
  const proxy = await startConnectProxy(options);
  cleanups.push(() => proxy.close());
  return proxy;
}

function proxyAgent(url: string): HttpsProxyAgent<string> {
  const agent = new HttpsProxyAgent(url);
  cleanups.push(() => agent.destroy());
  return agent;
}

// ---- the client -----------------------------------------------------------------------------------

/**
 * The ws client inside a connection. Cleanup waits until its socket has closed, which is when
 * the close-grace timer and ws's own close timer are cleared.
 */
const socketOf = (conn: WebSocketConnection): WebSocket => (conn as unknown as { ws: WebSocket }).ws;

async function open(endpoint: WebSocketEndpoint | string, options: Partial<OpenOptions> = {}, signal?: AbortSignal) {
  const sink = new RecordingSink();
  const conn = await WebSocketConnection.open(typeof endpoint === 'string' ? { url: endpoint } : endpoint, { ...OPTIONS, ...options }, sink, signal);
  cleanups.push(async () => {
    conn.close();
    await until(() => socketOf(conn).readyState === WebSocket.CLOSED, 5000, 'the client socket to close');
  });
  return { conn, sink };
}

/** A frame-sized unit whose bytes say which one it is. */
function unit(index: number, length: number): Buffer {
  const bytes = Buffer.alloc(length, index % 251);
  bytes.writeUInt32BE(index, 0);
  return bytes;
}

/** Resolves once the connection is fully gone (onClose called and the socket closed). */
async function settled(conn: WebSocketConnection, sink: RecordingSink): Promise<void> {
  await sink.closed;
  await until(() => socketOf(conn).readyState === WebSocket.CLOSED, 5000, 'the client socket to close');
}

/** Waits until the sockets and timers alive before a failed connect are all that is left. */
async function expectNoHandlesLeftSince(before: { sockets: number; timers: number }): Promise<void> {
  const clean = await waitFor(() => {
    const now = activeHandles();
    return now.sockets <= before.sockets && now.timers <= before.timers;
  }, 2000);
  if (!clean) throw new Error(`handles left behind: ${activeHandles().all.join(', ')} (before: ${JSON.stringify(before)})`);
}

// ---- framing ------------------------------------------------------------------------------------

describe('framing', () => {
  test('frames sent in order arrive at the server as one binary message each, in order', async () => {
    const server = await startWsServer();
    const { conn } = await open(server.url);
    const peer = await server.nextPeer();
    const sent = Array.from({ length: 50 }, (_, i) => unit(i, FRAME_OVERHEAD + ((i * 997) % 5000)));
    for (const frame of sent) expect(conn.send(frame)).toBe(true);
    await until(() => peer.messages.length >= sent.length, 5000, 'all frames at the server');
    await until(() => conn.bufferedAmount === 0, 5000, 'the write queue to empty');
    expect(peer.messages).toHaveLength(sent.length);
    expect(peer.messages.every((m) => m.isBinary)).toBe(true);
    expect(peer.messages.map((m) => m.data)).toEqual(sent);
  });

  test('server binary messages reach onFrame in order, each a whole message', async () => {
    const server = await startWsServer();
    const { sink } = await open(server.url);
    const peer = await server.nextPeer();
    const small = Array.from({ length: 100 }, (_, i) => unit(i, FRAME_OVERHEAD + (i % 7)));
    // many messages in one TCP segment, one spanning many segments, one in two WebSocket fragments
    for (const message of small) peer.ws.send(message, { binary: true });
    const large = unit(100, 300 * 1024);
    peer.ws.send(large, { binary: true });
    const fragmented = unit(101, 4000);
    peer.ws.send(fragmented.subarray(0, 1000), { binary: true, fin: false });
    peer.ws.send(fragmented.subarray(1000), { binary: true, fin: true });
    await until(() => sink.frames.length >= 102, 5000, 'all messages at the client');
    expect(sink.frames).toEqual([...small, large, fragmented]);
    expect(sink.closes).toEqual([]);
  });

  test('a frame whose stillWanted() says no when its turn comes is not sent', async () => {
    const server = await startWsServer();
    const { conn } = await open(server.url);
    const peer = await server.nextPeer();
    conn.send(unit(1, 40));
    conn.send(unit(2, 40), () => false);
    conn.send(unit(3, 40), () => true);
    await until(() => peer.messages.length >= 2, 5000, 'two frames at the server');
    // a later frame arriving proves the skipped one is not merely late
    expect(peer.messages.map((m) => m.data.readUInt32BE(0))).toEqual([1, 3]);
  });
});

// ---- the handshake ------------------------------------------------------------------------------------

describe('handshake', () => {
  test('extra headers are sent on the upgrade request', async () => {
    const server = await startWsServer();
    await open({ url: server.url, headers: { 'x-mimc-test': 'yes' } });
    const peer = await server.nextPeer();
    expect(peer.request.headers['x-mimc-test']).toBe('yes');
  });

  test('permessage-deflate is not offered, even to a server that supports it', async () => {
    const server = await startWsServer({ ws: { perMessageDeflate: true } });
    const { conn } = await open(server.url);
    const peer = await server.nextPeer();
    expect(peer.request.headers['sec-websocket-extensions']).toBeUndefined();
    expect(peer.ws.extensions).toBe('');
    // and frames still flow uncompressed
    conn.send(unit(7, 1000));
    await until(() => peer.messages.length === 1, 5000, 'the frame at the server');
    expect(peer.messages[0]!.data).toEqual(unit(7, 1000));
  });
});

// ---- what the server does wrong -------------------------------------------------------------------

describe('protocol violations', () => {
  test('a text message closes with MALFORMED_FRAME once and close code 1003, after the frames before it', async () => {
    const server = await startWsServer();
    const { conn, sink } = await open(server.url);
    const peer = await server.nextPeer();
    peer.ws.send(unit(1, 30), { binary: true });
    peer.ws.send(unit(2, 30), { binary: true });
    peer.ws.send('not a frame');
    peer.ws.send(unit(3, 30), { binary: true });
    const error = await sink.closed;
    expect(error).toBeInstanceOf(MIMCError);
    expect(error?.code).toBe(ErrorCode.MALFORMED_FRAME);
    await expect(peer.closed).resolves.toMatchObject({ code: 1003 });
    await settled(conn, sink);
    expect(sink.frames).toEqual([unit(1, 30), unit(2, 30)]);
    expect(sink.events).toEqual(['frame', 'frame', 'close']);
    expect(conn.closed).toBe(true);
    expect(conn.send(unit(4, 30))).toBe(false);
  });

  test('a message of maxFrameBody + 18 bytes is delivered; one byte more closes with FRAME_TOO_LARGE and 1009', async () => {
    const server = await startWsServer();
    const maxFrameBody = 1000;
    const { conn, sink } = await open(server.url, { maxFrameBody });
    const peer = await server.nextPeer();
    const largest = unit(1, maxFrameBody + FRAME_OVERHEAD);
    peer.ws.send(largest, { binary: true });
    peer.ws.send(unit(2, maxFrameBody + FRAME_OVERHEAD + 1), { binary: true });
    const error = await sink.closed;
    expect(error?.code).toBe(ErrorCode.FRAME_TOO_LARGE);
    await expect(peer.closed).resolves.toMatchObject({ code: 1009 });
    await settled(conn, sink);
    expect(sink.frames).toEqual([largest]);
    expect(sink.closes).toHaveLength(1);
  });

  test('an oversized message split into fragments is refused too', async () => {
    const server = await startWsServer();
    const { conn, sink } = await open(server.url, { maxFrameBody: 1000 });
    const peer = await server.nextPeer();
    // each fragment is small; the message they add up to is not
    for (let i = 0; i < 3; i++) peer.ws.send(Buffer.alloc(400), { binary: true, fin: false });
    peer.ws.send(Buffer.alloc(400), { binary: true, fin: true });
    expect((await sink.closed)?.code).toBe(ErrorCode.FRAME_TOO_LARGE);
    await expect(peer.closed).resolves.toMatchObject({ code: 1009 });
    await settled(conn, sink);
    expect(sink.frames).toEqual([]);
  });

  test('a sink closing the connection from inside onFrame hears no further frame, and the server sees its close code', async () => {
    const server = await startWsServer();
    const { conn, sink } = await open(server.url);
    const peer = await server.nextPeer();
    const bad = new MIMCError(ErrorCode.BAD_CHECKSUM, 'frame checksum mismatch');
    sink.afterFrame = (frame) => {
      if (Buffer.from(frame).readUInt32BE(0) === 2) conn.close(bad);
    };
    // sent together, so that they arrive in one read and the close lands between two messages
    for (let i = 1; i <= 4; i++) peer.ws.send(unit(i, 30), { binary: true });
    expect(await sink.closed).toBe(bad);
    await expect(peer.closed).resolves.toEqual({ code: 1002, reason: ErrorCode.BAD_CHECKSUM });
    await settled(conn, sink);
    expect(sink.frames.map((f) => f.readUInt32BE(0))).toEqual([1, 2]);
    expect(sink.events).toEqual(['frame', 'frame', 'close']);
  });

  test('an invalid WebSocket frame closes with a typed error and close code 1002', async () => {
    const server = await startWsServer();
    const { conn, sink } = await open(server.url);
    const peer = await server.nextPeer();
    peer.ws.send(unit(1, 30), { binary: true });
    // FIN + reserved opcode 0x3, empty payload: no WebSocket implementation may send this
    peer.socket.write(Buffer.from([0x83, 0x00]));
    const error = await sink.closed;
    expect(MIMCError.is(error)).toBe(true);
    expect(error).toMatchObject({ code: ErrorCode.MALFORMED_FRAME, details: { wsCode: 'WS_ERR_INVALID_OPCODE' } });
    await expect(peer.closed).resolves.toMatchObject({ code: 1002 });
    await settled(conn, sink);
    expect(sink.events).toEqual(['frame', 'close']);
  });
});

// ---- the server going away --------------------------------------------------------------------------

describe('server closes', () => {
  test('a close frame with code 4000 gives CONNECTION_LOST with the code and reason, after earlier frames', async () => {
    const server = await startWsServer();
    const { conn, sink } = await open(server.url);
    const peer = await server.nextPeer();
    peer.ws.send(unit(1, 30), { binary: true });
    peer.ws.close(4000, 'go away');
    const error = await sink.closed;
    expect(error?.code).toBe(ErrorCode.CONNECTION_LOST);
    expect(error?.details).toEqual({ closeCode: 4000, closeReason: 'go away' });
    await settled(conn, sink);
    expect(sink.events).toEqual(['frame', 'close']);
    expect(conn.send(unit(2, 30))).toBe(false);
  });

  test('a socket torn down without a close frame gives CONNECTION_LOST (1006)', async () => {
    const server = await startWsServer();
    const { conn, sink } = await open(server.url);
    const peer = await server.nextPeer();
    peer.ws.terminate();
    const error = await sink.closed;
    expect(error?.code).toBe(ErrorCode.CONNECTION_LOST);
    expect(error?.details).toMatchObject({ closeCode: 1006 });
    await settled(conn, sink);
    expect(sink.closes).toHaveLength(1);
  });
});

// ---- closing deliberately ----------------------------------------------------------------------

describe('close()', () => {
  test('close() reports onClose(undefined) once, the server sees 1000, later sends are refused', async () => {
    const server = await startWsServer();
    const { conn, sink } = await open(server.url);
    const peer = await server.nextPeer();
    conn.close();
    expect(conn.closed).toBe(true);
    expect(sink.closes).toEqual([undefined]);
    expect(conn.send(unit(1, 30))).toBe(false);
    conn.close();
    conn.close(new MIMCError(ErrorCode.MALFORMED_FRAME, 'too late'));
    await expect(peer.closed).resolves.toEqual({ code: 1000, reason: '' });
    await settled(conn, sink);
    expect(sink.closes).toEqual([undefined]);
    expect(peer.messages).toEqual([]);
  });

  test.each([
    [ErrorCode.MALFORMED_FRAME, 1002],
    [ErrorCode.BAD_MAGIC, 1002],
    [ErrorCode.BAD_VERSION, 1002],
    [ErrorCode.BAD_CHECKSUM, 1002],
    [ErrorCode.FRAME_TOO_LARGE, 1009],
  ])('close(%s) sends close code %d with the error code as reason', async (code, closeCode) => {
    const server = await startWsServer();
    const { conn, sink } = await open(server.url);
    const peer = await server.nextPeer();
    const error = new MIMCError(code, 'the codec above found a bad frame');
    conn.close(error);
    expect(sink.closes).toEqual([error]);
    await expect(peer.closed).resolves.toEqual({ code: closeCode, reason: code });
    await settled(conn, sink);
    expect(sink.closes).toHaveLength(1);
  });

  test.each([ErrorCode.CONNECTION_LOST, ErrorCode.KICKED])('close(%s) drops the socket without a closing handshake', async (code) => {
    const server = await startWsServer();
    const { conn, sink } = await open(server.url);
    const peer = await server.nextPeer();
    const error = new MIMCError(code, 'peer stopped answering');
    conn.close(error);
    expect(sink.closes).toEqual([error]);
    // 1006: the connection ended without any close frame
    await expect(peer.closed).resolves.toMatchObject({ code: 1006 });
    await settled(conn, sink);
  });
});

// ---- connect failures ------------------------------------------------------------------------------

describe('connect failures', () => {
  test('nothing listening: CONNECTION_LOST, nothing left open', async () => {
    const probe = createNetServer();
    const port = await listen(probe);
    await new Promise((resolve) => probe.close(resolve));
    const before = activeHandles();
    const sink = new RecordingSink();
    const error = await mimcRejection(WebSocketConnection.open({ url: `ws://127.0.0.1:${port}/` }, OPTIONS, sink));
    expect(error.code).toBe(ErrorCode.CONNECTION_LOST);
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expect(sink.events).toEqual([]);
    await expectNoHandlesLeftSince(before);
  });

  test('a server that never answers the upgrade: CONNECTION_LOST after connectTimeoutMs, not before', async () => {
    const server = await startSilentServer();
    const before = activeHandles();
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    let settledWith: unknown = 'pending';
    const opening = mimcRejection(WebSocketConnection.open({ url: `ws://127.0.0.1:${server.port}/` }, { ...OPTIONS, connectTimeoutMs: 10_000 }, new RecordingSink()));
    void opening.then((e) => (settledWith = e));
    await server.connected();
    await jest.advanceTimersByTimeAsync(9_999);
    expect(settledWith).toBe('pending');
    await jest.advanceTimersByTimeAsync(1);
    const error = await opening;
    expect(error.code).toBe(ErrorCode.CONNECTION_LOST);
    expect(error.message).toMatch(/timed out/);
    jest.useRealTimers();
    await expectNoHandlesLeftSince(before);
  });

  test('a server that never answers the upgrade, real short timeout: CONNECTION_LOST, nothing left open', async () => {
    const server = await startSilentServer();
    const before = activeHandles();
    const error = await mimcRejection(WebSocketConnection.open({ url: `ws://127.0.0.1:${server.port}/` }, { ...OPTIONS, connectTimeoutMs: 50 }, new RecordingSink()));
    expect(error.code).toBe(ErrorCode.CONNECTION_LOST);
    expect(server.connections()).toBe(1);
    await expectNoHandlesLeftSince(before);
  });

  test('an HTTP 403 answer to the upgrade: CONNECTION_LOST naming the status, nothing left open', async () => {
    const server = await startUpgradeRefuser('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    const before = activeHandles();
    const error = await mimcRejection(WebSocketConnection.open({ url: server.url }, OPTIONS, new RecordingSink()));
    expect(error.code).toBe(ErrorCode.CONNECTION_LOST);
    expect(error.message).toMatch(/403/);
    expect(server.upgrades()).toBe(1);
    await expectNoHandlesLeftSince(before);
  });

  test('a redirect is not followed', async () => {
    const target = await startWsServer();
    const server = await startUpgradeRefuser(`HTTP/1.1 302 Found\r\nLocation: ${target.url}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    const error = await mimcRejection(WebSocketConnection.open({ url: server.url }, OPTIONS, new RecordingSink()));
    expect(error.code).toBe(ErrorCode.CONNECTION_LOST);
    expect(error.message).toMatch(/302/);
    // the rejection comes after the 302 was handled: a followed redirect would have connected by then
    expect(target.peers).toHaveLength(0);
  });

  test('a signal aborted before the call: ABORTED with its reason, no socket even created', async () => {
    const server = await startSilentServer();
    const reason = new Error('user gave up');
    const before = activeHandles();
    const error = await mimcRejection(WebSocketConnection.open({ url: `ws://127.0.0.1:${server.port}/` }, OPTIONS, new RecordingSink(), AbortSignal.abort(reason)));
    expect(error.code).toBe(ErrorCode.ABORTED);
    expect(error.cause).toBe(reason);
    // a connect attempt would have created its TCP handle synchronously
    expect(activeHandles().sockets).toBe(before.sockets);
  });

  test('a signal aborted during the connect: ABORTED with its reason, nothing left open', async () => {
    const server = await startSilentServer();
    const reason = new Error('user gave up');
    const controller = new AbortController();
    const before = activeHandles();
    const opening = mimcRejection(WebSocketConnection.open({ url: `ws://127.0.0.1:${server.port}/` }, OPTIONS, new RecordingSink(), controller.signal));
    await server.connected();
    controller.abort(reason);
    const error = await opening;
    expect(error.code).toBe(ErrorCode.ABORTED);
    expect(error.cause).toBe(reason);
    await expectNoHandlesLeftSince(before);
  });

  test('a signal aborted after the connection opened changes nothing', async () => {
    const server = await startWsServer();
    const controller = new AbortController();
    const { conn, sink } = await open(server.url, {}, controller.signal);
    const peer = await server.nextPeer();
    controller.abort();
    conn.send(unit(1, 30));
    peer.ws.send(unit(2, 30), { binary: true });
    await until(() => peer.messages.length === 1 && sink.frames.length === 1, 5000, 'a frame each way');
    expect(conn.closed).toBe(false);
    expect(sink.closes).toEqual([]);
  });

  test.each(['ftp://127.0.0.1/', 'not a url', 'ws://127.0.0.1:1/#fragment'])('a bad URL %j: INVALID_ARGUMENT, no socket created', async (url) => {
    const before = activeHandles();
    const error = await mimcRejection(WebSocketConnection.open({ url }, OPTIONS, new RecordingSink()));
    expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(activeHandles().sockets).toBe(before.sockets);
  });

  test('a header value with a line break: INVALID_ARGUMENT saying why, no socket created', async () => {
    const before = activeHandles();
    const error = await mimcRejection(WebSocketConnection.open({ url: 'ws://127.0.0.1:1/', headers: { 'x-token': 'a\r\nb' } }, OPTIONS, new RecordingSink()));
    expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(error.message).toMatch(/^cannot open a WebSocket to ws:\/\/127\.0\.0\.1:1\/: /);
    expect(activeHandles().sockets).toBe(before.sockets);
  });
});

// ---- TLS ----------------------------------------------------------------------------------------------

describe('wss://', () => {
  test('a self-signed certificate not given as ca is refused (verification is on)', async () => {
    const server = await startWsServer({ tls: true });
    const before = activeHandles();
    const error = await mimcRejection(WebSocketConnection.open({ url: server.url }, OPTIONS, new RecordingSink()));
    expect(error.code).toBe(ErrorCode.CONNECTION_LOST);
    expect((error.cause as NodeJS.ErrnoException).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(server.peers).toHaveLength(0);
    await expectNoHandlesLeftSince(before);
  });

  test('with the certificate as ca, frames flow both ways', async () => {
    const server = await startWsServer({ tls: true });
    const { conn, sink } = await open({ url: server.url, ca: cert });
    const peer = await server.nextPeer();
    conn.send(unit(1, 500));
    peer.ws.send(unit(2, 500), { binary: true });
    await until(() => peer.messages.length === 1 && sink.frames.length === 1, 5000, 'a frame each way');
    expect(peer.messages[0]!.data).toEqual(unit(1, 500));
    expect(sink.frames).toEqual([unit(2, 500)]);
  });
});

// ---- proxies ------------------------------------------------------------------------------------------

describe('through an HTTP CONNECT proxy (agent)', () => {
  test('wss:// with the test CA: frames flow through one tunnel to the server', async () => {
    const server = await startWsServer({ tls: true });
    const proxy = await startProxy();
    const { conn, sink } = await open({ url: server.url, ca: cert, agent: proxyAgent(proxy.url) });
    const peer = await server.nextPeer();
    conn.send(unit(1, 2000));
    peer.ws.send(unit(2, 2000), { binary: true });
    await until(() => peer.messages.length === 1 && sink.frames.length === 1, 5000, 'a frame each way');
    expect(peer.messages[0]!.data).toEqual(unit(1, 2000));
    expect(sink.frames).toEqual([unit(2, 2000)]);
    expect(proxy.tunnels).toBe(1);
    expect(proxy.requests).toEqual([`127.0.0.1:${server.port}`]);
  });

  test('wss:// without the CA: still refused, verification holds through the tunnel', async () => {
    const server = await startWsServer({ tls: true });
    const proxy = await startProxy();
    const error = await mimcRejection(WebSocketConnection.open({ url: server.url, agent: proxyAgent(proxy.url) }, OPTIONS, new RecordingSink()));
    expect(error.code).toBe(ErrorCode.CONNECTION_LOST);
    expect((error.cause as NodeJS.ErrnoException).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(proxy.tunnels).toBe(1);
    expect(server.peers).toHaveLength(0);
  });

  test('ws:// goes through the tunnel as well', async () => {
    const server = await startWsServer();
    const proxy = await startProxy();
    const { conn } = await open({ url: server.url, agent: proxyAgent(proxy.url) });
    const peer = await server.nextPeer();
    conn.send(unit(1, 100));
    await until(() => peer.messages.length === 1, 5000, 'the frame at the server');
    expect(proxy.tunnels).toBe(1);
    expect(proxy.requests).toEqual([`127.0.0.1:${server.port}`]);
  });

  test('a proxy answering 407: CONNECTION_LOST naming the status, no tunnel, nothing left open', async () => {
    const server = await startWsServer({ tls: true });
    const proxy = await startProxy({ requireAuth: { user: 'u', password: 'p' } });
    const agent = proxyAgent(proxy.url);
    const before = activeHandles();
    const error = await mimcRejection(WebSocketConnection.open({ url: server.url, ca: cert, agent }, OPTIONS, new RecordingSink()));
    expect(error.code).toBe(ErrorCode.CONNECTION_LOST);
    expect(error.message).toMatch(/407/);
    expect(proxy.refused).toBe(1);
    expect(proxy.tunnels).toBe(0);
    await expectNoHandlesLeftSince(before);
  });

  test('credentials in the proxy URL pass its check', async () => {
    const server = await startWsServer({ tls: true });
    const proxy = await startProxy({ requireAuth: { user: 'u', password: 'p' } });
    const { conn } = await open({ url: server.url, ca: cert, agent: proxyAgent(`http://u:p@127.0.0.1:${proxy.port}`) });
    const peer = await server.nextPeer();
    conn.send(unit(1, 100));
    await until(() => peer.messages.length === 1, 5000, 'the frame at the server');
    expect(proxy.refused).toBe(0);
    expect(proxy.tunnels).toBe(1);
  });
});

// ---- the write loop -----------------------------------------------------------------------------------

describe('backpressure', () => {
  test('200 frames of 64 KiB sent at once all arrive in order; bufferedAmount counts them, then returns to 0', async () => {
    const server = await startWsServer();
    const { conn, sink } = await open(server.url);
    const peer = await server.nextPeer();
    const count = 200;
    const size = 64 * 1024;
    for (let i = 0; i < count; i++) expect(conn.send(unit(i, size))).toBe(true);
    // nothing written yet (the write loop runs after this turn): every queued byte is counted
    expect(conn.bufferedAmount).toBe(count * size);
    await until(() => peer.messages.length >= count, 20_000, 'all frames at the server');
    expect(peer.messages).toHaveLength(count);
    peer.messages.forEach((m, i) => {
      expect(m.isBinary).toBe(true);
      expect(m.data.equals(unit(i, size))).toBe(true);
    });
    await until(() => conn.bufferedAmount === 0, 5000, 'bufferedAmount back to 0');
    expect(sink.closes).toEqual([]);
  });
});
