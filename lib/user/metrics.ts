/** Upper bounds (ms) of the ack-latency histogram buckets; the last bucket is open-ended. */
export const ACK_LATENCY_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;

export interface LatencyHistogram {
  /** Upper bounds in ms, matching `counts` (the final count is for slower acks). */
  bucketsMs: readonly number[];
  /** Non-cumulative count per bucket; one more entry than `bucketsMs`. */
  counts: number[];
  sumMs: number;
  count: number;
}

/** A plain, JSON-friendly snapshot of one user's (or many users') counters and gauges. */
export interface MetricsSnapshot {
  /** Messages accepted by sendMessage/sendGroupMessage/sendOnlineMessage. */
  sent: number;
  /** Server acks received (including refusals). */
  acked: number;
  /** Server acks that carried an error. */
  rejected: number;
  /** Sends that ended without an ack (timeout, logout, destroy). */
  timedOut: number;
  /** Messages handed to the app. */
  received: number;
  /** Incoming messages dropped as duplicates (already delivered sequences). */
  duplicatesDropped: number;
  /** Connections re-established after a loss. */
  reconnects: number;
  /** Handler calls that threw or rejected. */
  handlerFailures: number;
  /** Handler calls that did not settle within `handlerTimeoutMs`. */
  handlerTimeouts: number;
  /** Messages given up after the last handler attempt (see `handleDeadLetter`). */
  deadLettered: number;
  /** Live (isStore=false) messages dropped because the app was behind by `maxQueuedMessages`. */
  deliveriesDropped: number;
  /** Messages a `messages()` iterator missed because nobody read it and its buffer was full. */
  iteratorDropped: number;
  /** Gauge: messages waiting for a connection to be written. */
  queueDepth: number;
  /** Gauge: messages written and awaiting their ack. */
  pendingAcks: number;
  /** Gauge: incoming messages waiting for (or in) the app's handlers. */
  deliveryQueueDepth: number;
  ackLatency: LatencyHistogram;
}

/** Counters of one MCUser; gauges are filled in when a snapshot is taken. */
export class UserMetrics {
  sent = 0;
  acked = 0;
  rejected = 0;
  timedOut = 0;
  received = 0;
  duplicatesDropped = 0;
  reconnects = 0;
  handlerFailures = 0;
  handlerTimeouts = 0;
  deadLettered = 0;
  deliveriesDropped = 0;
  iteratorDropped = 0;
  private readonly latencyCounts = new Array<number>(ACK_LATENCY_BUCKETS_MS.length + 1).fill(0);
  private latencySum = 0;

  observeAckLatency(ms: number): void {
    let i = 0;
    while (i < ACK_LATENCY_BUCKETS_MS.length && ms > ACK_LATENCY_BUCKETS_MS[i]!) i++;
    this.latencyCounts[i]! += 1;
    this.latencySum += ms;
  }

  snapshot(gauges: Pick<MetricsSnapshot, 'queueDepth' | 'pendingAcks' | 'deliveryQueueDepth'>): MetricsSnapshot {
    return {
      sent: this.sent,
      acked: this.acked,
      rejected: this.rejected,
      timedOut: this.timedOut,
      received: this.received,
      duplicatesDropped: this.duplicatesDropped,
      reconnects: this.reconnects,
      handlerFailures: this.handlerFailures,
      handlerTimeouts: this.handlerTimeouts,
      deadLettered: this.deadLettered,
      deliveriesDropped: this.deliveriesDropped,
      iteratorDropped: this.iteratorDropped,
      ...gauges,
      ackLatency: {
        bucketsMs: ACK_LATENCY_BUCKETS_MS,
        counts: [...this.latencyCounts],
        sumMs: this.latencySum,
        count: this.latencyCounts.reduce((a, b) => a + b, 0),
      },
    };
  }
}

const COUNTED = [
  'sent', 'acked', 'rejected', 'timedOut', 'received', 'duplicatesDropped', 'reconnects',
  'handlerFailures', 'handlerTimeouts', 'deadLettered', 'deliveriesDropped', 'iteratorDropped',
  'queueDepth', 'pendingAcks', 'deliveryQueueDepth',
] as const;

/** Sums snapshots of many users (e.g. every MCUser of a process). */
export function aggregateMetrics(snapshots: Iterable<MetricsSnapshot>): MetricsSnapshot {
  const total = new UserMetrics().snapshot({ queueDepth: 0, pendingAcks: 0, deliveryQueueDepth: 0 });
  for (const s of snapshots) {
    for (const key of COUNTED) {
      total[key] += s[key];
    }
    s.ackLatency.counts.forEach((c, i) => (total.ackLatency.counts[i]! += c));
    total.ackLatency.sumMs += s.ackLatency.sumMs;
    total.ackLatency.count += s.ackLatency.count;
  }
  return total;
}
