import { jest } from '@jest/globals';
import { MIMCError, ErrorCode } from '../../lib/errors.js';
import { parseJsonExact } from '../../lib/protocol/json.js';
import { AsyncQueue } from '../../lib/user/async-queue.js';
import { SequenceWindow } from '../../lib/user/dedup.js';
import { IdGenerator, generateResource } from '../../lib/user/ids.js';
import { UserMetrics } from '../../lib/user/metrics.js';
import { PendingTable } from '../../lib/user/pending.js';
import { parseTokenJson } from '../../lib/user/token.js';
import { parseAddress } from '../../lib/user/resolver.js';

const APP_ID = 2882303761517479657n;

function tokenJson(overrides: Record<string, unknown> = {}, code: unknown = 200): string {
  const data = {
    appId: APP_ID.toString(),
    appPackage: 'com.example',
    appAccount: 'alice',
    miChid: 9,
    miUserId: '10776577642332161',
    miUserSecurityKey: Buffer.from('0123456789abcdef').toString('base64'),
    token: 'tok',
    feDomainName: 'app.chat.xiaomi.net',
    ...overrides,
  };
  return JSON.stringify({ code, message: 'success', data });
}

describe('parseJsonExact', () => {
  it('keeps integers above 2^53 exact and leaves strings alone', () => {
    const parsed = parseJsonExact('{"appId":2882303761517479657,"s":"12345678901234567890","n":42,"f":1.5}') as Record<string, unknown>;
    expect(parsed.appId).toBe('2882303761517479657');
    expect(parsed.s).toBe('12345678901234567890');
    expect(parsed.n).toBe(42);
    expect(parsed.f).toBe(1.5);
  });
});

describe('parseTokenJson', () => {
  const expected = { appId: APP_ID, appAccount: 'alice' };

  it('extracts the exact uuid and the session facts', () => {
    const info = parseTokenJson(tokenJson(), expected);
    expect(info.uuid).toBe(10776577642332161n);
    expect(info.appPackage).toBe('com.example');
    expect(info.feDomainName).toBe('app.chat.xiaomi.net');
  });

  it('accepts numeric ids without losing precision', () => {
    const text = tokenJson().replace('"10776577642332161"', '10776577642332161').replace(`"${APP_ID}"`, `${APP_ID}`);
    expect(parseTokenJson(text, expected).uuid).toBe(10776577642332161n);
  });

  it.each([
    ['not JSON', 'nope'],
    ['code != 200', tokenJson({}, 500)],
    ['another app', tokenJson({ appId: '1' })],
    ['another account', tokenJson({ appAccount: 'bob' })],
    ['missing token', tokenJson({ token: undefined })],
    ['bad uuid', tokenJson({ miUserId: 'x' })],
  ])('rejects %s with ERR_INVALID_TOKEN', (_name, text) => {
    expect(() => parseTokenJson(text, expected)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_TOKEN }));
  });
});

describe('UserMetrics histograms', () => {
  const gauges = { online: 0, reconnecting: 0, queueDepth: 0, pendingAcks: 0, deliveryQueueDepth: 0 };

  it('report empty buckets before the first observation, then count by bucket', () => {
    const metrics = new UserMetrics();
    const empty = metrics.snapshot(gauges).ackLatency;
    expect(empty.counts).toHaveLength(empty.bucketsMs.length + 1);
    expect(empty.counts.every((c) => c === 0)).toBe(true);
    expect(empty).toMatchObject({ count: 0, sumMs: 0 });
    const slowest = empty.bucketsMs[empty.bucketsMs.length - 1]!;
    metrics.observeAckLatency(0);
    metrics.observeAckLatency(slowest + 1);
    const after = metrics.snapshot(gauges).ackLatency;
    expect(after.counts[0]).toBe(1);
    expect(after.counts[after.counts.length - 1]).toBe(1);
    expect(after).toMatchObject({ count: 2, sumMs: slowest + 1 });
    // a snapshot is a copy: later observations do not change it
    metrics.observeAckLatency(0);
    expect(after.counts[0]).toBe(1);
  });
});

describe('PendingTable', () => {
  afterEach(() => jest.useRealTimers());

  it('settles each entry once: by ack or by timeout, never both', () => {
    jest.useFakeTimers();
    const timedOut: string[] = [];
    const table = new PendingTable<string>(10, 100, (id) => timedOut.push(id));
    table.add('a', 'A');
    jest.advanceTimersByTime(50);
    table.add('b', 'B');
    expect(table.settle('a')).toBe('A');
    expect(table.settle('a')).toBeUndefined();
    jest.advanceTimersByTime(99);
    expect(timedOut).toEqual([]);
    jest.advanceTimersByTime(2);
    expect(timedOut).toEqual(['b']);
    expect(table.settle('b')).toBeUndefined();
    expect(table.size).toBe(0);
  });

  it('refuses to grow past its capacity', () => {
    const table = new PendingTable<number>(2, 1000, () => undefined);
    table.add('a', 1);
    table.add('b', 2);
    expect(() => table.add('c', 3)).toThrow(expect.objectContaining({ code: ErrorCode.PENDING_FULL }));
    expect(table.drain().map(([id]) => id)).toEqual(['a', 'b']);
  });
});

describe('SequenceWindow', () => {
  it('drops repeats and stays bounded', () => {
    const w = new SequenceWindow(3);
    for (const s of [1n, 2n, 3n, 4n, 5n]) {
      expect(w.has(s)).toBe(false);
      w.add(s);
    }
    expect(w.size).toBe(3);
    // forgotten ones are still recognised as seen
    expect(w.has(1n)).toBe(true);
    expect(w.has(5n)).toBe(true);
    expect(w.has(6n)).toBe(false);
  });
});

describe('AsyncQueue', () => {
  it('makes a producer wait while the buffer is full', async () => {
    const q = new AsyncQueue<number>(1);
    await q.push(1);
    let secondBuffered = false;
    const second = q.push(2).then(() => (secondBuffered = true));
    await Promise.resolve();
    expect(secondBuffered).toBe(false);
    expect((await q.next()).value).toBe(1);
    await second;
    expect((await q.next()).value).toBe(2);
    q.end();
    expect((await q.next()).done).toBe(true);
  });
});

describe('ids and addresses', () => {
  it('generates distinct resources and packet ids', () => {
    expect(generateResource()).toMatch(/^mimc_node_[a-zA-Z]{10}$/);
    const a = new IdGenerator();
    const b = new IdGenerator();
    expect(a.next()).not.toBe(b.next());
    expect(a.next()).toMatch(/_2$/);
  });

  it('parses host:port and rejects garbage', () => {
    expect(parseAddress('127.0.0.1:5222')).toEqual({ host: '127.0.0.1', port: 5222 });
    expect(parseAddress('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(() => parseAddress('nope')).toThrow(MIMCError);
  });
});
