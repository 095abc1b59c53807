#!/usr/bin/env node
/**
 * What a user of the published package gets, checked the way they would use it:
 *  1. `npm pack` (which builds), then the tarball's file list: nothing stray, nothing missing;
 *  2. the tarball installed into a scratch app in a temporary directory (runtime dependencies
 *     resolved from their declared ranges by npm, as an app would get them);
 *  3. there, an ESM and a CommonJS quick start (import/require of `mimc-node` and
 *     `mimc-node/emulator`, embedded emulator, a TCP user and a WebSocket user, one message sent and
 *     received, close),
 *     the `mimc-emulator` bin, and a TypeScript consumer type-checked against the shipped typings.
 * Exits non-zero on the first failure. Progress goes to stderr; `--keep` leaves the scratch dir.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const keep = process.argv.includes('--keep');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** Files every tarball must contain. */
const REQUIRED = [
  'package.json',
  'README.md',
  'LICENSE',
  'CHANGELOG.md',
  'dist/index.js',
  'dist/index.d.ts',
  'dist/emulator/index.js',
  'dist/emulator/index.d.ts',
  'dist/emulator/cli.js',
  'dist/protocol/index.js',
  'proto/mimc.proto',
  'proto/ims.proto',
];

/** Everything in the tarball must match one of these. */
const ALLOWED = [/^package\.json$/, /^README\.md$/, /^LICENSE$/, /^CHANGELOG\.md$/, /^dist\/.+\.(js|d\.ts|js\.map|md)$/, /^proto\/[^/]+\.proto$/];

function step(message) {
  process.stderr.write(`pack-check: ${message}\n`);
}

function fail(message) {
  process.stderr.write(`pack-check: FAILED: ${message}\n`);
  process.exit(1);
}

function run(command, args, options = {}) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 120_000, ...options });
  } catch (err) {
    fail(`${command} ${args.join(' ')}: ${err.message}`);
  }
}

const scratch = mkdtempSync(join(tmpdir(), 'mimc-pack-check-'));
try {
  step('npm pack (builds dist/)');
  const packed = JSON.parse(run(npm, ['pack', '--json', '--pack-destination', scratch], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] }));
  const files = packed[0].files.map((f) => f.path);
  const tarball = join(scratch, packed[0].filename);

  const stray = files.filter((f) => !ALLOWED.some((re) => re.test(f)));
  if (stray.length > 0) fail(`unexpected files in the tarball: ${stray.join(', ')}`);
  const missing = REQUIRED.filter((f) => !files.includes(f));
  if (missing.length > 0) fail(`missing from the tarball: ${missing.join(', ')}`);
  for (const map of files.filter((f) => f.endsWith('.js.map'))) {
    // lib/ is not shipped: a map is only useful if it carries the sources it names
    const parsed = JSON.parse(readFileSync(join(root, map), 'utf8'));
    const sources = parsed.sources ?? [];
    const contents = parsed.sourcesContent ?? [];
    if (contents.length !== sources.length || contents.some((s) => typeof s !== 'string' || s.length === 0)) {
      fail(`${map} has no sourcesContent for ${sources.join(', ')} (lib/ is not shipped)`);
    }
  }
  const relative = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/\]\((?!https?:\/\/|#)([^)]+)\)/g)].map((m) => m[1]);
  if (relative.length > 0) fail(`README.md has relative links, broken on the registry page: ${relative.join(', ')}`);
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  for (const field of ['license', 'repository', 'homepage', 'bugs']) if (!manifest[field]) fail(`package.json has no ${field}`);
  step(`${files.length} files, none stray, none missing; source maps embed their sources; README links absolute`);

  const app = join(scratch, 'app');
  run('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch-app', version: '1.0.0', private: true }, null, 2));
  step('npm install <tarball> into a scratch app');
  run(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', tarball], { cwd: app });

  writeFileSync(join(app, 'quickstart.mjs'), `import { MCUser } from 'mimc-node';\nimport { startEmulator } from 'mimc-node/emulator';\n${exchange('esm')}\nawait main();\n`);
  writeFileSync(
    join(app, 'quickstart.cjs'),
    `const { MCUser } = require('mimc-node');\nconst { startEmulator } = require('mimc-node/emulator');\n${exchange('cjs')}\nmain().catch((err) => { console.error(err); process.exit(1); });\n`,
  );
  for (const file of ['quickstart.mjs', 'quickstart.cjs']) {
    step(`node ${file}`);
    const out = run(process.execPath, [file], { cwd: app, timeout: 30_000 });
    if (!out.includes('received: hello from')) fail(`${file} printed no received message:\n${out}`);
  }

  step('mimc-emulator --help');
  const bin = join(app, 'node_modules', '.bin', 'mimc-emulator');
  if (!existsSync(bin)) fail('the mimc-emulator bin was not linked');
  if (!run(bin, ['--help'], { cwd: app, timeout: 15_000 }).includes('Usage: mimc-emulator')) fail('mimc-emulator --help printed no usage');

  step('TypeScript consumer (NodeNext) type-checks against the shipped typings');
  writeFileSync(
    join(app, 'consumer.mts'),
    [
      "import { MCUser, MIMCError, type MetricsSnapshot } from 'mimc-node';",
      "import { startEmulator, type Emulator } from 'mimc-node/emulator';",
      "import { encodeFrame } from 'mimc-node/protocol';",
      'export async function check(): Promise<MetricsSnapshot> {',
      '  const emulator: Emulator = await startEmulator();',
      "  const user = new MCUser({ appId: emulator.app.appId, appAccount: 'a', resolverUrl: emulator.resolverUrl, tokenDelegate: { fetchToken: () => emulator.fetchToken('a') } });",
      '  void MIMCError; void encodeFrame;',
      '  return user.metrics();',
      '}',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(root, 'node_modules/@types')] }, files: ['consumer.mts'] }),
  );
  run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: app, timeout: 60_000 });

  step('ok');
} finally {
  if (keep) step(`scratch directory kept: ${scratch}`);
  else rmSync(scratch, { recursive: true, force: true });
}

/** The quick start's exchange; the same text runs as ESM and as CommonJS. */
function exchange(flavour) {
  return `
async function main() {
  const emulator = await startEmulator();
  const received = [];
  const user = (account, transport = {}) => new MCUser({
    appId: emulator.app.appId,
    appAccount: account,
    resolverUrl: emulator.resolverUrl,
    tokenDelegate: { fetchToken: () => emulator.fetchToken(account) },
    messageDelegate: { handleMessage: (messages) => received.push(...messages) },
    ...transport,
  });
  const alice = user('alice');
  // bob over WebSocket: the installed package must bring its ws dependency
  const bob = user('bob', { transport: 'websocket', websocket: { url: emulator.websocketUrl } });
  const watchdog = setTimeout(() => { console.error('${flavour}: timed out'); process.exit(1); }, 20000);
  try {
    await alice.login();
    await bob.login();
    const ack = await alice.sendMessageAndWait('bob', Buffer.from('hello from ${flavour}'));
    if (typeof ack.sequence !== 'bigint') throw new Error('the ack carries no bigint sequence');
    while (received.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const message = received[0];
    if (message.fromAccount !== 'alice') throw new Error('wrong sender ' + message.fromAccount);
    console.log('received: ' + Buffer.from(message.payload).toString());
    await alice.logout();
    await bob.logout();
  } finally {
    clearTimeout(watchdog);
    alice.destroy();
    bob.destroy();
    await emulator.close();
  }
}
`;
}
