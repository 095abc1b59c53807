/**
 * Every command shown in the README, the docs and the scripts' headers: each one that can run
 * offline is run here (long runs with small sizes) and must exit 0 with the output it promises;
 * the others are listed with the reason. A command added to the docs without a place in
 * COVERAGE fails the first test, so the list cannot silently fall behind.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';

jest.setTimeout(120_000);

const root = fileURLToPath(new URL('../../', import.meta.url));
/** What `npm run ts <file>` runs (checked against package.json below): started directly, so signals reach it. */
const TS = [process.execPath, '--import', './scripts/ts-node-register.mjs'];
const ENV = { ...process.env, NODE_OPTIONS: '', MIMC_PROGRESS_MS: '1000' };

// ---- what the docs show -------------------------------------------------------------------------

const MARKDOWN = ['README.md', 'docs/guide.md', 'docs/protocol.md', 'docs/go-sdk-mapping.md', 'docs/benchmarks.md', 'bench/README.md', 'lib/emulator/README.md', 'spec/fixtures/README.md'];
const HEADERS = ['examples', 'scripts', 'bench'];
const COMMAND = /^(?:[A-Z_]+=\S+ )?(?:npm|npx|node|curl|bash) /;

function clean(line: string): string {
  return line.replace(/\s+#.*$/, '').replace(/\\$/, '').replace(/\s+/g, ' ').trim();
}

async function shownCommands(): Promise<Array<{ file: string; command: string }>> {
  const found: Array<{ file: string; command: string }> = [];
  for (const file of MARKDOWN) {
    const text = await readFile(join(root, file), 'utf8');
    for (const block of text.matchAll(/^```(?:sh|bash|shell|console)\n([\s\S]*?)^```/gm)) {
      for (const line of block[1]!.split('\n')) {
        const command = clean(line);
        if (COMMAND.test(command)) found.push({ file, command });
      }
    }
    for (const inline of text.matchAll(/`([^`\n]+)`/g)) {
      const command = clean(inline[1]!);
      if (COMMAND.test(command)) found.push({ file, command });
    }
  }
  for (const dir of HEADERS) {
    for (const name of (await readdir(join(root, dir))).filter((n) => /\.(ts|mjs)$/.test(n))) {
      const text = await readFile(join(root, dir, name), 'utf8');
      const header = /^\/\*\*([\s\S]*?)\*\//.exec(text)?.[1] ?? '';
      for (const line of header.split('\n')) {
        const command = clean(line.replace(/^\s*\*\s?/, '')).replace(/\s{2,}.*$/, '');
        if (COMMAND.test(command)) found.push({ file: `${dir}/${name}`, command });
      }
    }
  }
  return found;
}

/** Command prefixes and the test that runs them, or why they are not run here. */
const COVERAGE: Array<[prefix: string, by: string]> = [
  ['npm install && npm run demo', 'runs: the demo'],
  ['npm run demo', 'runs: the demo'],
  ['npm run ts lib/emulator/cli.ts -- --help', 'runs: the emulator CLI'],
  ['node --import ./scripts/ts-node-register.mjs lib/emulator/cli.ts --port 0', 'runs: the emulator CLI'],
  ['npm run ts examples/<file>.ts', 'runs: the echo bot and the push relay'],
  ['npm run ts examples/echo-bot.ts', 'runs: the echo bot'],
  ['PORT=8080 npm run ts examples/push-relay.ts', 'runs: the push relay'],
  ['curl -XPOST localhost:8080/', 'runs: the push relay'],
  ['npm run ts <file.ts>', 'runs: every `npm run ts` here'],
  ['npm run fuzz', 'runs: fuzz and soak, small'],
  ['npm run soak', 'runs: fuzz and soak, small'],
  ['node scripts/gen-proto.mjs', 'runs: the benchmarks'],
  ['npm run bench -- --long', 'not run: the long variant of `npm run bench --only codec`, which runs'],
  ['npm run bench:transports', 'runs: the benchmarks, small (`npm run bench:transports`, child-process emulator)'],
  ['npm run bench', 'runs: the benchmarks (`--only codec`)'],
  ['node --import ./scripts/ts-node-register.mjs bench/', 'runs: the benchmarks, small'],
  ['npm run ts -- bench/', 'runs: the benchmarks, small'],
  ['node --expose-gc --import ./scripts/ts-node-register.mjs bench/memory.ts', 'runs: the benchmarks, small'],
  ['node --expose-gc --import ./scripts/ts-node-register.mjs bench/uc-fanout.ts', 'runs: the benchmarks, small'],
  ['node --cpu-prof', 'runs: the benchmarks (profile summary)'],
  ['npm run docs', 'runs: the API docs'],
  ['npm install && npm test', 'not run: installs, then runs the suite this spec is part of'],
  ['npm test', 'not run: the suite this spec is part of'],
  ['bash .ci/run', 'not run: CI itself'],
  ['npm run typecheck', 'not run: a CI step'],
  ['npm run build', 'not run: CI runs it through pack:check'],
  ['npm run pack:check', 'not run: a CI step (packs and installs from the registry)'],
  ['npx mimc-emulator', 'not run: needs a build and a fixed port; pack:check runs the installed bin'],
];

it('every command shown in the docs is run here or listed with a reason', async () => {
  const shown = await shownCommands();
  expect(shown.length).toBeGreaterThan(20);
  const uncovered = shown.filter(({ command }) => !COVERAGE.some(([prefix]) => command.startsWith(prefix)));
  expect(uncovered).toEqual([]);
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  expect(pkg.scripts.ts).toBe('node --import ./scripts/ts-node-register.mjs');
});

// ---- running them -------------------------------------------------------------------------------

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], timeoutMs = 90_000, env: NodeJS.ProcessEnv = ENV): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: root, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function expectOk(outcome: Outcome): void {
  if (outcome.code !== 0) throw new Error(`exit ${outcome.code}\n${outcome.stderr.slice(-3000)}`);
}

/** A long-running command: resolves with the first stdout line matching `ready`. */
async function start(args: string[], ready: RegExp, env: NodeJS.ProcessEnv = ENV): Promise<{ child: ChildProcess; line: string; stop(): Promise<number | null> }> {
  const child = spawn(args[0]!, args.slice(1), { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + String(chunk)).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready within 60 s: ${stderr}`)), 60_000);
    void exited.then((code) => reject(new Error(`exited with ${code} before ready: ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (ready.test(l)) {
        clearTimeout(timer);
        resolve(l);
      }
    });
  });
  return {
    child,
    line,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

function json(outcome: Outcome): Record<string, unknown> {
  return JSON.parse(outcome.stdout) as Record<string, unknown>;
}

it('the demo', async () => {
  const plain = await run('npm', ['run', 'demo', '--silent']);
  expectOk(plain);
  expect(plain.stdout).toMatch(/dave +no ack in time for \S+ \("Is anyone there\?"\)/);
  expect(plain.stdout).toMatch(/bob +is offline \(multi-login\)/);
  expect(plain.stdout).toContain('carol logged in over websocket');
  const verbose = await run('npm', ['run', 'demo', '--silent', '--', '--verbose']);
  expectOk(verbose);
});

it('the emulator CLI', async () => {
  const help = await run(TS[0]!, [...TS.slice(1), 'lib/emulator/cli.ts', '--help']);
  expectOk(help);
  expect(help.stdout).toContain('Usage: mimc-emulator');
  const cli = await start([...TS, 'lib/emulator/cli.ts', '--port', '0'], /"event":"listening"/);
  const listening = JSON.parse(cli.line) as { frontend: string; tokenUrl: string };
  expect(listening).toMatchObject({ event: 'listening', frontend: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
  await fetch(listening.tokenUrl, { method: 'POST', body: '{}' }); // one round trip: its signal handlers are installed by now
  expect(await cli.stop()).toBe(0);
});

it('the echo bot', async () => {
  const bot = await start([...TS, 'examples/echo-bot.ts'], /^echo bot online as /);
  expect(bot.line).toMatch(/^echo bot online as echo-bot /);
  await bot.stop();
});

it('the push relay, with the curl calls of its header', async () => {
  const header = /^\/\*\*([\s\S]*?)\*\//.exec(await readFile(join(root, 'examples/push-relay.ts'), 'utf8'))![1]!;
  const calls = header.split('\n').map((l) => clean(l.replace(/^\s*\*\s?/, ''))).filter((l) => l.startsWith('curl '));
  expect(calls.map((c) => /localhost:8080(\/\w+)/.exec(c)?.[1])).toEqual(['/p2p', '/topics', '/p2t']);
  const relay = await start([...TS, 'examples/push-relay.ts'], /^push relay listening on /, { ...ENV, PORT: '0' });
  try {
    const url = /(http:\/\/127\.0\.0\.1:\d+)/.exec(relay.line)![1]!;
    const curl = (command: string): Promise<Outcome> => run('sh', ['-c', command.replace('localhost:8080', url.slice('http://'.length))]);
    if (!existsSync('/usr/bin/curl') && !existsSync('/bin/curl')) {
      process.stderr.write('commands.spec: curl not installed, the push relay calls were not run\n');
      return;
    }
    const p2p = await curl(calls[0]!);
    expectOk(p2p);
    expect(JSON.parse(p2p.stdout)).toMatchObject({ sequence: expect.stringMatching(/^\d+$/) });
    const topic = await curl(calls[1]!);
    expectOk(topic);
    const { topicId } = JSON.parse(topic.stdout) as { topicId: string };
    expect(topicId).toMatch(/^\d+$/);
    const p2t = await curl(calls[2]!.replace('<the topicId above>', topicId));
    expectOk(p2t);
    expect(JSON.parse(p2t.stdout)).toMatchObject({ sequence: expect.stringMatching(/^\d+$/) });
  } finally {
    await relay.stop();
  }
});

it('fuzz and soak, small: progress on stderr, the JSON result on stdout', async () => {
  const fuzz = await run('npm', ['run', 'fuzz', '--silent', '--', '--cases', '300', '--seed', '7']);
  expectOk(fuzz);
  // 300 frame cases, plus as many JSON texts for the codec (target `all`)
  expect(json(fuzz)).toMatchObject({ seed: 7, cases: 600, ok: true, clientWs: { transport: 'websocket', cases: 9 }, emulatorWs: { transport: 'websocket', cases: 9 } });
  expect(fuzz.stderr).toMatch(/^fuzz: done, 600 cases/m);
  const soak = await run('npm', ['run', 'soak', '--silent', '--', '--users', '4', '--seconds', '2', '--seed', '7']);
  expectOk(soak);
  expect(json(soak)).toMatchObject({ users: 4, lost: 0, invariantViolations: 0 });
  expect(soak.stderr).toMatch(/^soak: traffic stopped, draining$/m);
});

it('the benchmarks, small: each prints its JSON on stdout', async () => {
  expectOk(await run(process.execPath, ['scripts/gen-proto.mjs']));
  const small: string[][] = [
    [...TS, 'bench/codec.ts', '--seconds', '0.2', '--warmup', '0.1', '--sizes', '100'],
    [...TS, 'bench/emulator.ts', '--connections', '20', '--pairs', '2', '--messages', '20'],
    [...TS, 'bench/p2p-throughput.ts', '--seconds', '0.3', '--warmup', '0.1', '--pairs', '1'],
    [...TS, 'bench/latency.ts', '--samples', '30', '--seconds', '0.3'],
    [...TS, 'bench/relay.ts', '--seconds', '0.3', '--warmup', '0.1', '--samples', '30'],
    [...TS, 'bench/login.ts', '--sequential', '3', '--storm', '5'],
    [process.execPath, '--expose-gc', ...TS.slice(1), 'bench/memory.ts', '--counts', '10', '--idle', '0.5', '--concurrency', '5'],
    [process.execPath, '--expose-gc', ...TS.slice(1), 'bench/uc-fanout.ts', '--members', '5', '--messages', '3'],
  ];
  for (const [command, ...args] of small) {
    const outcome = await run(command!, args);
    expectOk(outcome);
    expect(typeof json(outcome)).toBe('object');
    expect(outcome.stderr).toMatch(/^bench \S+: done in /m);
  }
  // through the npm script, and with the emulator as a child: its CLI must hand out the ws:// URL,
  // and the wss:// one with --ws-tls-cert/--ws-tls-key
  const transports = await run('npm', ['run', 'bench:transports', '--silent', '--', '--seconds', '0.3', '--warmup', '0.1', '--pairs', '1', '--payloads', '100', '--samples', '30', '--emulator-process']);
  expectOk(transports);
  const compared = json(transports) as { benchmark: string; throughput: Array<Record<string, { lost: number; errors: number }>>; latency: Array<Record<string, { light: { errors: number } }>> };
  expect(compared.benchmark).toBe('transports');
  for (const transport of ['tcp', 'websocket', 'wss']) {
    expect(compared.throughput[0]![transport]).toMatchObject({ lost: 0, errors: 0 });
    expect(compared.latency[0]![transport]!.light.errors).toBe(0);
  }
  const all = await run('npm', ['run', 'bench', '--silent', '--', '--only', 'codec']);
  expectOk(all);
  expect(json(all)).toMatchObject({ benchmark: 'all', errors: {} });

  const dir = await mkdtemp(join(tmpdir(), 'mimc-prof-'));
  try {
    expectOk(await run(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '-e', 'let x = 0; for (let i = 0; i < 2e6; i++) x += i;']));
    const [profile] = await readdir(dir);
    const summary = await run(TS[0]!, [...TS.slice(1), 'bench/profile-summary.ts', join(dir, profile!), '--top', '5']);
    expectOk(summary);
    expect(typeof json(summary)).toBe('object');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 600_000); // 70–100 s on a 2-core machine; each command has its own 90 s deadline, this is only the hang backstop

it('the API docs render the guides as pages', async () => {
  const out = await mkdtemp(join(tmpdir(), 'mimc-typedoc-'));
  try {
    expectOk(await run('npm', ['run', 'docs', '--silent', '--', '--out', out]));
    const documents = await readdir(join(out, 'documents'));
    expect(documents).toEqual(expect.arrayContaining(['docs_guide.html', 'docs_go-sdk-mapping.html', 'docs_protocol.html', 'docs_benchmarks.html']));
    expect(existsSync(join(out, 'media', 'guide.md'))).toBe(false);
    expect(await readFile(join(out, 'documents', 'docs_guide.html'), 'utf8')).toContain('Logging and redaction');
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
