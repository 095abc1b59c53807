/**
 * Long fuzz run (the CI one is spec/reliability/fuzz.spec.ts):
 *
 *   npm run fuzz -- --cases 200000 --seed 7 [--target all|client|emulator|json]
 *
 * Cases are split between the client over an in-memory transport (80 %), the client over TCP
 * (3 %) and the emulator over TCP (17 %); `--target` keeps one side only. The JSON codec
 * (spec/reliability/fuzz/json.ts) gets `--cases` texts of its own with `all` or `json`. Prints one JSON object;
 * the exit code is 1 when any case broke an expectation (see spec/reliability/fuzz/kit.ts).
 * Progress (cases done, time left) goes to stderr every 5 s (`MIMC_PROGRESS_MS`); the JSON to stdout.
 */
import { installMemoryNet } from '../spec/reliability/fuzz/memory-net.js';
import { fraction, startProgress } from './progress.js';

interface Args {
  cases: number;
  seed: number;
  target: 'all' | 'client' | 'emulator' | 'json';
}

function parseArgs(argv: string[]): Args {
  const args: Args = { cases: 10_000, seed: Date.now() % 0x7fffffff, target: 'all' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--cases' && value !== undefined && /^\d+$/.test(value)) args.cases = Number(value);
    else if (flag === '--seed' && value !== undefined && /^\d+$/.test(value)) args.seed = Number(value);
    else if (flag === '--target' && (value === 'all' || value === 'client' || value === 'emulator' || value === 'json')) args.target = value;
    else {
      process.stderr.write(`usage: fuzz [--cases N] [--seed S] [--target all|client|emulator|json]\n(bad argument ${JSON.stringify(flag)})\n`);
      process.exit(2);
    }
    i++;
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
installMemoryNet();
const { runClientFuzz, runEmulatorFuzz } = await import('../spec/reliability/fuzz/kit.js');
const { runJsonFuzz } = await import('../spec/reliability/fuzz/json.js');

const share = args.target === 'all' ? { memory: 0.8, tcp: 0.03 } : args.target === 'client' ? { memory: 0.97, tcp: 0.03 } : { memory: 0, tcp: 0 };
const memoryCases = Math.round(args.cases * share.memory);
const tcpCases = Math.round(args.cases * share.tcp);
const emulatorCases = args.target === 'json' ? 0 : args.cases - memoryCases - tcpCases;
const jsonCases = args.target === 'all' || args.target === 'json' ? args.cases : 0;

const started = Date.now();
let done = 0;
const onCases = (count: number): void => void (done += count);
const progress = startProgress('fuzz', () => fraction(done, args.cases, Date.now() - started, 'cases'));
progress.phase(`seed ${args.seed}, ${args.cases} cases: ${memoryCases} client (memory), ${tcpCases} client (tcp), ${emulatorCases} emulator`);
if (memoryCases > 0) progress.phase('client over the in-memory transport');
const client = memoryCases > 0 ? await runClientFuzz({ cases: memoryCases, seed: args.seed, transport: 'memory', onCases }) : null;
if (tcpCases > 0) progress.phase('client over TCP');
const clientTcp = tcpCases > 0 ? await runClientFuzz({ cases: tcpCases, seed: args.seed + 1, transport: 'tcp', onCases }) : null;
if (emulatorCases > 0) progress.phase('emulator over TCP');
const emulator = emulatorCases > 0 ? await runEmulatorFuzz({ cases: emulatorCases, seed: args.seed + 2, onCases }) : null;
if (jsonCases > 0) progress.phase('JSON codec');
const json = jsonCases > 0 ? runJsonFuzz({ cases: jsonCases, seed: args.seed + 3 }) : null;
if (json) onCases(json.cases);
progress.stop();
const problems = [...(client?.problems ?? []), ...(clientTcp?.problems ?? []), ...(emulator?.problems ?? []), ...(json?.problems ?? [])];

process.stdout.write(
  `${JSON.stringify(
    {
      seed: args.seed,
      cases: (client?.cases ?? 0) + (clientTcp?.cases ?? 0) + (emulator?.cases ?? 0) + (json?.cases ?? 0),
      ms: Date.now() - started,
      ok: problems.length === 0,
      problems,
      client,
      clientTcp,
      emulator,
      json,
    },
    null,
    2,
  )}\n`,
);
progress.phase(problems.length === 0 ? `done, ${done} cases, no problem` : `done, ${problems.length} problem(s)`);
process.exitCode = problems.length === 0 ? 0 : 1;
