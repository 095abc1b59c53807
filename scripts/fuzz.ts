/**
 * Long fuzz run (the CI ones are spec/reliability/fuzz.spec.ts and http-fuzz.spec.ts):
 *
 *   npm run fuzz -- --cases 200000 --seed 7 [--target all|client|client-ws|emulator|emulator-ws|http|json] [--seconds N]
 *
 * Cases are split between the client over an in-memory transport (66 %), the client over TCP
 * (3 %), the client over WebSocket (3 %), the emulator over TCP (10 %), the emulator over
 * WebSocket (3 %) and the HTTP endpoints (15 %: emulator REST/admin/token, createTokenHandler,
 * createCallbackHandler); `--target` keeps one side only: `client` and `emulator` on every
 * transport, `client-ws` and `emulator-ws` on WebSocket only. The JSON codec
 * (spec/reliability/fuzz/json.ts) gets `--cases` texts of its own with `all` or `json`.
 * `--seconds N` bounds each run by time (with `--target http`, `client-ws` or `emulator-ws`
 * and no `--cases`, it runs until then). Prints one JSON object; the exit code is 1 when any
 * case broke an expectation (see spec/reliability/fuzz/kit.ts and http-kit.ts).
 * Progress (cases done, time left) goes to stderr every 5 s (`MIMC_PROGRESS_MS`); the JSON to stdout.
 */
import { installMemoryNet } from '../spec/reliability/fuzz/memory-net.js';
import { fraction, startProgress } from './progress.js';

type Target = 'all' | 'client' | 'client-ws' | 'emulator' | 'emulator-ws' | 'http' | 'json';
const TARGETS: readonly string[] = ['all', 'client', 'client-ws', 'emulator', 'emulator-ws', 'http', 'json'];

interface Args {
  cases: number;
  casesGiven: boolean;
  seconds: number | undefined;
  seed: number;
  target: Target;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { cases: 10_000, casesGiven: false, seconds: undefined, seed: Date.now() % 0x7fffffff, target: 'all' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--cases' && value !== undefined && /^\d+$/.test(value)) {
      args.cases = Number(value);
      args.casesGiven = true;
    } else if (flag === '--seconds' && value !== undefined && /^\d+$/.test(value)) args.seconds = Number(value);
    else if (flag === '--seed' && value !== undefined && /^\d+$/.test(value)) args.seed = Number(value);
    else if (flag === '--target' && value !== undefined && TARGETS.includes(value)) args.target = value as Target;
    else {
      process.stderr.write(`usage: fuzz [--cases N] [--seconds N] [--seed S] [--target ${TARGETS.join('|')}]\n(bad argument ${JSON.stringify(flag)})\n`);
      process.exit(2);
    }
    i++;
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
installMemoryNet();
const { runClientFuzz, runEmulatorFuzz } = await import('../spec/reliability/fuzz/kit.js');
const { runHttpFuzz } = await import('../spec/reliability/fuzz/http-kit.js');
const { runJsonFuzz } = await import('../spec/reliability/fuzz/json.js');

interface Share {
  memory: number;
  tcp: number;
  ws: number;
  emulator: number;
  emulatorWs: number;
  http: number;
}
const none: Share = { memory: 0, tcp: 0, ws: 0, emulator: 0, emulatorWs: 0, http: 0 };
const shares: Record<Target, Share> = {
  all: { memory: 0.66, tcp: 0.03, ws: 0.03, emulator: 0.1, emulatorWs: 0.03, http: 0.15 },
  client: { ...none, memory: 0.94, tcp: 0.03, ws: 0.03 },
  'client-ws': { ...none, ws: 1 },
  emulator: { ...none, emulator: 0.8, emulatorWs: 0.2 },
  'emulator-ws': { ...none, emulatorWs: 1 },
  http: { ...none, http: 1 },
  json: none,
};
const share = shares[args.target];
// A single-run target with `--seconds N` and no `--cases`: as many cases as fit in the time.
const timeBound = ['http', 'client-ws', 'emulator-ws'].includes(args.target) && args.seconds !== undefined && !args.casesGiven;
const total = timeBound ? Number.MAX_SAFE_INTEGER : args.cases;
const memoryCases = Math.round(total * share.memory);
const tcpCases = Math.round(total * share.tcp);
const wsCases = Math.round(total * share.ws);
const emulatorCases = Math.round(total * share.emulator);
const emulatorWsCases = Math.round(total * share.emulatorWs);
const httpCases = share.http === 0 ? 0 : total - memoryCases - tcpCases - wsCases - emulatorCases - emulatorWsCases;
const seconds = args.seconds === undefined ? {} : { seconds: args.seconds };
const jsonCases = args.target === 'all' || args.target === 'json' ? args.cases : 0;

const started = Date.now();
let done = 0;
const onCases = (count: number): void => void (done += count);
// a run bounded by time only has no case total to count towards
const progress = startProgress('fuzz', () =>
  timeBound ? `${done} cases, ~${Math.max(0, Math.round(args.seconds! - (Date.now() - started) / 1000))} s left` : fraction(done, args.cases, Date.now() - started, 'cases'),
);
const count = (n: number): string => (n === Number.MAX_SAFE_INTEGER ? 'timed' : String(n));
progress.phase(
  `seed ${args.seed}: ${count(memoryCases)} client (memory), ${count(tcpCases)} client (tcp), ${count(wsCases)} client (websocket), ` +
    `${count(emulatorCases)} emulator (tcp), ${count(emulatorWsCases)} emulator (websocket), ${count(httpCases)} http, ${jsonCases} json`,
);
if (memoryCases > 0) progress.phase('client over the in-memory transport');
const client = memoryCases > 0 ? await runClientFuzz({ cases: memoryCases, seed: args.seed, transport: 'memory', onCases, ...seconds }) : null;
if (tcpCases > 0) progress.phase('client over TCP');
const clientTcp = tcpCases > 0 ? await runClientFuzz({ cases: tcpCases, seed: args.seed + 1, transport: 'tcp', onCases, ...seconds }) : null;
if (wsCases > 0) progress.phase('client over WebSocket');
const clientWs = wsCases > 0 ? await runClientFuzz({ cases: wsCases, seed: args.seed + 5, transport: 'websocket', onCases, ...seconds }) : null;
if (emulatorCases > 0) progress.phase('emulator over TCP');
const emulator = emulatorCases > 0 ? await runEmulatorFuzz({ cases: emulatorCases, seed: args.seed + 2, onCases, ...seconds }) : null;
if (emulatorWsCases > 0) progress.phase('emulator over WebSocket');
const emulatorWs = emulatorWsCases > 0 ? await runEmulatorFuzz({ cases: emulatorWsCases, seed: args.seed + 6, transport: 'websocket', onCases, ...seconds }) : null;
if (httpCases > 0) progress.phase('HTTP endpoints');
let httpDone = 0;
const http =
  httpCases > 0
    ? await runHttpFuzz({
        cases: httpCases,
        seed: args.seed + 3,
        ...seconds,
        onProgress: (count) => {
          onCases(count - httpDone);
          httpDone = count;
        },
      })
    : null;
if (jsonCases > 0) progress.phase('JSON codec');
const json = jsonCases > 0 ? runJsonFuzz({ cases: jsonCases, seed: args.seed + 4 }) : null;
if (json) onCases(json.cases);
progress.stop();
const runs = { client, clientTcp, clientWs, emulator, emulatorWs, http, json };
const problems = Object.values(runs).flatMap((run) => run?.problems ?? []);
const cases = Object.values(runs).reduce((sum, run) => sum + (run?.cases ?? 0), 0);

process.stdout.write(`${JSON.stringify({ seed: args.seed, cases, ms: Date.now() - started, ok: problems.length === 0, problems, ...runs }, null, 2)}\n`);
progress.phase(problems.length === 0 ? `done, ${cases} cases, no problem` : `done, ${problems.length} problem(s)`);
process.exitCode = problems.length === 0 ? 0 : 1;
