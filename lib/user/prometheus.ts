import type { MetricsSnapshot } from './metrics.js';

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
}

const COUNTERS = {
  sent: 'Messages accepted for sending',
  acked: 'Server acks received',
  rejected: 'Server acks that carried an error',
  timedOut: 'Sends that ended without an ack',
  received: 'Messages handed to the app',
  duplicatesDropped: 'Incoming duplicates dropped',
  reconnects: 'Connections re-established after a loss',
} as const;

const GAUGES = {
  queueDepth: 'Messages waiting for a connection',
  pendingAcks: 'Messages written and awaiting an ack',
  deliveryQueueDepth: 'Incoming lists waiting for the app',
} as const;

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * Registers `mimc_*` metrics whose values are read from `snapshot()` at scrape time, e.g.
 * `registerPrometheusMetrics(client, () => aggregateMetrics(users.map((u) => u.metrics())))`.
 */
export function registerPrometheusMetrics(
  client: PromClientLike,
  snapshot: () => MetricsSnapshot,
  options: { prefix?: string; registers?: unknown[] } = {},
): void {
  const prefix = options.prefix ?? 'mimc_';
  const registers = options.registers ? { registers: options.registers } : {};
  for (const [key, help] of Object.entries(COUNTERS) as Array<[keyof typeof COUNTERS, string]>) {
    new client.Counter({
      name: `${prefix}${snake(key)}_total`,
      help,
      ...registers,
      collect() {
        this.reset();
        this.inc(snapshot()[key]);
      },
    });
  }
  for (const [key, help] of Object.entries(GAUGES) as Array<[keyof typeof GAUGES, string]>) {
    new client.Gauge({
      name: `${prefix}${snake(key)}`,
      help,
      ...registers,
      collect() {
        this.set(snapshot()[key]);
      },
    });
  }
  new client.Counter({
    name: `${prefix}ack_latency_ms_sum`,
    help: 'Sum of send-to-ack latencies in ms',
    ...registers,
    collect() {
      this.reset();
      this.inc(snapshot().ackLatency.sumMs);
    },
  });
  new client.Counter({
    name: `${prefix}ack_latency_count`,
    help: 'Number of acks measured for latency',
    ...registers,
    collect() {
      this.reset();
      this.inc(snapshot().ackLatency.count);
    },
  });
}
