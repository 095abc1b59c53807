/**
 * Long fuzz run (the CI ones are spec/reliability/fuzz.spec.ts and http-fuzz.spec.ts):
 *
 *   npm run fuzz -- --cases 200000 --seed 7 [--target all|client|emulator|http|json] [--seconds N]
 *
 * Cases are split between the client over an in-memory transport (70 %), the client over TCP
 * (3 %), the emulator over TCP (12 %) and the HTTP endpoints (15 %: emulator REST/admin/token,
 * createTokenHandler, createCallbackHandler); `--target` keeps one side only. The JSON codec
 * (spec/reliability/fuzz/json.ts) gets `--cases` texts of its own with `all` or `json`.
 * `--seconds N` bounds the HTTP run by time (with `--target http` and no `--cases`, it runs
 * until then). Prints one JSON object; the exit code is 1 when any case broke an expectation
 * (see spec/reliability/fuzz/kit.ts and http-kit.ts).
 * Progress (cases done, time left) goes to stderr every 5 s (`MIMC_PROGRESS_MS`); the JSON to stdout.
 */
import { installMemoryNet } from '../spec/reliability/fuzz/memory-net.js';
import { fraction, startProgress } from './progress.js';

type Target = 'all' | 'client' | 'emulator' | 'http' | 'json';
const TARGETS: readonly string[] = ['all', 'client', 'emulator', 'http', 'json'];

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

const shares: Record<Target, { memory: number; tcp: number; emulator: number; http: number }> = {
  all: { memory: 0.7, tcp: 0.03, emulator: 0.12, http: 0.15 },
  client: { memory: 0.97, tcp: 0.03, emulator: 0, http: 0 },
  emulator: { memory: 0, tcp: 0, emulator: 1, http: 0 },
  http: { memory: 0, tcp: 0, emulator: 0, http: 1 },
  json: { memory: 0, tcp: 0, emulator: 0, http: 0 },
};
const share = shares[args.target];
// `--target http --seconds N` without `--cases`: as many cases as fit in the time.
const total = args.target === 'http' && args.seconds !== undefined && !args.casesGiven ? Number.MAX_SAFE_INTEGER : args.cases;
const memoryCases = Math.round(total * share.memory);
const tcpCases = Math.round(total * share.tcp);
const emulatorCases = Math.round(total * share.emulator);
const httpCases = share.http === 0 ? 0 : total - memoryCases - tcpCases - emulatorCases;
const jsonCases = args.target === 'all' || args.target === 'json' ? args.cases : 0;

const started = Date.now();
let done = 0;
const onCases = (count: number): void => void (done += count);
const progress = startProgress('fuzz', () => fraction(done, args.cases, Date.now() - started, 'cases'));
progress.phase(`seed ${args.seed}: ${memoryCases} client (memory), ${tcpCases} client (tcp), ${emulatorCases} emulator, ${httpCases} http, ${jsonCases} json`);
if (memoryCases > 0) progress.phase('client over the in-memory transport');
const client = memoryCases > 0 ? await runClientFuzz({ cases: memoryCases, seed: args.seed, transport: 'memory', onCases }) : null;
if (tcpCases > 0) progress.phase('client over TCP');
const clientTcp = tcpCases > 0 ? await runClientFuzz({ cases: tcpCases, seed: args.seed + 1, transport: 'tcp', onCases }) : null;
if (emulatorCases > 0) progress.phase('emulator over TCP');
const emulator = emulatorCases > 0 ? await runEmulatorFuzz({ cases: emulatorCases, seed: args.seed + 2, onCases }) : null;
if (httpCases > 0) progress.phase('HTTP endpoints');
let httpDone = 0;
const http =
  httpCases > 0
    ? await runHttpFuzz({
        cases: httpCases,
        seed: args.seed + 3,
        ...(args.seconds === undefined ? {} : { seconds: args.seconds }),
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
const problems = [...(client?.problems ?? []), ...(clientTcp?.problems ?? []), ...(emulator?.problems ?? []), ...(http?.problems ?? []), ...(json?.problems ?? [])];
const cases = (client?.cases ?? 0) + (clientTcp?.cases ?? 0) + (emulator?.cases ?? 0) + (http?.cases ?? 0) + (json?.cases ?? 0);

process.stdout.write(`${JSON.stringify({ seed: args.seed, cases, ms: Date.now() - started, ok: problems.length === 0, problems, client, clientTcp, emulator, http, json }, null, 2)}\n`);
progress.phase(problems.length === 0 ? `done, ${cases} cases, no problem` : `done, ${problems.length} problem(s)`);
process.exitCode = problems.length === 0 ? 0 : 1;
