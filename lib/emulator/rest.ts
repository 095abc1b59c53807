/**
 * MIMC's server-side REST API on the emulator's HTTP port: push (P2P, P2T, single and batch),
 * topics, history and blacklist, sharing state with the TCP frontend. Answers use the
 * {code, message, data} envelope with HTTP 200, and 64-bit ids as exact JSON integers.
 * See lib/emulator/README.md for the choices made where MIMC's manual is silent.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { stringifyExact } from '../protocol/json.js';
import type { EmulatorCore } from './core.js';
import type { ChatRow } from './chatlist.js';
import { HISTORY_MAX_ROWS, byCount, bySequence, byTime, type HistoryEntry } from './history.js';
import { HttpCode, HttpError, MAX_ACCOUNT_LENGTH, checkAccountName, pathSegments, readJsonObject, stringList } from './http-util.js';
import { parseJsonUint64 } from '../protocol/int64.js';
import type { Account, Topic } from './store.js';

/** Body cap of REST requests (a batch push may list many recipients). */
export const REST_MAX_BODY = 1024 * 1024;
/** Longest window of a time-range history query: 24 h. */
export const HISTORY_MAX_WINDOW_MS = 24 * 60 * 60 * 1000;
/** Longest topic name and bulletin accepted. */
const MAX_TOPIC_TEXT = 1024;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

type Body = Record<string, unknown>;

function bad(message: string): HttpError {
  return new HttpError(HttpCode.BAD_REQUEST, message);
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function optionalText(body: Body, field: string, max: number): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length > max) throw bad(`${field} must be a string of at most ${max} characters`);
  return value;
}

/** A millisecond time: a non-negative safe integer (number, or decimal string). */
function millis(body: Body, field: string): number {
  const value = body[field];
  const n = typeof value === 'string' && /^[0-9]{1,16}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw bad(`${field} must be a time in ms (non-negative integer)`);
  return n;
}

function bigId(value: unknown, field: string): bigint {
  const id = parseJsonUint64(value);
  if (id === undefined) throw bad(`${field} must be a 64-bit id (JSON integer or decimal string)`);
  return id;
}

function envelopeOk(data: unknown, message = 'success'): string {
  return stringifyExact({ code: HttpCode.OK, message, data });
}

/** TopicInfo of MIMC's topic API. */
function topicInfo(topic: Topic): Record<string, unknown> {
  return {
    topicId: topic.id,
    ownerUuid: topic.owner.uuid,
    ownerAccount: topic.owner.appAccount,
    topicName: topic.name,
    bulletin: topic.bulletin,
  };
}

/** TopicDetail: the info and the members, owner first. */
function topicDetail(topic: Topic): Record<string, unknown> {
  const members = [topic.owner, ...[...topic.members].filter((m) => m !== topic.owner)];
  return { topicInfo: topicInfo(topic), members: members.map((m) => ({ uuid: m.uuid, account: m.appAccount })) };
}

function historyMessage(e: HistoryEntry, withTo: boolean): Record<string, unknown> {
  const m: Record<string, unknown> = { sequence: e.sequence, payload: Buffer.from(e.payload).toString('base64'), ts: e.ts, fromAccount: e.fromAccount };
  if (withTo && e.toAccount !== undefined) m.toAccount = e.toAccount;
  if (e.bizType !== undefined) m.bizType = e.bizType;
  return m;
}

/** One row of the chat list, every value a string as the manual shows it. */
function chatRow(r: ChatRow): Record<string, unknown> {
  const peer = r.userType === 'USER' ? { id: r.peer.uuid.toString(), name: r.peer.appAccount } : { id: r.topic.id.toString(), name: r.topic.name };
  return {
    userType: r.userType,
    ...peer,
    timestamp: String(r.ts),
    lastMessage: {
      fromUuid: r.last.from.uuid.toString(),
      fromAccount: r.last.from.appAccount,
      payload: Buffer.from(r.last.payload).toString('base64'),
      sequence: r.last.sequence.toString(),
    },
  };
}

export class RestApi {
  constructor(private readonly core: EmulatorCore) {}

  /** Serves one request under /api/ (the token route excepted); returns the response body or throws an HttpError. */
  async handle(method: string, url: URL, req: IncomingMessage): Promise<string> {
    const parts = pathSegments(url.pathname);
    const [, area] = parts;
    switch (area) {
      case 'push':
        this.expectMethod(method, 'POST');
        return this.push(parts.slice(2), req);
      case 'topic':
        return this.topic(method, parts.slice(2), url, req);
      case 'msg':
        this.expectMethod(method, 'POST');
        return this.history(parts.slice(2), req);
      case 'blacklist':
        if (parts.length !== 2) break;
        return this.blacklist(method, url, req);
      case 'contact':
        return this.contact(method, parts.slice(2), url, req);
      case 'uctopic':
        return this.uctopic(method, parts.slice(2), req);
      default:
        break;
    }
    throw new HttpError(HttpCode.NOT_FOUND, `no route ${method} ${url.pathname}`, 404);
  }

  private expectMethod(method: string, expected: string): void {
    if (method !== expected) throw new HttpError(HttpCode.METHOD_NOT_ALLOWED, `use ${expected}`, 405);
  }

  private noRoute(method: string, parts: string[], area: string): never {
    throw new HttpError(HttpCode.NOT_FOUND, `no route ${method} /api/${area}/${parts.join('/')}`, 404);
  }

  // -------------------------------------------------------------------------------------------
  // Authentication

  private checkAppId(value: unknown, where: string): void {
    if (parseJsonUint64(value) !== this.core.app.appId) throw new HttpError(HttpCode.UNAUTHORIZED, `appId (${where}) is not this app`);
  }

  private checkAppCredentials(appKey: unknown, appSecret: unknown): void {
    const app = this.core.app;
    if (typeof appKey !== 'string' || typeof appSecret !== 'string' || !sameText(appKey, app.appKey) || !sameText(appSecret, app.appSecret)) {
      this.core.log.info('REST request refused: wrong app credentials');
      throw new HttpError(HttpCode.UNAUTHORIZED, 'invalid app credentials');
    }
  }

  /** The account behind a `token` header; undefined without one. */
  private tokenUser(req: IncomingMessage): Account | undefined {
    const token = header(req, 'token');
    if (token === undefined) return undefined;
    const lookup = this.core.store.lookupToken(token);
    if (lookup.status === 'unknown') throw new HttpError(HttpCode.UNAUTHORIZED, 'invalid token');
    if (lookup.status === 'expired') throw new HttpError(HttpCode.UNAUTHORIZED, 'token expired');
    return lookup.record.account;
  }

  /**
   * The acting user: header `token`, else headers appKey + appSecret + appAccount (+ appId when
   * `withAppIdHeader`, as the blacklist API sends it). A token present decides alone.
   */
  private actingUser(req: IncomingMessage, withAppIdHeader: boolean): Account {
    const byToken = this.tokenUser(req);
    if (byToken) return byToken;
    const appKey = header(req, 'appkey');
    const appSecret = header(req, 'appsecret');
    if (appKey === undefined && appSecret === undefined) {
      throw new HttpError(HttpCode.UNAUTHORIZED, 'authentication required: a token header, or appKey, appSecret and appAccount headers');
    }
    if (withAppIdHeader) this.checkAppId(header(req, 'appid'), 'appId header');
    this.checkAppCredentials(appKey, appSecret);
    return this.core.store.account(checkAccountName(header(req, 'appaccount'), 'appAccount header'));
  }

  // -------------------------------------------------------------------------------------------
  // Push

  private async push(parts: string[], req: IncomingMessage): Promise<string> {
    const [kind, more, ...rest] = parts;
    if ((kind !== 'p2p' && kind !== 'p2t') || (more !== undefined && more !== 'more') || rest.length > 0) this.noRoute('POST', parts, 'push');
    const body = await readJsonObject(req, REST_MAX_BODY);
    this.checkAppId(body.appId, 'body');
    this.checkAppCredentials(body.appKey, body.appSecret);
    const store = this.core.store;
    const from = store.account(checkAccountName(body.fromAccount, 'fromAccount'));
    const fromResource = optionalText(body, 'fromResource', MAX_ACCOUNT_LENGTH) ?? '';
    const content = this.pushPayload(body);
    if (body.isStore !== undefined && typeof body.isStore !== 'boolean') throw bad('isStore must be a boolean');
    const isStore = body.isStore !== false;
    const bizType = optionalText(body, 'bizType', MAX_ACCOUNT_LENGTH);

    if (kind === 'p2p') {
      if (more === undefined) {
        const to = store.account(checkAccountName(body.toAccount, 'toAccount'));
        if (this.core.isBlocked(to, from)) throw new HttpError(HttpCode.FORBIDDEN, 'the recipient blacklisted fromAccount');
        return envelopeOk({ packetId: this.core.pushP2P(from, fromResource, to, content, isStore, bizType) });
      }
      if (!Array.isArray(body.toAccounts) || body.toAccounts.length === 0) throw bad('toAccounts must be a non-empty array of accounts');
      const recipients = store.accounts(body.toAccounts.map((a) => checkAccountName(a, 'toAccounts')));
      // A recipient who blacklisted the sender gets nothing; its packetId is "".
      const packetIds = recipients.map((to) => (this.core.isBlocked(to, from) ? '' : this.core.pushP2P(from, fromResource, to, content, isStore, bizType)));
      return envelopeOk({ packetIds });
    }

    let topicIds: bigint[];
    if (more === undefined) {
      topicIds = [bigId(body.topicId, 'topicId')];
    } else {
      if (!Array.isArray(body.topicIds) || body.topicIds.length === 0) throw bad('topicIds must be a non-empty array of topic ids');
      topicIds = body.topicIds.map((id) => bigId(id, 'topicIds'));
    }
    // Every topic must exist before anything is sent.
    const topics = topicIds.map((id) => this.topicOr404(id));
    for (const topic of topics) {
      if (!topic.members.has(from)) this.core.log.debug({ from: from.appAccount }, 'P2T push from a non-member (allowed)');
    }
    const packetIds = topics.map((topic) => this.core.pushP2T(from, fromResource, topic, content, isStore, bizType));
    return envelopeOk(more === undefined ? { packetId: packetIds[0] } : { packetIds });
  }

  /** `msg` as bytes: base64 when msgType is "base64", the UTF-8 text when it is "" (or absent). */
  private pushPayload(body: Body): Uint8Array {
    if (typeof body.msg !== 'string') throw bad('msg must be a string');
    const msgType = body.msgType ?? '';
    let content: Buffer;
    if (msgType === 'base64') {
      if (!BASE64.test(body.msg)) throw bad('msg is not valid base64 (msgType "base64")');
      content = Buffer.from(body.msg, 'base64');
    } else if (msgType === '') {
      content = Buffer.from(body.msg, 'utf8');
    } else {
      throw bad('msgType must be "base64" or ""');
    }
    const limit = this.core.options.maxPushPayloadBytes;
    if (content.length > limit) throw new HttpError(HttpCode.TOO_LARGE, `payload of ${content.length} bytes exceeds ${limit}`);
    return content;
  }

  // -------------------------------------------------------------------------------------------
  // Topics

  private topicOr404(id: bigint): Topic {
    const topic = this.core.store.topic(id);
    if (!topic) throw new HttpError(HttpCode.NOT_FOUND, 'topic not found');
    return topic;
  }

  private member(topic: Topic, user: Account): void {
    if (!topic.members.has(user)) throw new HttpError(HttpCode.FORBIDDEN, 'not a member of the topic');
  }

  private owner(topic: Topic, user: Account, what: string): void {
    if (topic.owner !== user) throw new HttpError(HttpCode.FORBIDDEN, `only the topic owner may ${what}`);
  }

  private checkCapacity(size: number): void {
    const max = this.core.options.maxTopicMembers;
    if (size > max) throw bad(`a topic has at most ${max} members`);
  }

  private async topic(method: string, parts: string[], url: URL, req: IncomingMessage): Promise<string> {
    const [appIdText, second, third, ...rest] = parts;
    if (appIdText === undefined || rest.length > 0) this.noRoute(method, parts, 'topic');
    // Route shapes first (the literal "account" before a topic id), then authentication.
    const shape = second === undefined ? '' : second === 'account' ? 'account' : third === undefined ? 'id' : third === 'account' || third === 'accounts' ? `id/${third}` : null;
    const allowed: Record<string, string[]> = { '': ['POST'], account: ['GET'], id: ['GET', 'PUT', 'DELETE'], 'id/account': ['DELETE'], 'id/accounts': ['POST', 'DELETE'] };
    if (shape === null || allowed[shape] === undefined) this.noRoute(method, parts, 'topic');
    if (!allowed[shape]!.includes(method)) throw new HttpError(HttpCode.METHOD_NOT_ALLOWED, `use ${allowed[shape]!.join(' or ')}`, 405);
    const user = this.actingUser(req, false);
    this.checkAppId(appIdText, 'path');
    const store = this.core.store;

    if (shape === '') {
      const body = await readJsonObject(req, REST_MAX_BODY);
      const name = optionalText(body, 'topicName', MAX_TOPIC_TEXT) ?? '';
      const invited = [...new Set(stringList(body.accounts, 'accounts'))].filter((a) => a !== user.appAccount);
      this.checkCapacity(1 + invited.length);
      const topic = store.createTopic(user, store.accounts(invited), name);
      this.core.log.debug({ owner: user.appAccount, members: topic.members.size }, 'topic created');
      return envelopeOk(topicDetail(topic));
    }
    if (shape === 'account') return envelopeOk(store.topicsOf(user).map(topicInfo));

    const topic = this.topicOr404(bigId(second, 'topicId'));
    switch (`${method} ${shape}`) {
      case 'GET id':
        this.member(topic, user);
        return envelopeOk(topicDetail(topic));
      case 'PUT id': {
        this.owner(topic, user, 'update it');
        const body = await readJsonObject(req, REST_MAX_BODY);
        const name = optionalText(body, 'topicName', MAX_TOPIC_TEXT);
        const bulletin = optionalText(body, 'bulletin', MAX_TOPIC_TEXT);
        let newOwner: Account | undefined;
        if (body.ownerAccount !== undefined && body.ownerAccount !== null) {
          newOwner = store.findAccount(checkAccountName(body.ownerAccount, 'ownerAccount'));
          if (!newOwner || !topic.members.has(newOwner)) throw bad('the new owner must be a member of the topic');
        } else if (body.ownerUuid !== undefined && body.ownerUuid !== null) {
          // The older manual's form: the owner by uuid.
          const uuid = bigId(body.ownerUuid, 'ownerUuid');
          newOwner = [...topic.members].find((m) => m.uuid === uuid);
          if (!newOwner) throw bad('the new owner must be a member of the topic');
        }
        if (name !== undefined) topic.name = name;
        if (bulletin !== undefined) topic.bulletin = bulletin;
        if (newOwner) topic.owner = newOwner;
        return envelopeOk(topicDetail(topic));
      }
      case 'DELETE id':
        this.owner(topic, user, 'dismiss it');
        store.deleteTopic(topic.id);
        this.core.history.forgetTopic(topic.id);
        this.core.chatList.forgetTopic(topic.id);
        return envelopeOk(null, 'success！');
      case 'DELETE id/account':
        this.member(topic, user);
        if (topic.owner === user) throw new HttpError(HttpCode.SERVER_ERROR, 'quit topic fail');
        topic.members.delete(user);
        return envelopeOk(null);
      case 'POST id/accounts': {
        this.member(topic, user);
        const body = await readJsonObject(req, REST_MAX_BODY);
        const accounts = [...new Set(stringList(body.accounts, 'accounts'))];
        if (accounts.length === 0) throw bad('accounts must name at least one account');
        const known = accounts.map((a) => store.findAccount(a));
        const newMembers = accounts.filter((_, i) => !(known[i] && topic.members.has(known[i]!)));
        this.checkCapacity(topic.members.size + newMembers.length);
        const added = store.accounts(newMembers);
        for (const a of added) topic.members.add(a);
        return envelopeOk(topicDetail(topic));
      }
      case 'DELETE id/accounts': {
        this.owner(topic, user, 'remove members');
        const accounts = stringList(url.searchParams.get('accounts') ?? undefined, 'accounts');
        if (accounts.length === 0) throw bad('the accounts query parameter must name at least one account');
        if (accounts.includes(topic.owner.appAccount)) throw bad('the owner cannot be removed (transfer ownership or dismiss the topic)');
        for (const a of accounts) {
          const account = store.findAccount(a);
          if (account) topic.members.delete(account);
        }
        return envelopeOk(topicDetail(topic));
      }
      default:
        return this.noRoute(method, parts, 'topic');
    }
  }

  // -------------------------------------------------------------------------------------------
  // History

  private async history(parts: string[], req: IncomingMessage): Promise<string> {
    const [kind, query, ...rest] = parts;
    const queries = ['query', 'queryOnTime', 'queryOnCount', 'queryOnSequence'];
    if ((kind !== 'p2p' && kind !== 'p2t') || query === undefined || !queries.includes(query) || rest.length > 0) this.noRoute('POST', parts, 'msg');
    const user = this.tokenUser(req);
    if (!user) throw new HttpError(HttpCode.UNAUTHORIZED, 'the history API needs a token header');
    const body = await readJsonObject(req, REST_MAX_BODY);
    this.checkAppId(body.appId, 'body');
    const history = this.core.history;

    let list: readonly HistoryEntry[];
    let topicId: bigint | undefined;
    if (kind === 'p2p') {
      const fromAccount = checkAccountName(body.fromAccount, 'fromAccount');
      const toAccount = checkAccountName(body.toAccount, 'toAccount');
      if (user.appAccount !== fromAccount && user.appAccount !== toAccount) {
        throw new HttpError(HttpCode.FORBIDDEN, 'the token owner must be fromAccount or toAccount');
      }
      list = history.conversation(fromAccount, toAccount);
    } else {
      const account = checkAccountName(body.account, 'account');
      if (account !== user.appAccount) throw new HttpError(HttpCode.FORBIDDEN, 'account must be the token owner');
      topicId = bigId(body.topicId, 'topicId');
      const topic = this.topicOr404(topicId);
      this.member(topic, user);
      list = history.topic(topicId);
    }

    let entries: HistoryEntry[];
    let fallbackTimestamp: number;
    if (query === 'queryOnCount') {
      const toTime = millis(body, 'utcToTime');
      const count = body.count;
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > HISTORY_MAX_ROWS) {
        throw bad(`count must be an integer in [1, ${HISTORY_MAX_ROWS}]`);
      }
      entries = byCount(list, toTime, count);
      fallbackTimestamp = toTime;
    } else if (query === 'queryOnSequence') {
      const startSeq = bigId(body.startSeq, 'startSeq');
      const stopSeq = bigId(body.stopSeq, 'stopSeq');
      if (stopSeq < startSeq) throw bad('stopSeq must not be below startSeq');
      entries = bySequence(list, startSeq, stopSeq);
      fallbackTimestamp = 0;
    } else {
      const fromTime = millis(body, 'utcFromTime');
      const toTime = millis(body, 'utcToTime');
      if (toTime < fromTime) throw bad('utcToTime must not be before utcFromTime');
      if (toTime - fromTime > HISTORY_MAX_WINDOW_MS) throw bad('the time window must not exceed 24 hours');
      entries = byTime(list, fromTime, toTime);
      fallbackTimestamp = fromTime;
    }
    const data: Record<string, unknown> = { appId: this.core.app.appId };
    if (topicId !== undefined) data.topicId = topicId;
    data.messages = entries.map((e) => historyMessage(e, kind === 'p2p'));
    data.row = entries.length;
    // The earliest timestamp of the batch: the cursor for the next (older) page.
    data.timestamp = entries[0]?.ts ?? fallbackTimestamp;
    return envelopeOk(data);
  }

  // -------------------------------------------------------------------------------------------
  // Recent chat list

  /**
   * GET /api/contact/, DELETE /api/contact/p2p/session?member=…, DELETE /api/contact/p2t/session?topicId=…
   * Token only; an appAccount (header or query) other than the token owner is refused: nobody
   * reads or edits another user's list. A delete answers with the updated list.
   */
  private contact(method: string, parts: string[], url: URL, req: IncomingMessage): string {
    const route = `${method} ${parts.join('/')}`;
    if (route !== 'GET ' && route !== 'DELETE p2p/session' && route !== 'DELETE p2t/session') this.noRoute(method, parts, 'contact');
    const user = this.tokenUser(req);
    if (!user) throw new HttpError(HttpCode.UNAUTHORIZED, 'the chat list API needs a token header');
    const claimed = header(req, 'appaccount') ?? url.searchParams.get('appAccount') ?? undefined;
    if (claimed !== undefined && claimed !== user.appAccount) throw new HttpError(HttpCode.FORBIDDEN, "the token owner's chat list only");
    const chatList = this.core.chatList;
    if (route === 'DELETE p2p/session') {
      const member = checkAccountName(url.searchParams.get('member') ?? undefined, 'member');
      const peer = this.core.store.findAccount(member);
      if (!peer || !chatList.deleteP2P(user, peer)) throw new HttpError(HttpCode.NOT_FOUND, 'no such P2P session');
    } else if (route === 'DELETE p2t/session') {
      const topicId = bigId(url.searchParams.get('topicId') ?? undefined, 'topicId');
      if (!chatList.deleteP2T(user, topicId)) throw new HttpError(HttpCode.NOT_FOUND, 'no such topic session');
    }
    return envelopeOk(chatList.list(user, Date.now()).map(chatRow));
  }

  // -------------------------------------------------------------------------------------------
  // Unlimited groups

  /**
   * POST /api/uctopic/ {topicName} (create), DELETE /api/uctopic/ (dismiss, owner only, header
   * topicId), GET /api/uctopic/topics (the caller's groups), GET /api/uctopic/userlist and
   * /api/uctopic/onlineinfo (header topicId). Token only; ids are decimal strings.
   */
  private async uctopic(method: string, parts: string[], req: IncomingMessage): Promise<string> {
    const route = `${method} ${parts.join('/')}`;
    const user = this.tokenUser(req);
    const known = ['POST ', 'DELETE ', 'GET topics', 'GET userlist', 'GET onlineinfo'];
    if (!known.includes(route)) this.noRoute(method, parts, 'uctopic');
    if (!user) throw new HttpError(HttpCode.UNAUTHORIZED, 'the unlimited group API needs a token header');
    const unlimited = this.core.unlimited;
    if (route === 'POST ') {
      const body = await readJsonObject(req, REST_MAX_BODY);
      const name = optionalText(body, 'topicName', 256) ?? '';
      const group = unlimited.create(user, name);
      return envelopeOk({ topicId: group.topicId.toString(), topicName: group.name });
    }
    if (route === 'GET topics') return envelopeOk(unlimited.groupsOf(user).map((g) => g.topicId.toString()));
    const group = unlimited.group(bigId(header(req, 'topicid'), 'topicId header'));
    if (!group) throw new HttpError(HttpCode.NOT_FOUND, 'unlimited group not found');
    const topicId = group.topicId.toString();
    if (route === 'DELETE ') {
      if (group.owner !== user) throw new HttpError(HttpCode.FORBIDDEN, 'only the owner dismisses an unlimited group');
      unlimited.dismiss(group);
      return envelopeOk(null);
    }
    if (route === 'GET onlineinfo') return envelopeOk({ topicId, userCnt: unlimited.onlineCount(group) });
    // MIMC's member list spells the key `appAccout`.
    const users = [...group.members.values()].map((m) => ({ appAccout: m.account.appAccount, uuid: m.account.uuid.toString() }));
    return envelopeOk({ topicId, users });
  }

  // -------------------------------------------------------------------------------------------
  // Blacklist

  private async blacklist(method: string, url: URL, req: IncomingMessage): Promise<string> {
    if (method !== 'POST' && method !== 'DELETE' && method !== 'GET') throw new HttpError(HttpCode.METHOD_NOT_ALLOWED, 'use POST, DELETE or GET', 405);
    const user = this.actingUser(req, true);
    const store = this.core.store;
    if (method === 'POST') {
      const body = await readJsonObject(req, REST_MAX_BODY);
      const black = checkAccountName(body.blackAccount, 'blackAccount');
      if (black === user.appAccount) throw bad('an account cannot blacklist itself');
      user.blacklist.add(store.account(black));
      return envelopeOk(null);
    }
    const black = checkAccountName(url.searchParams.get('blackAccount') ?? undefined, 'blackAccount');
    const account = store.findAccount(black);
    if (method === 'DELETE') {
      if (account) user.blacklist.delete(account);
      return envelopeOk(null);
    }
    return envelopeOk({ isBlack: account !== undefined && user.blacklist.has(account) });
  }
}
