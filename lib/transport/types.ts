import type { Agent } from 'node:http';
import type { MIMCError } from '../errors.js';

/** What a connection hands to its owner; called synchronously from the read loop. */
export interface FrameSink {
  /**
   * One verified unit: a TCP frame body whose checksum matched (still body-encrypted), or one
   * whole binary WebSocket message (checked by the codec above).
   */
  onFrame(unit: Uint8Array): void;
  /** The connection is gone; `error` is undefined for a close we asked for. Called once. */
  onClose(error: MIMCError | undefined): void;
}

/**
 * One open connection carrying MIMC frames, whatever the transport. Reading never pauses (acks,
 * pongs and liveness must flow while the app is slow); writing is one loop with backpressure.
 */
export interface FrameTransport {
  readonly closed: boolean;
  /** Bytes accepted but not yet handed to the kernel, queued frames included. */
  readonly bufferedAmount: number;
  /** Monotonic time (ms) of the last byte received. */
  readonly lastReceivedAt: number;
  /** Queues a frame for the write loop; false if the connection is already closed. */
  send(frame: Uint8Array, stillWanted?: () => boolean): boolean;
  /** Closes the connection; `error` says why (undefined = deliberate). Idempotent. */
  close(error?: MIMCError): void;
}

/** Where to connect: a MIMC frontend over TCP, or a WebSocket endpoint. */
export type Endpoint = { kind: 'tcp'; host: string; port: number } | ({ kind: 'websocket' } & WebSocketEndpoint);

export interface WebSocketEndpoint {
  /** `wss://…` (or `ws://…` for a local emulator). */
  url: string;
  /** Extra trusted CA certificates (PEM); Node's default CAs otherwise. Verification stays on. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Agent for the upgrade request, e.g. an HTTPS proxy agent. */
  agent?: Agent;
  /** Extra headers on the upgrade request. */
  headers?: Record<string, string>;
}

export interface OpenOptions {
  /** Give up connecting (TCP connect, or TLS + HTTP upgrade) after this long. */
  connectTimeoutMs: number;
  /** Largest accepted frame body. */
  maxFrameBody: number;
}
