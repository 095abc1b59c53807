import WebSocket from 'ws';
import { MIMCError, ErrorCode } from '../errors.js';
import { CHECKSUM_LENGTH } from '../protocol/constants.js';
import { WS_HEAD_LENGTH, wsCloseCodeFor } from '../protocol/ws-frame.js';
import type { FrameSink, FrameTransport, OpenOptions, WebSocketEndpoint } from './types.js';
import { WriteQueue } from './write-queue.js';

/** Bytes buffered in ws/the socket above which the write loop waits for them to flush. */
const HIGH_WATER_BYTES = 256 * 1024;
/** After sending a close frame, how long the peer has to answer before the socket is destroyed. */
const CLOSE_GRACE_MS = 1000;

/** The URL for messages and logs: scheme, host and path; never credentials or a query (which may carry a token). */
function describeUrl(url: string): string {
  try {
    const { protocol, host, pathname } = new URL(url);
    return `${protocol}//${host}${pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}

/** The WebSocket close code that tells the peer why we close (RFC 6455 §7.4.1). */
function closeCodeFor(error: MIMCError | undefined): number | null {
  if (!error) return 1000;
  // a peer that stopped answering (or a kick) gets no closing handshake to wait for
  return wsCloseCodeFor(error.code) ?? null;
}

/**
 * One WebSocket connection carrying MIMC frames, one binary message per frame. Same contract as
 * the TCP FrameConnection: reading never pauses, one write loop with backpressure, the sink
 * hears every message received before an error and then exactly one close. A text message, an
 * oversized message or a protocol error closes the connection with a typed MIMCError and the
 * matching close code (1003, 1009, 1002); never a throw out of here.
 */
export class WebSocketConnection implements FrameTransport {
  private readonly writes: WriteQueue;
  private closedError: MIMCError | undefined;
  private isClosed = false;
  private unflushed = 0;
  private flushed: (() => void) | null = null;
  private graceTimer: NodeJS.Timeout | null = null;
  lastReceivedAt = 0;

  private constructor(
    private readonly ws: WebSocket,
    private readonly sink: FrameSink,
  ) {
    this.lastReceivedAt = performance.now();
    ws.on('message', this.handleMessage);
    ws.on('error', this.handleError);
    ws.on('close', this.handleClose);
    this.writes = new WriteQueue({
      write: (frame) => {
        this.unflushed++;
        ws.send(frame, { binary: true }, this.afterSend);
        return ws.bufferedAmount < HIGH_WATER_BYTES;
      },
      drained: () => this.waitForFlush(),
    });
  }

  /** Opens the WebSocket (TCP, TLS, HTTP upgrade); rejects with CONNECTION_LOST if it cannot in time. */
  static open(endpoint: WebSocketEndpoint, options: OpenOptions, sink: FrameSink, signal?: AbortSignal): Promise<WebSocketConnection> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(new MIMCError(ErrorCode.ABORTED, 'connect aborted', { cause: signal.reason }));
        return;
      }
      let ws: WebSocket;
      try {
        ws = new WebSocket(endpoint.url, {
          handshakeTimeout: options.connectTimeoutMs,
          // a frame is the 14-byte head, the body and the 4-byte checksum
          maxPayload: options.maxFrameBody + WS_HEAD_LENGTH + CHECKSUM_LENGTH,
          // frames are protobuf and RC4 ciphertext: nothing to gain, and no zip bombs
          perMessageDeflate: false,
          followRedirects: false,
          ...(endpoint.agent ? { agent: endpoint.agent } : {}),
          ...(endpoint.ca ? { ca: endpoint.ca } : {}),
          ...(endpoint.headers ? { headers: endpoint.headers } : {}),
        });
      } catch (err) {
        // ws refuses a bad URL or header before any I/O
        reject(new MIMCError(ErrorCode.INVALID_ARGUMENT, `cannot open a WebSocket to ${describeUrl(endpoint.url)}: ${(err as Error).message}`, { cause: err }));
        return;
      }
      const fail = (err: MIMCError) => {
        cleanup();
        ws.on('error', () => undefined); // a late error of the abandoned socket must not go uncaught
        ws.terminate();
        reject(err);
      };
      const where = describeUrl(endpoint.url);
      const onError = (err: Error) => fail(new MIMCError(ErrorCode.CONNECTION_LOST, `cannot connect to ${where}: ${err.message}`, { cause: err }));
      const onTimeout = () => fail(new MIMCError(ErrorCode.CONNECTION_LOST, `WebSocket connect to ${where} timed out`));
      const onAbort = () => fail(new MIMCError(ErrorCode.ABORTED, 'connect aborted', { cause: signal?.reason }));
      const timer = setTimeout(onTimeout, options.connectTimeoutMs);
      const onOpen = () => {
        cleanup();
        resolve(new WebSocketConnection(ws, sink));
      };
      const cleanup = () => {
        clearTimeout(timer);
        ws.off('open', onOpen);
        ws.off('error', onError);
        signal?.removeEventListener('abort', onAbort);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      ws.once('open', onOpen);
      ws.once('error', onError);
    });
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount + this.writes.pendingBytes;
  }

  send(frame: Uint8Array, stillWanted?: () => boolean): boolean {
    if (this.isClosed) return false;
    this.writes.push(frame, stillWanted);
    return true;
  }

  close(error?: MIMCError): void {
    this.closeWith(error, closeCodeFor(error));
  }

  /** `code` null: no closing handshake, the socket is destroyed at once. */
  private closeWith(error: MIMCError | undefined, code: number | null): void {
    if (this.isClosed) return;
    this.closedError = error;
    if (code === null || this.ws.readyState !== WebSocket.OPEN) {
      this.ws.terminate();
    } else {
      this.ws.close(code, error ? error.code : undefined);
      this.graceTimer = setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS);
    }
    this.finish();
  }

  private readonly handleMessage = (data: WebSocket.RawData, isBinary: boolean): void => {
    if (this.isClosed) return;
    this.lastReceivedAt = performance.now();
    if (!isBinary) {
      // 1003: unsupported data
      this.closeWith(new MIMCError(ErrorCode.MALFORMED_FRAME, 'text WebSocket message: MIMC frames travel as binary messages'), 1003);
      return;
    }
    const message = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    this.sink.onFrame(message);
  };

  private readonly handleError = (err: Error & { code?: string }): void => {
    if (this.isClosed || this.closedError !== undefined) return;
    // ws names the peer's protocol errors WS_ERR_* (it then closes with 1002 or 1009); the rest are socket errors
    this.closedError =
      err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
        ? new MIMCError(ErrorCode.FRAME_TOO_LARGE, `WebSocket message larger than the frame limit: ${err.message}`, { cause: err })
        : err.code?.startsWith('WS_ERR_')
          ? new MIMCError(ErrorCode.MALFORMED_FRAME, `invalid WebSocket frame from the server: ${err.message}`, { cause: err, details: { wsCode: err.code } })
          : new MIMCError(ErrorCode.CONNECTION_LOST, `WebSocket error: ${err.message}`, { cause: err });
  };

  private readonly handleClose = (code: number, reason: Buffer): void => {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = null;
    if (!this.isClosed) {
      const text = reason.toString('utf8').slice(0, 123);
      this.closedError ??= new MIMCError(ErrorCode.CONNECTION_LOST, `WebSocket closed by peer (code ${code}${text ? `, ${text}` : ''})`, {
        details: { closeCode: code, closeReason: text },
      });
    }
    this.finish();
    this.ws.off('message', this.handleMessage);
    this.ws.off('close', this.handleClose);
  };

  private readonly afterSend = (): void => {
    this.unflushed--;
    if (this.unflushed === 0) this.releaseFlushWaiter();
  };

  private waitForFlush(): Promise<void> {
    if (this.unflushed === 0 || this.isClosed) return Promise.resolve();
    return new Promise((resolve) => (this.flushed = resolve));
  }

  private releaseFlushWaiter(): void {
    const waiter = this.flushed;
    this.flushed = null;
    waiter?.();
  }

  private finish(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.writes.stop();
    this.releaseFlushWaiter();
    // the 'error' listener stays: a late error must never become an uncaught exception
    this.sink.onClose(this.closedError);
  }
}
