import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { MIMCError, ErrorCode } from '../errors.js';
import { withJsonSafe } from '../json-safe.js';
import { PacketType } from '../protocol/constants.js';
import { parseUint64 } from '../protocol/int64.js';
import {
  decodeOnlineMessageAck,
  decodePacketAck,
  decodePacketList,
  encodePullRequest,
  encodeSequenceAck,
  type MimcPacket,
  type PacketList,
} from '../protocol/packets.js';
import { IteratorFanout } from './async-queue.js';
import { IdGenerator, generateResource } from './ids.js';
import { IncomingPipeline, type IncomingHost } from './incoming.js';
import { ConnectionLifecycle, type LifecycleHost, type LoginOptions, type StatusChange } from './lifecycle.js';
import { describeError, resolveLogger } from './logger.js';
import { toP2PMessage, type IncomingMessage } from './messages.js';
import { UserMetrics, type MetricsSnapshot } from './metrics.js';
import { resolveSettings, type Settings } from './options.js';
import { OutgoingMessages, type Destination, type OutgoingHost, type SendTimeout } from './outgoing.js';
import type { Session } from './session.js';
import { createUnlimitedGroup, dismissUnlimitedGroup } from './uc-rest.js';
import { UnlimitedGroups, type UnlimitedHost } from './unlimited.js';
import type {
  CloseReport,
  ConnectionState,
  DeadLetter,
  HealthSnapshot,
  MCUserOptions,
  MessageBatch,
  MessageHandlerDelegate,
  P2PMessage,
  P2TMessage,
  ReconnectingEvent,
  SendAndWaitOptions,
  SendOptions,
  ServerAck,
  StatusDelegate,
  Token,
  UCMessage,
} from './types.js';

export type { IncomingMessage } from './messages.js';
export type { SendTimeout } from './outgoing.js';
export type { LoginOptions, StatusChange } from './lifecycle.js';

/** Events of MCUser, for apps that prefer listeners to delegates. */
export interface MCUserEventMap {
  message: [P2PMessage];
  onlineMessage: [P2PMessage];
  groupMessage: [P2TMessage];
  unlimitedGroupMessage: [UCMessage];
  unlimitedGroupDismissed: [topicId: bigint];
  serverAck: [ServerAck];
  sendTimeout: [SendTimeout];
  deadLetter: [DeadLetter];
  statusChange: [StatusChange];
  stateChange: [state: ConnectionState, previous: ConnectionState];
  /** A login or reconnect attempt failed and the next one is scheduled (see `reconnect` options). */
  reconnecting: [ReconnectingEvent];
}

/**
 * One app account on one resource, connected to MIMC over its native TCP protocol. Mirrors the
 * Go SDK's MCUser; see docs/guide.md for the lifecycle and the delivery semantics.
 *
 * A thin facade: the connection lifecycle (`ConnectionLifecycle`), the send side
 * (`OutgoingMessages`) and the receive path (`IncomingPipeline`) do the work; this class wires
 * them to each other and to the app's delegates and listeners.
 */
export class MCUser extends EventEmitter<MCUserEventMap> {
  readonly appId: bigint;
  readonly appAccount: string;

  private tokenDelegate: Token | undefined;
  private statusDelegate: StatusDelegate | undefined;
  private messageDelegate: MessageHandlerDelegate | undefined;

  private readonly log: Logger;
  private readonly ids = new IdGenerator();
  private readonly counters = new UserMetrics();
  private readonly settings: Settings;
  private readonly lifecycle: ConnectionLifecycle;
  private readonly outgoing: OutgoingMessages;
  private readonly incoming: IncomingPipeline;
  /** The UC part, created when first needed: most users never touch an unlimited group. */
  private unlimitedPart: UnlimitedGroups | null = null;
  /** The parts' callbacks into this user. */
  private readonly host: InstanceType<typeof MCUser.PartsHost>;
  /** Created by the first `messages()` call: most users never open an iterator. */
  private iterators: IteratorFanout<IncomingMessage> | null = null;
  /** Lists that came with the BIND answer, before "online" was announced; taken right after it. */
  private earlyLists: Array<{ list: PacketList; session: Session }> | null = null;
  /** False once close() started: new sends are refused while acks drain. */
  private accepting = true;

  constructor(options: MCUserOptions) {
    super();
    const appId = parseUint64(options.appId);
    if (appId === undefined) throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'appId must be a decimal string or a bigint');
    if (typeof options.appAccount !== 'string' || options.appAccount.length === 0) {
      throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'appAccount must be a non-empty string');
    }
    if (options.resource !== undefined && (typeof options.resource !== 'string' || options.resource.length === 0)) {
      throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'resource must be a non-empty string when given');
    }
    this.appId = appId;
    this.appAccount = options.appAccount;
    this.tokenDelegate = options.tokenDelegate;
    this.statusDelegate = options.statusDelegate;
    this.messageDelegate = options.messageDelegate;
    this.settings = resolveSettings(options);
    this.log = resolveLogger(options.logger).child({ account: this.appAccount });
    const host = new MCUser.PartsHost(this);
    this.host = host;
    this.lifecycle = new ConnectionLifecycle(
      { appId, appAccount: this.appAccount, resource: options.resource, userInfoStore: options.userInfoStore, cacheToken: options.cacheToken ?? false },
      this.settings,
      host,
      generateResource(),
    );
    this.outgoing = new OutgoingMessages(this.settings, host);
    this.incoming = new IncomingPipeline(this.settings.incoming, host);
  }

  /**
   * What the parts get from the user, each through its own host interface (a member two
   * interfaces share means the same in both): one object whose callbacks are prototype
   * methods, so a user holds one small object instead of a closure per callback.
   */
  private static readonly PartsHost = class implements LifecycleHost, OutgoingHost, IncomingHost, UnlimitedHost {
    readonly appId: bigint;
    readonly appAccount: string;
    readonly log: Logger;
    readonly ids: IdGenerator;
    readonly counters: UserMetrics;

    constructor(private readonly user: MCUser) {
      this.appId = user.appId;
      this.appAccount = user.appAccount;
      this.log = user.log;
      this.ids = user.ids;
      this.counters = user.counters;
    }

    // ---- LifecycleHost

    fetchToken(): Promise<string> {
      return this.user.fetchTokenJson();
    }

    onOnline(session: Session, isReconnect: boolean): void {
      const user = this.user;
      if (isReconnect) user.counters.reconnects += 1;
      // JOINs first: the server takes frames in order, so a queued UC message finds its group joined
      user.unlimitedPart?.onOnline(session);
      user.outgoing.flush(session);
      const early = user.earlyLists;
      if (!early) return;
      user.earlyLists = null;
      for (const held of early) if (held.session === session) user.incoming.acceptList(held.list);
    }

    onPacket(packet: MimcPacket, session: Session): void {
      this.user.handlePacket(packet, session);
    }

    onStateChange(next: ConnectionState, previous: ConnectionState): void {
      if (previous === 'online') this.user.unlimitedPart?.onOffline();
      this.user.safeEmit('stateChange', next, previous);
    }

    reportStatus(change: StatusChange): void {
      this.user.reportStatus(change);
    }

    onReconnecting(event: ReconnectingEvent): void {
      this.user.safeEmit('reconnecting', event);
    }

    // ---- OutgoingHost (and UnlimitedHost)

    resource(): string {
      return this.user.resource;
    }

    checkCanSend(): void {
      this.user.checkCanSend();
    }

    boundSession(): Session | null {
      return this.user.lifecycle.boundSession;
    }

    onServerAck(ack: ServerAck): void {
      const user = this.user;
      user.callDelegate('handleServerAck', () => user.messageDelegate?.handleServerAck?.(ack));
      user.safeEmit('serverAck', ack);
    }

    onSendTimeout(timeout: SendTimeout): void {
      const user = this.user;
      const delegate = user.messageDelegate;
      if (timeout.kind === 'p2p') user.callDelegate('handleSendMessageTimeout', () => delegate?.handleSendMessageTimeout?.(timeout.message));
      else if (timeout.kind === 'p2t') user.callDelegate('handleSendGroupMessageTimeout', () => delegate?.handleSendGroupMessageTimeout?.(timeout.message));
      else user.callDelegate('handleSendUnlimitedGroupMessageTimeout', () => delegate?.handleSendUnlimitedGroupMessageTimeout?.(timeout.message));
      user.safeEmit('sendTimeout', timeout);
    }

    // ---- IncomingHost (and UnlimitedHost)

    invokeHandler(batch: MessageBatch): void | Promise<void> {
      return this.user.invokeHandler(batch);
    }

    onHandled(batch: MessageBatch): void {
      this.user.announceHandled(batch);
    }

    onDeadLetter(letter: DeadLetter): void {
      const user = this.user;
      user.callDelegate('handleDeadLetter', () => user.messageDelegate?.handleDeadLetter?.(letter));
      user.safeEmit('deadLetter', letter);
    }

    onPullNotification(list: PacketList): void {
      void this.user.notifyPull(list);
    }

    writeSequenceAck(sequence: bigint): boolean {
      return this.user.writeSequenceAck(sequence);
    }

    dropConnection(error: MIMCError): void {
      const lifecycle = this.user.lifecycle;
      lifecycle.noteError(error);
      lifecycle.boundSession?.close(error);
    }

    // ---- UnlimitedHost

    onDismissed(topicId: bigint): void {
      const user = this.user;
      user.callDelegate('handleUnlimitedGroupDismissed', () => user.messageDelegate?.handleUnlimitedGroupDismissed?.(topicId));
      user.safeEmit('unlimitedGroupDismissed', topicId);
    }
  };

  /** The UC part, created at the first use that needs it. A fresh one is what a closed one is: empty. */
  private get unlimited(): UnlimitedGroups {
    return (this.unlimitedPart ??= new UnlimitedGroups(
      {
        requestTimeoutMs: this.settings.sendTimeoutMs,
        pingIntervalMs: this.settings.unlimitedGroupPingIntervalMs,
        maxGroups: this.settings.maxUnlimitedGroups,
        incoming: this.settings.incoming,
      },
      this.host,
    ));
  }

  // ---- Go-style registration -----------------------------------------------------------------

  registerTokenDelegate(delegate: Token): this {
    this.tokenDelegate = delegate;
    return this;
  }

  registerStatusDelegate(delegate: StatusDelegate): this {
    this.statusDelegate = delegate;
    return this;
  }

  registerMessageDelegate(delegate: MessageHandlerDelegate): this {
    this.messageDelegate = delegate;
    return this;
  }

  // ---- state ---------------------------------------------------------------------------------

  get state(): ConnectionState {
    return this.lifecycle.state;
  }

  get isOnline(): boolean {
    return this.state === 'online';
  }

  /** This instance's resource. With a user-info store, the stored one replaces a generated one at login. */
  get resource(): string {
    return this.lifecycle.resource;
  }

  /** The MIMC uuid, known after the first token fetch. */
  get uuid(): bigint | undefined {
    return this.lifecycle.uuid;
  }

  /** Messages awaiting a server ack (written or waiting for the connection). */
  get pendingCount(): number {
    return this.outgoing.size;
  }

  /** Counters and gauges of this user, as a plain object (see `aggregateMetrics` for many users). */
  metrics(): MetricsSnapshot {
    const queued = this.outgoing.queued;
    return this.counters.snapshot({
      online: this.state === 'online' ? 1 : 0,
      reconnecting: this.state === 'reconnecting' ? 1 : 0,
      queueDepth: queued,
      pendingAcks: this.outgoing.size - queued,
      deliveryQueueDepth: this.incoming.queuedMessages + (this.unlimitedPart?.queuedMessages ?? 0),
    });
  }

  /** A snapshot for readiness probes. */
  health(): HealthSnapshot {
    const m = this.metrics();
    const lastReceivedAt = this.lifecycle.lastReceivedAt;
    return {
      state: this.state,
      transport: this.settings.websocket ? 'websocket' : 'tcp',
      online: this.isOnline,
      lastFrameReceivedAt: lastReceivedAt === null ? null : Math.round(Date.now() - (performance.now() - lastReceivedAt)),
      pendingAcks: m.pendingAcks,
      queuedSends: m.queueDepth,
      reconnectAttempts: this.lifecycle.reconnectAttempts,
      lastError: this.lifecycle.lastError,
      deliveryBackpressured: this.incoming.backpressured || (this.unlimitedPart?.backpressured ?? false),
    };
  }

  // ---- login / logout ------------------------------------------------------------------------

  /**
   * Logs in and resolves once online. Transient failures are retried with exponential backoff
   * until `timeoutMs`; a refused token or login rejects at once. Once online, lost connections
   * are re-established automatically until `logout()`, `destroy()` or a kick.
   */
  login(options: LoginOptions = {}): Promise<void> {
    if (this.state === 'closed') return Promise.reject(closedError());
    if (!this.tokenDelegate) return Promise.reject(new MIMCError(ErrorCode.INVALID_ARGUMENT, 'register a token delegate before login()'));
    return this.lifecycle.login(options);
  }

  /**
   * Lets a handler call in progress finish (its acks go out first), unbinds (waiting for the
   * server's answer at most `loginTimeoutMs`) and goes offline. Nothing is written after the
   * UBND. Messages still awaiting an ack are reported as timed out; a later `login()` is allowed.
   * Aborting `signal` stops waiting: the user is destroyed at once (every promise settled, no
   * later login) and logout() rejects with ERR_ABORTED, the abort reason as its `cause`.
   */
  async logout(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.state === 'closed') return;
    await this.abortable(options.signal, 'logout', () => this.unbindAndGoOffline());
  }

  private async unbindAndGoOffline(): Promise<void> {
    const wasOnline = this.isOnline;
    const session = this.lifecycle.stop(new MIMCError(ErrorCode.CLOSED, 'logged out'));
    await Promise.all([this.incoming.quiesce(this.settings.loginTimeoutMs), this.unlimitedPart?.quiesce(this.settings.loginTimeoutMs)]);
    if (session) await session.unbind(this.settings.loginTimeoutMs);
    this.incoming.reset();
    this.unlimitedPart?.close(new MIMCError(ErrorCode.CLOSED, 'logged out'));
    this.outgoing.abandon(new MIMCError(ErrorCode.CLOSED, 'logged out before the server acknowledged the message'));
    if (this.destroyed) return; // destroy() ran while we were unbinding
    this.lifecycle.detach('offline');
    if (wasOnline) this.reportStatus({ isOnline: false, errorType: 'logout', errorReason: 'logout', errorDescription: 'logged out by the app' });
  }

  /** Stops everything at once: no unbind, every pending promise settled, no timer or socket left. Idempotent. */
  destroy(): void {
    if (this.state === 'closed') return;
    const wasOnline = this.isOnline;
    const session = this.lifecycle.stop(closedError());
    session?.close();
    this.incoming.close();
    this.unlimitedPart?.close(closedError());
    this.earlyLists = null;
    this.outgoing.abandon(closedError());
    this.lifecycle.detach('closed');
    this.iterators?.endAll();
    if (wasOnline) this.reportStatus({ isOnline: false, errorType: 'destroyed', errorReason: 'destroyed', errorDescription: 'destroyed by the app' });
  }

  /**
   * Graceful shutdown: refuses new sends, waits up to `drainTimeoutMs` (default 5 000) for the
   * acks of messages already sent, then logs out and releases everything like `destroy()`.
   * Messages still unacknowledged at the deadline are reported as timeouts. Aborting `signal`
   * stops waiting: the user is destroyed at once and close() rejects with ERR_ABORTED.
   */
  async close(options: { drainTimeoutMs?: number; signal?: AbortSignal } = {}): Promise<CloseReport> {
    if (this.state === 'closed') return { acked: 0, timedOut: 0 };
    this.accepting = false;
    const ackedBefore = this.counters.acked;
    const timedOutBefore = this.counters.timedOut;
    await this.abortable(options.signal, 'close', async () => {
      if (this.lifecycle.wantsOnline) await this.outgoing.drained(options.drainTimeoutMs ?? 5_000);
      await this.unbindAndGoOffline();
    });
    this.destroy();
    return { acked: this.counters.acked - ackedBefore, timedOut: this.counters.timedOut - timedOutBefore };
  }

  /** `close()` with its defaults, for `await using user = new MCUser(…)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Runs a graceful step; an abort of `signal` destroys the user, which ends every wait of the
   * step (unbind, handler quiesce, drain) and settles every promise, then rejects with ERR_ABORTED.
   */
  private async abortable(signal: AbortSignal | undefined, what: string, step: () => Promise<void>): Promise<void> {
    const aborted = () => new MIMCError(ErrorCode.ABORTED, `${what} aborted: the user was destroyed`, { cause: signal?.reason });
    if (signal?.aborted) {
      this.destroy();
      throw aborted();
    }
    const onAbort = () => this.destroy();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await step();
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    if (signal?.aborted) throw aborted();
  }

  /**
   * Asks the server for messages it holds for this resource that were not acknowledged. Never
   * needed for recovery (failed handlers are retried, then dead-lettered); useful after a pull
   * notification. No-op while offline.
   */
  pull(): boolean {
    const session = this.lifecycle.boundSession;
    if (!session) return false;
    return session.sendPacket(
      {
        packetId: this.ids.next(),
        package: session.token.appPackage,
        type: PacketType.PULL,
        payload: encodePullRequest({ uuid: session.token.uuid, resource: this.resource, appId: this.appId }),
      },
      false,
    );
  }

  // ---- sending -------------------------------------------------------------------------------

  /** Sends a P2P message; returns its packet id at once. The outcome arrives as one ack or one timeout. */
  sendMessage(toAccount: string, payload: Uint8Array, options: SendOptions = {}): string {
    return this.outgoing.send(toAccountOf('p2p', toAccount), payload, options);
  }

  /**
   * Sends an online message: delivered only to the recipient's resources online right now,
   * never stored, not sequenced. Its outcome is still exactly one ack or one timeout.
   */
  sendOnlineMessage(toAccount: string, payload: Uint8Array, options: Pick<SendOptions, 'bizType'> = {}): string {
    return this.outgoing.send(toAccountOf('online', toAccount), payload, { ...options, isStore: false });
  }

  /** Sends a group (P2T) message to a topic; returns its packet id at once. */
  sendGroupMessage(topicId: bigint | string, payload: Uint8Array, options: SendOptions = {}): string {
    return this.outgoing.send(toTopic(topicId), payload, options);
  }

  /** Sends a P2P message and resolves with the server ack; rejects with ERR_SEND_TIMEOUT, ERR_SERVER_REJECTED, ... */
  sendMessageAndWait(toAccount: string, payload: Uint8Array, options: SendAndWaitOptions = {}): Promise<ServerAck> {
    try {
      return this.outgoing.sendAndWait(toAccountOf('p2p', toAccount), payload, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Group variant of `sendMessageAndWait`. */
  sendGroupMessageAndWait(topicId: bigint | string, payload: Uint8Array, options: SendAndWaitOptions = {}): Promise<ServerAck> {
    try {
      return this.outgoing.sendAndWait(toTopic(topicId), payload, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  // ---- unlimited groups (UC) ---------------------------------------------------------------

  /**
   * Creates an unlimited group owned by this user (MIMC REST, with this user's token) and joins
   * it; resolves with its exact id. Needs a bound session (the token comes from it).
   */
  async createUnlimitedGroup(topicName: string): Promise<bigint> {
    if (typeof topicName !== 'string') throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'topicName must be a string');
    const topicId = await createUnlimitedGroup(this.settings.restUrl, this.restToken(), topicName, this.settings.sendTimeoutMs);
    await this.unlimited.join(topicId);
    return topicId;
  }

  /** Dismisses an unlimited group this user owns (MIMC REST); every member gets `handleUnlimitedGroupDismissed`. */
  async dismissUnlimitedGroup(topicId: bigint | string): Promise<void> {
    await dismissUnlimitedGroup(this.settings.restUrl, this.restToken(), topicIdOf(topicId), this.settings.sendTimeoutMs);
  }

  /**
   * Joins an unlimited group; resolves once the server confirmed (ERR_UC_REFUSED if it refused,
   * ERR_SEND_TIMEOUT without an answer). Joined groups are joined again after every reconnect.
   */
  joinUnlimitedGroup(topicId: bigint | string): Promise<void> {
    return this.unlimited.join(topicIdOf(topicId));
  }

  /** Quits an unlimited group; resolves once the server confirmed. */
  quitUnlimitedGroup(topicId: bigint | string): Promise<void> {
    return this.unlimited.quit(topicIdOf(topicId));
  }

  /** The unlimited groups this user is in (joined, or being joined again after a reconnect). */
  unlimitedGroups(): bigint[] {
    return this.unlimitedPart?.joined ?? [];
  }

  /** How many users are joined to the group right now. */
  queryUnlimitedGroupOnlineUsers(topicId: bigint | string): Promise<bigint> {
    return this.unlimited.onlineUsers(topicIdOf(topicId));
  }

  /**
   * Sends to a joined unlimited group (payload at most 15 KiB; `isStore` defaults to true, as
   * for P2P); returns its packet id at once. The outcome arrives as one ack or one timeout.
   */
  sendUnlimitedGroupMessage(topicId: bigint | string, payload: Uint8Array, options: Omit<SendOptions, 'conversation'> = {}): string {
    return this.outgoing.send(this.joinedGroup(topicId), payload, options);
  }

  /** Unlimited-group variant of `sendMessageAndWait`. */
  sendUnlimitedGroupMessageAndWait(topicId: bigint | string, payload: Uint8Array, options: Omit<SendAndWaitOptions, 'conversation'> = {}): Promise<ServerAck> {
    try {
      return this.outgoing.sendAndWait(this.joinedGroup(topicId), payload, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Handled messages (P2P and group, in delivery order) as an async iterator. An iterator
   * observes; it never holds back the delegates or the acks: it buffers up to `capacity`
   * messages, and while it is that far behind, further messages are dropped for it (counted in
   * `metrics().iteratorDropped`, warned once). Ends on `destroy()` or when the loop breaks.
   */
  messages(capacity = 1024): AsyncIterableIterator<IncomingMessage> {
    this.iterators ??= new IteratorFanout(() => {
      this.counters.iteratorDropped += 1;
    }, this.log);
    return this.iterators.add(capacity, this.destroyed);
  }

  // ---- internals -----------------------------------------------------------------------------

  private get destroyed(): boolean {
    return this.lifecycle.state === 'closed';
  }

  private joinedGroup(topicId: unknown): Destination {
    const id = topicIdOf(topicId);
    this.checkCanSend();
    this.unlimited.checkJoined(id);
    return { kind: 'uc', toAccount: '', topicId: id };
  }

  private restToken(): string {
    this.checkCanSend();
    const session = this.lifecycle.boundSession;
    if (!session) throw new MIMCError(ErrorCode.NOT_LOGGED_IN, 'wait until online: the REST call uses the session token');
    return session.token.token;
  }

  private invokeHandler(batch: MessageBatch): void | Promise<void> {
    const delegate = this.messageDelegate;
    if (batch.kind === 'p2p') return delegate?.handleMessage?.(batch.messages);
    if (batch.kind === 'p2t') return delegate?.handleGroupMessage?.(batch.messages);
    return delegate?.handleUnlimitedGroupMessage?.(batch.messages);
  }

  private checkCanSend(): void {
    if (this.state === 'closed') throw closedError();
    if (!this.accepting) throw new MIMCError(ErrorCode.CLOSED, 'the user is closing');
    if (!this.lifecycle.wantsOnline) throw new MIMCError(ErrorCode.NOT_LOGGED_IN, 'call login() before sending');
  }

  private async fetchTokenJson(): Promise<string> {
    let text: string;
    try {
      text = await this.tokenDelegate!.fetchToken();
    } catch (err) {
      if (MIMCError.is(err)) throw err;
      throw new MIMCError(ErrorCode.TOKEN_FETCH_FAILED, 'the token delegate failed', { cause: err });
    }
    if (typeof text !== 'string') throw new MIMCError(ErrorCode.INVALID_TOKEN, 'the token delegate must return the token JSON text');
    return text;
  }

  private handlePacket(packet: MimcPacket, session: Session): void {
    try {
      switch (packet.type) {
        case PacketType.PACKET_ACK:
          this.outgoing.settle(decodePacketAck(packet.payload ?? new Uint8Array(0)));
          return;
        case PacketType.ONLINE_MESSAGE_ACK: {
          const ack = decodeOnlineMessageAck(packet.payload ?? new Uint8Array(0));
          this.outgoing.settle({ packetId: ack.packetId, sequence: 0n, timestamp: BigInt(Date.now()), errorMsg: ack.errorMsg ?? '', code: ack.code });
          return;
        }
        case PacketType.ONLINE_MESSAGE: {
          const message = toP2PMessage(packet);
          this.counters.received += 1;
          this.callDelegate('handleOnlineMessage', () => this.messageDelegate?.handleOnlineMessage?.(message));
          this.safeEmit('onlineMessage', message);
          return;
        }
        case PacketType.UC_PACKET:
          if (this.lifecycle.boundSession === session) this.unlimited.onPacket(packet.payload ?? new Uint8Array(0));
          return;
        case PacketType.COMPOUND: {
          const list = decodePacketList(packet.payload ?? new Uint8Array(0));
          if (list.resource !== this.resource) {
            this.log.debug({ listResource: list.resource }, 'ignored a list for another resource');
            return;
          }
          if (this.lifecycle.boundSession === session) this.incoming.acceptList(list);
          else this.holdEarlyList(list, session);
          return;
        }
        default:
          this.log.debug({ type: packet.type }, 'ignored packet type');
      }
    } catch (err) {
      session.close(MIMCError.is(err) ? err : new MIMCError(ErrorCode.MALFORMED_FRAME, 'bad packet', { cause: err }));
    }
  }

  private holdEarlyList(list: PacketList, session: Session): void {
    if (this.earlyLists?.[0]?.session !== session) this.earlyLists = [];
    // unacknowledged, so a list beyond the bound is simply sent again by the server
    if (this.earlyLists.length < MAX_EARLY_LISTS) this.earlyLists.push({ list, session });
  }

  private writeSequenceAck(sequence: bigint): boolean {
    const session = this.lifecycle.boundSession;
    if (!session) return false;
    const { uuid, appPackage } = session.token;
    return session.sendPacket(
      {
        packetId: this.ids.next(),
        package: appPackage,
        type: PacketType.SEQUENCE_ACK,
        sequence,
        payload: encodeSequenceAck({ uuid, resource: this.resource, sequence, appId: this.appId }),
      },
      false,
    );
  }

  /** Events and iterators see each handled message once, after its handler succeeded. */
  private announceHandled(batch: MessageBatch): void {
    for (const message of batch.messages) {
      if (batch.kind === 'p2p') this.safeEmit('message', message as P2PMessage);
      else if (batch.kind === 'p2t') this.safeEmit('groupMessage', message as P2TMessage);
      else this.safeEmit('unlimitedGroupMessage', message as UCMessage);
      this.iterators?.offer({ kind: batch.kind, message } as IncomingMessage);
    }
  }

  private async notifyPull(list: PacketList): Promise<void> {
    const session = this.lifecycle.boundSession;
    let wanted: boolean | void = false;
    try {
      let minSequence: bigint | undefined;
      for (const p of list.packets) if (p.sequence !== undefined && (minSequence === undefined || p.sequence < minSequence)) minSequence = p.sequence;
      wanted = await this.messageDelegate?.handlePullNotification?.(withJsonSafe({ minSequence, maxSequence: list.maxSequence, count: list.packets.length }));
    } catch (err) {
      this.log.error({ delegate: 'handlePullNotification', err: describeError(err) }, 'delegate threw');
    }
    this.log.debug({ maxSequence: list.maxSequence.toString() }, 'pull notification');
    if (wanted === true && session && this.lifecycle.boundSession === session) this.pull();
  }

  private reportStatus(change: StatusChange): void {
    this.callDelegate('handleChange', () =>
      this.statusDelegate?.handleChange(change.isOnline, change.errorType, change.errorReason, change.errorDescription),
    );
    this.safeEmit('statusChange', change);
  }

  /** Runs app code; a throw or rejection is logged and reported as false, never propagated. */
  /**
   * Runs a notification delegate: a throw or a rejection is logged, never propagated. A
   * synchronous delegate costs no promise (this runs once per ack on the hot path).
   */
  private callDelegate(name: string, fn: () => void | Promise<void> | undefined): void {
    let result: void | Promise<void> | undefined;
    try {
      result = fn();
    } catch (err) {
      this.logDelegateFailure(name, err);
      return;
    }
    if (!isThenable(result)) return;
    try {
      result.then(undefined, (err: unknown) => this.logDelegateFailure(name, err));
    } catch (err) {
      this.logDelegateFailure(name, err); // a thenable whose then() throws
    }
  }

  private logDelegateFailure(name: string, err: unknown): void {
    this.log.error({ delegate: name, err: describeError(err) }, 'delegate threw');
  }

  private safeEmit<K extends keyof MCUserEventMap>(event: K, ...args: MCUserEventMap[K]): void {
    try {
      (this.emit as (e: K, ...a: MCUserEventMap[K]) => boolean)(event, ...args);
    } catch (err) {
      this.log.error({ event, err: describeError(err) }, 'event listener threw');
    }
  }
}

// ---- helpers -------------------------------------------------------------------------------------

/** Lists held between the BIND answer and the "online" announcement (normally one or two). */
const MAX_EARLY_LISTS = 16;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function closedError(): MIMCError {
  return new MIMCError(ErrorCode.CLOSED, 'the user was destroyed');
}

function toAccountOf(kind: 'p2p' | 'online', account: unknown): Destination {
  if (typeof account !== 'string' || account.length === 0) {
    throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'the recipient account must be a non-empty string');
  }
  return { kind, toAccount: account, topicId: 0n };
}

/** A topic id (P2T or unlimited group) from the app: positive, 64-bit, exact. */
function topicIdOf(topicId: unknown): bigint {
  const id = parseUint64(topicId);
  if (id === undefined || id === 0n) throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'topicId must be a positive bigint or decimal string');
  return id;
}

function toTopic(topicId: unknown): Destination {
  return { kind: 'p2t', toAccount: '', topicId: topicIdOf(topicId) };
}
