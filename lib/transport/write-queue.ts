/**
 * The single writer of a connection: a queue drained by one async loop that respects backpressure.
 * The loop runs only while there is something to write (it starts when the first frame is queued
 * and ends when the queue is empty), so an idle connection holds no suspended function or promise.
 */

/** The few things the loop needs from the underlying socket or WebSocket. */
export interface WriteTarget {
  /** Writes one frame; false when the peer is not keeping up (wait for drain before more). */
  write(frame: Uint8Array): boolean;
  /** Resolves once the target accepts writes again, or is gone. */
  drained(): Promise<void>;
  /** Optional batching around a burst of writes (TCP cork/uncork: one syscall per burst). */
  beginBurst?(): void;
  endBurst?(): void;
}

interface QueuedWrite {
  frame: Uint8Array;
  /** Asked just before writing: a frame whose purpose has expired (e.g. its send timed out) is skipped. */
  stillWanted?: () => boolean;
}

export class WriteQueue {
  private queue: QueuedWrite[] = [];
  private queuedBytes = 0;
  /** A loop is scheduled or running; at most one at a time. */
  private running = false;
  private stopped = false;
  /** Monotonic time (ms) of the last frame handed to the target. */
  lastWrittenAt = 0;

  constructor(private readonly target: WriteTarget) {}

  /** Bytes of the frames not yet written. */
  get pendingBytes(): number {
    return this.queuedBytes;
  }

  push(frame: Uint8Array, stillWanted?: () => boolean): void {
    if (this.stopped) return;
    this.queue.push(stillWanted ? { frame, stillWanted } : { frame });
    this.queuedBytes += frame.length;
    if (!this.running) {
      this.running = true;
      // a microtask later, so frames pushed in the same tick go out in one burst
      queueMicrotask(() => void this.loop());
    }
  }

  /** Drops what is queued and ends the loop. */
  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
  }

  private async loop(): Promise<void> {
    while (!this.stopped && this.queue.length > 0) {
      let needDrain = false;
      this.target.beginBurst?.();
      while (this.queue.length > 0 && !needDrain && !this.stopped) {
        const next = this.queue.shift()!;
        this.queuedBytes -= next.frame.length;
        if (next.stillWanted && !next.stillWanted()) continue;
        needDrain = !this.target.write(next.frame);
        this.lastWrittenAt = performance.now();
      }
      this.target.endBurst?.();
      if (needDrain && !this.stopped) await this.target.drained();
    }
    // a fresh empty array: the drained one keeps its grown backing store
    this.queue = [];
    this.running = false;
  }
}
