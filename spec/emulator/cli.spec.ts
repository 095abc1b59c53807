/** The mimc-emulator CLI: prints its URLs and credentials as JSON lines, stops cleanly on SIGTERM. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { parseToken } from '../helpers/raw-client.js';
import { serve } from '../rest/helpers.js';

const cli = fileURLToPath(new URL('../../lib/emulator/cli.ts', import.meta.url));
// TypeScript runs through ts-node's ESM loader, as in every npm script
const tsNode = fileURLToPath(new URL('../../scripts/ts-node-register.mjs', import.meta.url));
const certFile = fileURLToPath(new URL('../fixtures/tls/localhost-cert.pem', import.meta.url));
const keyFile = fileURLToPath(new URL('../fixtures/tls/localhost-key.pem', import.meta.url));

it('starts, serves tokens with the given credentials, and exits 0 on SIGTERM', async () => {
  const child = spawn(process.execPath, ['--import', tsNode, cli, '--app-id', '2882303761517000001', '--app-key', 'k1', '--app-secret', 's1', '--token-ttl-ms', '5000'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  try {
    const lines = createInterface({ input: child.stdout! });
    const iterator = lines[Symbol.asyncIterator]();
    const listening = JSON.parse((await iterator.next()).value as string) as Record<string, string>;
    const app = JSON.parse((await iterator.next()).value as string) as Record<string, string>;
    expect(listening.event).toBe('listening');
    expect(listening.tokenUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/account\/token$/);
    expect(listening.frontend).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(listening.websocketUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/$/);
    expect(app).toMatchObject({ event: 'app', appId: '2882303761517000001', appKey: 'k1', appSecret: 's1' });

    const res = await fetch(listening.tokenUrl!, {
      method: 'POST',
      body: '{"appId":2882303761517000001,"appKey":"k1","appSecret":"s1","appAccount":"cli_user"}',
    });
    expect(parseToken(await res.text()).appId).toBe(2882303761517000001n);

    child.kill('SIGTERM');
    const closed = JSON.parse((await iterator.next()).value as string) as Record<string, string>;
    expect(closed).toEqual({ event: 'closed', signal: 'SIGTERM' });
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}, 20_000);

it('takes the bounds as flags: --max-accounts 1 refuses a second account', async () => {
  const child = spawn(process.execPath, ['--import', tsNode, cli, '--max-accounts', '1', '--max-unlimited-groups', '5'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  try {
    const iterator = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const listening = JSON.parse((await iterator.next()).value as string) as Record<string, string>;
    const app = JSON.parse((await iterator.next()).value as string) as Record<string, string>;
    const token = (account: string) =>
      fetch(listening.tokenUrl!, { method: 'POST', body: `{"appId":${app.appId},"appKey":"${app.appKey}","appSecret":"${app.appSecret}","appAccount":"${account}"}` });
    expect((await token('first')).status).toBe(200);
    expect((await token('second')).status).toBe(429);
    child.kill('SIGTERM');
    await once(child, 'exit');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

/** Starts the CLI with `args` and returns its `listening` line; the child is stopped by `stop`. */
async function listen(args: string[]): Promise<{ listening: Record<string, string | null>; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', tsNode, cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
  const iterator = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  };
  try {
    return { listening: JSON.parse((await iterator.next()).value as string) as Record<string, string | null>, stop };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}

it('serves WebSocket on --ws-port and leaves it out with --no-websocket', async () => {
  const on = await listen(['--ws-port', '0']);
  try {
    const url = on.listening.websocketUrl!;
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/$/);
    // the upgrade succeeds: something answers at that URL
    const ws = new WebSocket(url);
    await once(ws, 'open');
    ws.close();
    await once(ws, 'close');
  } finally {
    await on.stop();
  }
  const off = await listen(['--no-websocket']);
  try {
    expect(off.listening).toMatchObject({ event: 'listening', websocketUrl: null, frontend: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
  } finally {
    await off.stop();
  }
}, 30_000);

it('serves wss:// with --ws-tls-cert and --ws-tls-key', async () => {
  const secure = await listen(['--ws-tls-cert', certFile, '--ws-tls-key', keyFile]);
  try {
    const url = secure.listening.websocketUrl!;
    expect(url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/$/);
    // a TLS handshake against the test certificate succeeds: it is wss:// indeed, with that key pair
    const ws = new WebSocket(url, { ca: readFileSync(certFile) });
    await once(ws, 'open');
    ws.close();
    await once(ws, 'close');
  } finally {
    await secure.stop();
  }
}, 30_000);

// [what the case is, its flags, the reason the CLI must give]
it.each([
  ['a bad --ws-port', ['--ws-port', 'x'], '--ws-port must be'],
  ['--ws-port with --no-websocket', ['--no-websocket', '--ws-port', '0'], 'exclude each other'],
  ['--ws-tls-cert alone', ['--ws-tls-cert', certFile], 'go together'],
  ['--ws-tls-key alone', ['--ws-tls-key', keyFile], 'go together'],
  ['the TLS pair with --no-websocket', ['--no-websocket', '--ws-tls-cert', certFile, '--ws-tls-key', keyFile], 'exclude each other'],
  ['an unreadable --ws-tls-cert', ['--ws-tls-cert', '/nonexistent/cert.pem', '--ws-tls-key', keyFile], 'cannot read /nonexistent/cert.pem'],
])('refuses %s with a usage message and exit code 1', async (_name, args, reason) => {
  const child = spawn(process.execPath, ['--import', tsNode, cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  expect(code).toBe(1);
  expect(stderr).toContain(reason);
  expect(stderr).toContain('Usage: mimc-emulator');
}, 20_000);

it('refuses unknown flags with a usage message and exit code 1', async () => {
  const child = spawn(process.execPath, ['--import', tsNode, cli, '--bogus'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  expect(code).toBe(1);
  expect(stderr).toContain('Usage: mimc-emulator');
}, 20_000);

it('prints the REST base URL and posts callbacks to --callback-url', async () => {
  const events: string[] = [];
  const receiver = await serve((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      events.push(body);
      res.writeHead(200).end();
    });
  });
  const child = spawn(process.execPath, ['--import', tsNode, cli, '--callback-url', `${receiver.url}/cb`, '--callback-retry-delays-ms', '10,20'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  try {
    const lines = createInterface({ input: child.stdout! });
    const iterator = lines[Symbol.asyncIterator]();
    const listening = JSON.parse((await iterator.next()).value as string) as Record<string, string>;
    const app = JSON.parse((await iterator.next()).value as string) as Record<string, string>;
    expect(listening.restUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${listening.restUrl}/api/push/p2p/`, {
      method: 'POST',
      body: `{"appId":${app.appId},"appKey":"${app.appKey}","appSecret":"${app.appSecret}","fromAccount":"a","toAccount":"b","msg":"hi"}`,
    });
    expect(((await res.json()) as { code: number }).code).toBe(200);
    const deadline = Date.now() + 5000;
    while (events.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(JSON.parse(events[0]!)).toMatchObject({ msgType: 'OFFLINE_MSG', fromAccount: 'a', toAccount: 'b', payload: 'aGk=' });
    child.kill('SIGTERM');
    await once(child, 'exit');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await receiver.close();
  }
}, 20_000);
