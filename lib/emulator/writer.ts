/**
 * The outbound side of one frontend connection: one syscall per tick (cork), backpressure
 * (pause reading while the socket does not drain, close above a byte cap), and the
 * write-side faults (stall, corruption, delay, oversized head).
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { CHECKSUM_LENGTH, HEAD_LENGTH, MAGIC, VERSION } from '../protocol/constants.js';
import type { FaultState } from './faults.js';
import type { EmulatorStats } from './types.js';

/** How often frames held by the delay fault look again whether a stall has ended. */
const STALL_RECHECK_MS = 20;

/** Announced body length of the oversized-frame fault: 16 MiB + 1. */
export const OVERSIZED_BODY = 16 * 1024 * 1024 + 1;

export interface WriterHooks {
  /** Account the connection is bound as, for per-account faults. */
  appAccount(): string | undefined;
  /** The peer does not read: close the connection. */
  overflow(reason: string): void;
  /** The socket drained after blocking: deliveries may resume. */
  drained(): void;
}

export class FrameWriter {
  /** The socket is not draining; reading is paused until it does. */
  blocked = false;
  /** An oversized head was written: the stream is desynchronised, nothing more is written. */
  poisoned = false;
  private closed = false;
  private corked = false;
  /** Frames held by the delayDelivery fault, in write order, with the time each may go. */
  private readonly delayed: Array<{ frame: Uint8Array; due: number }> = [];
  private delayTimer: NodeJS.Timeout | null = null;
  private readonly uncork = (): void => {
    if (!this.corked) return;
    this.corked = false;
    this.socket.uncork();
  };

  constructor(
    private readonly socket: Socket,
    private readonly faults: FaultState,
    private readonly stats: EmulatorStats,
    private readonly maxQueuedBytes: number,
    private readonly log: Logger,
    private readonly hooks: WriterHooks,
  ) {
    socket.on('drain', () => this.onDrain());
  }

  /** Writes one frame now, unless stalled (`evenIfStalled` for KICK) or closed. */
  write(frame: Uint8Array, evenIfStalled = false): void {
    if (this.closed || this.poisoned) return;
    if (!evenIfStalled && this.faults.isStalled(this.hooks.appAccount())) return;
    let bytes = frame;
    if (this.faults.takeCorruption(this.hooks.appAccount())) {
      bytes = Uint8Array.from(frame);
      const bodyLength = bytes.length - HEAD_LENGTH - CHECKSUM_LENGTH;
      // Any single changed byte changes Adler-32, so the receiver sees a checksum mismatch.
      const at = bodyLength > 0 ? HEAD_LENGTH + (bodyLength >>> 1) : bytes.length - 1;
      bytes[at] = bytes[at]! ^ 0xff;
      this.log.info('fault: corrupted an outbound frame');
    }
    this.stats.framesOut++;
    if (!this.corked) {
      // Frames written in one tick (e.g. the acks of a burst of messages) leave in one syscall.
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    const flushed = this.socket.write(bytes);
    if (this.socket.writableLength > this.maxQueuedBytes) {
      this.hooks.overflow(`slow reader: more than ${this.maxQueuedBytes} bytes queued`);
      return;
    }
    if (!flushed && !this.blocked) {
      // Stop reading requests from a peer that does not read our answers.
      this.blocked = true;
      this.socket.pause();
    }
  }

  /** Writes now, or after the delayDelivery fault's delay (COMPOUND and PACKET_ACK only). */
  writeDelayable(frame: Uint8Array): void {
    const delay = this.faults.delayMs;
    if (delay <= 0 && this.delayed.length === 0) {
      this.write(frame);
      return;
    }
    // A delay models a slow network, which never reorders a TCP stream: a frame never overtakes
    // one delayed before it, even when the delay was shortened or switched off in between.
    const due = Math.max(performance.now() + delay, this.delayed.at(-1)?.due ?? 0);
    this.delayed.push({ frame, due });
    this.armDelayed();
  }

  private armDelayed(): void {
    if (this.delayTimer !== null || this.delayed.length === 0) return;
    this.delayTimer = setTimeout(this.releaseDelayed, Math.max(0, Math.ceil(this.delayed[0]!.due - performance.now())));
  }

  private readonly releaseDelayed = (): void => {
    this.delayTimer = null;
    if (this.faults.isStalled(this.hooks.appAccount()) && !this.closed) {
      // Held, not dropped: the server already counts a delayed COMPOUND as sent, and a stall that
      // ends before the client gives up must not leave a hole in the stream (acks are cumulative).
      this.delayTimer = setTimeout(this.releaseDelayed, STALL_RECHECK_MS);
      return;
    }
    const now = performance.now();
    while (this.delayed.length > 0 && this.delayed[0]!.due <= now) this.write(this.delayed.shift()!.frame);
    this.armDelayed();
  };

  /** Writes a frame head announcing a body over 16 MiB, and nothing after it. */
  writeOversizedHead(): void {
    if (this.closed || this.poisoned) return;
    const head = Buffer.alloc(HEAD_LENGTH);
    head.writeUInt16BE(MAGIC, 0);
    head.writeUInt16BE(VERSION, 2);
    head.writeUInt32BE(OVERSIZED_BODY, 4);
    this.socket.write(head);
    this.stats.framesOut++;
    this.poisoned = true;
  }

  /** Hands corked frames to the kernel now (before a close). */
  flush(): void {
    this.uncork();
  }

  /** Stops writing for good and drops delayed frames. */
  dispose(): void {
    this.flush();
    this.closed = true;
    if (this.delayTimer !== null) clearTimeout(this.delayTimer);
    this.delayTimer = null;
    this.delayed.length = 0;
  }

  private onDrain(): void {
    if (!this.blocked || this.closed) return;
    this.blocked = false;
    this.socket.resume();
    this.hooks.drained();
  }
}
