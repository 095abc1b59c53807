/**
 * The emulated service behind the listeners: session registry, message routing, and the
 * actions behind faults and the admin API. Connections call into it; it never does I/O itself.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { MIMCError, ErrorCode } from '../errors.js';
import { ErrorType, PacketType } from '../protocol/constants.js';
import { encodeP2PMessage, encodeP2TMessage, type P2PMessage, type P2TMessage, type UserRef } from '../protocol/packets.js';
import { CallbackDispatcher } from './callbacks.js';
import type { BoundSession, ClientPeer } from './peer.js';
import { ChatList } from './chatlist.js';
import { History } from './history.js';
import { FaultState, type FaultTarget } from './faults.js';
import type { ResolvedOptions } from './options.js';
import { Store, type Account, type Delivery, type Topic } from './store.js';
import { AckCode, accepted, type RouteResult } from './acks.js';
import { UnlimitedGroups } from './unlimited.js';
import type { EmulatorApp, EmulatorStats, OnlineSession } from './types.js';

/** What the sender's ONLINE_MESSAGE_ACK reports. */
export interface OnlineRouteResult {
  code: number;
  errorMsg: string;
}

/** Every counter at zero: a fresh emulator's stats. */
export function newEmulatorStats(): EmulatorStats {
  return {
    accounts: 0,
    accountsRefused: 0,
    unlimitedGroups: 0,
    ucPings: 0,
    preBindFramesRefused: 0,
    connections: 0,
    bound: 0,
    framesIn: 0,
    framesOut: 0,
    messagesRouted: 0,
    rejectedFrames: 0,
    connectionsTotal: 0,
    messagesDropped: 0,
    callbacksDelivered: 0,
    callbackFailures: 0,
    callbacksAbandoned: 0,
    callbacksDropped: 0,
  };
}

export class EmulatorCore implements FaultTarget {
  readonly store: Store;
  readonly history: History;
  /** Recent chat lists (GET /api/contact/) and conversation indexes. */
  readonly chatList = new ChatList();
  /** Message callbacks to the app server; closed with the emulator. */
  readonly callbacks: CallbackDispatcher;
  readonly faultState = new FaultState();
  readonly stats: EmulatorStats = newEmulatorStats();
  readonly connections = new Set<ClientPeer>();
  /** uuid → resource → the connection bound as (uuid, resource). */
  private readonly sessions = new Map<bigint, Map<string, ClientPeer>>();
  readonly unlimited: UnlimitedGroups;
  private readonly idPrefix = `emu_${randomBytes(4).toString('hex')}_`;
  private idCounter = 0;
  private connectionCounter = 0;

  constructor(
    readonly options: ResolvedOptions,
    readonly log: Logger,
  ) {
    this.store = new Store(options.app, options.tokenTtlMs, options.offlineStoreLimit, { maxAccounts: options.maxAccounts, stats: this.stats });
    this.history = new History(options.historyLimit);
    this.unlimited = new UnlimitedGroups(options.app.appId, { maxGroups: options.maxUnlimitedGroups, storedPerGroup: options.unlimitedGroupStoreLimit, stats: this.stats });
    this.callbacks = new CallbackDispatcher(
      { instant: options.callbackUrl, offline: options.offlineCallbackUrl },
      {
        retryDelaysMs: options.callbackRetryDelaysMs,
        timeoutMs: options.callbackTimeoutMs,
        maxInFlight: options.callbackMaxInFlight,
        maxQueued: options.callbackMaxQueued,
      },
      this.stats,
      log.child({ component: 'callbacks' }),
    );
  }

  get app(): EmulatorApp {
    return this.options.app;
  }

  /** A fresh downstream frame / packet id, unique for this emulator. */
  nextId(): string {
    return this.idPrefix + (++this.idCounter).toString(36);
  }

  // -------------------------------------------------------------------------------------------
  // Connections and sessions

  /** A fresh connection id for logs, shared by the TCP and WebSocket frontends. */
  nextConnectionId(): number {
    return ++this.connectionCounter;
  }

  connectionOpened(conn: ClientPeer): void {
    this.connections.add(conn);
    this.stats.connections++;
    this.stats.connectionsTotal++;
  }

  connectionGone(conn: ClientPeer): void {
    if (this.connections.delete(conn)) this.stats.connections--;
  }

  /**
   * Marks conn's session bound. An older connection bound as the same (uuid, resource) is
   * kicked; so are the account's other resources when this login asked for it (kick "1" or
   * SSO) or when they logged in with SSO themselves.
   */
  register(conn: ClientPeer): void {
    const session = conn.session!;
    const { account, resource } = session;
    const older = this.sessions.get(account.uuid)?.get(resource);
    if (older === conn) return;
    if (older) {
      // Unregisters the older connection (and may drop the now empty resource map).
      older.kick({ errorType: ErrorType.MULTI_LOGIN, errorReason: 'kicked by another login', errorDesc: 'same resource logged in elsewhere' }, true);
    }
    for (const other of [...(this.sessions.get(account.uuid)?.values() ?? [])]) {
      if (session.kickOthers || other.session?.sso) {
        const errorReason = session.sso || other.session?.sso ? 'single sign-on' : 'kicked by another login';
        other.kick({ errorType: ErrorType.MULTI_LOGIN, errorReason, errorDesc: `the account logged in on resource ${resource}` }, true);
      }
    }
    let byResource = this.sessions.get(account.uuid);
    if (!byResource) {
      byResource = new Map();
      this.sessions.set(account.uuid, byResource);
    }
    byResource.set(resource, conn);
    this.stats.bound++;
  }

  unregister(conn: ClientPeer): void {
    const session = conn.session;
    if (!session) return;
    const byResource = this.sessions.get(session.account.uuid);
    if (byResource?.get(session.resource) !== conn) return;
    byResource.delete(session.resource);
    if (byResource.size === 0) this.sessions.delete(session.account.uuid);
    this.stats.bound--;
  }

  private sessionsOf(account: Account): Map<string, ClientPeer> | undefined {
    return this.sessions.get(account.uuid);
  }

  onlineResources(appAccount: string): string[] {
    const account = this.store.findAccount(appAccount);
    const byResource = account && this.sessionsOf(account);
    return byResource ? [...byResource.keys()] : [];
  }

  /** The bound resources of an account with what each asked for in its BIND. */
  onlineSessions(appAccount: string): OnlineSession[] {
    const account = this.store.findAccount(appAccount);
    const byResource = account && this.sessionsOf(account);
    if (!byResource) return [];
    return [...byResource.values()].flatMap(({ session, transport }) =>
      session ? [{ resource: session.resource, transport, sso: session.sso, clientAttrs: session.clientAttrs, cloudAttrs: session.cloudAttrs }] : [],
    );
  }

  // -------------------------------------------------------------------------------------------
  // Routing

  /** The session's own identity as a MIMC user: what the server puts where a client names itself. */
  authenticatedSender(session: BoundSession): UserRef {
    return { appId: this.app.appId, appAccount: session.account.appAccount, uuid: session.account.uuid, resource: session.resource };
  }

  /** True when the client's `from` already is the authenticated identity (then its bytes can be forwarded as they are). */
  private honestSender(session: BoundSession, from: UserRef): boolean {
    return (
      from.appId === this.app.appId &&
      from.appAccount === session.account.appAccount &&
      from.uuid === session.account.uuid &&
      from.resource === session.resource
    );
  }

  private refuse(code: number, errorMsg: string): RouteResult {
    return { sequence: 0n, timestamp: BigInt(Date.now()), errorMsg, code };
  }

  /** Stores (if asked) and offers a delivery to the account's eligible bound resources; returns how many were offered it. */
  private deliver(account: Account, delivery: Delivery, stored: boolean): number {
    if (stored) this.stats.messagesDropped += account.store.append(delivery);
    const byResource = this.sessionsOf(account);
    if (!byResource) return 0;
    let reached = 0;
    for (const [resource, conn] of byResource) {
      if ((delivery.onlyResource === undefined || delivery.onlyResource === resource) && delivery.excludeResource !== resource) {
        conn.offer(delivery, stored);
        reached++;
      }
    }
    return reached;
  }

  /** True when `recipient` blacklisted `sender` (P2P only). */
  isBlocked(recipient: Account, sender: Account): boolean {
    return recipient.blacklist.has(sender);
  }

  /**
   * Delivers, stores, records and reports one P2P message whatever its origin (TCP or REST push).
   * `wire` is the MIMCP2PMessage as delivered; `content` its user payload.
   */
  private dispatchP2P(m: {
    sender: Account;
    recipient: Account;
    packetId: string;
    wire: Uint8Array;
    content: Uint8Array;
    isStore: boolean;
    bizType: string | undefined;
    onlyResource: string | undefined;
    timestamp: bigint;
    conversation: boolean;
  }): bigint | undefined {
    const ts = Number(m.timestamp);
    const entry = m.isStore ? this.history.recordP2P(m.sender.appAccount, m.recipient.appAccount, m.content, ts, m.bizType) : undefined;
    const convIndex = entry && m.conversation ? this.chatList.recordP2P(m.sender, m.recipient, m.content, entry.sequence, ts) : undefined;
    const delivery: Delivery = { sequence: m.recipient.nextSequence(), packetId: m.packetId, type: PacketType.P2P_MESSAGE, payload: m.wire, timestamp: m.timestamp };
    if (m.onlyResource) delivery.onlyResource = m.onlyResource;
    if (convIndex !== undefined) delivery.convIndex = convIndex;
    const reached = this.deliver(m.recipient, delivery, m.isStore);
    this.stats.messagesRouted++;
    // Instant when some resource got it; offline when nobody did and it waits in the store.
    const channel = reached > 0 ? 'instant' : m.isStore ? 'offline' : undefined;
    if (channel && this.callbacks.enabled(channel)) {
      this.callbacks.emit(channel, {
        msgType: channel === 'instant' ? 'NORMAL_MSG' : 'OFFLINE_MSG',
        fromAppId: this.app.appId,
        fromAccount: m.sender.appAccount,
        toAppId: this.app.appId,
        toAccount: m.recipient.appAccount,
        payload: Buffer.from(m.content).toString('base64'),
        timestamp: ts,
        ...(m.bizType === undefined ? {} : { bizType: m.bizType }),
      });
    }
    return convIndex;
  }

  /** The P2T counterpart of dispatchP2P; `excludeResource` is the sending resource of the sender. */
  private dispatchP2T(m: {
    sender: Account;
    topic: Topic;
    packetId: string;
    wire: Uint8Array;
    content: Uint8Array;
    isStore: boolean;
    bizType: string | undefined;
    excludeResource: string | undefined;
    timestamp: bigint;
    conversation: boolean;
  }): bigint | undefined {
    const ts = Number(m.timestamp);
    const entry = m.isStore ? this.history.recordP2T(m.sender.appAccount, m.topic.id, m.content, ts, m.bizType) : undefined;
    const convIndex = entry && m.conversation ? this.chatList.recordP2T(m.sender, m.topic, m.content, entry.sequence, ts) : undefined;
    const offline: string[] = [];
    for (const member of m.topic.members) {
      const delivery: Delivery = { sequence: member.nextSequence(), packetId: m.packetId, type: PacketType.P2T_MESSAGE, payload: m.wire, timestamp: m.timestamp };
      if (convIndex !== undefined) delivery.convIndex = convIndex;
      // The sending resource does not get its own group message back; the sender's other resources do.
      if (member === m.sender && m.excludeResource) delivery.excludeResource = m.excludeResource;
      const reached = this.deliver(member, delivery, m.isStore);
      if (reached === 0 && member !== m.sender) offline.push(member.appAccount);
    }
    this.stats.messagesRouted++;
    const event = (msgType: string, toAccounts: string[]): Record<string, unknown> => ({
      msgType,
      appId: this.app.appId,
      topicId: m.topic.id,
      fromAccount: m.sender.appAccount,
      toAccounts,
      payload: Buffer.from(m.content).toString('base64'),
      timestamp: ts,
      ...(m.bizType === undefined ? {} : { bizType: m.bizType }),
    });
    if (this.callbacks.enabled('instant')) this.callbacks.emit('instant', event('NORMAL_TOPIC_MSG', [...m.topic.members].map((a) => a.appAccount)));
    if (m.isStore && offline.length > 0 && this.callbacks.enabled('offline')) this.callbacks.emit('offline', event('OFFLINE_TOPIC_MSG', offline));
    return convIndex;
  }

  /** `raw` is the serialized message as received; it is forwarded when `from` needs no rewrite. */
  /** `conversation`: the packet's flag (field 7): record a stored message in the chat list and give it a convIndex. */
  routeP2P(session: BoundSession, packetId: string, msg: P2PMessage, raw: Uint8Array, conversation = false): RouteResult {
    if (msg.to.appId !== this.app.appId) return this.refuse(AckCode.BAD_REQUEST, 'to.appId is not this app');
    if (msg.to.appAccount.length === 0) return this.refuse(AckCode.BAD_REQUEST, 'to.appAccount is empty');
    // A never-seen recipient is created (its messages wait for its first login), within maxAccounts.
    let recipient: Account;
    try {
      recipient = this.store.account(msg.to.appAccount);
    } catch (err) {
      if (MIMCError.is(err) && err.code === ErrorCode.LIMIT_REACHED) return this.refuse(AckCode.TOO_MANY, 'account limit reached (emulator option maxAccounts)');
      throw err;
    }
    if (this.isBlocked(recipient, session.account)) return this.refuse(AckCode.FORBIDDEN, 'the recipient blacklisted the sender');
    const timestamp = BigInt(Date.now());
    const wire = this.honestSender(session, msg.from) ? raw : encodeP2PMessage({ ...msg, from: this.authenticatedSender(session) });
    const convIndex = this.dispatchP2P({
      conversation,
      sender: session.account,
      recipient,
      packetId,
      wire,
      content: msg.payload,
      isStore: msg.isStore === true,
      bizType: msg.bizType,
      onlyResource: msg.to.resource || undefined,
      timestamp,
    });
    return accepted(session.account.nextSequence(), timestamp, convIndex);
  }

  /**
   * An online message: handed at once to the recipient's bound resources (or to `to.resource`
   * only), never stored, no sequence, no history, no callback. An offline or never-seen
   * recipient is not an error (the ack says "accepted", not "delivered"); a bad recipient gets
   * code 400, a recipient who blacklisted the sender 403.
   */
  routeOnline(session: BoundSession, packetId: string, msg: P2PMessage, raw: Uint8Array): OnlineRouteResult {
    if (msg.to.appId !== this.app.appId) return { code: AckCode.BAD_REQUEST, errorMsg: 'to.appId is not this app' };
    if (msg.to.appAccount.length === 0) return { code: AckCode.BAD_REQUEST, errorMsg: 'to.appAccount is empty' };
    const recipient = this.store.findAccount(msg.to.appAccount);
    if (recipient && this.isBlocked(recipient, session.account)) return { code: AckCode.FORBIDDEN, errorMsg: 'the recipient blacklisted the sender' };
    const byResource = recipient && this.sessionsOf(recipient);
    this.stats.messagesRouted++;
    if (!byResource) return { code: AckCode.OK, errorMsg: '' };
    const timestamp = BigInt(Date.now());
    const payload = this.honestSender(session, msg.from) ? raw : encodeP2PMessage({ ...msg, from: this.authenticatedSender(session) });
    for (const [resource, conn] of byResource) {
      if (!msg.to.resource || msg.to.resource === resource) conn.sendOnlineMessage(packetId, payload, timestamp);
    }
    return { code: AckCode.OK, errorMsg: '' };
  }

  routeP2T(session: BoundSession, packetId: string, msg: P2TMessage, raw: Uint8Array, conversation = false): RouteResult {
    if (msg.to.appId !== this.app.appId) return this.refuse(AckCode.BAD_REQUEST, 'to.appId is not this app');
    const topic = this.store.topic(msg.to.topicId);
    if (!topic) return this.refuse(AckCode.NOT_FOUND, 'topic not found');
    if (!topic.members.has(session.account)) return this.refuse(AckCode.FORBIDDEN, 'sender is not a member of the topic');
    const timestamp = BigInt(Date.now());
    const wire = this.honestSender(session, msg.from) ? raw : encodeP2TMessage({ ...msg, from: this.authenticatedSender(session) });
    const convIndex = this.dispatchP2T({
      conversation,
      sender: session.account,
      topic,
      packetId,
      wire,
      content: msg.payload,
      isStore: msg.isStore === true,
      bizType: msg.bizType,
      excludeResource: session.resource,
      timestamp,
    });
    return accepted(session.account.nextSequence(), timestamp, convIndex);
  }

  // -------------------------------------------------------------------------------------------
  // REST push (the caller checked credentials, recipients and the blacklist)

  /** Sends `content` as `fromAccount`/`fromResource` to one account; returns the new packet id. */
  pushP2P(from: Account, fromResource: string, to: Account, content: Uint8Array, isStore: boolean, bizType: string | undefined): string {
    const packetId = this.nextId();
    const message: P2PMessage = {
      from: { appId: this.app.appId, appAccount: from.appAccount, uuid: from.uuid, resource: fromResource },
      to: { appId: this.app.appId, appAccount: to.appAccount, uuid: to.uuid, resource: '' },
      payload: content,
      isStore,
    };
    if (bizType !== undefined) message.bizType = bizType;
    this.dispatchP2P({
      sender: from,
      recipient: to,
      packetId,
      wire: encodeP2PMessage(message),
      content,
      isStore,
      bizType,
      onlyResource: undefined,
      timestamp: BigInt(Date.now()),
      conversation: false, // the REST push API has no conversation flag
    });
    return packetId;
  }

  /** Sends `content` to every member of the topic (the sender need not be one); returns the new packet id. */
  pushP2T(from: Account, fromResource: string, topic: Topic, content: Uint8Array, isStore: boolean, bizType: string | undefined): string {
    const packetId = this.nextId();
    const message: P2TMessage = {
      from: { appId: this.app.appId, appAccount: from.appAccount, uuid: from.uuid, resource: fromResource },
      to: { appId: this.app.appId, topicId: topic.id },
      payload: content,
      isStore,
    };
    if (bizType !== undefined) message.bizType = bizType;
    this.dispatchP2T({
      sender: from,
      topic,
      packetId,
      wire: encodeP2TMessage(message),
      content,
      isStore,
      bizType,
      excludeResource: fromResource || undefined,
      timestamp: BigInt(Date.now()),
      conversation: false,
    });
    return packetId;
  }

  // -------------------------------------------------------------------------------------------
  // Topics

  private topicOrThrow(topicId: bigint): Topic {
    const topic = this.store.topic(topicId);
    if (!topic) throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'unknown topic', { details: { topicId: topicId.toString() } });
    return topic;
  }

  createTopic(owner: string, members: string[]): Topic {
    const [ownerAccount, ...memberAccounts] = this.store.accounts([owner, ...members]);
    return this.store.createTopic(ownerAccount!, memberAccounts);
  }

  addTopicMembers(topicId: bigint, accounts: string[]): Topic {
    const topic = this.topicOrThrow(topicId);
    for (const a of this.store.accounts(accounts)) topic.members.add(a);
    return topic;
  }

  removeTopicMembers(topicId: bigint, accounts: string[]): Topic {
    const topic = this.topicOrThrow(topicId);
    for (const a of accounts) {
      const account = this.store.findAccount(a);
      if (account) topic.members.delete(account);
    }
    return topic;
  }

  // -------------------------------------------------------------------------------------------
  // Fault actions

  private connectionsOf(appAccount: string | undefined): ClientPeer[] {
    return [...this.connections].filter((c) => appAccount === undefined || c.appAccount === appAccount);
  }

  dropConnections(appAccount?: string): void {
    const victims = this.connectionsOf(appAccount);
    this.log.info({ account: appAccount, count: victims.length }, 'fault: dropping connections');
    for (const conn of victims) conn.destroy('fault: dropConnections');
  }

  expireTokens(appAccount?: string): void {
    const account = appAccount === undefined ? undefined : this.store.findAccount(appAccount);
    if (appAccount !== undefined && !account) return;
    this.store.expireTokens(account);
    this.log.info({ account: appAccount }, 'fault: tokens expired');
    for (const conn of this.connectionsOf(appAccount)) {
      const session = conn.session;
      if (session && this.store.isExpired(session.token)) {
        // The connection stays open so the client can BIND again with a fresh token on it.
        conn.kick({ errorType: ErrorType.TOKEN_EXPIRED, errorReason: 'token expired', errorDesc: 'please refresh token' }, false);
      }
    }
  }

  kick(appAccount: string, resource?: string): void {
    for (const conn of this.connectionsOf(appAccount)) {
      if (resource !== undefined && conn.session?.resource !== resource) continue;
      conn.kick({ errorType: ErrorType.MULTI_LOGIN, errorReason: 'kicked by the server', errorDesc: 'kicked through the emulator fault API' }, true);
    }
  }

  sendOversizedFrame(appAccount?: string): void {
    for (const conn of this.connectionsOf(appAccount)) {
      if (conn.handshaken) conn.sendOversizedHead();
    }
  }

  resumeDelivery(): void {
    for (const conn of this.connections) conn.schedulePump();
  }

  /** Destroys every connection (shutdown and restartFrontend). */
  destroyAll(reason: string): void {
    for (const conn of [...this.connections]) conn.destroy(reason);
  }
}
