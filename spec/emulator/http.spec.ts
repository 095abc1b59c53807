/** Token service, resolver and admin API of the emulator, over real HTTP on 127.0.0.1. */
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { loginRaw, parseToken } from '../helpers/raw-client.js';

let emu: Emulator;

beforeAll(async () => {
  emu = await startEmulator();
});
afterAll(async () => {
  await emu.close();
});

async function postToken(body: string): Promise<{ status: number; text: string; json: Record<string, unknown> }> {
  const res = await fetch(emu.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) as Record<string, unknown> };
}

function goodRequest(account: string, overrides: Record<string, string> = {}): string {
  const app = emu.app;
  // appId as a bare JSON number of 19 digits, exactly like the Go demo sends it.
  const rest = { appKey: app.appKey, appSecret: app.appSecret, appAccount: account, ...overrides };
  return `{"appId":${app.appId},${JSON.stringify(rest).slice(1)}`;
}

describe('token service', () => {
  it('issues a token with the exact field types of the real service', async () => {
    const { status, text, json } = await postToken(goodRequest('alice'));
    expect(status).toBe(200);
    expect(json.code).toBe(200);
    expect(json.message).toBe('success');
    const data = json.data as Record<string, unknown>;
    expect(data.appId).toBe(emu.app.appId.toString());
    expect(typeof data.miUserId).toBe('string');
    expect(BigInt(data.miUserId as string)).toBe(emu.uuidOf('alice'));
    expect(BigInt(data.miUserId as string) > 2n ** 53n).toBe(true);
    expect(data.miChid).toBe(9);
    expect(data.appAccount).toBe('alice');
    expect(data.appPackage).toBe(emu.app.appPackage);
    expect(data.feDomainName).toBe(emu.app.feDomainName);
    expect(typeof data.token).toBe('string');
    expect(Buffer.from(data.miUserSecurityKey as string, 'base64').length).toBeGreaterThanOrEqual(16);
    expect(Buffer.from(data.miUserSecurityKey as string, 'base64').toString('base64')).toBe(data.miUserSecurityKey);
    // The raw text carries the ids as strings too (never as lossy numbers).
    expect(text).toContain(`"appId":"${emu.app.appId}"`);
  });

  it('keeps the uuid of an account and issues fresh tokens', async () => {
    const a = parseToken((await postToken(goodRequest('bob'))).text);
    const b = parseToken((await postToken(goodRequest('bob'))).text);
    expect(a.uuid).toBe(b.uuid);
    expect(a.token).not.toBe(b.token);
    const viaApi = parseToken(await emu.fetchToken('bob'));
    expect(viaApi.uuid).toBe(a.uuid);
  });

  it('accepts appId as a decimal string', async () => {
    const app = emu.app;
    const body = JSON.stringify({ appId: app.appId.toString(), appKey: app.appKey, appSecret: app.appSecret, appAccount: 'carol' });
    expect((await postToken(body)).json.code).toBe(200);
  });

  it('does not lose appId precision: an id that rounds to the same double is refused', async () => {
    const app = emu.app;
    // 2882303761517479657 and ...656 are the same IEEE double; a lossy parser would accept it.
    const near = app.appId - 1n;
    expect(Number(near)).toBe(Number(app.appId));
    const body = `{"appId":${near},"appKey":"${app.appKey}","appSecret":"${app.appSecret}","appAccount":"dave"}`;
    const { json } = await postToken(body);
    expect(json.code).toBe(401);
    expect(json.data).toBeNull();
  });

  it('refuses a wrong secret with the MIMC error envelope', async () => {
    const { status, json } = await postToken(goodRequest('alice', { appSecret: 'nope' }));
    expect(status).toBe(200);
    expect(json).toEqual({ code: 401, message: expect.any(String), data: null });
  });

  it('refuses malformed requests', async () => {
    expect((await postToken('not json')).json.code).toBe(400);
    expect((await postToken('{"appId":1}')).json.code).toBe(400);
    expect((await postToken(goodRequest(''))).json.code).toBe(400);
    const res = await fetch(emu.tokenUrl);
    expect(res.status).toBe(405);
    await res.text();
  });
});

describe('resolver', () => {
  const expected = (): string => `127.0.0.1:${emu.frontend.port}`;

  it.each([
    'ver=4.0&type=wifi&list=app.chat.xiaomi.net&',
    'type=wifi&list=app.chat.xiaomi.net&ver=4.0&',
    'list=app.chat.xiaomi.net&ver=4.0&type=wifi',
  ])('answers any parameter order (%s)', async (query) => {
    const res = await fetch(`${emu.resolverUrl}?${query}`);
    expect(await res.json()).toEqual({ S: 'Ok', R: { wifi: { 'app.chat.xiaomi.net': [expected()] } } });
  });

  it('answers every domain of a comma list, and C++ extra parameters', async () => {
    const res = await fetch(`${emu.resolverUrl}?uuid=0&sdkver=35&list=fe.example,relay.example&type=wifi&ver=4.0&os=MI%204LTE%3A1.1.1&`);
    expect(await res.json()).toEqual({ S: 'Ok', R: { wifi: { 'fe.example': [expected()], 'relay.example': [expected()] } } });
  });
});

describe('admin API', () => {
  async function admin(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    const res = await fetch(`${emu.adminUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return (await res.json()) as Record<string, unknown>;
  }

  it('looks up accounts, manages topics and switches faults', async () => {
    const uuid = emu.uuidOf('erin'); // a GET never creates the account (bounds.spec.ts)
    const account = (await admin('GET', '/accounts/erin')).data as Record<string, unknown>;
    expect(BigInt(account.uuid as string)).toBe(uuid);
    expect(account.onlineResources).toEqual([]);

    const topic = (await admin('POST', '/topics', { owner: 'erin', members: ['frank'] })).data as Record<string, unknown>;
    const topicId = topic.topicId as string;
    expect(BigInt(topicId) > 2n ** 53n).toBe(true);
    const added = (await admin('POST', `/topics/${topicId}/members`, { accounts: ['gina'] })).data as { members: { appAccount: string }[] };
    expect(added.members.map((m) => m.appAccount).sort()).toEqual(['erin', 'frank', 'gina']);
    const removed = (await admin('DELETE', `/topics/${topicId}/members?accounts=frank`)).data as { members: { appAccount: string }[] };
    expect(removed.members.map((m) => m.appAccount).sort()).toEqual(['erin', 'gina']);

    const faults = (await admin('POST', '/faults/drop-acks', { enabled: true })).data as Record<string, unknown>;
    expect(faults.dropAcks).toBe(true);
    expect(((await admin('POST', '/faults/reset')).data as Record<string, unknown>).dropAcks).toBe(false);
    expect((await admin('POST', '/faults/bogus', {})).code).toBe(404);
    expect((await admin('GET', '/topics/123')).code).toBe(404);
    const summary = (await admin('GET', '')).data as Record<string, unknown>;
    expect(summary.frontend).toBe(`127.0.0.1:${emu.frontend.port}`);
  });

  it('drives every fault and the frontend restart over HTTP', async () => {
    const c = await loginRaw(emu, 'hal', 'r1');
    try {
      expect((await admin('GET', '/accounts/hal')).data).toMatchObject({ onlineResources: ['r1'] });
      for (const [name, body] of [
        ['stall', { enabled: true, appAccount: 'nobody' }],
        ['stall', { enabled: false, appAccount: 'nobody' }],
        ['delay-delivery', { ms: 0 }],
        ['corrupt-next-frame', { appAccount: 'nobody' }],
        ['send-oversized-frame', { appAccount: 'nobody' }],
        ['expire-tokens', { appAccount: 'nobody' }],
        ['drop-connections', { appAccount: 'nobody' }],
        ['reset', {}],
      ] as const) {
        expect((await admin('POST', `/faults/${name}`, body)).code).toBe(200);
      }
      expect((await admin('POST', '/faults/stall', { enabled: 'yes' })).code).toBe(400);
      expect((await admin('POST', '/faults/kick', { appAccount: 'hal', resource: 'r1' })).code).toBe(200);
      expect((await c.nextKick()).errorType).toBe('multi-login');
      await c.waitClosed();
      const port = emu.frontend.port;
      expect((await admin('POST', '/restart-frontend')).data).toEqual({ frontend: `127.0.0.1:${port}` });
      await (await loginRaw(emu, 'hal', 'r2')).close();
    } finally {
      c.close();
    }
  });
});
