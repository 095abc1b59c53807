import { connect as netConnect, type Socket } from 'node:net';
import { MIMCError, ErrorCode } from '../errors.js';
import { FrameDecoder } from '../protocol/frame.js';

export interface FrameConnectionOptions {
  host: string;
  port: number;
  /** Give up connecting after this long. */
  connectTimeoutMs: number;
  /** Largest accepted frame body. */
  maxFrameBody: number;
}

/** What the connection hands to its owner; called synchronously from the read loop. */
export interface FrameSink {
  /** One complete, checksum-verified frame body (still body-encrypted). */
  onFrame(body: Uint8Array): void;
  /** The connection is gone; `error` is undefined for a close we asked for. Called once. */
  onClose(error: MIMCError | undefined): void;
}

interface QueuedWrite {
  frame: Uint8Array;
  /** Asked just before writing: a frame whose purpose has expired (e.g. its send timed out) is skipped. */
  stillWanted?: () => boolean;
}

/**
 * One TCP connection carrying MIMC frames. The read side decodes chunks as they arrive and
 * hands complete frame bodies to the sink; the write side is a single async loop draining a
 * queue, waiting for 'drain' whenever the socket reports backpressure. Reading never pauses:
 * acks, pongs and liveness must flow even while the app is slow (the user layer bounds what
 * it buffers instead). A corrupt or oversized frame closes the connection with the decoder's
 * MIMCError, after the frames verified before it; it never throws out of here.
 */
export class FrameConnection {
  private readonly decoder: FrameDecoder;
  private readonly queue: QueuedWrite[] = [];
  private wakeWriter: (() => void) | null = null;
  private closedError: MIMCError | undefined;
  private isClosed = false;
  /** Monotonic time (ms) of the last byte received. */
  lastReceivedAt = 0;
  /** Monotonic time (ms) of the last frame handed to the socket. */
  lastWrittenAt = 0;

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
    void this.writeLoop();
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
    let queued = 0;
    for (const w of this.queue) queued += w.frame.length;
    return this.socket.writableLength + queued;
  }

  /** Queues a frame for the write loop. Returns false if the connection is already closed. */
  send(frame: Uint8Array, stillWanted?: () => boolean): boolean {
    if (this.isClosed) return false;
    this.queue.push(stillWanted ? { frame, stillWanted } : { frame });
    this.wakeWriter?.();
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
    this.queue.length = 0;
    this.socket.off('data', this.handleData);
    // keep the 'error' listener: a late socket error must never become an uncaught exception
    this.socket.off('close', this.handleClose);
    this.wakeWriter?.();
    this.sink.onClose(this.closedError);
  }

  /** The single writer: drains the queue, corking bursts, and waits for 'drain' on backpressure. */
  private async writeLoop(): Promise<void> {
    while (!this.isClosed) {
      if (this.queue.length === 0) {
        await new Promise<void>((resolve) => (this.wakeWriter = resolve));
        this.wakeWriter = null;
        continue;
      }
      let needDrain = false;
      this.socket.cork();
      while (this.queue.length > 0 && !needDrain) {
        const next = this.queue.shift()!;
        if (next.stillWanted && !next.stillWanted()) continue;
        needDrain = !this.socket.write(next.frame);
        this.lastWrittenAt = performance.now();
      }
      this.socket.uncork();
      if (needDrain && !this.isClosed) await this.waitForDrain();
    }
  }

  private waitForDrain(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }
}
