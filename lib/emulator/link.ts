/**
 * The byte side of one frontend connection, per transport: a TCP socket with its frame
 * decoder, or one WebSocket whose binary messages are the units. The connection above sees
 * units, backpressure and one end, whatever carries them.
 */
import type { Socket } from 'node:net';
import type WebSocket from 'ws';
import { MIMCError, ErrorCode } from '../errors.js';
import type { TransportKind } from '../protocol/client-codec.js';
import { CHECKSUM_LENGTH } from '../protocol/constants.js';
import { FrameDecoder } from '../protocol/frame.js';
import { WS_HEAD_LENGTH, wsCloseCodeFor } from '../protocol/ws-frame.js';

export interface LinkHooks {
  /** Units received in one read, in order, and — if the input turned bad — the error after them. */
  units(units: Uint8Array[], error: MIMCError | null): void;
  /** What was written has drained after `write` returned false. */
  drained(): void;
  /** The peer ended its side (TCP FIN); the transport may still close later. */
  ended(reason: string): void;
  /** The transport is closed: nothing more comes in or goes out. */
  closed(): void;
}

export interface PeerLink {
  readonly kind: TransportKind;
  /** "address:port" of the peer, for logs. */
  readonly remote: string;
  readonly destroyed: boolean;
  /** Bytes accepted and not yet handed to the kernel. */
  readonly queuedBytes: number;
  start(hooks: LinkHooks): void;
  /** Largest unit body accepted from now on (small before BIND). */
  setMaxBody(maxBody: number): void;
  /** Writes one frame; false once the peer is not keeping up (wait for `drained`). */
  write(frame: Uint8Array): boolean;
  /** Frames written until `endBurst` leave together (one syscall on TCP). */
  beginBurst(): void;
  endBurst(): void;
  /** Stop / restart reading from the peer. */
  pause(): void;
  resume(): void;
  /** Flushes, then closes politely (TCP FIN, WebSocket close 1000). */
  end(): void;
  /** Closes now; `violation` (what the peer did wrong) picks the WebSocket close code. */
  destroy(violation?: unknown): void;
}

export class TcpLink implements PeerLink {
  readonly kind = 'tcp';

  /** The connection sets the body limit (setMaxBody) before it starts the link. */
  private readonly decoder = new FrameDecoder();

  constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
  }

  get remote(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  get destroyed(): boolean {
    return this.socket.destroyed;
  }

  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  start(hooks: LinkHooks): void {
    this.socket.on('data', (chunk: Buffer) => {
      // frames verified before a corrupt one are handed over first, then the error
      const { frames, error } = this.decoder.decode(chunk);
      hooks.units(frames, error ?? null);
    });
    this.socket.on('drain', () => hooks.drained());
    this.socket.on('error', () => undefined); // 'close' follows and ends the connection
    this.socket.on('end', () => hooks.ended('peer ended the connection'));
    this.socket.on('close', () => hooks.closed());
  }

  setMaxBody(maxBody: number): void {
    this.decoder.setMaxBodyLength(maxBody);
  }

  write(frame: Uint8Array): boolean {
    return this.socket.write(frame);
  }

  beginBurst(): void {
    this.socket.cork();
  }

  endBurst(): void {
    this.socket.uncork();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  end(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A WebSocket message over this many bytes beyond the limit is refused before decoding. */
const WS_FRAME_OVERHEAD = WS_HEAD_LENGTH + CHECKSUM_LENGTH;
/** How long a refused WebSocket peer has to answer our close frame. */
const WS_CLOSE_GRACE_MS = 1000;
/** Bytes buffered in ws above which the peer counts as not keeping up. */
const WS_HIGH_WATER_BYTES = 64 * 1024;

export class WebSocketLink implements PeerLink {
  readonly kind = 'websocket';
  private hooks: LinkHooks | null = null;
  private waitingForDrain = false;
  /** Set by the connection (setMaxBody) before it starts the link. */
  private maxBody = 0;

  constructor(
    private readonly ws: WebSocket,
    readonly remote: string,
  ) {}

  get destroyed(): boolean {
    return this.ws.readyState === this.ws.CLOSED;
  }

  get queuedBytes(): number {
    return this.ws.bufferedAmount;
  }

  start(hooks: LinkHooks): void {
    this.hooks = hooks;
    this.ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      if (!isBinary) {
        hooks.units([], new MIMCError(ErrorCode.MALFORMED_FRAME, 'text WebSocket message; MIMC frames are binary', { details: { closeCode: 1003 } }));
        return;
      }
      const unit = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (unit.length > this.maxBody + WS_FRAME_OVERHEAD) {
        hooks.units([], new MIMCError(ErrorCode.FRAME_TOO_LARGE, `WebSocket message of ${unit.length} bytes exceeds the limit`, { details: { length: unit.length, maxBodyLength: this.maxBody } }));
        return;
      }
      hooks.units([unit], null);
    });
    // ws reports protocol errors here (bad opcode, a message over maxPayload, …) and then closes
    this.ws.on('error', (err: Error & { code?: string }) => {
      const code = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? ErrorCode.FRAME_TOO_LARGE : ErrorCode.MALFORMED_FRAME;
      hooks.units([], new MIMCError(code, `WebSocket protocol error: ${err.message}`, { details: { wsCode: err.code } }));
    });
    this.ws.on('close', () => hooks.closed());
  }

  setMaxBody(maxBody: number): void {
    this.maxBody = maxBody;
  }

  write(frame: Uint8Array): boolean {
    if (this.ws.readyState !== this.ws.OPEN) return true;
    this.ws.send(frame, { binary: true }, this.afterSend);
    if (this.ws.bufferedAmount < WS_HIGH_WATER_BYTES) return true;
    this.waitingForDrain = true;
    return false;
  }

  private readonly afterSend = (): void => {
    // ws calls back once a frame reached the socket; drained = nothing left in ws or the socket
    if (!this.waitingForDrain || this.ws.bufferedAmount > 0) return;
    this.waitingForDrain = false;
    this.hooks?.drained();
  };

  beginBurst(): void {
    // ws writes each message as it is sent; there is nothing to cork
  }

  endBurst(): void {}

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  end(): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(1000);
  }

  destroy(violation?: unknown): void {
    if (violation === undefined || this.ws.readyState === this.ws.CLOSED) {
      this.ws.terminate();
      return;
    }
    // Tell the peer why (ws may already have, for an oversized message), then give it a moment
    // to answer the close before the socket goes; the frontend terminates stragglers on shutdown.
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(closeCodeFor(violation));
    setTimeout(() => this.ws.terminate(), WS_CLOSE_GRACE_MS).unref();
  }
}

/** A refused peer gets RFC 6455 close codes: 1003 text, 1009 too big, 1002 bad frame, 1011 our fault. */
function closeCodeFor(violation: unknown): number {
  if (!MIMCError.is(violation)) return 1011;
  const explicit = (violation.details as { closeCode?: unknown } | undefined)?.closeCode;
  if (typeof explicit === 'number') return explicit;
  return wsCloseCodeFor(violation.code) ?? 1002;
}
