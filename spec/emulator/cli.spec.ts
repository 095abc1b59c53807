/** The mimc-emulator CLI: prints its URLs and credentials as JSON lines, stops cleanly on SIGTERM. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseToken } from '../helpers/raw-client.js';
import { serve } from '../rest/helpers.js';

const cli = fileURLToPath(new URL('../../lib/emulator/cli.ts', import.meta.url));
// TypeScript runs through ts-node's ESM loader, as in every npm script
const tsNode = fileURLToPath(new URL('../../scripts/ts-node-register.mjs', import.meta.url));

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
