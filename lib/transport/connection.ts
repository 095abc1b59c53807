import { connect as netConnect, type Socket } from 'node:net';
import { MIMCError, ErrorCode } from '../errors.js';
import { FrameDecoder } from '../protocol/frame.js';
import type { FrameSink, FrameTransport, OpenOptions } from './types.js';
import { WriteQueue, type WriteTarget } from './write-queue.js';

export type { FrameSink } from './types.js';

export interface FrameConnectionOptions extends OpenOptions {
  host: string;
  port: number;
}

/**
 * One TCP connection carrying MIMC frames. The read side decodes chunks as they arrive and
 * hands complete frame bodies to the sink; the write side is a single async loop draining a
 * queue, waiting for 'drain' whenever the socket reports backpressure. Reading never pauses:
 * acks, pongs and liveness must flow even while the app is slow (the user layer bounds what
 * it buffers instead). A corrupt or oversized frame closes the connection with the decoder's
 * MIMCError, after the frames verified before it; it never throws out of here.
 */
export class FrameConnection implements FrameTransport {
  private readonly decoder: FrameDecoder;
  private readonly writes: WriteQueue;
  private closedError: MIMCError | undefined;
  private isClosed = false;
  /** Monotonic time (ms) of the last byte received. */
  lastReceivedAt = 0;

  private constructor(
    private readonly socket: Socket,
    private readonly sink: FrameSink,
    maxFrameBody: number,
  ) {
    this.decoder = new FrameDecoder({ maxBodyLength: maxFrameBody });
    socket.setNoDelay(true);
    socket.on('data', this.handleData);
    socket.on('error', this.handleError);
    socket.on('close', this.handleClose);
    this.lastReceivedAt = performance.now();
    this.writes = new WriteQueue(new SocketTarget(socket));
  }

  /** Opens a TCP connection; rejects with CONNECTION_LOST if it cannot be established in time. */
  static open(options: FrameConnectionOptions, sink: FrameSink, signal?: AbortSignal): Promise<FrameConnection> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host: options.host, port: options.port });
      const fail = (err: unknown) => {
        cleanup();
        socket.destroy();
        reject(
          MIMCError.is(err)
            ? err
            : new MIMCError(ErrorCode.CONNECTION_LOST, `cannot connect to ${options.host}:${options.port}`, { cause: err }),
        );
      };
      const onTimeout = () => fail(new MIMCError(ErrorCode.CONNECTION_LOST, `connect to ${options.host}:${options.port} timed out`));
      const onAbort = () => fail(new MIMCError(ErrorCode.ABORTED, 'connect aborted', { cause: signal?.reason }));
      const timer = setTimeout(onTimeout, options.connectTimeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        socket.off('connect', onConnect);
        socket.off('error', fail);
        signal?.removeEventListener('abort', onAbort);
      };
      const onConnect = () => {
        cleanup();
        resolve(new FrameConnection(socket, sink, options.maxFrameBody));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', onConnect);
      socket.once('error', fail);
    });
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Bytes handed to the socket but not yet flushed to the kernel, plus queued frames. */
  get bufferedAmount(): number {
    return this.socket.writableLength + this.writes.pendingBytes;
  }

  /** Queues a frame for the write loop. Returns false if the connection is already closed. */
  send(frame: Uint8Array, stillWanted?: () => boolean): boolean {
    if (this.isClosed) return false;
    this.writes.push(frame, stillWanted);
    return true;
  }

  /** Closes the connection; `error` says why (undefined = deliberate). Idempotent. */
  close(error?: MIMCError): void {
    if (this.isClosed) return;
    this.closedError = error;
    this.socket.destroy();
    // 'close' follows asynchronously; mark now so no further frame is accepted or dispatched.
    this.finish();
  }

  private readonly handleData = (chunk: Buffer): void => {
    if (this.isClosed) return;
    this.lastReceivedAt = performance.now();
    // verified frames first (an ack before a corrupt frame still settles its send), then the close
    const { frames, error } = this.decoder.decode(chunk);
    this.dispatch(frames);
    if (error) this.close(error);
  };

  private dispatch(bodies: Uint8Array[]): void {
    for (const body of bodies) {
      if (this.isClosed) return;
      this.sink.onFrame(body);
    }
  }

  private readonly handleError = (err: Error): void => {
    if (this.closedError === undefined && !this.isClosed) {
      this.closedError = new MIMCError(ErrorCode.CONNECTION_LOST, `connection error: ${err.message}`, { cause: err });
    }
  };

  private readonly handleClose = (): void => {
    if (!this.isClosed) {
      this.closedError ??= new MIMCError(ErrorCode.CONNECTION_LOST, 'connection closed by peer');
    }
    this.finish();
  };

  private finish(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.writes.stop();
    this.socket.off('data', this.handleData);
    // keep the 'error' listener: a late socket error must never become an uncaught exception
    this.socket.off('close', this.handleClose);
    this.sink.onClose(this.closedError);
  }
}

/** A socket as the write loop sees it (prototype methods: no closure per connection). */
class SocketTarget implements WriteTarget {
  constructor(private readonly socket: Socket) {}

  write(frame: Uint8Array): boolean {
    return this.socket.write(frame);
  }

  drained(): Promise<void> {
    const socket = this.socket;
    return new Promise((resolve) => {
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
  }

  beginBurst(): void {
    this.socket.cork();
  }

  endBurst(): void {
    this.socket.uncork();
  }
}
