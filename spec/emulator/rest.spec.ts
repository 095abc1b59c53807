/** The emulator's REST API at the HTTP level: auth styles, route forms, validation and error envelopes. */
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { parseJsonExact } from '../../lib/protocol/json.js';
import { http } from '../rest/helpers.js';

let emu: Emulator;
let token = '';
let n = 0;
const fresh = (name: string): string => `${name}_${++n}`;

const creds = (): string => `"appId":${emu.app.appId},"appKey":"${emu.app.appKey}","appSecret":"${emu.app.appSecret}"`;
const asUser = (account: string): Record<string, string> => ({ appKey: emu.app.appKey, appSecret: emu.app.appSecret, appAccount: account });
const data = (text: string): Record<string, unknown> => (parseJsonExact(text) as { data: Record<string, unknown> }).data;

async function tokenOf(account: string): Promise<string> {
  return (JSON.parse(await emu.fetchToken(account)) as { data: { token: string } }).data.token;
}

beforeAll(async () => {
  emu = await startEmulator({ maxTopicMembers: 4 });
  token = await tokenOf('history_reader');
});
afterAll(async () => {
  await emu.close();
});

describe('push', () => {
  it('accepts the paths with and without the trailing slash, appId as a number or a string', async () => {
    for (const path of ['/api/push/p2p/', '/api/push/p2p']) {
      const r = await http(emu.restUrl, 'POST', path, { body: `{${creds()},"fromAccount":"a","fromResource":"r","toAccount":"b","msg":"x","msgType":""}` });
      expect(r.json).toMatchObject({ code: 200, message: 'success', data: { packetId: expect.any(String) } });
    }
    const asString = creds().replace(`"appId":${emu.app.appId}`, `"appId":"${emu.app.appId}"`);
    expect((await http(emu.restUrl, 'POST', '/api/push/p2p/more/', { body: `{${asString},"fromAccount":"a","toAccounts":["b","c"],"msg":"x"}` })).json.code).toBe(200);
  });

  it('refuses bad credentials (401) and bad fields (400) in the envelope, with HTTP 200', async () => {
    const cases: Array<[string, number, RegExp]> = [
      [`{${creds().replace(emu.app.appSecret, 'nope')},"fromAccount":"a","toAccount":"b","msg":"x"}`, 401, /invalid app credentials/],
      [`{${creds().replace(String(emu.app.appId), '1')},"fromAccount":"a","toAccount":"b","msg":"x"}`, 401, /appId/],
      [`{${creds()},"toAccount":"b","msg":"x"}`, 400, /fromAccount/],
      [`{${creds()},"fromAccount":"a","toAccount":"b"}`, 400, /msg must be a string/],
      [`{${creds()},"fromAccount":"a","toAccount":"b","msg":"x","msgType":"hex"}`, 400, /msgType/],
      [`{${creds()},"fromAccount":"a","toAccount":"b","msg":"@@@","msgType":"base64"}`, 400, /base64/],
      [`{${creds()},"fromAccount":"a","toAccount":"b","msg":"x","isStore":"no"}`, 400, /isStore/],
      [`{${creds()},"fromAccount":"a","toAccount":"b","msg":"${'x'.repeat(10 * 1024 + 1)}"}`, 413, /exceeds 10240/],
      ['{"appId":', 400, /not JSON/],
    ];
    for (const [body, code, message] of cases) {
      const r = await http(emu.restUrl, 'POST', '/api/push/p2p/', { body });
      expect(r.status).toBe(200);
      expect(r.json.code).toBe(code);
      expect(r.json.message).toMatch(message);
      expect(r.json.data).toBeNull();
    }
    expect((await http(emu.restUrl, 'POST', '/api/push/p2p/more', { body: `{${creds()},"fromAccount":"a","toAccounts":[],"msg":"x"}` })).json.code).toBe(400);
    expect((await http(emu.restUrl, 'POST', '/api/push/p2t/more', { body: `{${creds()},"fromAccount":"a","topicIds":["x"],"msg":"x"}` })).json.code).toBe(400);
  });

  it('answers unknown routes with 404, wrong methods with 405, huge bodies with 413', async () => {
    expect((await http(emu.restUrl, 'POST', '/api/push/p2x/')).status).toBe(404);
    expect((await http(emu.restUrl, 'GET', '/api/push/p2p/')).status).toBe(405);
    expect((await http(emu.restUrl, 'GET', '/api/unknown')).status).toBe(404);
    const huge = await http(emu.restUrl, 'POST', '/api/push/p2p/', { body: `{"msg":"${'x'.repeat(1024 * 1024 + 10)}"}` });
    expect(huge.status).toBe(413);
    expect(huge.json.code).toBe(413);
  });
});

describe('topics', () => {
  const base = (): string => `/api/topic/${emu.app.appId}`;

  it('routes the literal "account" before a topic id, and "account" vs "accounts" under a topic', async () => {
    const owner = fresh('owner');
    const created = await http(emu.restUrl, 'POST', base(), { body: '{"topicName":"t","accounts":" a1 , a2 ,"}', headers: asUser(owner) });
    const topicId = (data(created.text).topicInfo as { topicId: string }).topicId;
    expect((data(created.text).members as Array<{ account: string }>).map((m) => m.account)).toEqual([owner, 'a1', 'a2']);
    const mine = await http(emu.restUrl, 'GET', `${base()}/account`, { headers: asUser(owner) });
    expect(mine.json.data).toHaveLength(1);
    expect((await http(emu.restUrl, 'POST', `${base()}/${topicId}/account`, { headers: asUser(owner) })).status).toBe(405);
    expect((await http(emu.restUrl, 'GET', `${base()}/${topicId}/accounts`, { headers: asUser(owner) })).status).toBe(405);
    expect((await http(emu.restUrl, 'GET', `${base()}/${topicId}/members`, { headers: asUser(owner) })).status).toBe(404);
    expect((await http(emu.restUrl, 'GET', `${base()}/not-an-id`, { headers: asUser(owner) })).json.code).toBe(400);
  });

  it('authenticates by token first, else by appKey/appSecret/appAccount headers', async () => {
    const [owner, other] = [fresh('owner'), fresh('other')];
    const ownerToken = await tokenOf(owner);
    const created = await http(emu.restUrl, 'POST', base(), { body: '{"topicName":"by token"}', headers: { token: ownerToken, ...asUser(other) } });
    expect((data(created.text).topicInfo as { ownerAccount: string }).ownerAccount).toBe(owner);
    // A bad token is refused even next to good credentials.
    expect((await http(emu.restUrl, 'GET', `${base()}/account`, { headers: { token: 'bad', ...asUser(other) } })).json).toMatchObject({ code: 401, message: 'invalid token' });
    emu.faults.expireTokens(owner);
    expect((await http(emu.restUrl, 'GET', `${base()}/account`, { headers: { token: ownerToken } })).json).toMatchObject({ code: 401, message: 'token expired' });
    expect((await http(emu.restUrl, 'GET', `${base()}/account`)).json.code).toBe(401);
    expect((await http(emu.restUrl, 'GET', `${base()}/account`, { headers: { ...asUser(other), appSecret: 'x' } })).json.code).toBe(401);
    expect((await http(emu.restUrl, 'GET', `${base()}/account`, { headers: { appKey: emu.app.appKey, appSecret: emu.app.appSecret } })).json.code).toBe(400);
    expect((await http(emu.restUrl, 'GET', `/api/topic/123/account`, { headers: asUser(other) })).json.code).toBe(401);
  });

  it('enforces the member cap, the owner rules and the legacy ownerUuid form', async () => {
    const owner = fresh('owner');
    const tooMany = await http(emu.restUrl, 'POST', base(), { body: '{"topicName":"big","accounts":"a,b,c,d"}', headers: asUser(owner) });
    expect(tooMany.json).toMatchObject({ code: 400, message: 'a topic has at most 4 members' });
    const created = await http(emu.restUrl, 'POST', base(), { body: '{"topicName":"small","accounts":"m1,m2"}', headers: asUser(owner) });
    const topicId = (data(created.text).topicInfo as { topicId: string }).topicId;
    expect((await http(emu.restUrl, 'POST', `${base()}/${topicId}/accounts`, { body: '{"accounts":"m3,m4"}', headers: asUser('m1') })).json.code).toBe(400);
    expect((await http(emu.restUrl, 'POST', `${base()}/${topicId}/accounts`, { body: '{"accounts":"m3,m1"}', headers: asUser('m1') })).json.code).toBe(200);
    expect((await http(emu.restUrl, 'DELETE', `${base()}/${topicId}/accounts?accounts=${owner}`, { headers: asUser(owner) })).json.code).toBe(400);
    expect((await http(emu.restUrl, 'DELETE', `${base()}/${topicId}/accounts`, { headers: asUser(owner) })).json.code).toBe(400);
    expect((await http(emu.restUrl, 'DELETE', `${base()}/${topicId}/account`, { headers: asUser('stranger') })).json.code).toBe(403);
    const m2 = emu.uuidOf('m2');
    const transferred = await http(emu.restUrl, 'PUT', `${base()}/${topicId}`, { body: `{"topicId":${topicId},"ownerUuid":${m2},"bulletin":"hi"}`, headers: asUser(owner) });
    expect(data(transferred.text).topicInfo).toMatchObject({ ownerAccount: 'm2', ownerUuid: m2.toString(), bulletin: 'hi', topicName: 'small' });
    const dismissed = await http(emu.restUrl, 'DELETE', `${base()}/${topicId}`, { headers: asUser('m2') });
    expect(dismissed.json).toEqual({ code: 200, message: 'success！', data: null });
  });
});

describe('history', () => {
  it('needs a token (credentials are not enough) and validates windows and counts', async () => {
    const body = (extra: string): string => `{"appId":${emu.app.appId},"fromAccount":"history_reader","toAccount":"x",${extra}}`;
    const headers = { token };
    expect((await http(emu.restUrl, 'POST', '/api/msg/p2p/queryOnCount/', { body: body('"utcToTime":1,"count":1'), headers: asUser('history_reader') })).json.code).toBe(401);
    const cases: Array<[string, string, number]> = [
      ['/api/msg/p2p/query/', body('"utcFromTime":0,"utcToTime":86400001'), 400],
      ['/api/msg/p2p/queryOnTime', body('"utcFromTime":0,"utcToTime":86400000'), 200],
      ['/api/msg/p2p/queryOnTime', body('"utcFromTime":5,"utcToTime":4'), 400],
      ['/api/msg/p2p/queryOnCount/', body('"utcToTime":1,"count":0'), 400],
      ['/api/msg/p2p/queryOnCount/', body('"utcToTime":1,"count":1001'), 400],
      ['/api/msg/p2p/queryOnCount/', body('"utcToTime":"x","count":5'), 400],
      ['/api/msg/p2p/queryOnSequence/', body('"startSeq":9,"stopSeq":8'), 400],
      ['/api/msg/p2p/queryOnSequence/', body('"startSeq":"9007199254740993","stopSeq":9007199254740995'), 200],
      ['/api/msg/p2p/queryOnCount/', `{"appId":1,"fromAccount":"history_reader","toAccount":"x","utcToTime":1,"count":1}`, 401],
      ['/api/msg/p2p/queryOnCount/', `{"appId":${emu.app.appId},"fromAccount":"a","toAccount":"b","utcToTime":1,"count":1}`, 403],
      ['/api/msg/p2t/queryOnCount/', `{"appId":${emu.app.appId},"account":"someone_else","topicId":1,"utcToTime":1,"count":1}`, 403],
    ];
    for (const [path, json, code] of cases) {
      const r = await http(emu.restUrl, 'POST', path, { body: json, headers });
      expect([path, json, r.json.code]).toEqual([path, json, code]);
    }
    expect((await http(emu.restUrl, 'POST', '/api/msg/p2p/queryAll/', { body: '{}', headers })).status).toBe(404);
  });

  it('writes messages with the documented fields: base64 payload, sequence and ts as JSON integers', async () => {
    await http(emu.restUrl, 'POST', '/api/push/p2p/', { body: `{${creds()},"fromAccount":"x","toAccount":"history_reader","msg":"AAEC","msgType":"base64","bizType":"BIN"}` });
    const r = await http(emu.restUrl, 'POST', '/api/msg/p2p/queryOnCount/', {
      body: `{"appId":${emu.app.appId},"fromAccount":"history_reader","toAccount":"x","utcToTime":${Date.now() + 1},"count":5}`,
      headers: { token },
    });
    expect(r.text).toMatch(/"sequence":\d{16,},"payload":"AAEC","ts":\d{13},"fromAccount":"x","toAccount":"history_reader","bizType":"BIN"/);
    expect(r.text).toContain(`"appId":${emu.app.appId},`);
    expect(data(r.text)).toMatchObject({ row: 1 });
  });
});

describe('blacklist', () => {
  it('takes token or appId/appKey/appSecret/appAccount headers; the appId header is required with credentials', async () => {
    const [a, b] = [fresh('a'), fresh('b')];
    const headers = { appId: String(emu.app.appId), ...asUser(a) };
    expect((await http(emu.restUrl, 'POST', '/api/blacklist/', { body: JSON.stringify({ blackAccount: b }), headers: asUser(a) })).json.code).toBe(401);
    expect((await http(emu.restUrl, 'POST', '/api/blacklist/', { body: JSON.stringify({ blackAccount: b }), headers })).json).toEqual({ code: 200, message: 'success', data: null });
    expect((await http(emu.restUrl, 'GET', `/api/blacklist/?blackAccount=${b}`, { headers: { token: await tokenOf(a) } })).json.data).toEqual({ isBlack: true });
    expect((await http(emu.restUrl, 'GET', `/api/blacklist/?blackAccount=never_seen`, { headers })).json.data).toEqual({ isBlack: false });
    expect((await http(emu.restUrl, 'GET', `/api/blacklist/`, { headers })).json.code).toBe(400);
    expect((await http(emu.restUrl, 'PUT', `/api/blacklist/`, { headers })).status).toBe(405);
    expect((await http(emu.restUrl, 'GET', `/api/blacklist/extra`, { headers })).status).toBe(404);
  });
});
