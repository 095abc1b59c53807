/**
 * HTTP fuzzing of the three HTTP surfaces: the emulator's HTTP service (token service, resolver,
 * admin API, MIMC REST API), createTokenHandler and createCallbackHandler. Random methods,
 * paths (bad %-encoding, odd segments, long ones), headers (right and wrong credentials, tokens)
 * and bodies (valid-looking, mutated, odd or deep JSON, random bytes, bodies above every cap).
 *
 * The invariant: every request gets an HTTP answer with a 2xx or 4xx status (and, where the body
 * is an envelope, a `code` below 500), and each server still serves correctly afterwards (health
 * checks). Each case is generated from (seed, index) alone, so a run is reproducible whatever the
 * concurrency.
 */
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { startEmulator, type Emulator } from '../../../lib/emulator/index.js';
import { MIMCRestClient, callbackSecretVerifier, callbackUrlWithSecret, createCallbackHandler, createTokenHandler } from '../../../lib/rest/index.js';
import { Rng } from './generate.js';

export type HttpTarget = 'emulator' | 'token' | 'callback';

export interface HttpFuzzOptions {
  cases: number;
  seed: number;
  /** Stop early once this many seconds have passed (long runs); default no limit. */
  seconds?: number;
  /** Requests in flight at once (keep-alive sockets); default 8. */
  concurrency?: number;
  /** Health check of every target every this many cases; default 500. */
  healthEvery?: number;
  /** Called after every `progressEvery` cases (default 1000). */
  onProgress?: (done: number, total: number) => void;
  progressEvery?: number;
}

export interface HttpFuzzResult {
  cases: number;
  byTarget: Record<HttpTarget, { cases: number; statuses: Record<string, number> }>;
  healthChecks: number;
  /** Requests sent again on a new connection after their kept-alive one was closed under them. */
  retriedOnNewSocket: number;
  problems: string[];
  ms: number;
}

interface Case {
  target: HttpTarget;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
  /** For a problem report: what the body was, without its bytes. */
  what: string;
}

const SECRET = 'fuzz-callback-secret-0123456789';
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'];
const BAD_PERCENT = ['%', '%z', '%zz', '%E0%A4%A', '%ff', '%C0%AF', '%ED%A0%80', '%00', '%2F', '%25', '%%', '%u0041'];
const SAFE = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&\'()*+,;=:@';

const EMULATOR_ROUTES = [
  '/api/account/token',
  '/gslb/',
  '/gslb',
  '/admin',
  '/admin/stats',
  '/admin/accounts/alice',
  '/admin/accounts/',
  '/admin/topics',
  '/admin/topics/1',
  '/admin/topics/1/members',
  '/admin/faults',
  '/admin/faults/stall',
  '/admin/faults/delay-delivery',
  '/admin/faults/reset',
  '/admin/faults/nope',
  '/api/push/p2p/',
  '/api/push/p2p/more',
  '/api/push/p2t/',
  '/api/push/p2t/more',
  '/api/topic/APPID',
  '/api/topic/APPID/account',
  '/api/topic/APPID/1',
  '/api/topic/APPID/1/accounts',
  '/api/topic/APPID/1/account',
  '/api/msg/p2p/queryOnTime',
  '/api/msg/p2p/queryOnCount',
  '/api/msg/p2t/queryOnSequence',
  '/api/blacklist/',
  '/api/contact/',
  '/api/contact/p2p/session',
  '/api/contact/p2t/session',
  '/api/nothing',
  '/',
];
const TOKEN_ROUTES = ['/mimc/token', '/mimc/token?account=alice', '/mimc/token?appAccount=deny-me', '/'];
const CALLBACK_ROUTES = ['/cb', '/cb?secret=wrong', '/'];

function safeText(rng: Rng, max: number): string {
  let out = '';
  const n = rng.int(max + 1);
  for (let i = 0; i < n; i++) out += SAFE[rng.int(SAFE.length)];
  return out;
}

/** A path from the route list, mutated: bad %-encodings, extra or long segments, odd queries. */
function fuzzPath(rng: Rng, routes: readonly string[], appId: string, secretQuery: string | undefined): string {
  let path = rng.pick(routes).replace('APPID', rng.chance(0.8) ? appId : safeText(rng, 20));
  if (secretQuery && path.startsWith('/cb') && rng.chance(0.6)) path = `/cb?${secretQuery}`;
  const mutations = rng.chance(0.5) ? 0 : 1 + rng.int(3);
  for (let i = 0; i < mutations; i++) {
    switch (rng.int(8)) {
      case 0:
        path += rng.pick(BAD_PERCENT);
        break;
      case 1:
        path += `/${safeText(rng, 12)}`;
        break;
      case 2:
        path += `/${rng.pick(BAD_PERCENT)}${safeText(rng, 4)}`;
        break;
      case 3:
        path += `${path.includes('?') ? '&' : '?'}${safeText(rng, 8)}=${rng.pick(BAD_PERCENT)}`;
        break;
      case 4:
        path = path.replace(/\/[^/]*$/, `/${'x'.repeat(1 + rng.int(rng.chance(0.1) ? 6000 : 300))}`);
        break;
      case 5:
        path = `/${path}`;
        break;
      case 6:
        path += `${path.includes('?') ? '&' : '?'}accounts=${encodeURIComponent(safeText(rng, 30))}&topicId=${rng.u64()}&member=${safeText(rng, 10)}`;
        break;
      default:
        path = path.replace(/[a-z]/, (c) => `%${c.charCodeAt(0).toString(16)}`);
        break;
    }
  }
  return path.startsWith('/') ? path : `/${path}`;
}

/** JSON text with odd but legal (or almost legal) content. */
function oddJson(rng: Rng): string {
  switch (rng.int(14)) {
    case 0:
      return '['.repeat(1 + rng.int(20_000));
    case 1:
      return `${'['.repeat(3000)}${']'.repeat(3000)}`;
    case 2:
      return `{"a":${'{"a":'.repeat(2000)}1${'}'.repeat(2001)}`;
    case 3:
      return `{"appId":1e999999,"n":-0,"x":123456789012345678901234567890}`;
    case 4:
      return `{"appId":"${rng.u64()}","appId":${rng.u64()}}`;
    case 5:
      return `\ufeff{"msg":"x"}`;
    case 6:
      return `{"msg":"\\ud800","fromAccount":"\\u0000"}`;
    case 7:
      return `{"msg":"x"} trailing`;
    case 8:
      return `"${'\\"'.repeat(rng.int(2000))}"`;
    case 9:
      return JSON.stringify({ toAccounts: Array.from({ length: rng.int(300) }, (_, i) => `acct-${i}`) });
    case 10:
      return `[${Array.from({ length: 1 + rng.int(5000) }, () => rng.int(1e9)).join(',')}]`;
    case 11:
      return `{"k":"${'a'.repeat(rng.int(50_000))}"}`;
    case 12:
      return '{"a":1,}';
    default:
      return rng.pick(['null', 'true', '0', '""', '{}', '[]', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":1}}']);
  }
}

function value(rng: Rng, good: unknown): unknown {
  if (rng.chance(0.75)) return good;
  return rng.pick<unknown>([null, true, -1, 0, 1.5, 2 ** 53 + 1, '', rng.text(), [], {}, [good], String(rng.u64()), 'x'.repeat(300)]);
}

/** A body shaped like what the route expects, each field possibly wrong. */
function shapedBody(rng: Rng, emu: Emulator, path: string): Record<string, unknown> {
  const app = emu.app;
  const creds = rng.chance(0.7);
  const account = rng.pick(['alice', 'bob', `user-${rng.int(50)}`, rng.text()]);
  const base: Record<string, unknown> = {
    appId: value(rng, rng.chance(0.5) ? app.appId.toString() : app.appId.toString()),
    appKey: value(rng, creds ? app.appKey : 'wrong'),
    appSecret: value(rng, creds ? app.appSecret : 'wrong'),
  };
  if (path.includes('token')) return { ...base, appAccount: value(rng, account), account: value(rng, account) };
  if (path.includes('push')) {
    return {
      ...base,
      fromAccount: value(rng, 'alice'),
      toAccount: value(rng, account),
      toAccounts: value(rng, ['bob', account]),
      topicId: value(rng, String(rng.u64())),
      topicIds: value(rng, [String(rng.u64())]),
      msg: value(rng, rng.chance(0.5) ? 'aGk=' : 'hello'),
      msgType: value(rng, rng.pick(['', 'base64', 'text'])),
      isStore: value(rng, rng.chance(0.5)),
      bizType: value(rng, 'T'),
    };
  }
  if (path.includes('msg')) {
    return { appId: value(rng, app.appId.toString()), fromAccount: value(rng, 'alice'), toAccount: value(rng, 'bob'), account: value(rng, 'alice'), topicId: value(rng, '1'), utcFromTime: value(rng, 0), utcToTime: value(rng, Date.now()), count: value(rng, 10), startSeq: value(rng, '0'), stopSeq: value(rng, '9') };
  }
  if (path.includes('admin')) return { owner: value(rng, 'alice'), members: value(rng, ['bob']), accounts: value(rng, ['bob']), enabled: value(rng, false), ms: value(rng, 0), appAccount: value(rng, account) };
  return { ...base, topicName: value(rng, 'room'), accounts: value(rng, 'bob,carol'), blackAccount: value(rng, account), ownerAccount: value(rng, 'bob') };
}

function callbackBody(rng: Rng): Record<string, unknown> {
  const topic = rng.chance(0.5);
  const event: Record<string, unknown> = {
    msgType: value(rng, topic ? rng.pick(['NORMAL_TOPIC_MSG', 'OFFLINE_TOPIC_MSG']) : rng.pick(['NORMAL_MSG', 'OFFLINE_MSG'])),
    fromAccount: value(rng, 'alice'),
    payload: value(rng, 'aGk='),
    timestamp: value(rng, 1700000000000),
  };
  if (topic) Object.assign(event, { appId: value(rng, String(rng.u64())), topicId: value(rng, String(rng.u64())), toAccounts: value(rng, ['b']) });
  else Object.assign(event, { fromAppId: value(rng, String(rng.u64())), toAppId: value(rng, '1'), toAccount: value(rng, 'bob') });
  if (rng.chance(0.2)) event.bizType = value(rng, 'x');
  return event;
}

function body(rng: Rng, c: { target: HttpTarget; path: string }, emu: Emulator, caps: Record<HttpTarget, number>): { body: Buffer | undefined; what: string } {
  switch (rng.int(20)) {
    case 0:
      return { body: undefined, what: 'no body' };
    case 1:
      return { body: Buffer.from(rng.bytes(rng.int(2000))), what: 'random bytes' };
    case 2: {
      // Just above (or far above) the target's body cap.
      const size = rng.chance(0.2) ? 1100 * 1024 : caps[c.target] + 1 + rng.int(2048);
      return { body: Buffer.alloc(size, rng.chance(0.5) ? 0x20 : 0x5b), what: `${size} bytes over the cap` };
    }
    case 3:
    case 4:
    case 5:
      return { body: Buffer.from(oddJson(rng)), what: 'odd JSON' };
    default: {
      const shaped = c.target === 'callback' ? callbackBody(rng) : shapedBody(rng, emu, c.path);
      let text = JSON.stringify(shaped);
      // Ids as bare 19-digit numbers, as MIMC and the Go SDK send them.
      if (rng.chance(0.3)) text = text.replace(/"(\d{16,20})"/g, '$1');
      if (rng.chance(0.1)) text = text.slice(0, rng.int(text.length));
      return { body: Buffer.from(text), what: 'shaped JSON' };
    }
  }
}

function headers(rng: Rng, emu: Emulator, token: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (rng.chance(0.8)) out['content-type'] = rng.pick(['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', safeText(rng, 20)]);
  if (rng.chance(0.3)) out.token = rng.chance(0.5) ? token : safeText(rng, 40);
  if (rng.chance(0.3)) {
    const right = rng.chance(0.7);
    out.appkey = right ? emu.app.appKey : safeText(rng, 10);
    out.appsecret = right ? emu.app.appSecret : safeText(rng, 10);
    out.appaccount = rng.pick(['alice', 'bob', safeText(rng, 300), '']);
    out.appid = rng.chance(0.8) ? emu.app.appId.toString() : safeText(rng, 10);
  }
  if (rng.chance(0.05)) out['x-junk'] = 'x'.repeat(rng.int(4000));
  if (rng.chance(0.05)) out['content-encoding'] = rng.pick(['gzip', 'br', 'identity']);
  return out;
}

interface Servers {
  emu: Emulator;
  token: Server;
  callback: Server;
  ports: Record<HttpTarget, number>;
  accepted: { events: number };
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  const server = createServer(handler);
  server.keepAliveTimeout = 10_000;
  server.listen({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  return server;
}

async function startServers(): Promise<Servers> {
  const emu = await startEmulator({ bindTimeoutMs: 3000, idleTimeoutMs: 10_000 });
  const rest = new MIMCRestClient({ appId: emu.app.appId, appKey: emu.app.appKey, appSecret: emu.app.appSecret, baseUrl: emu.restUrl });
  const token = await listen(createTokenHandler({ client: rest, authorize: (_req, account) => !account.startsWith('deny') }));
  const accepted = { events: 0 };
  const callback = await listen(
    createCallbackHandler(
      () => {
        accepted.events++;
      },
      { verify: callbackSecretVerifier(SECRET) },
    ),
  );
  const emuPort = Number(new URL(emu.restUrl).port);
  return { emu, token, callback, accepted, ports: { emulator: emuPort, token: (token.address() as AddressInfo).port, callback: (callback.address() as AddressInfo).port } };
}

async function stopServers(s: Servers): Promise<void> {
  for (const server of [s.token, s.callback]) {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }
  await s.emu.close();
}

interface Answer {
  status: number;
  body: string;
}

/** A request that failed on a kept-alive socket before any answer: the server may have closed it just then. */
class ReusedSocketError extends Error {
  constructor(message: string) {
    super(`${message} (on a reused keep-alive socket)`);
  }
}

function send(agent: Agent | false, port: number, c: Pick<Case, 'method' | 'path' | 'headers' | 'body'>, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // An explicit length: without it node sends DELETE/OPTIONS bodies unframed (not valid HTTP).
    const headers = c.body === undefined ? c.headers : { ...c.headers, 'content-length': String(c.body.length) };
    const req = request({ host: '127.0.0.1', port, method: c.method, path: c.path, headers, agent });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(req.reusedSocket ? new ReusedSocketError(err.message) : err);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.end(c.body);
  });
}

/** The envelope `code` of an answer, when it has one. */
function envelopeCode(text: string): number | undefined {
  const match = /^\{"code":(-?\d+)/.exec(text);
  return match ? Number(match[1]) : undefined;
}

export async function runHttpFuzz(options: HttpFuzzOptions): Promise<HttpFuzzResult> {
  const started = Date.now();
  const deadline = options.seconds === undefined ? Infinity : started + options.seconds * 1000;
  const concurrency = options.concurrency ?? 8;
  const healthEvery = options.healthEvery ?? 500;
  const progressEvery = options.progressEvery ?? 1000;
  const servers = await startServers();
  const { emu } = servers;
  // Idle sockets are dropped by the client (1 s) before any server drops them (emulator 2 s, the
  // handlers' servers 10 s): otherwise a request can go out on a socket the server is closing at
  // that moment and fail with "socket hang up" although no server did anything wrong.
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency * 3, timeout: 1000 });
  const result: HttpFuzzResult = {
    cases: 0,
    byTarget: { emulator: { cases: 0, statuses: {} }, token: { cases: 0, statuses: {} }, callback: { cases: 0, statuses: {} } },
    healthChecks: 0,
    retriedOnNewSocket: 0,
    problems: [],
    ms: 0,
  };
  const problem = (what: string) => {
    if (result.problems.length < 50) result.problems.push(what);
  };
  const appId = emu.app.appId.toString();
  const aliceToken = (JSON.parse(await emu.fetchToken('alice')) as { data: { token: string } }).data.token;
  const secretQuery = new URL(callbackUrlWithSecret('http://x/cb', SECRET)).search.slice(1);
  const caps: Record<HttpTarget, number> = { emulator: 1024 * 1024, token: 4096, callback: 256 * 1024 };

  const generate = (index: number): Case => {
    const rng = new Rng((options.seed * 0x9e3779b1 + index * 0x85ebca6b) >>> 0);
    const roll = rng.int(10);
    const target: HttpTarget = roll < 6 ? 'emulator' : roll < 8 ? 'token' : 'callback';
    const routes = target === 'emulator' ? EMULATOR_ROUTES : target === 'token' ? TOKEN_ROUTES : CALLBACK_ROUTES;
    const method = rng.chance(0.5) ? (target === 'emulator' ? rng.pick(['POST', 'GET', 'DELETE', 'PUT']) : 'POST') : rng.pick(METHODS);
    const path = fuzzPath(rng, routes, appId, target === 'callback' ? secretQuery : undefined);
    const b = method === 'GET' || method === 'HEAD' ? { body: undefined, what: 'no body' } : body(rng, { target, path }, emu, caps);
    return { target, method, path, headers: headers(rng, emu, aliceToken), body: b.body, what: b.what };
  };

  const check = (c: Case, answer: Answer, index: number): void => {
    const counts = result.byTarget[c.target].statuses;
    counts[answer.status] = (counts[answer.status] ?? 0) + 1;
    const code = envelopeCode(answer.body);
    const label = `case ${index} (${c.target} ${c.method} ${c.path.slice(0, 120)}, ${c.what})`;
    if (answer.status < 200 || answer.status >= 500 || (answer.status >= 300 && answer.status < 400)) problem(`${label}: HTTP ${answer.status}: ${answer.body.slice(0, 200)}`);
    else if (code !== undefined && code >= 500) problem(`${label}: envelope code ${code}: ${answer.body.slice(0, 200)}`);
  };

  const health = async (): Promise<void> => {
    result.healthChecks++;
    const app = emu.app;
    try {
      const stats = await send(agent, servers.ports.emulator, { method: 'GET', path: '/admin/stats', headers: {}, body: undefined }, 10_000);
      if (stats.status !== 200 || envelopeCode(stats.body) !== 200) problem(`health: emulator /admin/stats answered ${stats.status} ${stats.body.slice(0, 100)}`);
      const push = await send(
        agent,
        servers.ports.emulator,
        {
          method: 'POST',
          path: '/api/push/p2p/',
          headers: { 'content-type': 'application/json' },
          body: Buffer.from(JSON.stringify({ appId: app.appId.toString(), appKey: app.appKey, appSecret: app.appSecret, fromAccount: 'alice', toAccount: 'bob', msg: 'health' })),
        },
        10_000,
      );
      if (envelopeCode(push.body) !== 200) problem(`health: emulator push answered ${push.status} ${push.body.slice(0, 100)}`);
      const token = await send(agent, servers.ports.token, { method: 'POST', path: '/mimc/token', headers: { 'content-type': 'application/json' }, body: Buffer.from('{"appAccount":"health"}') }, 10_000);
      if (token.status !== 200 || !token.body.includes('"token"')) problem(`health: token handler answered ${token.status} ${token.body.slice(0, 100)}`);
      const before = servers.accepted.events;
      const event = '{"msgType":"NORMAL_MSG","fromAppId":1,"fromAccount":"a","toAppId":1,"toAccount":"b","payload":"aGk=","timestamp":1}';
      const cb = await send(agent, servers.ports.callback, { method: 'POST', path: `/cb?${secretQuery}`, headers: {}, body: Buffer.from(event) }, 10_000);
      if (cb.status !== 200 || servers.accepted.events !== before + 1) problem(`health: callback handler answered ${cb.status} ${cb.body.slice(0, 100)}`);
    } catch (err) {
      problem(`health: ${(err as Error).message}`);
    }
  };

  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < options.cases && Date.now() < deadline) {
      const index = next++;
      const c = generate(index);
      result.byTarget[c.target].cases++;
      try {
        let answer: Answer;
        try {
          answer = await send(agent, servers.ports[c.target], c, 15_000);
        } catch (err) {
          if (!(err instanceof ReusedSocketError)) throw err;
          // Sent again once on a new connection: a server that really hangs up on this request fails here too.
          result.retriedOnNewSocket++;
          answer = await send(false, servers.ports[c.target], c, 15_000);
        }
        check(c, answer, index);
      } catch (err) {
        problem(`case ${index} (${c.target} ${c.method} ${c.path.slice(0, 120)}, ${c.what}): no answer: ${(err as Error).message}`);
      }
      const done = ++result.cases;
      if (options.onProgress && done % progressEvery === 0) options.onProgress(done, options.cases);
      if (done % healthEvery === 0) await health();
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, () => worker()));
    await health();
  } finally {
    agent.destroy();
    await stopServers(servers);
  }
  result.ms = Date.now() - started;
  return result;
}
