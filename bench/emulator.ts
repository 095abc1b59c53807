/**
 * Emulator benchmark: (1) how many bound raw connections it holds, ramping up in steps until
 * the target or the first failure; (2) messages/s routed P2P between raw client pairs, each
 * sender keeping a window of unacknowledged messages and each receiver acknowledging every
 * COMPOUND. Emulator and clients share one process (and its CPU), so the figures are a floor.
 *
 *   npm run ts -- bench/emulator.ts [--connections 5000] [--pairs 100] [--messages 500] [--window 32]
 */
import { parseArgs } from 'node:util';
import { startEmulator } from '../lib/emulator/index.js';
import { loginRaw, type RawClient } from '../spec/helpers/raw-client.js';
import { benchPhase, isMain, runMain } from './common.js';

export interface EmulatorBenchOptions {
  /** Bound connections to ramp up to. Default 5000. */
  connections?: number;
  /** Concurrent logins per ramp step. Default 250. */
  rampStep?: number;
  /** Sender/receiver pairs in the throughput phase. Default 100. */
  pairs?: number;
  /** Messages per sender. Default 500. */
  messagesPerPair?: number;
  /** Unacknowledged messages each sender keeps in flight. Default 32. */
  window?: number;
  /** Payload bytes per message. Default 128. */
  payloadBytes?: number;
}

export interface EmulatorBenchResult {
  node: string;
  connections: {
    target: number;
    bound: number;
    failure: string | null;
    elapsedMs: number;
    loginsPerSec: number;
    rssMiB: number;
    heapUsedMiB: number;
  };
  throughput: {
    pairs: number;
    messages: number;
    payloadBytes: number;
    window: number;
    elapsedMs: number;
    messagesPerSec: number;
    ackLatencyMs: { p50: number; p99: number; max: number };
    framesIn: number;
    framesOut: number;
  };
}

const mib = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! * 100) / 100;
}

async function rampConnections(target: number, step: number): Promise<EmulatorBenchResult['connections']> {
  const emu = await startEmulator({ idleTimeoutMs: 600_000 });
  const clients: RawClient[] = [];
  let failure: string | null = null;
  const started = performance.now();
  try {
    while (clients.length < target && failure === null) {
      const batch = Math.min(step, target - clients.length);
      const base = clients.length;
      const results = await Promise.allSettled(
        Array.from({ length: batch }, (_, i) => loginRaw(emu, `bench_${base + i}`, 'res', { timeoutMs: 30_000 })),
      );
      for (const r of results) {
        if (r.status === 'fulfilled') clients.push(r.value);
        else failure ??= r.reason instanceof Error ? r.reason.message : String(r.reason);
      }
    }
    const elapsedMs = performance.now() - started;
    // Everyone is still alive: one ping round trip each.
    await Promise.all(clients.map((c) => c.ping(30_000)));
    const memory = process.memoryUsage();
    return {
      target,
      bound: emu.stats.bound,
      failure,
      elapsedMs: Math.round(elapsedMs),
      loginsPerSec: Math.round((clients.length / elapsedMs) * 1000),
      rssMiB: mib(memory.rss),
      heapUsedMiB: mib(memory.heapUsed),
    };
  } finally {
    for (const c of clients) c.close();
    await emu.close();
  }
}

async function routeMessages(pairs: number, perPair: number, window: number, payloadBytes: number): Promise<EmulatorBenchResult['throughput']> {
  const emu = await startEmulator({ idleTimeoutMs: 600_000 });
  const senders: RawClient[] = [];
  const receivers: RawClient[] = [];
  const latencies: number[] = [];
  try {
    for (let i = 0; i < pairs; i++) {
      senders.push(await loginRaw(emu, `sender_${i}`, 'rs'));
      receivers.push(await loginRaw(emu, `receiver_${i}`, 'rr'));
    }
    const payload = new Uint8Array(payloadBytes).fill(0x61);
    const started = performance.now();

    const send = async (sender: RawClient, to: string): Promise<void> => {
      const sentAt = new Map<string, number>();
      let sent = 0;
      let acked = 0;
      const sendOne = (): void => {
        sentAt.set(sender.sendP2P(to, payload), performance.now());
        sent++;
      };
      while (sent < Math.min(window, perPair)) sendOne();
      while (acked < perPair) {
        const ack = await sender.nextAck(undefined, 60_000);
        if (ack.code !== 0) throw new Error(`message refused: ${ack.errorMsg}`);
        latencies.push(performance.now() - sentAt.get(ack.packetId)!);
        sentAt.delete(ack.packetId);
        acked++;
        if (sent < perPair) sendOne();
      }
    };
    const receive = async (receiver: RawClient): Promise<void> => {
      let received = 0;
      while (received < perPair) {
        const list = await receiver.nextCompound(60_000);
        receiver.ackList(list);
        received += list.packets.length;
      }
    };
    await Promise.all([...senders.map((s, i) => send(s, `receiver_${i}`)), ...receivers.map((r) => receive(r))]);
    const elapsedMs = performance.now() - started;
    latencies.sort((a, b) => a - b);
    const messages = pairs * perPair;
    return {
      pairs,
      messages,
      payloadBytes,
      window,
      elapsedMs: Math.round(elapsedMs),
      messagesPerSec: Math.round((messages / elapsedMs) * 1000),
      ackLatencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: percentile(latencies, 100) },
      framesIn: emu.stats.framesIn,
      framesOut: emu.stats.framesOut,
    };
  } finally {
    for (const c of [...senders, ...receivers]) c.close();
    await emu.close();
  }
}

export async function runEmulatorBench(options: EmulatorBenchOptions = {}): Promise<EmulatorBenchResult> {
  benchPhase(`emulator: ramping up to ${options.connections ?? 5000} connections`);
  const connections = await rampConnections(options.connections ?? 5000, options.rampStep ?? 250);
  benchPhase(`emulator: routing messages between ${options.pairs ?? 100} pairs`);
  const throughput = await routeMessages(options.pairs ?? 100, options.messagesPerPair ?? 500, options.window ?? 32, options.payloadBytes ?? 128);
  return { node: process.version, connections, throughput };
}

async function main(): Promise<EmulatorBenchResult> {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string' },
      pairs: { type: 'string' },
      messages: { type: 'string' },
      window: { type: 'string' },
      payload: { type: 'string' },
    },
  });
  const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
  const options: EmulatorBenchOptions = {};
  if (values.connections !== undefined) options.connections = num(values.connections)!;
  if (values.pairs !== undefined) options.pairs = num(values.pairs)!;
  if (values.messages !== undefined) options.messagesPerPair = num(values.messages)!;
  if (values.window !== undefined) options.window = num(values.window)!;
  if (values.payload !== undefined) options.payloadBytes = num(values.payload)!;
  return runEmulatorBench(options);
}

if (isMain(import.meta.url)) runMain(main);
