/**
 * What to put in the next COMPOUND for one bound (account, resource): pure bookkeeping, no I/O.
 *
 * Stored messages are read from the account's offline store past a cursor; live (isStore=false)
 * messages wait in a small queue. Batches are in sequence order, so a SEQUENCE_ACK of a batch's
 * maxSequence never covers a message that was not sent. At most `batchSize * maxUnackedBatches`
 * stored messages may be sent and unacknowledged at once (the window, several batches in
 * flight); beyond that the batch reports `windowFull` and the rest waits for an acknowledgement
 * (cumulative: it frees everything up to its sequence) or a PULL (which restarts from the
 * acknowledged point).
 */
import { deliverableTo, type Account, type Delivery } from './store.js';

/** Room kept in a COMPOUND body below the frame cap for headers and the list envelope. */
const COMPOUND_BYTE_MARGIN = 4096;
/** Estimate of the per-packet overhead inside a MIMCPacketList, besides payload, ids and package. */
const PACKET_OVERHEAD = 48;

export interface Batch {
  items: Delivery[];
  /** Messages remain after this batch (COMPOUND status 2). */
  more: boolean;
  /** The unacknowledged window is full: stop until an ack or PULL arrives. */
  windowFull: boolean;
}

export class DeliveryCursor {
  /** Highest stored sequence sent on this connection. */
  private sentUpTo = 0n;
  private live: Delivery[] = [];
  private readonly byteBudget: number;
  /** Most stored messages sent and not yet acknowledged. */
  private readonly window: number;

  constructor(
    private readonly batchSize: number,
    maxFrameBody: number,
    private readonly perPacketBytes: number,
    private readonly liveLimit: number,
    maxUnackedBatches = 1,
    /** Packet bytes per batch (about); the frame cap lowers it further. */
    maxBatchBytes = Infinity,
  ) {
    this.byteBudget = Math.max(Math.min(maxFrameBody - COMPOUND_BYTE_MARGIN, maxBatchBytes), 1);
    this.window = batchSize * maxUnackedBatches;
  }

  /** Starts over from the acknowledged point: everything stored above it goes (again). */
  restart(acked: bigint, dropLive: boolean): void {
    this.sentUpTo = acked;
    if (dropLive) this.live = [];
  }

  /** Queues a live message; returns how many old ones were dropped to stay within the limit. */
  offerLive(d: Delivery): number {
    this.live.push(d);
    const excess = this.live.length - this.liveLimit;
    if (excess <= 0) return 0;
    this.live.splice(0, excess);
    return excess;
  }

  clearLive(): void {
    this.live = [];
  }

  /** The next batch for `resource` of `account`, or null when there is nothing to send now. */
  next(account: Account, resource: string): Batch | null {
    const store = account.store;
    const acked = account.ackedBy(resource);
    if (this.sentUpTo < acked) this.sentUpTo = acked;
    let index = store.indexAfter(this.sentUpTo);
    // Stored entries sent but not acknowledged (ineligible ones count too: an upper bound).
    let inflight = index - store.indexAfter(acked);
    let next = this.nextEligible(account, index, resource);
    const items: Delivery[] = [];
    let bytes = 0;
    let cursor = this.sentUpTo;
    while (items.length < this.batchSize) {
      const live = this.live[0];
      const takeLive = live !== undefined && (!next || live.sequence < next.delivery.sequence);
      if (!takeLive && !(next && inflight < this.window)) break;
      const candidate = takeLive ? live : next!.delivery;
      const size = candidate.payload.length + candidate.packetId.length + PACKET_OVERHEAD + this.perPacketBytes;
      // Stay under the frame cap clients apply; a single message always goes.
      if (items.length > 0 && bytes + size > this.byteBudget) break;
      bytes += size;
      items.push(candidate);
      if (takeLive) {
        this.live.shift();
      } else {
        cursor = candidate.sequence;
        inflight++;
        index = next!.index + 1;
        next = this.nextEligible(account, index, resource);
      }
    }
    if (items.length === 0) return null;
    this.sentUpTo = cursor;
    return { items, more: next !== null || this.live.length > 0, windowFull: inflight >= this.window && next !== null };
  }

  private nextEligible(account: Account, from: number, resource: string): { delivery: Delivery; index: number } | null {
    for (let i = from; ; i++) {
      const d = account.store.at(i);
      if (!d) return null;
      if (deliverableTo(d, resource)) return { delivery: d, index: i };
    }
  }
}
