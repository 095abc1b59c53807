/**
 * The HTTP side of the emulator on one port: the token service (/api/account/token), the
 * resolver (/gslb/), a JSON admin API (/admin/...) and MIMC's REST API (/api/..., rest.ts).
 * Every answer uses MIMC's envelope
 * {code, message, data}; request errors keep HTTP 200 and put the error in `code`, as MIMC does.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { CHID } from '../protocol/constants.js';
import type { EmulatorCore } from './core.js';
import { MIMCError, ErrorCode } from '../errors.js';
import { HttpCode, HttpError, checkAccountName, envelope, pathSegments, readJsonObject, requestUrl, stringList } from './http-util.js';
import { parseJsonUint64 } from '../protocol/int64.js';
import { listenOn } from './listen.js';
import { RestApi } from './rest.js';
import type { Topic } from './store.js';
import type { EmulatorFaults } from './types.js';

export const TOKEN_PATH = '/api/account/token';
export const RESOLVER_PATH = '/gslb/';
export const ADMIN_PATH = '/admin';

export { checkAccountName } from './http-util.js';

export interface HttpDeps {
  core: EmulatorCore;
  faults: EmulatorFaults;
  /** host:port the resolver advertises for the frontend. */
  frontendAddress(): string;
  restartFrontend(): Promise<void>;
}

/** The token-service success body for an account: exactly the types the Go SDK asserts. */
export function tokenBody(core: EmulatorCore, appAccount: string): string {
  const account = core.store.account(appAccount);
  const { token, record } = core.store.issueToken(account);
  const app = core.app;
  return envelope(HttpCode.OK, 'success', {
    appId: app.appId.toString(),
    appPackage: app.appPackage,
    appAccount,
    miChid: CHID,
    miUserId: account.uuid.toString(),
    miUserSecurityKey: record.securityKey,
    token,
    feDomainName: app.feDomainName,
    regionBucket: 0,
  });
}

function optionalAccount(body: Record<string, unknown>): string | undefined {
  return body.appAccount === undefined ? undefined : checkAccountName(body.appAccount);
}

function requireBoolean(body: Record<string, unknown>, field: string): boolean {
  if (typeof body[field] !== 'boolean') throw new HttpError(HttpCode.BAD_REQUEST, `${field} must be a boolean`);
  return body[field] as boolean;
}

function topicView(topic: Topic): unknown {
  return {
    topicId: topic.id.toString(),
    owner: topic.owner.appAccount,
    members: [...topic.members].map((m) => ({ appAccount: m.appAccount, uuid: m.uuid.toString() })),
  };
}

export class HttpService {
  private server: Server | null = null;
  private readonly rest: RestApi;
  port = 0;

  constructor(
    private readonly deps: HttpDeps,
    private readonly host: string,
    private readonly requestedPort: number,
  ) {
    this.rest = new RestApi(deps.core);
  }

  async listen(): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => this.fail(res, err));
    });
    server.keepAliveTimeout = 2000;
    // Malformed HTTP still gets an answer (400, or 431 for oversized headers) when the socket can take it.
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      if (err.code === 'ECONNRESET' || !socket.writable) {
        socket.destroy();
        return;
      }
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    });
    this.port = await listenOn(server, this.host, this.requestedPort);
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private send(res: ServerResponse, status: number, body: string): void {
    if (res.headersSent) return;
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  private ok(res: ServerResponse, data: unknown): void {
    this.send(res, 200, envelope(HttpCode.OK, 'success', data));
  }

  private fail(res: ServerResponse, err: unknown): void {
    if (MIMCError.is(err) && err.code === ErrorCode.LIMIT_REACHED) {
      // A capacity of the emulator, not a fault of this request's shape: HTTP 429 (code 429).
      this.send(res, 429, envelope(HttpCode.TOO_MANY, err.message, null));
      return;
    }
    if (err instanceof HttpError) {
      this.send(res, err.status, envelope(err.code, err.message, null));
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    // MIMCErrors from the core (unknown topic, bad argument) are the caller's fault.
    const known = typeof err === 'object' && err !== null && 'code' in err && typeof (err as { code: unknown }).code === 'string';
    if (!known) this.deps.core.log.error({ err: message }, 'HTTP request failed');
    this.send(res, 200, envelope(known ? HttpCode.BAD_REQUEST : 500, message, null));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = requestUrl(req.url);
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (path === TOKEN_PATH) {
      if (method !== 'POST') throw new HttpError(HttpCode.METHOD_NOT_ALLOWED, 'use POST', 405);
      await this.token(req, res);
      return;
    }
    if (path === RESOLVER_PATH || path === '/gslb') {
      if (method !== 'GET') throw new HttpError(HttpCode.METHOD_NOT_ALLOWED, 'use GET', 405);
      this.resolve(url, res);
      return;
    }
    if (path === ADMIN_PATH || path.startsWith(`${ADMIN_PATH}/`)) {
      await this.admin(method, pathSegments(path.slice(ADMIN_PATH.length)), url, req, res);
      return;
    }
    if (path.startsWith('/api/')) {
      this.send(res, 200, await this.rest.handle(method, url, req));
      return;
    }
    throw new HttpError(HttpCode.NOT_FOUND, 'not found', 404);
  }

  private async token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJsonObject(req);
    const core = this.deps.core;
    const app = core.app;
    const appId = parseJsonUint64(body.appId);
    if (appId === undefined) throw new HttpError(HttpCode.BAD_REQUEST, 'appId must be a decimal id (number or string)');
    if (typeof body.appKey !== 'string' || typeof body.appSecret !== 'string') throw new HttpError(HttpCode.BAD_REQUEST, 'appKey and appSecret must be strings');
    const appAccount = checkAccountName(body.appAccount);
    if (appId !== app.appId || body.appKey !== app.appKey || body.appSecret !== app.appSecret) {
      core.log.info('token request refused: wrong app credentials');
      throw new HttpError(HttpCode.UNAUTHORIZED, 'invalid app credentials');
    }
    core.log.debug({ account: appAccount }, 'token issued');
    this.send(res, 200, tokenBody(core, appAccount));
  }

  private resolve(url: URL, res: ServerResponse): void {
    const domains = (url.searchParams.get('list') ?? '')
      .split(',')
      .map((d) => d.trim())
      .filter((d) => d.length > 0);
    const address = this.deps.frontendAddress();
    const wifi: Record<string, string[]> = {};
    for (const domain of domains) wifi[domain] = [address];
    this.send(res, 200, JSON.stringify({ S: 'Ok', R: { wifi } }));
  }

  private async admin(method: string, parts: string[], url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { core, faults } = this.deps;
    const [section, id, sub] = parts;
    const route = `${method} ${section ?? ''}${id === undefined ? '' : '/:id'}${sub === undefined ? '' : `/${sub}`}`;
    switch (route) {
      case 'GET ':
        this.ok(res, {
          app: core.app,
          frontend: this.deps.frontendAddress(),
          stats: core.stats,
          faults: core.faultState.snapshot(),
        });
        return;
      case 'GET stats':
        this.ok(res, core.stats);
        return;
      case 'GET accounts/:id': {
        // A read: an unknown account is a 404, never created.
        const appAccount = checkAccountName(id);
        const account = core.store.findAccount(appAccount);
        if (!account) throw new HttpError(HttpCode.NOT_FOUND, 'unknown account', 404);
        this.ok(res, {
          appAccount,
          uuid: account.uuid.toString(),
          onlineResources: core.onlineResources(appAccount),
          storedCount: account.store.size,
        });
        return;
      }
      case 'POST topics': {
        const body = await readJsonObject(req);
        const owner = checkAccountName(body.owner ?? body.ownerAccount, 'owner');
        this.ok(res, topicView(core.createTopic(owner, stringList(body.members ?? body.accounts, 'members'))));
        return;
      }
      case 'GET topics/:id': {
        const topic = core.store.topic(this.topicId(id!));
        if (!topic) throw new HttpError(HttpCode.NOT_FOUND, 'topic not found');
        this.ok(res, topicView(topic));
        return;
      }
      case 'POST topics/:id/members': {
        const body = await readJsonObject(req);
        this.ok(res, topicView(core.addTopicMembers(this.topicId(id!), stringList(body.accounts ?? body.members, 'accounts'))));
        return;
      }
      case 'DELETE topics/:id/members': {
        const body = await readJsonObject(req);
        const accounts = stringList(body.accounts ?? body.members ?? url.searchParams.get('accounts') ?? undefined, 'accounts');
        this.ok(res, topicView(core.removeTopicMembers(this.topicId(id!), accounts)));
        return;
      }
      case 'GET faults':
        this.ok(res, core.faultState.snapshot());
        return;
      case 'POST faults/:id': {
        const body = await readJsonObject(req);
        this.fault(id!, body, faults);
        this.ok(res, core.faultState.snapshot());
        return;
      }
      case 'POST restart-frontend':
        await this.deps.restartFrontend();
        this.ok(res, { frontend: this.deps.frontendAddress() });
        return;
      default:
        throw new HttpError(HttpCode.NOT_FOUND, `no admin route ${method} /admin/${parts.join('/')}`, 404);
    }
  }

  private topicId(text: string): bigint {
    const id = parseJsonUint64(text);
    if (id === undefined) throw new HttpError(HttpCode.BAD_REQUEST, 'topic id must be a decimal id');
    return id;
  }

  private fault(name: string, body: Record<string, unknown>, faults: EmulatorFaults): void {
    switch (name) {
      case 'drop-connections':
        faults.dropConnections(optionalAccount(body));
        return;
      case 'stall':
        faults.stall(requireBoolean(body, 'enabled'), optionalAccount(body));
        return;
      case 'drop-acks':
        faults.dropAcks(requireBoolean(body, 'enabled'));
        return;
      case 'delay-delivery': {
        const ms = body.ms;
        if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 0) throw new HttpError(HttpCode.BAD_REQUEST, 'ms must be an integer >= 0');
        faults.delayDelivery(ms);
        return;
      }
      case 'corrupt-next-frame':
        faults.corruptNextFrame(optionalAccount(body));
        return;
      case 'send-oversized-frame':
        faults.sendOversizedFrame(optionalAccount(body));
        return;
      case 'expire-tokens':
        faults.expireTokens(optionalAccount(body));
        return;
      case 'kick': {
        const resource = body.resource;
        if (resource !== undefined && typeof resource !== 'string') throw new HttpError(HttpCode.BAD_REQUEST, 'resource must be a string');
        faults.kick(checkAccountName(body.appAccount), resource);
        return;
      }
      case 'reset':
        faults.reset();
        return;
      default:
        throw new HttpError(HttpCode.NOT_FOUND, `unknown fault ${JSON.stringify(name)}`, 404);
    }
  }
}
