/** MIMCRestClient against the emulator: every call, error envelopes, bad input, exact ids, timeouts, aborts, retries. */
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { MIMCError, ErrorCode } from '../../lib/errors.js';
import { MIMCRestClient } from '../../lib/rest/index.js';
import { parseTokenJson } from '../../lib/user/token.js';
import { http, serve, type TestServer, mimcRejection as failure } from './helpers.js';

let emu: Emulator;
let client: MIMCRestClient;
let n = 0;
const fresh = (name: string): string => `${name}_${++n}`;
const TWO_53 = 1n << 53n;

beforeAll(async () => {
  emu = await startEmulator();
  client = new MIMCRestClient({ appId: emu.app.appId, appKey: emu.app.appKey, appSecret: emu.app.appSecret, baseUrl: emu.restUrl });
});
afterAll(async () => {
  await emu.close();
});

describe('options', () => {
  it('validates its options', () => {
    const ok = { appId: '1', appKey: 'k', appSecret: 's' };
    expect(() => new MIMCRestClient({ ...ok, appId: 1 as unknown as string })).toThrow(MIMCError);
    expect(() => new MIMCRestClient({ ...ok, appKey: '' })).toThrow(/appKey/);
    expect(() => new MIMCRestClient({ ...ok, baseUrl: 'ftp://x' })).toThrow(/baseUrl/);
    expect(() => new MIMCRestClient({ ...ok, timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(new MIMCRestClient(ok).baseUrl).toBe('https://mimc.chat.xiaomi.net');
    expect(new MIMCRestClient({ ...ok, baseUrl: 'http://h:1/prefix/' }).baseUrl).toBe('http://h:1/prefix');
  });
});

describe('token', () => {
  it('mints a token: exact uuid above 2^53, verbatim JSON an SDK accepts', async () => {
    const account = fresh('alice');
    const token = await client.mintToken(account);
    expect(token.uuid).toBe(emu.uuidOf(account));
    expect(token.uuid > TWO_53).toBe(true);
    expect(token.appId).toBe(emu.app.appId);
    expect(token.appAccount).toBe(account);
    expect(token.token.length).toBeGreaterThan(0);
    const info = parseTokenJson(await client.fetchTokenJson(account), { appId: emu.app.appId, appAccount: account });
    expect(info.uuid).toBe(token.uuid);
  });

  it('surfaces a wrong secret as ERR_API 401, without the secret', async () => {
    const wrong = new MIMCRestClient({ appId: emu.app.appId, appKey: emu.app.appKey, appSecret: 'not-the-secret-xyz', baseUrl: emu.restUrl });
    const err = await failure(wrong.mintToken('alice'));
    expect(err.code).toBe(ErrorCode.API_ERROR);
    expect(err.details).toMatchObject({ status: 200, code: 401, message: 'invalid app credentials', method: 'POST', path: '/api/account/token' });
    expect(`${err.message} ${JSON.stringify(err.details)}`).not.toContain('not-the-secret-xyz');
    // Writes (and token minting) are never retried, but a user-level call fails the same way.
    expect((await failure(wrong.listTopics('alice'))).details).toMatchObject({ code: 401 });
    expect((await failure(wrong.pushP2P({ fromAccount: 'a', toAccount: 'b', payload: 'x' }))).details).toMatchObject({ code: 401 });
  });

  it('rejects bad input before any request', async () => {
    expect((await failure(client.mintToken(''))).code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(() => client.tokenDelegate('')).toThrow(MIMCError);
  });
});

describe('push', () => {
  it('P2P single and batch return packet ids', async () => {
    const from = fresh('bot');
    const packetId = await client.pushP2P({ fromAccount: from, toAccount: fresh('u'), payload: new Uint8Array([0, 1, 2, 255]) });
    expect(typeof packetId).toBe('string');
    expect(packetId.length).toBeGreaterThan(0);
    const ids = await client.pushP2PBatch({ fromAccount: from, toAccounts: [fresh('u'), fresh('u'), fresh('u')], payload: 'plain text' });
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(3);
  });

  it('P2T single and batch; an unknown topic is ERR_API 404 and nothing is sent', async () => {
    const owner = fresh('owner');
    const t1 = (await client.createTopic(owner, { topicName: 'one' })).topicInfo.topicId;
    const t2 = (await client.createTopic(owner, { topicName: 'two' })).topicInfo.topicId;
    expect(typeof (await client.pushP2T({ fromAccount: owner, topicId: t1, payload: 'hi' }))).toBe('string');
    // A decimal string is accepted for a topic id.
    expect(await client.pushP2TBatch({ fromAccount: owner, topicIds: [t1, t2.toString()], payload: 'both' })).toHaveLength(2);
    const err = await failure(client.pushP2T({ fromAccount: owner, topicId: 12345n, payload: 'x' }));
    expect(err.code).toBe(ErrorCode.API_ERROR);
    expect(err.details).toMatchObject({ code: 404, message: 'topic not found' });
    expect((await failure(client.pushP2TBatch({ fromAccount: owner, topicIds: [t1, 999n], payload: 'x' }))).details).toMatchObject({ code: 404 });
  });

  it('checks the payload size client-side (10 KiB) and the service does too', async () => {
    const big = new Uint8Array(10 * 1024 + 1);
    expect((await failure(client.pushP2P({ fromAccount: 'a', toAccount: 'b', payload: big }))).code).toBe(ErrorCode.PAYLOAD_TOO_LARGE);
    expect(await client.pushP2P({ fromAccount: 'a', toAccount: 'b', payload: big.subarray(1) })).toEqual(expect.any(String));
    const lax = new MIMCRestClient({ appId: emu.app.appId, appKey: emu.app.appKey, appSecret: emu.app.appSecret, baseUrl: emu.restUrl, maxPayloadBytes: 1 << 20 });
    expect((await failure(lax.pushP2P({ fromAccount: 'a', toAccount: 'b', payload: big }))).details).toMatchObject({ code: 413 });
  });

  it('rejects bad input with ERR_INVALID_ARGUMENT', async () => {
    const bad = [
      client.pushP2P({ fromAccount: '', toAccount: 'b', payload: 'x' }),
      client.pushP2P({ fromAccount: 'a', toAccount: '', payload: 'x' }),
      client.pushP2P({ fromAccount: 'a', toAccount: 'b', payload: 42 as unknown as string }),
      client.pushP2P({ fromAccount: 'a', toAccount: 'b', payload: 'x', isStore: 'yes' as unknown as boolean }),
      client.pushP2PBatch({ fromAccount: 'a', toAccounts: [], payload: 'x' }),
      client.pushP2T({ fromAccount: 'a', topicId: '-1', payload: 'x' }),
      client.pushP2TBatch({ fromAccount: 'a', topicIds: [1.5 as unknown as bigint], payload: 'x' }),
    ];
    for (const p of bad) expect((await failure(p)).code).toBe(ErrorCode.INVALID_ARGUMENT);
  });
});

describe('topics', () => {
  it('create, get, list, invite, kick, update, transfer, quit and dismiss', async () => {
    const [owner, a, b, c] = [fresh('owner'), fresh('a'), fresh('b'), fresh('c')];
    const created = await client.createTopic(owner, { topicName: 'room', accounts: [a, b, owner] });
    const topicId = created.topicInfo.topicId;
    expect(topicId > TWO_53).toBe(true);
    expect(created.topicInfo).toEqual({ topicId, ownerUuid: emu.uuidOf(owner), ownerAccount: owner, topicName: 'room', bulletin: '' });
    expect(created.members.map((m) => m.account)).toEqual([owner, a, b]);
    expect(created.members[1]!.uuid).toBe(emu.uuidOf(a));

    expect(await client.getTopic(a, topicId.toString())).toEqual(created);
    expect((await client.listTopics(a)).map((t) => t.topicId)).toContain(topicId);
    expect(await client.listTopics(c)).toEqual([]);

    // Any member may invite; only the owner may kick, update or dismiss.
    expect((await client.inviteToTopic(a, topicId, [c])).members.map((m) => m.account)).toEqual([owner, a, b, c]);
    expect((await failure(client.kickFromTopic(a, topicId, [b]))).details).toMatchObject({ code: 403 });
    expect((await client.kickFromTopic(owner, topicId, [b])).members.map((m) => m.account)).toEqual([owner, a, c]);
    expect((await failure(client.getTopic(b, topicId))).details).toMatchObject({ code: 403, message: 'not a member of the topic' });
    expect((await failure(client.updateTopic(a, topicId, { topicName: 'mine' }))).details).toMatchObject({ code: 403 });

    const renamed = await client.updateTopic(owner, topicId, { topicName: 'renamed', bulletin: 'be nice' });
    expect(renamed.topicInfo).toMatchObject({ topicName: 'renamed', bulletin: 'be nice', ownerAccount: owner });
    expect((await failure(client.updateTopic(owner, topicId, { ownerAccount: b }))).details).toMatchObject({ code: 400 });
    const transferred = await client.updateTopic(owner, topicId, { ownerAccount: a });
    expect(transferred.topicInfo).toMatchObject({ ownerAccount: a, ownerUuid: emu.uuidOf(a), topicName: 'renamed' });
    expect(transferred.members[0]!.account).toBe(a);
    expect((await failure(client.dismissTopic(owner, topicId))).details).toMatchObject({ code: 403 });

    // The owner cannot quit (MIMC's only documented error); a member can.
    const quit = await failure(client.quitTopic(a, topicId));
    expect(quit.code).toBe(ErrorCode.API_ERROR);
    expect(quit.details).toMatchObject({ code: 500, message: 'quit topic fail' });
    await client.quitTopic(c, topicId);
    expect((await client.getTopic(a, topicId)).members.map((m) => m.account)).toEqual([a, owner]);

    await client.dismissTopic(a, topicId);
    expect((await failure(client.getTopic(a, topicId))).details).toMatchObject({ code: 404, message: 'topic not found' });
    expect(await client.listTopics(owner)).toEqual([]);
  });

  it('acts with a user token as well as with app credentials', async () => {
    const account = fresh('tokenuser');
    const { token } = await client.mintToken(account);
    const created = await client.createTopic({ token }, { topicName: 'by token' });
    expect(created.topicInfo.ownerAccount).toBe(account);
    expect((await client.listTopics(account)).map((t) => t.topicId)).toEqual([created.topicInfo.topicId]);
    expect((await failure(client.listTopics({ token: 'bogus' }))).details).toMatchObject({ code: 401, message: 'invalid token' });
  });

  it('rejects bad input with ERR_INVALID_ARGUMENT', async () => {
    const bad = [
      client.createTopic('', { topicName: 'x' }),
      client.createTopic('o', { topicName: 'x', accounts: ['a,b'] }),
      client.getTopic('o', 'abc'),
      client.inviteToTopic('o', 1n, []),
      client.updateTopic('o', 1n, {}),
      client.listTopics('naïve'),
      client.listTopics({ token: '' }),
    ];
    for (const p of bad) expect((await failure(p)).code).toBe(ErrorCode.INVALID_ARGUMENT);
  });
});

describe('history', () => {
  it('P2P by time, by count and by sequence; both directions; exact sequences above 2^53', async () => {
    const [x, y] = [fresh('x'), fresh('y')];
    const before = Date.now();
    for (let i = 0; i < 3; i++) await client.pushP2P({ fromAccount: x, toAccount: y, payload: `x${i}` });
    await client.pushP2P({ fromAccount: y, toAccount: x, payload: new Uint8Array([1, 2, 3]), bizType: 'BIN' });
    await client.pushP2P({ fromAccount: y, toAccount: x, payload: 'not stored', isStore: false });
    const after = Date.now() + 1;

    const byTime = await client.p2pHistoryByTime(x, { fromAccount: x, toAccount: y, fromTime: before, toTime: new Date(after) });
    expect(byTime.appId).toBe(emu.app.appId);
    expect(byTime.row).toBe(4);
    expect(byTime.messages.map((m) => [m.fromAccount, m.toAccount, Buffer.from(m.payload).toString('latin1')])).toEqual([
      [x, y, 'x0'],
      [x, y, 'x1'],
      [x, y, 'x2'],
      [y, x, '\u0001\u0002\u0003'],
    ]);
    expect(byTime.messages[3]!.bizType).toBe('BIN');
    const seqs = byTime.messages.map((m) => m.sequence);
    for (const s of seqs) expect(s > TWO_53).toBe(true);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]! > seqs[i - 1]!).toBe(true);

    // The other side asks too (as the token owner), for the last two.
    const last2 = await client.p2pHistoryByCount(y, { fromAccount: y, toAccount: x, toTime: after, count: 2 });
    expect(last2.messages.map((m) => m.sequence)).toEqual(seqs.slice(2));
    expect(last2.timestamp).toBe(last2.messages[0]!.ts);

    // An exact sequence (2^53 + k is not a double) selects exactly one message.
    const one = await client.p2pHistoryBySequence(x, { fromAccount: x, toAccount: y, startSeq: seqs[1]!, stopSeq: (seqs[1]! + 1n).toString() });
    expect(one.messages).toHaveLength(1);
    expect(one.messages[0]!.sequence).toBe(seqs[1]);
    expect(Buffer.from(one.messages[0]!.payload).toString()).toBe('x1');
  });

  it('P2T by time, by count and by sequence, for members only', async () => {
    const [owner, member, outsider] = [fresh('owner'), fresh('m'), fresh('out')];
    const topicId = (await client.createTopic(owner, { topicName: 'h', accounts: [member] })).topicInfo.topicId;
    const before = Date.now();
    for (let i = 0; i < 3; i++) await client.pushP2T({ fromAccount: owner, topicId, payload: `t${i}` });
    const after = Date.now() + 1;
    const all = await client.p2tHistoryByTime(member, { topicId, fromTime: before, toTime: after });
    expect(all.topicId).toBe(topicId);
    expect(all.messages.map((m) => Buffer.from(m.payload).toString())).toEqual(['t0', 't1', 't2']);
    expect(all.messages.every((m) => m.fromAccount === owner && m.toAccount === undefined)).toBe(true);
    expect((await client.p2tHistoryByCount(member, { topicId, toTime: after, count: 1 })).messages.map((m) => Buffer.from(m.payload).toString())).toEqual(['t2']);
    const seq = all.messages[0]!.sequence;
    expect((await client.p2tHistoryBySequence(owner, { topicId, startSeq: seq, stopSeq: seq + 2n })).row).toBe(2);
    expect((await failure(client.p2tHistoryByCount(outsider, { topicId, toTime: after, count: 5 }))).details).toMatchObject({ code: 403 });
    expect((await failure(client.p2tHistoryByCount(owner, { topicId: 77n, toTime: after, count: 5 }))).details).toMatchObject({ code: 404 });
  });

  it('uses a caller token as is (P2T needs its account) and replaces a stale minted token once', async () => {
    const [owner, other] = [fresh('owner'), fresh('other')];
    const topicId = (await client.createTopic(owner, { topicName: 'tok' })).topicInfo.topicId;
    await client.pushP2T({ fromAccount: owner, topicId, payload: 'p' });
    const { token } = await client.mintToken(owner);
    const now = Date.now() + 1;
    expect((await client.p2tHistoryByCount({ token, account: owner }, { topicId, toTime: now, count: 10 })).row).toBe(1);
    expect((await failure(client.p2tHistoryByCount({ token }, { topicId, toTime: now, count: 10 }))).code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect((await failure(client.p2pHistoryByCount({ token }, { fromAccount: other, toAccount: fresh('z'), toTime: now, count: 1 }))).details).toMatchObject({ code: 403 });

    // A minted, cached token that expires is replaced transparently.
    const cached = new MIMCRestClient({ appId: emu.app.appId, appKey: emu.app.appKey, appSecret: emu.app.appSecret, baseUrl: emu.restUrl });
    expect((await cached.p2tHistoryByCount(owner, { topicId, toTime: now, count: 10 })).row).toBe(1);
    emu.faults.expireTokens(owner);
    expect((await cached.p2tHistoryByCount(owner, { topicId, toTime: now, count: 10 })).row).toBe(1);
  });

  it('rejects bad ranges before any request', async () => {
    const c = { fromAccount: 'a', toAccount: 'b' };
    const day = 24 * 60 * 60 * 1000;
    const bad = [
      client.p2pHistoryByTime('a', { ...c, fromTime: 0, toTime: day + 1 }),
      client.p2pHistoryByTime('a', { ...c, fromTime: 10, toTime: 5 }),
      client.p2pHistoryByCount('a', { ...c, toTime: 1, count: 0 }),
      client.p2pHistoryBySequence('a', { ...c, startSeq: 5n, stopSeq: 4n }),
      client.p2pHistoryByTime('a', { ...c, fromTime: -1, toTime: 5 }),
    ];
    for (const p of bad) expect((await failure(p)).code).toBe(ErrorCode.INVALID_ARGUMENT);
  });
});

describe('blacklist', () => {
  it('adds, queries and removes, with credentials or a token', async () => {
    const [a, b] = [fresh('a'), fresh('b')];
    expect(await client.isBlacklisted(a, b)).toBe(false);
    await client.addToBlacklist(a, b);
    expect(await client.isBlacklisted(a, b)).toBe(true);
    expect(await client.isBlacklisted(b, a)).toBe(false);
    const { token } = await client.mintToken(a);
    expect(await client.isBlacklisted({ token }, b)).toBe(true);
    // The blocked account can no longer push to a; a can still push to it.
    expect((await failure(client.pushP2P({ fromAccount: b, toAccount: a, payload: 'x' }))).details).toMatchObject({ code: 403 });
    expect(await client.pushP2P({ fromAccount: a, toAccount: b, payload: 'x' })).toEqual(expect.any(String));
    expect(await client.pushP2PBatch({ fromAccount: b, toAccounts: [a, fresh('c')], payload: 'x' })).toEqual(['', expect.any(String)]);
    await client.removeFromBlacklist({ token }, b);
    expect(await client.isBlacklisted(a, b)).toBe(false);
    expect((await failure(client.addToBlacklist(a, a))).details).toMatchObject({ code: 400 });
    expect((await failure(client.addToBlacklist(a, ''))).code).toBe(ErrorCode.INVALID_ARGUMENT);
  });
});

describe('exact 64-bit ids through JSON', () => {
  it('writes ids as JSON integers from the bigint digits and reads them back exactly', async () => {
    const owner = fresh('owner');
    const detail = await client.createTopic(owner, { topicName: 'ids' });
    const id = detail.topicInfo.topicId;
    expect(id > TWO_53).toBe(true);
    // The emulator's raw answer carries the id as an unquoted JSON integer ...
    const raw = await http(emu.restUrl, 'GET', `/api/topic/${emu.app.appId}/${id}`, {
      headers: { appKey: emu.app.appKey, appSecret: emu.app.appSecret, appAccount: owner },
    });
    expect(raw.text).toContain(`"topicId":${id}`);
    // ... and the client reads it back exactly: the service finds the topic only by its exact id.
    expect((await client.getTopic(owner, id)).topicInfo.topicId).toBe(id);
    await client.pushP2T({ fromAccount: owner, topicId: id, payload: 'seq' });
    const [message] = (await client.p2tHistoryByCount(owner, { topicId: id, toTime: Date.now() + 1, count: 1 })).messages;
    expect(message!.sequence > TWO_53).toBe(true);
    expect(raw.text).not.toContain(`"topicId":"`);
  });
});

describe('transport', () => {
  let fake: TestServer | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  const on = (baseUrl: string, extra: Partial<ConstructorParameters<typeof MIMCRestClient>[0]> = {}): MIMCRestClient =>
    new MIMCRestClient({ appId: '1', appKey: 'k', appSecret: 's', baseUrl, retryMinDelayMs: 5, retryMaxDelayMs: 10, ...extra });

  it('times out a silent server with ERR_HTTP_TIMEOUT; reads retry, writes do not', async () => {
    let requests = 0;
    fake = await serve(() => {
      requests++; // never answers
    });
    const silent = on(fake.url, { timeoutMs: 100, retries: 2 });
    const err = await failure(silent.listTopics('a'));
    expect(err.code).toBe(ErrorCode.HTTP_TIMEOUT);
    expect(err.details).toMatchObject({ method: 'GET', timeoutMs: 100 });
    expect(requests).toBe(3);
    requests = 0;
    expect((await failure(silent.pushP2P({ fromAccount: 'a', toAccount: 'b', payload: 'x' }, { timeoutMs: 50 }))).code).toBe(ErrorCode.HTTP_TIMEOUT);
    expect(requests).toBe(1);
  });

  it('aborts with ERR_ABORTED (before or during the request, retries included)', async () => {
    let requests = 0;
    fake = await serve(() => void requests++);
    // The timeout is far beyond the test's own: ERR_ABORTED (not ERR_HTTP_TIMEOUT) is proof the abort ended it.
    const silent = on(fake.url, { timeoutMs: 120_000 });
    const pre = new AbortController();
    pre.abort();
    expect((await failure(silent.listTopics('a', { signal: pre.signal }))).code).toBe(ErrorCode.ABORTED);
    expect(requests).toBe(0);
    const during = new AbortController();
    const pending = failure(silent.listTopics('a', { signal: during.signal }));
    // Abort once the server holds the request (ordering, not a delay).
    while (requests === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    during.abort();
    expect((await pending).code).toBe(ErrorCode.ABORTED);
    expect(requests).toBe(1); // an abort is not retried
  });

  it('retries reads on 503 and succeeds; never retries a write, nor an error envelope', async () => {
    let requests = 0;
    let mode: 'flaky' | 'refuse' = 'flaky';
    fake = await serve((_req, res) => {
      requests++;
      if (mode === 'flaky' && requests < 3) {
        res.writeHead(503).end('busy');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(mode === 'flaky' ? '{"code":200,"message":"success","data":[]}' : '{"code":500,"message":"boom","data":null}');
    });
    const c = on(fake.url);
    expect(await c.listTopics('a')).toEqual([]);
    expect(requests).toBe(3);
    requests = 0;
    const write = await failure(c.pushP2P({ fromAccount: 'a', toAccount: 'b', payload: 'x' }));
    expect(write.code).toBe(ErrorCode.HTTP_ERROR);
    expect(write.details).toMatchObject({ status: 503 });
    expect(requests).toBe(1);
    mode = 'refuse';
    requests = 0;
    expect((await failure(c.listTopics('a'))).details).toMatchObject({ code: 500, message: 'boom' });
    expect(requests).toBe(1);
  });

  it('writes 64-bit ids into request JSON as integers made of the exact digits', async () => {
    const bodies: string[] = [];
    const headers: Array<Record<string, unknown>> = [];
    fake = await serve((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        bodies.push(body);
        headers.push(req.headers);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"code":200,"message":"success","data":{"packetId":"p1","appId":18446744073709551615,"messages":[],"row":0,"timestamp":0}}');
      });
    });
    const max = 18446744073709551615n;
    const c = on(fake.url, { appId: max.toString() });
    await c.pushP2T({ fromAccount: 'a', topicId: max - 1n, payload: 'x' });
    expect(bodies[0]).toContain('"appId":18446744073709551615,');
    expect(bodies[0]).toContain('"topicId":18446744073709551614');
    const page = await c.p2pHistoryBySequence({ token: 't' }, { fromAccount: 'a', toAccount: 'b', startSeq: '9007199254740993', stopSeq: 9007199254740995n });
    expect(bodies[1]).toContain('"startSeq":9007199254740993,"stopSeq":9007199254740995');
    expect(headers[1]).toMatchObject({ token: 't', 'content-type': 'application/json;charset=UTF-8', accept: 'application/json;charset=UTF-8' });
    expect(page.appId).toBe(max);
  });

  it('reports a malformed answer as ERR_HTTP', async () => {
    fake = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>proxy error</html>');
    });
    const err = await failure(on(fake.url, { retries: 0 }).listTopics('a'));
    expect(err.code).toBe(ErrorCode.HTTP_ERROR);
    expect(err.message).toMatch(/not a JSON object/);
  });

  it('reports a refused connection as ERR_HTTP after the read retries', async () => {
    const closed = await serve(() => undefined);
    const url = closed.url;
    await closed.close();
    const err = await failure(on(url, { retries: 1 }).isBlacklisted('a', 'b'));
    expect(err.code).toBe(ErrorCode.HTTP_ERROR);
    expect(err.details?.status).toBeUndefined();
  });
});
