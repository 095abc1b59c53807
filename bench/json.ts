/**
 * JSON codec benchmark: parseJsonExact (lib/protocol/json.ts) on 1 MiB adversarial texts (long
 * escape runs, an escape run that never closes, nesting up to the parser's depth cap and past it,
 * long digit runs) and on a 1 MiB REST-like envelope, with JSON.parse on the same text as the
 * baseline; stringifyExact on the envelope's value.
 *
 *   npm run bench:json -- [--seconds 1] [--mib 1]
 *
 * Prints one JSON object to stdout. MB/s counts input bytes (UTF-8), 1 MB = 10^6 bytes.
 */
import { parseArgs } from 'node:util';
import { JSON_MAX_DEPTH, parseJsonExact, stringifyExact } from '../lib/protocol/json.js';
import { MIMCError } from '../lib/errors.js';
import { isMain, loadSnapshot, machineInfo, round, runMain, type MachineInfo } from './common.js';

export interface JsonBenchOptions {
  /** Measured time per input and function, in seconds (at least 3 calls). Default 1. */
  seconds?: number;
  /** Size of each input in MiB. Default 1. */
  mib?: number;
}

export interface Timing {
  calls: number;
  /** Median wall time of one call. */
  ms: number;
  /** Input bytes per second at the median, 10^6 bytes. */
  mbPerSec: number;
}

export interface JsonCaseResult {
  name: string;
  bytes: number;
  /** `parsed`, or the error code parseJsonExact refused the text with. */
  outcome: string;
  parseJsonExact: Timing;
  /** JSON.parse on the same text (the V8 built-in; refuses rather than quoting big integers). */
  jsonParse: Timing;
}

export interface JsonBenchResult {
  benchmark: 'json';
  date: string;
  machine: MachineInfo;
  seconds: number;
  maxDepth: number;
  loadAvg1mBefore: number;
  loadAvg1mAfter: number;
  cases: JsonCaseResult[];
  stringifyExact: Timing & { bytes: number };
}

/** Calls `fn` for about `seconds` (at least 3 times) and returns the median call time. */
function time(seconds: number, bytes: number, fn: () => void): Timing {
  const samples: number[] = [];
  const budget = seconds * 1000;
  const started = performance.now();
  while (samples.length < 3 || performance.now() - started < budget) {
    const t = performance.now();
    fn();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  const ms = samples[Math.floor(samples.length / 2)]!;
  return { calls: samples.length, ms: round(ms, 3), mbPerSec: round(bytes / 1e6 / (ms / 1000), 1) };
}

/** `unit` repeated to about `size` characters. */
const fill = (unit: string, size: number): string => unit.repeat(Math.max(1, Math.floor(size / unit.length)));

/** The inputs, each about `size` characters. */
function inputs(size: number): { name: string; text: string }[] {
  const nested = '['.repeat(JSON_MAX_DEPTH - 1) + ']'.repeat(JSON_MAX_DEPTH - 1);
  const row = (i: number): string =>
    stringifyExact({ appId: 2882303761517479657n, topicId: 4501973250376872n + BigInt(i), account: `user-${i}`, payload: 'aGVsbG8gd29ybGQ=', ok: true, n: i / 7 });
  const rows: string[] = [];
  for (let i = 0, length = 0; length < size; i++) {
    rows.push(row(i));
    length += rows[rows.length - 1]!.length + 1;
  }
  return [
    { name: 'escape-run-unterminated', text: fill('"\\', size) },
    { name: 'escaped-quotes-string', text: `"${fill('\\"', size - 2)}"` },
    { name: 'unicode-escapes-string', text: `"${fill('\\u00e9\\ud83d\\ude00', size - 2)}"` },
    { name: 'nesting-at-depth-cap', text: `[${fill(`${nested},`, size - 2)}0]` },
    { name: 'nesting-past-depth-cap', text: fill('[', size) },
    { name: 'digit-run', text: `[${fill('9', size - 2)}]` },
    { name: 'big-integer-array', text: `[${fill('2882303761517479657,', size - 2)}0]` },
    { name: 'rest-envelope', text: `{"code":200,"message":"success","data":[${rows.join(',')}]}` },
  ];
}

function outcomeOf(text: string): string {
  try {
    parseJsonExact(text);
    return 'parsed';
  } catch (err) {
    return MIMCError.is(err) ? err.code : `threw ${String(err)}`;
  }
}

export async function runJsonBench(options: JsonBenchOptions = {}): Promise<JsonBenchResult> {
  const seconds = options.seconds ?? 1;
  const size = Math.round((options.mib ?? 1) * 1024 * 1024);
  const loadBefore = loadSnapshot().loadAvg1m;
  const cases: JsonCaseResult[] = [];
  let envelope: unknown;
  for (const { name, text } of inputs(size)) {
    const bytes = Buffer.byteLength(text);
    const outcome = outcomeOf(text);
    const swallow = (fn: () => unknown) => () => {
      try {
        fn();
      } catch {
        // refusals are timed like answers
      }
    };
    cases.push({
      name,
      bytes,
      outcome,
      parseJsonExact: time(seconds, bytes, swallow(() => parseJsonExact(text))),
      jsonParse: time(seconds, bytes, swallow(() => JSON.parse(text))),
    });
    if (name === 'rest-envelope') envelope = parseJsonExact(text);
    // let timers and I/O of a caller (bench/run-all.ts) breathe between cases
    await new Promise((resolve) => setImmediate(resolve));
  }
  const written = stringifyExact(envelope);
  const stringify = time(seconds, Buffer.byteLength(written), () => stringifyExact(envelope));
  return {
    benchmark: 'json',
    date: new Date().toISOString(),
    machine: machineInfo(),
    seconds,
    maxDepth: JSON_MAX_DEPTH,
    loadAvg1mBefore: loadBefore,
    loadAvg1mAfter: loadSnapshot().loadAvg1m,
    cases,
    stringifyExact: { bytes: Buffer.byteLength(written), ...stringify },
  };
}

export function parseJsonBenchArgs(argv: string[]): JsonBenchOptions {
  const { values } = parseArgs({ args: argv, options: { seconds: { type: 'string' }, mib: { type: 'string' } }, strict: true });
  const positive = (flag: string, raw: string | undefined): number | undefined => {
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${flag} needs a positive number, got ${raw}`);
    return n;
  };
  const opts: JsonBenchOptions = {};
  const seconds = positive('seconds', values.seconds);
  const mib = positive('mib', values.mib);
  if (seconds !== undefined) opts.seconds = seconds;
  if (mib !== undefined) opts.mib = mib;
  return opts;
}

if (isMain(import.meta.url)) runMain(() => runJsonBench(parseJsonBenchArgs(process.argv.slice(2))));
