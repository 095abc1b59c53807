/**
 * The outbound side of one frontend connection: one syscall per turn of the event loop (cork), backpressure
 * (pause reading while the link does not drain, close above a byte cap), and the
 * write-side faults (stall, corruption, delay, oversized head).
 */
import type { Logger } from 'pino';
import type { FaultState } from './faults.js';
import type { PeerLink } from './link.js';
import type { EmulatorStats } from './types.js';
import type { ServerWire } from './wire.js';

/** How often frames held by the delay fault look again whether a stall has ended. */
const STALL_RECHECK_MS = 20;

export interface WriterHooks {
  /** Account the connection is bound as, for per-account faults. */
  appAccount(): string | undefined;
  /** The peer does not read: close the connection. */
  overflow(reason: string): void;
  /** The link drained after blocking: deliveries may resume. */
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
    this.link.endBurst();
    // Only now is "queued" what the peer has not read: corked bytes were merely not handed over yet.
    if (!this.closed && this.link.queuedBytes > this.maxQueuedBytes) this.hooks.overflow(`slow reader: more than ${this.maxQueuedBytes} bytes queued`);
  };

  constructor(
    private readonly link: PeerLink,
    private readonly wire: ServerWire,
    private readonly faults: FaultState,
    private readonly stats: EmulatorStats,
    private readonly maxQueuedBytes: number,
    /** Whose logger the fault logs go to (the connection makes its child logger at first use). */
    private readonly owner: { readonly log: Logger },
    private readonly hooks: WriterHooks,
  ) {}

  /** Writes one frame now, unless stalled (`evenIfStalled` for KICK) or closed. */
  write(frame: Uint8Array, evenIfStalled = false): void {
    if (this.closed || this.poisoned) return;
    if (!evenIfStalled && this.faults.isStalled(this.hooks.appAccount())) return;
    let bytes = frame;
    if (this.faults.takeCorruption(this.hooks.appAccount())) {
      bytes = this.wire.corrupt(frame);
      this.owner.log.info('fault: corrupted an outbound frame');
    }
    this.stats.framesOut++;
    if (!this.corked) {
      // Frames written in one turn of the event loop (e.g. the acks of a burst of messages) leave
      // in one syscall, at the check phase: after the deliveries the same turn scheduled (their
      // pumps were queued first and flush themselves), so a recipient never waits for the
      // sender's ack to reach the kernel.
      this.corked = true;
      this.link.beginBurst();
      setImmediate(this.uncork);
    }
    const flushed = this.link.write(bytes);
    if (!flushed && !this.blocked) {
      // Stop reading requests from a peer that does not read our answers.
      this.blocked = true;
      this.link.pause();
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
    this.link.write(this.wire.oversizedHead());
    this.stats.framesOut++;
    this.poisoned = true;
  }

  /** Hands corked frames to the kernel now (at the end of a delivery pump, before a close). */
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

  /** The link drained: resume reading and delivering. */
  onDrain(): void {
    if (!this.blocked || this.closed) return;
    this.blocked = false;
    this.link.resume();
    this.hooks.drained();
  }
}
