/**
 * Fuzzing the exact-bigint JSON codec (lib/protocol/json.ts) against JSON.parse as the oracle:
 * generated values (big integers, escape-heavy strings, deep nesting) written by stringifyExact
 * or JSON.stringify, then often mutated. For every text the codec must refuse exactly what
 * JSON.parse refuses (with ERR_INVALID_JSON), or refuse nesting beyond its cap, and otherwise
 * give JSON.parse's value with integer literals of 16+ digits as their exact decimal text.
 */
import { ErrorCode, MIMCError } from '../../../lib/errors.js';
import { JSON_MAX_DEPTH, parseJsonExact, stringifyExact } from '../../../lib/protocol/json.js';
import { Rng } from './generate.js';

export interface JsonFuzzOptions {
  cases: number;
  seed: number;
}

export interface JsonFuzzResult {
  cases: number;
  /** Texts JSON.parse and the codec both accepted (and agreed on). */
  accepted: number;
  /** Texts both refused. */
  refused: number;
  /** Valid JSON the codec refused for nesting beyond its cap. */
  tooDeep: number;
  /** Accepted texts holding an integer literal of 16+ digits. */
  bigIntegers: number;
  /** Unmutated values checked for an exact round trip. */
  roundTrips: number;
  problems: string[];
  ms: number;
}

const STRING_PIECES = ['"', '\\', '/', '\n', '\t', '\u0000', '\u001f', '\u007f', '\u2028', '\ud800', '\udc00', 'é', '\u{1F600}', 'a', '0', ' '];
const MUTATION_PIECES = ['', '"', '\\', '\\u', '\\u00', ',', ':', '[', ']', '{', '}', '-', '0', '1', '.', 'e', 'E+', ' ', '\u0000', 'true', 'nul', '"\\', '\u00a0'];

function randomString(rng: Rng): string {
  if (rng.chance(0.2)) return rng.text();
  const parts: string[] = [];
  const n = rng.int(rng.chance(0.05) ? 2000 : 12);
  for (let i = 0; i < n; i++) parts.push(rng.pick(STRING_PIECES));
  return parts.join('');
}

function randomNumber(rng: Rng): number | bigint {
  switch (rng.int(8)) {
    case 0:
      return rng.u64();
    case 1:
      return -rng.u64();
    case 2:
      return BigInt('9'.repeat(16 + rng.int(rng.chance(0.1) ? 400 : 30)));
    case 3:
      return (rng.next() / 0x100000000 - 0.5) * 10 ** (rng.int(40) - 20);
    case 4:
      return rng.pick([0, -0, 1e21, 1e-7, 9007199254740991, 4501973250376872, Number.MAX_VALUE, Number.MIN_VALUE]);
    default:
      return rng.int(1_000_000) - 500_000;
  }
}

function randomValue(rng: Rng, depth: number): unknown {
  const kind = depth > 6 ? rng.int(4) : rng.int(7);
  switch (kind) {
    case 0:
      return randomString(rng);
    case 1:
      return randomNumber(rng);
    case 2:
      return rng.pick([true, false, null]);
    case 3:
      return rng.chance(0.5) ? randomNumber(rng) : randomString(rng);
    case 4: {
      const out: unknown[] = [];
      for (let i = rng.int(5); i > 0; i--) out.push(randomValue(rng, depth + 1));
      return out;
    }
    default: {
      const out: Record<string, unknown> = {};
      for (let i = rng.int(5); i > 0; i--) {
        const key = rng.chance(0.05) ? '__proto__' : randomString(rng);
        Object.defineProperty(out, key, { value: randomValue(rng, depth + 1), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
  }
}

/** `value` wrapped in `levels` arrays/objects (around the codec's depth cap). */
function nest(rng: Rng, value: string, levels: number): string {
  const open: string[] = [];
  const close: string[] = [];
  for (let i = 0; i < levels; i++) {
    const object = rng.chance(0.5);
    open.push(object ? '{"k":' : '[');
    close.push(object ? '}' : ']');
  }
  return open.join('') + value + close.reverse().join('');
}

function mutate(rng: Rng, text: string): string {
  let out = text;
  for (let n = 1 + rng.int(3); n > 0; n--) {
    const at = rng.int(out.length + 1);
    switch (rng.int(5)) {
      case 0: // insert
        out = out.slice(0, at) + rng.pick(MUTATION_PIECES) + out.slice(at);
        break;
      case 1: // delete
        out = out.slice(0, at) + out.slice(at + 1 + rng.int(3));
        break;
      case 2: // replace
        out = out.slice(0, at) + rng.pick(MUTATION_PIECES) + out.slice(at + 1);
        break;
      case 3: // truncate
        out = out.slice(0, at);
        break;
      default: // duplicate a slice
        out = out.slice(0, at) + out.slice(at, at + rng.int(20)) + out.slice(at);
    }
  }
  return out;
}

/** What parseJsonExact gives for a value written by stringifyExact. */
function readBack(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString().replace('-', '').length >= 16 ? value.toString() : Number(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return null;
    if (Object.is(value, -0)) return 0;
    return /^-?\d{16,}$/.test(String(value)) ? String(value) : value;
  }
  if (Array.isArray(value)) return value.map(readBack);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      Object.defineProperty(out, key, { value: readBack((value as Record<string, unknown>)[key]), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

const BIG_LITERAL = /^-?\d{16,}$/;

/** Where `ours` and `theirs` differ (undefined when they agree); a big-integer string matches JSON.parse's number. */
function difference(ours: unknown, theirs: unknown, path: string, big: { seen: boolean }): string | undefined {
  if (typeof ours === 'string' && typeof theirs === 'number') {
    big.seen = true;
    return BIG_LITERAL.test(ours) && Number(ours) === theirs ? undefined : `${path}: ${ours.slice(0, 30)} vs ${theirs}`;
  }
  if (typeof ours !== typeof theirs) return `${path}: ${typeof ours} vs ${typeof theirs}`;
  if (ours === null || typeof ours !== 'object') return Object.is(ours, theirs) ? undefined : `${path}: ${String(ours).slice(0, 30)} vs ${String(theirs).slice(0, 30)}`;
  if (theirs === null || Array.isArray(ours) !== Array.isArray(theirs)) return `${path}: container kind`;
  if (Object.getPrototypeOf(ours) !== Object.getPrototypeOf(theirs)) return `${path}: prototype`;
  const keys = Object.keys(ours);
  const theirKeys = Object.keys(theirs as object);
  if (keys.length !== theirKeys.length || keys.some((k, i) => k !== theirKeys[i])) return `${path}: keys`;
  for (const key of keys) {
    const d = difference((ours as Record<string, unknown>)[key], (theirs as Record<string, unknown>)[key], `${path}.${key.slice(0, 10)}`, big);
    if (d !== undefined) return d;
  }
  return undefined;
}

export function runJsonFuzz(options: JsonFuzzOptions): JsonFuzzResult {
  const started = Date.now();
  const rng = new Rng(options.seed);
  const result: JsonFuzzResult = { cases: 0, accepted: 0, refused: 0, tooDeep: 0, bigIntegers: 0, roundTrips: 0, problems: [], ms: 0 };
  const problem = (i: number, what: string): void => {
    if (result.problems.length < 20) result.problems.push(`case ${i} (seed ${options.seed}): ${what}`);
  };
  for (let i = 0; i < options.cases; i++) {
    result.cases++;
    const value = randomValue(rng, 0);
    let text = rng.chance(0.7) ? stringifyExact(value) : JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v), rng.chance(0.5) ? 2 : undefined);
    if (rng.chance(0.05)) text = nest(rng, text, JSON_MAX_DEPTH - 8 + rng.int(16));
    const mutated = rng.chance(0.6);
    if (mutated) text = mutate(rng, text);
    else if (text.length < 100_000 && !text.includes('\n')) {
      // Unmutated and written by stringifyExact or JSON.stringify: check the exact round trip too.
      try {
        const back = parseJsonExact(stringifyExact(value));
        const d = difference(back, readBack(value), '$', { seen: false });
        if (d !== undefined) problem(i, `round trip: ${d}`);
        result.roundTrips++;
      } catch (err) {
        problem(i, `round trip threw ${String(err)}`);
      }
    }

    let theirs: unknown;
    let theirsOk = true;
    try {
      theirs = JSON.parse(text);
    } catch {
      theirsOk = false;
    }
    let ours: unknown;
    let oursError: unknown;
    try {
      ours = parseJsonExact(text);
    } catch (err) {
      oursError = err;
    }
    if (oursError !== undefined) {
      if (!MIMCError.is(oursError) || oursError.code !== ErrorCode.INVALID_JSON) {
        problem(i, `threw ${String(oursError)}`);
        continue;
      }
      if (!theirsOk) result.refused++;
      else if (oursError.details?.maxDepth !== undefined) result.tooDeep++;
      else problem(i, `refused what JSON.parse accepts: ${oursError.message}`);
      continue;
    }
    if (!theirsOk) {
      problem(i, 'accepted what JSON.parse refuses');
      continue;
    }
    const big = { seen: false };
    const d = difference(ours, theirs, '$', big);
    if (d !== undefined) problem(i, `value differs at ${d}`);
    result.accepted++;
    if (big.seen) result.bigIntegers++;
  }
  result.ms = Date.now() - started;
  return result;
}
