/** The prom-client adapter: the registry's text after a real exchange, and exact histogram series. */
import * as client from 'prom-client';
import { aggregateMetrics, UserMetrics, type LatencyHistogram } from '../../lib/user/metrics.js';
import { registerPrometheusMetrics } from '../../lib/user/prometheus.js';
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { destroyUsers, makeUser, str, text, until } from '../helpers/users.js';

/** The value of one series line, e.g. `mimc_acks_total` or `mimc_ack_latency_seconds_bucket{le="0.005"}`. */
function value(output: string, series: string): number {
  const line = output.split('\n').find((l) => l.startsWith(`${series} `));
  if (line === undefined) throw new Error(`no series ${series} in:\n${output}`);
  return Number(line.slice(series.length + 1));
}

/** The `le` labels and values of a histogram's bucket lines, in output order. */
function buckets(output: string, name: string): Array<[string, number]> {
  return [...output.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`, 'gm'))].map((m) => [m[1]!, Number(m[2])]);
}

/** The histogram as the text must show it: cumulative buckets in seconds. */
function expectedBuckets(h: LatencyHistogram): Array<[string, number]> {
  let cumulative = 0;
  const out: Array<[string, number]> = h.bucketsMs.map((ms, i) => [String(ms / 1000), (cumulative += h.counts[i]!)]);
  out.push(['+Inf', h.count]);
  return out;
}

describe('histogram series', () => {
  it('writes cumulative buckets in seconds, _sum and _count from the snapshot', async () => {
    const metrics = new UserMetrics();
    metrics.observeAckLatency(0.5);
    metrics.observeAckLatency(3);
    metrics.observeAckLatency(20_000);
    metrics.observeHandlerDuration(40_000);
    const registry = new client.Registry();
    const snapshot = () => metrics.snapshot({ online: 1, reconnecting: 0, queueDepth: 2, pendingAcks: 3, deliveryQueueDepth: 4 });
    registerPrometheusMetrics(client, snapshot, { registers: [registry] });
    const output = await registry.metrics();

    expect(output).toContain('# TYPE mimc_ack_latency_seconds histogram');
    const ack = buckets(output, 'mimc_ack_latency_seconds');
    expect(ack[0]).toEqual(['0.001', 1]);
    expect(ack.find(([le]) => le === '0.002')).toEqual(['0.002', 1]);
    expect(ack.find(([le]) => le === '0.005')).toEqual(['0.005', 2]);
    expect(ack.find(([le]) => le === '10')).toEqual(['10', 2]);
    expect(ack[ack.length - 1]).toEqual(['+Inf', 3]);
    expect(value(output, 'mimc_ack_latency_seconds_sum')).toBeCloseTo(20.0035, 9);
    expect(value(output, 'mimc_ack_latency_seconds_count')).toBe(3);

    const handler = buckets(output, 'mimc_handler_duration_seconds');
    expect(handler.find(([le]) => le === '30')).toEqual(['30', 0]);
    expect(handler.find(([le]) => le === '60')).toEqual(['60', 1]);
    expect(value(output, 'mimc_handler_duration_seconds_sum')).toBe(40);
    expect(value(output, 'mimc_delivery_duration_seconds_count')).toBe(0);
    expect(buckets(output, 'mimc_delivery_duration_seconds').every(([, v]) => v === 0)).toBe(true);

    expect(value(output, 'mimc_users_online')).toBe(1);
    expect(value(output, 'mimc_users_reconnecting')).toBe(0);
    expect(value(output, 'mimc_send_queue_messages')).toBe(2);
    expect(value(output, 'mimc_pending_acks')).toBe(3);
    expect(value(output, 'mimc_delivery_queue_messages')).toBe(4);
  });

  it('registers in the default registry when no registers are given, and takes one snapshot per scrape', async () => {
    let snapshots = 0;
    const metrics = new UserMetrics();
    registerPrometheusMetrics(client, () => {
      snapshots += 1;
      return metrics.snapshot({ online: 0, reconnecting: 1, queueDepth: 0, pendingAcks: 0, deliveryQueueDepth: 0 });
    });
    try {
      const output = await client.register.metrics();
      expect(value(output, 'mimc_users_reconnecting')).toBe(1);
      expect(snapshots).toBe(1);
      await client.register.metrics();
      expect(snapshots).toBe(2);
    } finally {
      client.register.clear();
    }
  });
});

describe('after a real exchange with the emulator', () => {
  let emulator: Emulator;

  beforeEach(async () => {
    emulator = await startEmulator();
  });

  afterEach(async () => {
    destroyUsers();
    await emulator.close();
  });

  it('counts, gauges and histograms agree with what happened', async () => {
    const handled: string[] = [];
    let failedOnce = false;
    const alice = makeUser(emulator, 'alice');
    const bob = makeUser(emulator, 'bob', {
      handlerRetry: { maxAttempts: 2, minDelayMs: 1 },
      messageDelegate: {
        handleMessage: (messages) => {
          const body = str(messages[0]!.payload);
          if (body === 'poison') throw new Error('never handled');
          if (!failedOnce) {
            failedOnce = true;
            throw new Error('fails once');
          }
          handled.push(body);
        },
      },
    });
    await alice.user.login();
    await bob.user.login();
    const registry = new client.Registry();
    registerPrometheusMetrics(client, () => aggregateMetrics([alice.user.metrics(), bob.user.metrics()]), { registers: [registry] });

    await alice.user.sendMessageAndWait('bob', text('hello'));
    await until(() => handled.length === 1, 5000, 'hello handled');
    await alice.user.sendMessageAndWait('bob', text('poison'));
    await until(() => bob.user.metrics().deadLettered === 1, 5000, 'poison dead-lettered');
    emulator.faults.dropConnections();
    await until(() => alice.user.metrics().reconnects === 1 && alice.user.isOnline && bob.user.isOnline, 10_000, 'reconnected');

    const output = await registry.metrics();
    const snapshot = aggregateMetrics([alice.user.metrics(), bob.user.metrics()]);
    expect(value(output, 'mimc_messages_sent_total')).toBe(2);
    expect(value(output, 'mimc_acks_total')).toBe(2);
    expect(value(output, 'mimc_acks_rejected_total')).toBe(0);
    expect(value(output, 'mimc_send_timeouts_total')).toBe(0);
    expect(value(output, 'mimc_messages_received_total')).toBe(2);
    expect(value(output, 'mimc_handler_failures_total')).toBe(3); // hello once, poison twice
    expect(value(output, 'mimc_dead_lettered_messages_total')).toBe(1);
    expect(value(output, 'mimc_reconnects_total')).toBe(snapshot.reconnects);
    expect(snapshot.reconnects).toBeGreaterThanOrEqual(1);
    expect(value(output, 'mimc_duplicates_dropped_total')).toBe(snapshot.duplicatesDropped);
    expect(value(output, 'mimc_users_online')).toBe(2);
    expect(value(output, 'mimc_users_reconnecting')).toBe(0);
    expect(value(output, 'mimc_pending_acks')).toBe(0);
    expect(value(output, 'mimc_send_queue_messages')).toBe(0);
    expect(value(output, 'mimc_delivery_queue_messages')).toBe(0);

    expect(value(output, 'mimc_ack_latency_seconds_count')).toBe(2);
    expect(buckets(output, 'mimc_ack_latency_seconds')).toEqual(expectedBuckets(snapshot.ackLatency));
    expect(value(output, 'mimc_ack_latency_seconds_sum')).toBeCloseTo(snapshot.ackLatency.sumMs / 1000, 9);
    expect(value(output, 'mimc_handler_duration_seconds_count')).toBe(4); // hello twice, poison twice
    expect(buckets(output, 'mimc_handler_duration_seconds')).toEqual(expectedBuckets(snapshot.handlerDuration));
    expect(value(output, 'mimc_delivery_duration_seconds_count')).toBe(2); // one handled, one dead-lettered
    expect(buckets(output, 'mimc_delivery_duration_seconds')).toEqual(expectedBuckets(snapshot.deliveryDuration));
    for (const name of ['mimc_ack_latency_seconds', 'mimc_handler_duration_seconds', 'mimc_delivery_duration_seconds']) {
      const series = buckets(output, name);
      series.slice(1).forEach(([, v], i) => expect(v).toBeGreaterThanOrEqual(series[i]![1]));
    }
  });
});
