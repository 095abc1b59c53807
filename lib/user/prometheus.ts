import type { LatencyHistogram, MetricsSnapshot } from './metrics.js';

/** The part of a prom-client `Registry` this adapter uses. */
export interface RegistryLike {
  // prom-client types the metric as its own Metric class; `any` keeps the adapter free of a prom-client dependency
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  registerMetric(metric: any): void;
}

/**
 * The parts of prom-client this adapter uses. Pass your own `import * as client from 'prom-client'`:
 * mimc-node does not depend on prom-client, so apps that do not want it pay nothing.
 */
export interface PromClientLike {
  Gauge: new (config: {
    name: string;
    help: string;
    // prom-client types this as Registry[]; `any` keeps the adapter free of a prom-client dependency
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    registers?: any[];
    collect?: (this: { set(value: number): void }) => void;
  }) => unknown;
  Counter: new (config: {
    name: string;
    help: string;
    // prom-client types this as Registry[]; `any` keeps the adapter free of a prom-client dependency
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    registers?: any[];
    collect?: (this: { reset(): void; inc(value: number): void }) => void;
  }) => unknown;
  /** The default registry, used when `options.registers` is not given. */
  register: RegistryLike;
}

type CountedKey = Exclude<keyof MetricsSnapshot, HistogramKey>;
type HistogramKey = 'ackLatency' | 'handlerDuration' | 'deliveryDuration';

/** Counter name (after the prefix, `_total` included), snapshot field, help. */
const COUNTERS: ReadonlyArray<readonly [string, CountedKey, string]> = [
  ['messages_sent_total', 'sent', 'Messages accepted for sending'],
  ['acks_total', 'acked', 'Server acks received, refusals included'],
  ['acks_rejected_total', 'rejected', 'Server acks that carried an error'],
  ['send_timeouts_total', 'timedOut', 'Sends that ended without an ack (timeout, logout, destroy)'],
  ['messages_received_total', 'received', 'Messages handed to the app'],
  ['duplicates_dropped_total', 'duplicatesDropped', 'Incoming duplicates dropped'],
  ['reconnects_total', 'reconnects', 'Connections re-established after a loss'],
  ['dead_lettered_messages_total', 'deadLettered', 'Messages given up after the last handler attempt'],
  ['handler_failures_total', 'handlerFailures', 'Handler calls that threw or rejected'],
  ['handler_timeouts_total', 'handlerTimeouts', 'Handler calls that did not settle within handlerTimeoutMs'],
  ['deliveries_dropped_total', 'deliveriesDropped', 'Live messages dropped because the app was behind'],
  ['iterator_dropped_total', 'iteratorDropped', 'Messages an unread messages() iterator missed'],
];

const GAUGES: ReadonlyArray<readonly [string, CountedKey, string]> = [
  ['users_online', 'online', 'Users online'],
  ['users_reconnecting', 'reconnecting', 'Users waiting to reconnect after a lost connection'],
  ['send_queue_messages', 'queueDepth', 'Messages waiting for a connection to be written'],
  ['pending_acks', 'pendingAcks', 'Messages written and awaiting their ack'],
  ['delivery_queue_messages', 'deliveryQueueDepth', 'Incoming messages waiting for (or in) the app handlers'],
];

const HISTOGRAMS: ReadonlyArray<readonly [string, HistogramKey, string]> = [
  ['ack_latency_seconds', 'ackLatency', 'Time from a send to its server ack'],
  ['handler_duration_seconds', 'handlerDuration', 'Duration of one message handler call (each attempt)'],
  ['delivery_duration_seconds', 'deliveryDuration', 'Time from receipt of a message to handled or dead-lettered'],
];

/** The series of one Prometheus histogram: cumulative `_bucket{le}` lines in seconds, `_sum`, `_count`. */
function histogramValues(name: string, h: LatencyHistogram): Array<{ metricName: string; labels: Record<string, string>; value: number }> {
  const values = [];
  let cumulative = 0;
  h.bucketsMs.forEach((bound, i) => {
    cumulative += h.counts[i]!;
    values.push({ metricName: `${name}_bucket`, labels: { le: String(bound / 1000) }, value: cumulative });
  });
  values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: h.count });
  values.push({ metricName: `${name}_sum`, labels: {}, value: h.sumMs / 1000 });
  values.push({ metricName: `${name}_count`, labels: {}, value: h.count });
  return values;
}

/**
 * Registers `mimc_*` metrics whose values are read from `snapshot()` at scrape time, e.g.
 * `registerPrometheusMetrics(client, () => aggregateMetrics(users.map((u) => u.metrics())))`:
 * counters (`mimc_messages_sent_total`, `mimc_acks_total`, …), gauges (`mimc_users_online`,
 * `mimc_pending_acks`, …) and histograms in seconds with their buckets (`mimc_ack_latency_seconds`,
 * `mimc_handler_duration_seconds`, `mimc_delivery_duration_seconds`). One scrape takes one snapshot.
 */
export function registerPrometheusMetrics(
  client: PromClientLike,
  snapshot: () => MetricsSnapshot,
  options: { prefix?: string; registers?: unknown[] } = {},
): void {
  const prefix = options.prefix ?? 'mimc_';
  const registries = (options.registers ?? [client.register]) as RegistryLike[];
  // every collect() of one scrape runs in the same synchronous pass: they share one snapshot, so the series agree
  let cached: MetricsSnapshot | undefined;
  const read = (): MetricsSnapshot => {
    if (!cached) {
      cached = snapshot();
      queueMicrotask(() => (cached = undefined));
    }
    return cached;
  };
  for (const [name, key, help] of COUNTERS) {
    new client.Counter({
      name: `${prefix}${name}`,
      help,
      registers: registries,
      collect() {
        this.reset();
        this.inc(read()[key]);
      },
    });
  }
  for (const [name, key, help] of GAUGES) {
    new client.Gauge({
      name: `${prefix}${name}`,
      help,
      registers: registries,
      collect() {
        this.set(read()[key]);
      },
    });
  }
  for (const [suffix, key, help] of HISTOGRAMS) {
    const name = `${prefix}${suffix}`;
    // prom-client's Histogram cannot be set from a snapshot; a registry takes any object with get()
    const metric = {
      name,
      help,
      type: 'histogram',
      aggregator: 'sum',
      get: () => ({ name, help, type: 'histogram', aggregator: 'sum', values: histogramValues(name, read()[key]) }),
      reset: () => undefined,
    };
    for (const registry of registries) registry.registerMetric(metric);
  }
}
