/** createTokenHandler: the app server's token endpoint, used as an MCUser's token source. */
import type { IncomingMessage } from 'node:http';
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { MIMCError } from '../../lib/errors.js';
import { MIMCRestClient, createTokenHandler } from '../../lib/rest/index.js';
import { MCUser } from '../../lib/user/mcuser.js';
import { parseTokenJson } from '../../lib/user/token.js';
import { captureLogger, destroyUsers, makeUser, str, text, until } from '../helpers/users.js';
import { http, serve, type TestServer } from './helpers.js';

let emu: Emulator;
let server: TestServer;
let n = 0;
const fresh = (name: string): string => `${name}_${++n}`;
const log = captureLogger();

/** Who is calling: a stand-in for the app's own session check. */
const caller = (req: IncomingMessage): string | undefined => req.headers['x-user'] as string | undefined;

beforeAll(async () => {
  emu = await startEmulator();
  const handler = createTokenHandler({
    appId: emu.app.appId,
    appKey: emu.app.appKey,
    appSecret: emu.app.appSecret,
    baseUrl: emu.restUrl,
    logger: log.logger,
    authorize: (req, account) => {
      if (caller(req) === 'explode') throw new Error('session store down');
      return caller(req) === account;
    },
  });
  server = await serve(handler);
});
afterEach(() => {
  destroyUsers();
});
afterAll(async () => {
  await server.close();
  await emu.close();
});

describe('createTokenHandler', () => {
  it('is the token source of an MCUser that never sees the app secret', async () => {
    const [alice, bob] = [fresh('alice'), fresh('bob')];
    let fetches = 0;
    const user = new MCUser({
      appId: emu.app.appId,
      appAccount: alice,
      resolverUrl: emu.resolverUrl,
      tokenDelegate: {
        fetchToken: async () => {
          fetches++;
          const response = await fetch(`${server.url}/mimc/token`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-user': alice },
            body: JSON.stringify({ appAccount: alice }),
          });
          return response.text();
        },
      },
    });
    const b = makeUser(emu, bob);
    try {
      await Promise.all([user.login(), b.user.login()]);
      expect(fetches).toBe(1);
      await user.sendMessageAndWait(bob, text('token from my backend'));
      await until(() => b.seen.messages.length === 1, 5000, 'message');
      expect(str(b.seen.messages[0]!.payload)).toBe('token from my backend');
      expect(b.seen.messages[0]!.fromAccount).toBe(alice);
    } finally {
      user.destroy();
    }
  });

  it('answers GET ?account= and POST {account} with the service JSON verbatim', async () => {
    const bob = fresh('bob');
    const get = await http(server.url, 'GET', `/?account=${bob}`, { headers: { 'x-user': bob } });
    expect(get.status).toBe(200);
    const info = parseTokenJson(get.text, { appId: emu.app.appId, appAccount: bob });
    expect(info.uuid).toBe(emu.uuidOf(bob));
    // The uuid (> 2^53) is passed through as the service wrote it.
    expect(get.text).toContain(`"miUserId":"${emu.uuidOf(bob)}"`);
    const post = await http(server.url, 'POST', '/', { body: JSON.stringify({ account: bob }), headers: { 'x-user': bob } });
    expect(post.status).toBe(200);
    expect(post.json.code).toBe(200);
  });

  it('refuses unauthorized callers and bad requests', async () => {
    const a = fresh('a');
    const expectRefusal = async (answer: Promise<{ status: number; json: { code: number; message: string } }>, status: number, message: RegExp): Promise<void> => {
      const { status: got, json } = await answer;
      expect(got).toBe(status);
      expect(json.code).toBe(status);
      expect(json.message).toMatch(message);
    };
    await expectRefusal(http(server.url, 'POST', '/', { body: JSON.stringify({ appAccount: a }), headers: { 'x-user': 'mallory' } }), 403, /not allowed/);
    await expectRefusal(http(server.url, 'POST', '/', { body: JSON.stringify({ appAccount: a }), headers: { 'x-user': 'explode' } }), 500, /authorization check failed/);
    await expectRefusal(http(server.url, 'POST', '/', { body: '' }), 400, /appAccount/);
    await expectRefusal(http(server.url, 'POST', '/', { body: '{"appAccount":' }), 400, /not JSON/);
    await expectRefusal(http(server.url, 'POST', '/', { body: '["a"]' }), 400, /JSON object/);
    await expectRefusal(http(server.url, 'POST', '/', { body: JSON.stringify({ appAccount: 'x'.repeat(300) }) }), 400, /at most 256/);
    await expectRefusal(http(server.url, 'POST', '/', { body: JSON.stringify({ appAccount: 42 }) }), 400, /appAccount/);
    await expectRefusal(http(server.url, 'POST', '/', { body: `{"pad":"${'x'.repeat(5000)}"}` }), 413, /larger than/);
    const put = await fetch(server.url, { method: 'PUT', body: '{}' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, POST');
    await put.text();
  });

  it('reports a refusing token service as 502 and a silent one as 504, never leaking secrets', async () => {
    const wrong = await serve(
      createTokenHandler({ client: new MIMCRestClient({ appId: emu.app.appId, appKey: emu.app.appKey, appSecret: 'leak-me-not-123', baseUrl: emu.restUrl }), logger: log.logger }),
    );
    const silentUpstream = await serve(() => undefined);
    const slow = await serve(createTokenHandler({ appId: '1', appKey: 'k', appSecret: 'leak-me-not-123', baseUrl: silentUpstream.url, timeoutMs: 100 }));
    try {
      const refused = await http(wrong.url, 'GET', '/?appAccount=zed');
      expect(refused.status).toBe(502);
      expect(refused.json.message).toBe('the token service refused: invalid app credentials');
      expect(refused.text).not.toContain('leak-me-not-123');
      const timedOut = await http(slow.url, 'POST', '/', { body: '{"appAccount":"zed"}' });
      expect(timedOut.status).toBe(504);
      // Nothing secret in the logs: neither the app secret nor any token.
      await http(server.url, 'GET', '/?account=logged', { headers: { 'x-user': 'logged' } });
      const output = log.output();
      expect(output).toContain('token service failed');
      expect(output).not.toContain('leak-me-not-123');
      expect(output).not.toContain(emu.app.appSecret);
      expect(output).not.toContain('miUserSecurityKey');
    } finally {
      await wrong.close();
      await slow.close();
      await silentUpstream.close();
    }
  });

  it('needs a client or the app credentials', () => {
    expect(() => createTokenHandler({})).toThrow(MIMCError);
  });
});

describe('createTokenHandler request targets (found by the HTTP fuzzer)', () => {
  it("a target starting with '//' is a path, not a host: never a 500", async () => {
    const { request } = await import('node:http');
    const port = Number(new URL(server.url).port);
    const statusOf = (path: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const body = JSON.stringify({ appAccount: 'someone' });
        const req = request({ host: '127.0.0.1', port, method: 'POST', path, headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } });
        req.on('error', reject);
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.end(body);
      });
    for (const path of ['//%C0%AF$$m', '//%2F/x', '//host:99999/p', '//[::1']) {
      const status = await statusOf(path);
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(500);
    }
  });
});
