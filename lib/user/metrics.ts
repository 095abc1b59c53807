/** Upper bounds (ms) of the ack-latency histogram buckets; the last bucket is open-ended. */
export const ACK_LATENCY_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;

/** Upper bounds (ms) of the handler-duration and delivery-duration buckets (handlers may take up to `handlerTimeoutMs`). */
export const HANDLER_DURATION_BUCKETS_MS = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000] as const;

export interface LatencyHistogram {
  /** Upper bounds in ms, matching `counts` (the final count is for slower observations). */
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
  /** Gauge: 1 while the user is online, else 0 (a sum of users: how many are online). */
  online: number;
  /** Gauge: 1 while the user waits to reconnect after a loss, else 0. */
  reconnecting: number;
  /** Gauge: messages waiting for a connection to be written. */
  queueDepth: number;
  /** Gauge: messages written and awaiting their ack. */
  pendingAcks: number;
  /** Gauge: incoming messages waiting for (or in) the app's handlers. */
  deliveryQueueDepth: number;
  /** Send to server ack. */
  ackLatency: LatencyHistogram;
  /** One call of the app's message handler (each attempt; a timed-out call counts `handlerTimeoutMs`). */
  handlerDuration: LatencyHistogram;
  /** Receipt of a message to its end: handled or dead-lettered, queueing and retries included. */
  deliveryDuration: LatencyHistogram;
}

/** The gauges, read from the user's parts when a snapshot is taken. */
export type MetricsGauges = Pick<MetricsSnapshot, 'online' | 'reconnecting' | 'queueDepth' | 'pendingAcks' | 'deliveryQueueDepth'>;

/** Bucketed observations in ms. */
class Histogram {
  /** Allocated at the first observation: most idle users never observe (three histograms each). */
  private counts: number[] | null = null;
  private sum = 0;

  constructor(private readonly bounds: readonly number[]) {}

  observe(ms: number): void {
    let i = 0;
    while (i < this.bounds.length && ms > this.bounds[i]!) i++;
    const counts = (this.counts ??= new Array<number>(this.bounds.length + 1).fill(0));
    counts[i]! += 1;
    this.sum += ms;
  }

  snapshot(): LatencyHistogram {
    const counts = this.counts ? [...this.counts] : new Array<number>(this.bounds.length + 1).fill(0);
    return { bucketsMs: this.bounds, counts, sumMs: this.sum, count: counts.reduce((a, b) => a + b, 0) };
  }
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
  private readonly ackLatency = new Histogram(ACK_LATENCY_BUCKETS_MS);
  private readonly handlerDuration = new Histogram(HANDLER_DURATION_BUCKETS_MS);
  private readonly deliveryDuration = new Histogram(HANDLER_DURATION_BUCKETS_MS);

  observeAckLatency(ms: number): void {
    this.ackLatency.observe(ms);
  }

  observeHandlerDuration(ms: number): void {
    this.handlerDuration.observe(ms);
  }

  observeDeliveryDuration(ms: number): void {
    this.deliveryDuration.observe(ms);
  }

  snapshot(gauges: MetricsGauges): MetricsSnapshot {
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
      ackLatency: this.ackLatency.snapshot(),
      handlerDuration: this.handlerDuration.snapshot(),
      deliveryDuration: this.deliveryDuration.snapshot(),
    };
  }
}

const COUNTED = [
  'sent', 'acked', 'rejected', 'timedOut', 'received', 'duplicatesDropped', 'reconnects',
  'handlerFailures', 'handlerTimeouts', 'deadLettered', 'deliveriesDropped', 'iteratorDropped',
  'online', 'reconnecting', 'queueDepth', 'pendingAcks', 'deliveryQueueDepth',
] as const;

const HISTOGRAMS = ['ackLatency', 'handlerDuration', 'deliveryDuration'] as const;

/** Sums snapshots of many users (e.g. every MCUser of a process). */
export function aggregateMetrics(snapshots: Iterable<MetricsSnapshot>): MetricsSnapshot {
  const total = new UserMetrics().snapshot({ online: 0, reconnecting: 0, queueDepth: 0, pendingAcks: 0, deliveryQueueDepth: 0 });
  for (const s of snapshots) {
    for (const key of COUNTED) {
      total[key] += s[key];
    }
    for (const key of HISTOGRAMS) {
      const into = total[key];
      s[key].counts.forEach((c, i) => (into.counts[i]! += c));
      into.sumMs += s[key].sumMs;
      into.count += s[key].count;
    }
  }
  return total;
}
