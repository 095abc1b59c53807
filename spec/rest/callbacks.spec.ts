/** Message callbacks: the emulator POSTs the four event types, createCallbackHandler validates and decodes them, failures are retried. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { ErrorCode } from '../../lib/errors.js';
import { MIMCRestClient, createCallbackHandler, parseCallbackEvent, type CallbackEvent } from '../../lib/rest/index.js';
import { destroyUsers, makeUser, text, until } from '../helpers/users.js';
import { http, serve, type TestServer } from './helpers.js';

let n = 0;
const fresh = (name: string): string => `${name}_${++n}`;
const settle = (ms = 100): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const restFor = (emu: Emulator): MIMCRestClient =>
  new MIMCRestClient({ appId: emu.app.appId, appKey: emu.app.appKey, appSecret: emu.app.appSecret, baseUrl: emu.restUrl });

interface Received {
  path: string;
  event: CallbackEvent;
}

/** A receiver recording each event with the path it came to (instant or offline URL). */
async function receiver(onEvent: (event: CallbackEvent) => unknown = () => undefined): Promise<{ server: TestServer; received: Received[]; requests: () => number }> {
  const received: Received[] = [];
  let requests = 0;
  const handler = createCallbackHandler(
    async (event, req) => {
      await onEvent(event);
      received.push({ path: new URL(req.url ?? '/', 'http://x').pathname, event });
    },
    { insecureNoVerify: true }, // a local test receiver; authenticity: callback-auth.spec.ts
  );
  const server = await serve((req: IncomingMessage, res: ServerResponse) => {
    requests++;
    handler(req, res);
  });
  return { server, received, requests: () => requests };
}

afterEach(() => {
  destroyUsers();
});

describe('events from the emulator', () => {
  let emu: Emulator;
  let rx: Awaited<ReturnType<typeof receiver>>;

  beforeAll(async () => {
    rx = await receiver();
    emu = await startEmulator({ callbackUrl: `${rx.server.url}/instant`, offlineCallbackUrl: `${rx.server.url}/offline`, callbackRetryDelaysMs: [10, 10, 10] });
  });
  afterAll(async () => {
    await emu.close();
    await rx.server.close();
  });
  beforeEach(() => {
    rx.received.length = 0;
  });

  it('NORMAL_MSG for an online recipient, OFFLINE_MSG for an offline one (REST push and TCP)', async () => {
    const [bot, bob, carol] = [fresh('bot'), fresh('bob'), fresh('carol')];
    const b = makeUser(emu, bob);
    await b.user.login();
    const before = Date.now();
    await restFor(emu).pushP2P({ fromAccount: bot, toAccount: bob, payload: new Uint8Array([0, 1, 254]), bizType: 'B' });
    await until(() => rx.received.length === 1, 5000, 'instant callback');
    const [first] = rx.received;
    expect(first!.path).toBe('/instant');
    expect(first!.event).toMatchObject({ msgType: 'NORMAL_MSG', offline: false, fromAppId: emu.app.appId, toAppId: emu.app.appId, fromAccount: bot, toAccount: bob, bizType: 'B' });
    expect([...first!.event.payload]).toEqual([0, 1, 254]);
    expect(first!.event.timestamp).toBeGreaterThanOrEqual(before);

    // A TCP message to someone offline: stored, reported on the offline URL.
    await b.user.sendMessageAndWait(carol, text('are you there?'));
    await until(() => rx.received.length === 2, 5000, 'offline callback');
    expect(rx.received[1]!.path).toBe('/offline');
    expect(rx.received[1]!.event).toMatchObject({ msgType: 'OFFLINE_MSG', offline: true, fromAccount: bob, toAccount: carol });
    expect(Buffer.from(rx.received[1]!.event.payload).toString()).toBe('are you there?');

    // Not stored and nobody online: no event at all.
    await b.user.sendMessageAndWait(carol, text('gone'), { isStore: false });
    await settle();
    expect(rx.received).toHaveLength(2);
    expect(emu.pendingCallbacks).toBe(0);
  });

  it('NORMAL_TOPIC_MSG lists every member, OFFLINE_TOPIC_MSG the offline ones; topic ids stay exact', async () => {
    const [alice, bob, carol] = [fresh('alice'), fresh('bob'), fresh('carol')];
    const topicId = (await restFor(emu).createTopic(alice, { topicName: 'cb', accounts: [bob, carol] })).topicInfo.topicId;
    const a = makeUser(emu, alice);
    const b = makeUser(emu, bob);
    await Promise.all([a.user.login(), b.user.login()]);
    await a.user.sendGroupMessageAndWait(topicId, text('hello all'));
    await until(() => rx.received.length === 2, 5000, 'topic callbacks');
    const normal = rx.received.find((r) => r.event.msgType === 'NORMAL_TOPIC_MSG')!;
    const offline = rx.received.find((r) => r.event.msgType === 'OFFLINE_TOPIC_MSG')!;
    expect(normal.path).toBe('/instant');
    expect(normal.event).toMatchObject({ appId: emu.app.appId, topicId, fromAccount: alice, offline: false });
    expect(normal.event.msgType === 'NORMAL_TOPIC_MSG' && [...normal.event.toAccounts].sort()).toEqual([alice, bob, carol].sort());
    expect(offline.path).toBe('/offline');
    expect(offline.event).toMatchObject({ topicId, toAccounts: [carol], offline: true });
    expect(Buffer.from(offline.event.payload).toString()).toBe('hello all');
  });

  it('callback URLs can be changed at run time', async () => {
    emu.setCallbackUrls({});
    await restFor(emu).pushP2P({ fromAccount: fresh('bot'), toAccount: fresh('x'), payload: 'quiet' });
    await settle();
    expect(rx.received).toHaveLength(0);
    emu.setCallbackUrls({ instant: `${rx.server.url}/instant`, offline: `${rx.server.url}/other-offline` });
    await restFor(emu).pushP2P({ fromAccount: fresh('bot'), toAccount: fresh('x'), payload: 'loud' });
    await until(() => rx.received.length === 1, 5000, 'callback after re-enabling');
    expect(rx.received[0]!.path).toBe('/other-offline');
    expect(() => emu.setCallbackUrls({ instant: 'not a url' })).toThrow(/callback URL/);
  });
});

describe('retries', () => {
  it('a failing handler gets the event 1 + 3 times (MIMC schedule, compressed), then it is given up', async () => {
    let calls = 0;
    const rx = await receiver(() => {
      calls++;
      throw new Error('database down');
    });
    const emu = await startEmulator({ callbackUrl: rx.server.url, callbackRetryDelaysMs: [20, 40, 60] });
    try {
      const started = Date.now();
      await restFor(emu).pushP2P({ fromAccount: fresh('bot'), toAccount: fresh('x'), payload: 'retry me' });
      await until(() => emu.stats.callbacksAbandoned === 1, 5000, 'given up');
      expect(Date.now() - started).toBeGreaterThanOrEqual(20 + 40 + 60);
      expect(calls).toBe(4);
      expect(rx.requests()).toBe(4);
      expect(emu.stats).toMatchObject({ callbackFailures: 4, callbacksDelivered: 0, callbacksAbandoned: 1 });
      expect(emu.pendingCallbacks).toBe(0);
      await settle(150);
      expect(rx.requests()).toBe(4);
    } finally {
      await emu.close();
      await rx.server.close();
    }
  });

  it('a handler that recovers gets the same event again and the retries stop', async () => {
    let calls = 0;
    const rx = await receiver(() => {
      if (++calls <= 2) throw new Error('not yet');
    });
    const emu = await startEmulator({ callbackUrl: rx.server.url, callbackRetryDelaysMs: [10, 10, 10] });
    try {
      await restFor(emu).pushP2P({ fromAccount: fresh('bot'), toAccount: fresh('x'), payload: 'eventually' });
      await until(() => emu.stats.callbacksDelivered === 1, 5000, 'delivered');
      expect(calls).toBe(3);
      expect(rx.received).toHaveLength(1);
      expect(Buffer.from(rx.received[0]!.event.payload).toString()).toBe('eventually');
      expect(emu.stats).toMatchObject({ callbackFailures: 2, callbacksAbandoned: 0 });
    } finally {
      await emu.close();
      await rx.server.close();
    }
  });

  it('an unreachable URL and a slow receiver count as failures', async () => {
    const gone = await serve(() => undefined);
    const url = gone.url;
    await gone.close();
    const slow = await serve(() => undefined); // never answers
    const emu = await startEmulator({ callbackUrl: url, offlineCallbackUrl: slow.url, callbackRetryDelaysMs: [5], callbackTimeoutMs: 50 });
    try {
      const rest = restFor(emu);
      const bob = fresh('bob');
      const b = makeUser(emu, bob);
      await b.user.login();
      await rest.pushP2P({ fromAccount: fresh('bot'), toAccount: bob, payload: 'instant' });
      await rest.pushP2P({ fromAccount: fresh('bot'), toAccount: fresh('offline'), payload: 'offline' });
      await until(() => emu.stats.callbacksAbandoned === 2, 5000, 'both given up');
      expect(emu.stats.callbackFailures).toBe(4);
    } finally {
      await emu.close();
      await slow.close();
    }
  });

  it('close() drops pending retries and requests in flight', async () => {
    const rx = await receiver(() => {
      throw new Error('fail');
    });
    const emu = await startEmulator({ callbackUrl: rx.server.url, callbackRetryDelaysMs: [60_000, 60_000, 60_000] });
    await restFor(emu).pushP2P({ fromAccount: fresh('bot'), toAccount: fresh('x'), payload: 'never again' });
    await until(() => emu.stats.callbackFailures === 1, 5000, 'first failure');
    expect(emu.pendingCallbacks).toBe(1);
    // The retry waits 60 s, twice the test timeout: close() resolving at all shows it did not wait for it.
    await emu.close();
    expect(emu.pendingCallbacks).toBe(0);
    expect(rx.requests()).toBe(1);
    await rx.server.close();
  });
});

describe('createCallbackHandler', () => {
  let server: TestServer;
  const events: CallbackEvent[] = [];
  let verified = true;

  beforeAll(async () => {
    const handler = createCallbackHandler((event) => void events.push(event), { maxBodyBytes: 2048, verify: () => verified });
    server = await serve(handler);
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => {
    events.length = 0;
    verified = true;
  });

  const p2p = '{"msgType":"NORMAL_MSG","fromAppId":2882303761517479657,"fromAccount":"a","toAppId":2882303761517479657,"toAccount":"b","payload":"aGk=","timestamp":1700000000000}';

  it('decodes all four types, exact ids included', async () => {
    expect((await http(server.url, 'POST', '/', { body: p2p })).status).toBe(200);
    const topic = '{"msgType":"OFFLINE_TOPIC_MSG","appId":"2882303761517479657","topicId":9223372036854775807,"fromAccount":"a","toAccounts":["b","c"],"payload":"","timestamp":"1700000000001"}';
    expect((await http(server.url, 'POST', '/', { body: topic })).status).toBe(200);
    expect((await http(server.url, 'POST', '/', { body: p2p.replace('NORMAL_MSG', 'OFFLINE_MSG') })).status).toBe(200);
    expect((await http(server.url, 'POST', '/', { body: topic.replace('OFFLINE_TOPIC_MSG', 'NORMAL_TOPIC_MSG') })).status).toBe(200);
    expect(events.map((e) => [e.msgType, e.offline])).toEqual([
      ['NORMAL_MSG', false],
      ['OFFLINE_TOPIC_MSG', true],
      ['OFFLINE_MSG', true],
      ['NORMAL_TOPIC_MSG', false],
    ]);
    expect(events[0]).toMatchObject({ fromAppId: 2882303761517479657n, toAppId: 2882303761517479657n, fromAccount: 'a', toAccount: 'b', timestamp: 1700000000000 });
    expect(Buffer.from(events[0]!.payload).toString()).toBe('hi');
    expect(events[1]).toMatchObject({ appId: 2882303761517479657n, topicId: 9223372036854775807n, toAccounts: ['b', 'c'], timestamp: 1700000000001 });
    expect(events[1]!.payload).toHaveLength(0);
  });

  it('answers 400 with the reason for malformed events, 405, 413 and 401', async () => {
    const cases: Array<[string, RegExp]> = [
      ['not json', /not JSON/],
      ['[1,2]', /JSON object/],
      ['{"msgType":"READ_RECEIPT"}', /unknown msgType "READ_RECEIPT"/],
      [p2p.replace('"aGk="', '"a$k="'), /payload must be base64/],
      [p2p.replace('"toAccount":"b",', ''), /toAccount/],
      [p2p.replace('2882303761517479657,"fromAccount"', '-1,"fromAccount"'), /fromAppId/],
      [p2p.replace('1700000000000', '"soon"'), /timestamp/],
      ['{"msgType":"NORMAL_TOPIC_MSG","appId":1,"topicId":2,"fromAccount":"a","toAccounts":"b","payload":"","timestamp":1}', /toAccounts/],
    ];
    for (const [body, reason] of cases) {
      const answer = await http(server.url, 'POST', '/', { body });
      expect(answer.status).toBe(400);
      expect(answer.json.code).toBe(400);
      expect(answer.json.message).toMatch(reason);
    }
    expect((await http(server.url, 'GET', '/')).status).toBe(405);
    expect((await http(server.url, 'POST', '/', { body: `{"pad":"${'x'.repeat(4096)}"}` })).status).toBe(413);
    verified = false;
    expect((await http(server.url, 'POST', '/', { body: p2p })).status).toBe(401);
    expect(events).toHaveLength(0);
  });

  it('uses a body a framework already read as bytes, and refuses one parsed into numbers', async () => {
    const got: CallbackEvent[] = [];
    const handler = createCallbackHandler((e) => void got.push(e), { insecureNoVerify: true });
    const withBody = (body: unknown) =>
      serve((req, res) => {
        req.resume();
        req.on('end', () => {
          (req as IncomingMessage & { body?: unknown }).body = body;
          handler(req, res);
        });
      });
    const raw = await withBody(Buffer.from(p2p));
    const parsed = await withBody(JSON.parse(p2p));
    try {
      expect((await http(raw.url, 'POST', '/', { body: p2p })).status).toBe(200);
      expect(got[0]!.msgType).toBe('NORMAL_MSG');
      const refused = await http(parsed.url, 'POST', '/', { body: p2p });
      expect(refused.status).toBe(500);
      expect(refused.json.message).toMatch(/body was parsed/);
    } finally {
      await raw.close();
      await parsed.close();
    }
  });

  it('parseCallbackEvent throws ERR_INVALID_ARGUMENT', () => {
    expect(parseCallbackEvent(Buffer.from(p2p)).msgType).toBe('NORMAL_MSG');
    expect(() => parseCallbackEvent('{}')).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
  });
});
