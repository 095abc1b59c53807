/**
 * The frontend WebSocket listener (the `wss://wsapp.chat.xiaomi.net` of MIMC): an HTTP or HTTPS
 * server that upgrades any path to a WebSocket and hands each to a Connection, sharing the core
 * (accounts, sessions, stores) with the TCP frontend.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { CHECKSUM_LENGTH } from '../protocol/constants.js';
import { WS_HEAD_LENGTH } from '../protocol/ws-frame.js';
import { Connection } from './connection.js';
import type { EmulatorCore } from './core.js';
import { WebSocketLink } from './link.js';
import { listenOn } from './listen.js';

export interface WebSocketTls {
  key: string | Buffer;
  cert: string | Buffer;
}

export class WebSocketFrontend {
  private server: Server | null = null;
  private readonly wss: WebSocketServer;
  /** Every open WebSocket, including refused ones still closing. */
  private readonly sockets = new Set<WebSocket>();
  /** The bound port; fixed after the first listen so restarts reuse it. */
  port: number;

  constructor(
    private readonly core: EmulatorCore,
    private readonly host: string,
    port: number,
    private readonly tls: WebSocketTls | undefined,
  ) {
    this.port = port;
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      // frames are protobuf and RC4 ciphertext: compression gains nothing and invites zip bombs
      perMessageDeflate: false,
      maxPayload: core.options.maxFrameBody + WS_HEAD_LENGTH + CHECKSUM_LENGTH,
    });
  }

  get secure(): boolean {
    return this.tls !== undefined;
  }

  async listen(): Promise<void> {
    const server = this.tls ? createHttpsServer({ key: this.tls.key, cert: this.tls.cert }) : createHttpServer();
    server.on('request', (_req, res) => {
      res.writeHead(426, { upgrade: 'websocket', connection: 'close', 'content-type': 'text/plain' }).end('MIMC frontend: WebSocket only\n');
    });
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.upgrade(req, socket, head));
    server.on('clientError', (_err, socket: Socket) => socket.destroy());
    server.on('tlsClientError', () => undefined); // a peer that distrusts our certificate
    server.on('error', (err) => this.core.log.error({ err: err.message }, 'WebSocket frontend listener error'));
    this.port = await listenOn(server, this.host, this.port, 4096);
    this.server = server;
    this.core.log.info({ host: this.host, port: this.port, tls: this.secure }, 'WebSocket frontend listening');
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (this.server === null) {
      socket.destroy(); // closing or restarting
      return;
    }
    socket.setNoDelay(true);
    // handleUpgrade answers a bad handshake (no key, wrong version, …) with 400 itself
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      this.sockets.add(ws);
      ws.on('close', () => this.sockets.delete(ws));
      const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
      const conn = new Connection(this.core, new WebSocketLink(ws, remote), this.core.nextConnectionId());
      this.core.connectionOpened(conn);
    });
  }

  /** Stops accepting, destroys every connection and waits for the listener to close. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.core.destroyAll('frontend closing');
    for (const ws of this.sockets) ws.terminate();
    this.sockets.clear();
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
    this.core.log.info('WebSocket frontend closed');
  }
}
