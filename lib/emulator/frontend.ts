/** The frontend TCP listener: accepts sockets and hands each to a Connection. */
import { createServer, type Server, type Socket } from 'node:net';
import { Connection } from './connection.js';
import type { EmulatorCore } from './core.js';
import { TcpLink } from './link.js';
import { listenOn } from './listen.js';

export class Frontend {
  private server: Server | null = null;
  /** The bound port; fixed after the first listen so restarts reuse it. */
  port: number;

  constructor(
    private readonly core: EmulatorCore,
    private readonly host: string,
    port: number,
  ) {
    this.port = port;
  }

  async listen(): Promise<void> {
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    server.on('error', (err) => this.core.log.error({ err: err.message }, 'frontend listener error'));
    this.port = await listenOn(server, this.host, this.port, 4096);
    this.server = server;
    this.core.log.info({ host: this.host, port: this.port }, 'frontend listening');
  }

  private accept(socket: Socket): void {
    const conn = new Connection(this.core, new TcpLink(socket), this.core.nextConnectionId());
    this.core.connectionOpened(conn);
  }

  /** Stops accepting, destroys every connection and waits for the listener to close. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.core.destroyAll('frontend closing');
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    this.core.log.info('frontend closed');
  }
}
