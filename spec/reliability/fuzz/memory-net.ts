/**
 * An in-memory stand-in for TCP, so the client's real stack (FrameConnection, Session, MCUser,
 * p-retry) can be fuzzed at thousands of connections per second: `net.connect` to MEMORY_HOST
 * returns a MemorySocket wired to whatever `listenMemory` registered; every other host goes to
 * the real `net.connect`. Bytes travel through setImmediate, in order, like socket reads do.
 *
 * Installed with jest.unstable_mockModule('node:net', ...) in specs (see fuzz.spec.ts), or with
 * `installMemoryNet()` (syncBuiltinESMExports) in plain Node scripts.
 */
import { EventEmitter } from 'node:events';
import { createRequire, syncBuiltinESMExports } from 'node:module';

export const MEMORY_HOST = 'fuzz.memory.invalid';

/** The server's end of an in-memory connection. Emits 'data' (Buffer) and 'close'. */
export class MemoryServerEnd extends EventEmitter {
  destroyed = false;

  constructor(private readonly client: MemorySocket) {
    super();
  }

  write(bytes: Uint8Array): boolean {
    if (this.destroyed) return false;
    const copy = Buffer.from(bytes);
    setImmediate(() => this.client.receive(copy));
    return true;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    setImmediate(() => {
      this.emit('close');
      this.client.peerClosed();
    });
  }

  /** Bytes from the client. */
  receive(chunk: Buffer): void {
    if (!this.destroyed) this.emit('data', chunk);
  }

  peerClosed(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
}

/** The client's end: the subset of net.Socket that FrameConnection uses, with the same event order. */
export class MemorySocket extends EventEmitter {
  destroyed = false;
  readonly writableLength = 0;
  readonly server: MemoryServerEnd;
  private paused = false;
  private readonly inbox: Buffer[] = [];
  private closeEmitted = false;

  constructor() {
    super();
    this.server = new MemoryServerEnd(this);
  }

  setNoDelay(): this {
    return this;
  }

  cork(): void {}

  uncork(): void {}

  write(bytes: Uint8Array): boolean {
    if (this.destroyed) return false;
    const copy = Buffer.from(bytes);
    setImmediate(() => this.server.receive(copy));
    return true;
  }

  pause(): this {
    this.paused = true;
    return this;
  }

  resume(): this {
    if (!this.paused) return this;
    this.paused = false;
    setImmediate(() => this.flush());
    return this;
  }

  isPaused(): boolean {
    return this.paused;
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.inbox.length = 0;
    setImmediate(() => {
      this.server.peerClosed();
      this.emitClose();
    });
    return this;
  }

  /** Bytes from the server. */
  receive(chunk: Buffer): void {
    if (this.destroyed) return;
    if (this.paused || this.inbox.length > 0) {
      this.inbox.push(chunk);
      return;
    }
    this.emit('data', chunk);
  }

  peerClosed(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.inbox.length = 0;
    this.emit('end');
    this.emitClose();
  }

  private flush(): void {
    while (!this.paused && !this.destroyed && this.inbox.length > 0) this.emit('data', this.inbox.shift()!);
  }

  private emitClose(): void {
    if (this.closeEmitted) return;
    this.closeEmitted = true;
    this.emit('close', false);
  }
}

type Listener = (server: MemoryServerEnd) => void;
let listener: Listener | null = null;

/** Accept in-memory connections with `onConnection`; null stops accepting (connects are refused). */
export function listenMemory(onConnection: Listener | null): void {
  listener = onConnection;
}

function memoryConnect(): MemorySocket {
  const socket = new MemorySocket();
  setImmediate(() => {
    if (socket.destroyed) return;
    const accept = listener;
    if (!accept) {
      const err = Object.assign(new Error(`connect ECONNREFUSED ${MEMORY_HOST}`), { code: 'ECONNREFUSED' });
      socket.destroyed = true;
      socket.emit('error', err);
      socket.emit('close', true);
      return;
    }
    accept(socket.server);
    socket.emit('connect');
  });
  return socket;
}

type Connect = (...args: unknown[]) => unknown;

/** Wraps a `net.connect`: MEMORY_HOST goes to memory, anything else to `real`. */
export function memoryAwareConnect(real: Connect): Connect {
  return function connect(this: unknown, ...args: unknown[]): unknown {
    const first = args[0] as { host?: unknown } | undefined;
    if (first && typeof first === 'object' && first.host === MEMORY_HOST) return memoryConnect();
    return real.apply(this, args);
  };
}

/** For plain Node (no jest): re-points the `connect` export of node:net, live bindings included. */
export function installMemoryNet(): () => void {
  const net = createRequire(import.meta.url)('node:net') as { connect: Connect };
  const real = net.connect;
  net.connect = memoryAwareConnect(real);
  syncBuiltinESMExports();
  return () => {
    net.connect = real;
    syncBuiltinESMExports();
  };
}
