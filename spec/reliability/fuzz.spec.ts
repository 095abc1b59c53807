/**
 * Fuzzing, ≥ 10 000 cases per run: hostile frames at the client's real stack (in memory for
 * throughput, plus a few hundred over real sockets, and over WebSocket), at the emulator over TCP
 * and over WebSocket, and generated and mutated JSON texts at the exact-bigint JSON codec
 * (JSON.parse as the oracle). Longer runs: `npm run fuzz -- --cases N --seed S`.
 */
import * as realNet from 'node:net';
import { jest } from '@jest/globals';
import { memoryAwareConnect } from './fuzz/memory-net.js';

jest.unstable_mockModule('node:net', () => {
  const connect = memoryAwareConnect(realNet.connect as never);
  return { ...realNet, connect, createConnection: connect, default: { ...realNet, connect, createConnection: connect } };
});

const { runClientFuzz, runEmulatorFuzz } = await import('./fuzz/kit.js');
const { runJsonFuzz } = await import('./fuzz/json.js');

// Only a backstop for a hang: each case has its own budget inside the kits, so a stuck case is
// reported as a problem long before this. The tests run one after another (not concurrently): run
// together on one event loop, each one's clock also counted the others' CPU, and on a loaded CI
// machine the 8 000-case client fuzz went past its timeout although nothing was wrong.
jest.setTimeout(600_000);

const SEED = Number(process.env.FUZZ_SEED ?? 20261125);

describe('fuzz', () => {
  it('client, in memory: 8 000 hostile cases through FrameConnection, Session and MCUser; only closed connections and logged MIMCErrors', async () => {
    const result = await runClientFuzz({ cases: Number(process.env.FUZZ_CLIENT_CASES ?? 8000), seed: SEED, transport: 'memory' });
    console.log(JSON.stringify(result));
    expect(result.problems).toEqual([]);
    expect(result.cases).toBe(8000);
    expect(result.survived + result.closed + result.handshakeCases).toBe(8000);
    expect(result.closed).toBeGreaterThan(1000);
    expect(result.survived).toBeGreaterThan(1000);
    for (const code of Object.keys(result.closeCodes)) expect(code).toMatch(/^ERR_[A-Z_]+$/);
  });

  it('client, over TCP: 300 hostile cases from a fake frontend on 127.0.0.1', async () => {
    const result = await runClientFuzz({ cases: 300, seed: SEED + 1, transport: 'tcp' });
    console.log(JSON.stringify(result));
    expect(result.problems).toEqual([]);
    expect(result.survived + result.closed + result.handshakeCases).toBe(300);
  });

  it('emulator: 1 800 raw TCP cases (garbage, mutated and hostile frames before CONN, before BIND and bound) cost only their connection', async () => {
    const result = await runEmulatorFuzz({ cases: 1800, seed: SEED + 2 });
    console.log(JSON.stringify(result));
    expect(result.problems).toEqual([]);
    expect(result.cases).toBe(1800);
    expect(result.rejectedFrames).toBeGreaterThan(300);
    expect(result.healthChecks).toBeGreaterThanOrEqual(18);
  });

  it('client, over WebSocket: 1 000 hostile messages (frames, text, oversized, truncated, unkeyed, under the WebSocket layer) from a fake ws:// frontend', async () => {
    const result = await runClientFuzz({ cases: 1000, seed: SEED + 4, transport: 'websocket' });
    console.log(JSON.stringify(result));
    expect(result.problems).toEqual([]);
    expect(result.survived + result.closed + result.handshakeCases).toBe(1000);
    expect(result.closed).toBeGreaterThan(100);
    expect(result.survived).toBeGreaterThan(500);
    for (const code of Object.keys(result.closeCodes)) expect(code).toMatch(/^ERR_[A-Z_]+$/);
    // the WebSocket-only kinds ran, and the client named its reasons: 1002 bad frame, 1009 too big,
    // 1003 text (1007 when the text was not even UTF-8)
    expect(Object.keys(result.byKind)).toEqual(expect.arrayContaining(['text', 'ws-protocol', 'secmsg-unkeyed', 'truncated', 'huge-length']));
    for (const code of ['1002', '1009']) expect(result.wsCloseCodes?.[code]).toBeGreaterThan(0);
    expect((result.wsCloseCodes?.['1003'] ?? 0) + (result.wsCloseCodes?.['1007'] ?? 0)).toBeGreaterThan(0);
  });

  it('emulator, over WebSocket: 1 500 raw binary, text and sub-WebSocket cases cost only their connection; a TCP and a WebSocket user keep talking', async () => {
    const result = await runEmulatorFuzz({ cases: 1500, seed: SEED + 5, transport: 'websocket' });
    console.log(JSON.stringify(result));
    expect(result.problems).toEqual([]);
    expect(result.cases).toBe(1500);
    expect(result.rejectedFrames).toBeGreaterThan(700);
    expect(result.healthChecks).toBeGreaterThanOrEqual(15);
    for (const phase of Object.values(result.byPhase)) expect(phase.closed).toBeGreaterThan(50);
    for (const code of ['1002', '1003', '1007', '1009']) expect(result.closeCodes?.[code]).toBeGreaterThan(0);
  });

  it('json codec: 10 000 generated and mutated texts; refuses exactly what JSON.parse refuses, agrees on the rest with exact big integers', async () => {
    const result = runJsonFuzz({ cases: Number(process.env.FUZZ_JSON_CASES ?? 10_000), seed: SEED + 3 });
    console.log(JSON.stringify(result));
    expect(result.problems).toEqual([]);
    expect(result.accepted + result.refused + result.tooDeep).toBe(result.cases);
    expect(result.accepted).toBeGreaterThan(2000);
    expect(result.refused).toBeGreaterThan(2000);
    expect(result.tooDeep).toBeGreaterThan(10);
    expect(result.bigIntegers).toBeGreaterThan(500);
  });
});
