import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import pRetry from 'p-retry';
import { MIMCError, ErrorCode } from '../errors.js';
import { DEFAULT_MAX_FRAME_BODY, PacketType, PushStatus, needsTokenRefresh } from '../protocol/constants.js';
import { parseUint64 } from '../protocol/int64.js';
import {
  decodeP2PMessage,
  decodeP2TMessage,
  decodePacketAck,
  decodePacketList,
  encodeP2PMessage,
  encodeP2TMessage,
  encodePullRequest,
  encodeSequenceAck,
  type BindResult,
  decodeOnlineMessageAck,
  type MimcPacket,
  type P2PMessage as P2PMessageBody,
  type P2TMessage as P2TMessageBody,
  type PacketAck,
  type PacketList,
} from '../protocol/packets.js';
import { AsyncQueue } from './async-queue.js';
import { SequenceWindow } from './dedup.js';
import { IdGenerator, generateResource } from './ids.js';
import { silentLogger } from './logger.js';
import { UserMetrics, type MetricsSnapshot } from './metrics.js';
import { PendingTable } from './pending.js';
import { DEFAULT_RESOLVER_URL, parseAddress, resolveFrontends, type FrontendAddress } from './resolver.js';
import { LoginRejectedError, Session } from './session.js';
import { parseTokenJson, type TokenInfo } from './token.js';
import { MemoryUserInfoStore, type UserInfoStore } from './user-info-store.js';
import type {
  AckMode,
  CloseReport,
  ConnectionState,
  HealthSnapshot,
  MCUserOptions,
  MessageHandlerDelegate,
  P2PMessage,
  P2TMessage,
  SendAndWaitOptions,
  SendOptions,
  ServerAck,
  StatusDelegate,
  Token,
} from './types.js';

/** An incoming message as yielded by `MCUser.messages()`. */
export type IncomingMessage = { kind: 'p2p'; message: P2PMessage } | { kind: 'p2t'; message: P2TMessage };

/** A message that got no server ack in time (or was still pending at logout/destroy). */
export type SendTimeout = { kind: 'p2p'; message: P2PMessage } | { kind: 'p2t'; message: P2TMessage };

export interface StatusChange {
  isOnline: boolean;
  errorType?: string;
  errorReason?: string;
  errorDescription?: string;
}

/** Events of MCUser, for apps that prefer listeners to delegates. */
export interface MCUserEventMap {
  message: [P2PMessage];
  onlineMessage: [P2PMessage];
  groupMessage: [P2TMessage];
  serverAck: [ServerAck];
  sendTimeout: [SendTimeout];
  statusChange: [StatusChange];
  stateChange: [state: ConnectionState, previous: ConnectionState];
}

export interface LoginOptions {
  /** Give up the first login after this long (default 30 000 ms); reconnects later retry forever. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface Waiter {
  resolve(ack: ServerAck): void;
  reject(err: MIMCError): void;
}

interface Outgoing {
  kind: 'p2p' | 'p2t' | 'online';
  packetId: string;
  toAccount: string;
  topicId: bigint;
  payload: Uint8Array;
  isStore: boolean;
  bizType: string | undefined;
  sentAt: number;
  written: boolean;
  waiter: Waiter | undefined;
}

interface Delivery {
  list: PacketList;
  session: Session;
}

const RETRYABLE = new Set<string>([
  ErrorCode.CONNECTION_LOST,
  ErrorCode.LOGIN_TIMEOUT,
  ErrorCode.RESOLVER_FAILED,
  ErrorCode.TOKEN_FETCH_FAILED,
  ErrorCode.MALFORMED_FRAME,
  ErrorCode.BAD_MAGIC,
  ErrorCode.BAD_VERSION,
  ErrorCode.BAD_CHECKSUM,
  ErrorCode.FRAME_TOO_LARGE,
]);

function isRetryable(err: unknown): boolean {
  if (err instanceof LoginRejectedError) return needsTokenRefresh(err.result.errorType, err.result.errorReason);
  return MIMCError.is(err) && RETRYABLE.has(err.code);
}

const NETWORK_ERROR = 'NETWORK_ERROR';

const OUTGOING_TYPE = { p2p: PacketType.P2P_MESSAGE, p2t: PacketType.P2T_MESSAGE, online: PacketType.ONLINE_MESSAGE } as const;

/**
 * One app account on one resource, connected to MIMC over its native TCP protocol.
 * Mirrors the Go SDK's MCUser; see docs/guide.md for the lifecycle and delivery semantics.
 */
export class MCUser extends EventEmitter<MCUserEventMap> {
  readonly appId: bigint;
  readonly appAccount: string;

  private tokenDelegate: Token | undefined;
  private statusDelegate: StatusDelegate | undefined;
  private messageDelegate: MessageHandlerDelegate | undefined;

  private readonly log: Logger;
  private readonly ids = new IdGenerator();
  private readonly seen: SequenceWindow;
  private readonly pending: PendingTable<Outgoing>;
  private readonly settings: Required<
    Pick<
      MCUserOptions,
      | 'sendTimeoutMs'
      | 'connectTimeoutMs'
      | 'loginTimeoutMs'
      | 'pingIntervalMs'
      | 'responseTimeoutMs'
      | 'maxPendingMessages'
      | 'maxPayloadBytes'
      | 'maxFrameBody'
      | 'dedupWindow'
      | 'ackMode'
      | 'maxQueuedDeliveries'
      | 'resolverUrl'
    >
  > & { reconnect: Required<NonNullable<MCUserOptions['reconnect']>>; frontend: FrontendAddress | undefined };

  private currentState: ConnectionState = 'offline';
  private loginRequested = false;
  private kicked = false;
  private life: AbortController | null = null;
  private session: Session | null = null;
  private sessionEnded: (() => void) | null = null;
  private token: TokenInfo | null = null;
  private tokenStale = false;
  private frontends: FrontendAddress[] | null = null;
  private loginWaiters = new Set<{ resolve(): void; reject(err: MIMCError): void }>();
  private readonly deliveries: Delivery[] = [];
  private delivering = false;
  /** After a handler failure (ack-after-handler mode) this session acks nothing more, so the server redelivers. */
  private ackBlockedSession: Session | null = null;
  private readonly iterators = new Set<AsyncQueue<IncomingMessage>>();
  private currentResource: string;
  private readonly resourceGiven: boolean;
  private readonly userInfoStore: UserInfoStore;
  private readonly cacheToken: boolean;
  private userInfoLoaded = false;
  private readonly counters = new UserMetrics();
  private hasBeenOnline = false;
  private reconnectAttempts = 0;
  private lastError: HealthSnapshot['lastError'] = null;
  /** False once close() started: new sends are refused while acks drain. */
  private accepting = true;
  private drainWaiter: (() => void) | null = null;

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
    this.currentResource = options.resource ?? generateResource();
    this.resourceGiven = options.resource !== undefined;
    this.userInfoStore = options.userInfoStore ?? new MemoryUserInfoStore();
    this.cacheToken = options.cacheToken ?? false;
    this.tokenDelegate = options.tokenDelegate;
    this.statusDelegate = options.statusDelegate;
    this.messageDelegate = options.messageDelegate;
    const frontend = options.frontendAddress;
    this.settings = {
      sendTimeoutMs: positive(options.sendTimeoutMs, 10_000, 'sendTimeoutMs'),
      connectTimeoutMs: positive(options.connectTimeoutMs, 5_000, 'connectTimeoutMs'),
      loginTimeoutMs: positive(options.loginTimeoutMs, 5_000, 'loginTimeoutMs'),
      pingIntervalMs: positive(options.pingIntervalMs, 3_000, 'pingIntervalMs'),
      responseTimeoutMs: positive(options.responseTimeoutMs, 5_000, 'responseTimeoutMs'),
      maxPendingMessages: positive(options.maxPendingMessages, 10_000, 'maxPendingMessages'),
      maxPayloadBytes: positive(options.maxPayloadBytes, 64 * 1024, 'maxPayloadBytes'),
      maxFrameBody: positive(options.maxFrameBody, DEFAULT_MAX_FRAME_BODY, 'maxFrameBody'),
      dedupWindow: positive(options.dedupWindow, 10_000, 'dedupWindow'),
      maxQueuedDeliveries: positive(options.maxQueuedDeliveries, 64, 'maxQueuedDeliveries'),
      ackMode: checkAckMode(options.ackMode),
      resolverUrl: options.resolverUrl ?? DEFAULT_RESOLVER_URL,
      frontend: typeof frontend === 'string' ? parseAddress(frontend) : frontend,
      reconnect: {
        minDelayMs: positive(options.reconnect?.minDelayMs, 200, 'reconnect.minDelayMs'),
        maxDelayMs: positive(options.reconnect?.maxDelayMs, 10_000, 'reconnect.maxDelayMs'),
        factor: positive(options.reconnect?.factor, 2, 'reconnect.factor'),
        jitter: options.reconnect?.jitter ?? true,
      },
    };
    this.log = (options.logger ?? silentLogger()).child({ account: this.appAccount });
    this.seen = new SequenceWindow(this.settings.dedupWindow);
    this.pending = new PendingTable(this.settings.maxPendingMessages, this.settings.sendTimeoutMs, this.handleSendTimeout);
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
    return this.currentState;
  }

  /** This instance's resource. With a user-info store, the stored one replaces a generated one at login. */
  get resource(): string {
    return this.currentResource;
  }

  /** Counters and gauges of this user, as a plain object (see `aggregateMetrics` for many users). */
  metrics(): MetricsSnapshot {
    let queued = 0;
    for (const entry of this.pending.values()) if (!entry.written) queued++;
    return this.counters.snapshot({
      queueDepth: queued,
      pendingAcks: this.pending.size - queued,
      deliveryQueueDepth: this.deliveries.length,
    });
  }

  /** A snapshot for readiness probes. */
  health(): HealthSnapshot {
    const m = this.metrics();
    const session = this.session;
    return {
      state: this.currentState,
      online: this.isOnline,
      lastFrameReceivedAt: session ? Math.round(Date.now() - (performance.now() - session.lastReceivedAt)) : null,
      pendingAcks: m.pendingAcks,
      queuedSends: m.queueDepth,
      reconnectAttempts: this.reconnectAttempts,
      lastError: this.lastError && { ...this.lastError },
    };
  }

  get isOnline(): boolean {
    return this.currentState === 'online';
  }

  /** The MIMC uuid, known after the first token fetch. */
  get uuid(): bigint | undefined {
    return this.token?.uuid;
  }

  /** Messages awaiting a server ack (written or waiting for the connection). */
  get pendingCount(): number {
    return this.pending.size;
  }

  // ---- login / logout ------------------------------------------------------------------------

  /**
   * Logs in and resolves once online. Transient failures are retried with exponential backoff
   * until `timeoutMs`; a refused token or login rejects at once. Once online, lost connections
   * are re-established automatically until `logout()`, `destroy()` or a kick.
   */
  login(options: LoginOptions = {}): Promise<void> {
    if (this.currentState === 'closed') return Promise.reject(closedError());
    if (!this.tokenDelegate) {
      return Promise.reject(new MIMCError(ErrorCode.INVALID_ARGUMENT, 'register a token delegate before login()'));
    }
    if (this.currentState === 'online') return Promise.resolve();
    const timeoutMs = options.timeoutMs ?? 30_000;
    const promise = new Promise<void>((resolve, reject) => {
      const signal = options.signal;
      const finish = (err?: MIMCError) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.loginWaiters.delete(waiter);
        if (err) reject(err);
        else resolve();
      };
      const waiter = { resolve: () => finish(), reject: (err: MIMCError) => finish(err) };
      const onAbort = () => {
        finish(new MIMCError(ErrorCode.ABORTED, 'login aborted'));
        if (this.loginWaiters.size === 0 && !this.isOnline) this.stopTrying();
      };
      const timer = setTimeout(() => {
        finish(new MIMCError(ErrorCode.LOGIN_TIMEOUT, `not online within ${timeoutMs} ms`, { details: { lastError: this.lastError?.code } }));
        if (this.loginWaiters.size === 0 && !this.isOnline) this.stopTrying();
      }, timeoutMs);
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.loginWaiters.add(waiter);
    });
    if (!this.loginRequested) {
      this.loginRequested = true;
      this.kicked = false;
      this.life = new AbortController();
      void this.connectLoop(this.life.signal);
    }
    return promise;
  }

  /**
   * Unbinds from the server (waiting for its answer at most `loginTimeoutMs`) and goes offline.
   * Messages still awaiting an ack are reported as timed out; a later `login()` is allowed.
   */
  async logout(): Promise<void> {
    if (this.currentState === 'closed') return;
    const session = this.session;
    const wasOnline = this.isOnline;
    this.stopTrying(new MIMCError(ErrorCode.CLOSED, 'logged out'));
    if (session) await session.unbind(this.settings.loginTimeoutMs);
    this.abandonConnection(session, new MIMCError(ErrorCode.CLOSED, 'logged out before the server acknowledged the message'));
    this.setState('offline');
    if (wasOnline) this.reportStatus({ isOnline: false, errorType: 'logout', errorReason: 'logout', errorDescription: 'logged out by the app' });
  }

  /** Stops everything at once: no unbind, every pending promise settled, no timer or socket left. Idempotent. */
  destroy(): void {
    if (this.currentState === 'closed') return;
    const session = this.session;
    const wasOnline = this.isOnline;
    this.stopTrying(closedError());
    session?.close();
    this.abandonConnection(session, closedError());
    this.setState('closed');
    for (const queue of this.iterators) queue.end();
    this.iterators.clear();
    if (wasOnline) this.reportStatus({ isOnline: false, errorType: 'destroyed', errorReason: 'destroyed', errorDescription: 'destroyed by the app' });
  }

  /**
   * Graceful shutdown: refuses new sends, waits up to `drainTimeoutMs` (default 5 000) for the
   * acks of messages already sent, then logs out and releases everything like `destroy()`.
   * Messages still unacknowledged at the deadline are reported as timeouts.
   */
  async close(options: { drainTimeoutMs?: number } = {}): Promise<CloseReport> {
    if (this.currentState === 'closed') return { acked: 0, timedOut: 0 };
    this.accepting = false;
    const ackedBefore = this.counters.acked;
    const timedOutBefore = this.counters.timedOut;
    if (this.pending.size > 0 && this.loginRequested) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, options.drainTimeoutMs ?? 5_000);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.drainWaiter = done;
      });
      this.drainWaiter = null;
    }
    await this.logout();
    this.destroy();
    return { acked: this.counters.acked - ackedBefore, timedOut: this.counters.timedOut - timedOutBefore };
  }

  /**
   * Asks the server for messages it holds for this resource that were not acknowledged
   * (after a failed handler, or when a list said more are waiting). No-op while offline.
   */
  pull(): boolean {
    const session = this.session;
    if (!session?.isBound) return false;
    if (this.ackBlockedSession === session) this.ackBlockedSession = null; // the server restarts from the last ack
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
    return this.enqueue('p2p', checkAccount(toAccount), 0n, payload, options, undefined);
  }

  /**
   * Sends an online message: delivered only to the recipient's resources online right now,
   * never stored, not sequenced. Its outcome is still exactly one ack or one timeout.
   */
  sendOnlineMessage(toAccount: string, payload: Uint8Array, options: Pick<SendOptions, 'bizType'> = {}): string {
    return this.enqueue('online', checkAccount(toAccount), 0n, payload, { ...options, isStore: false }, undefined);
  }

  /** Sends a group (P2T) message to a topic; returns its packet id at once. */
  sendGroupMessage(topicId: bigint | string, payload: Uint8Array, options: SendOptions = {}): string {
    return this.enqueue('p2t', '', checkTopic(topicId), payload, options, undefined);
  }

  /** Sends a P2P message and resolves with the server ack; rejects with ERR_SEND_TIMEOUT, ERR_SERVER_REJECTED, ... */
  sendMessageAndWait(toAccount: string, payload: Uint8Array, options: SendAndWaitOptions = {}): Promise<ServerAck> {
    return this.sendAndWait('p2p', checkAccount(toAccount), 0n, payload, options);
  }

  /** Group variant of `sendMessageAndWait`. */
  sendGroupMessageAndWait(topicId: bigint | string, payload: Uint8Array, options: SendAndWaitOptions = {}): Promise<ServerAck> {
    return this.sendAndWait('p2t', '', checkTopic(topicId), payload, options);
  }

  /**
   * Incoming messages as an async iterator (P2P and group, in delivery order). The buffer holds
   * `capacity` messages; a slower consumer slows delivery down (and so the socket) instead of
   * growing memory. Ends on `destroy()` or when the loop breaks.
   */
  messages(capacity = 1024): AsyncIterableIterator<IncomingMessage> {
    const queue = new AsyncQueue<IncomingMessage>(capacity);
    if (this.currentState === 'closed') queue.end();
    else this.iterators.add(queue);
    return queue;
  }

  // ---- internals: connection loop ------------------------------------------------------------

  private async connectLoop(life: AbortSignal): Promise<void> {
    const r = this.settings.reconnect;
    while (!life.aborted) {
      let session: Session;
      // p-retry may reject on abort after an attempt already bound a session: close that one too
      let established: Session | undefined;
      try {
        session = await pRetry(async () => (established = await this.attempt(life)), {
          retries: Number.POSITIVE_INFINITY,
          factor: r.factor,
          minTimeout: r.minDelayMs,
          maxTimeout: r.maxDelayMs,
          randomize: r.jitter,
          signal: life,
          shouldRetry: ({ error }) => !life.aborted && isRetryable(error),
          onFailedAttempt: ({ error, attemptNumber }) => {
            this.reconnectAttempts += 1;
            this.noteError(error);
            if (life.aborted) return;
            this.log.warn({ code: this.lastError?.code, attempt: attemptNumber, reason: error.message }, 'login attempt failed');
            this.setState('reconnecting');
          },
        });
      } catch (err) {
        established?.close();
        if (!life.aborted) this.giveUp(err);
        return;
      }
      if (life.aborted) {
        session.close();
        return;
      }
      if (!session.isBound) continue; // lost between bind and here: try again
      const ended = new Promise<void>((resolve) => (this.sessionEnded = resolve));
      this.sessionUp(session);
      await ended;
    }
  }

  /** One login attempt: token (when missing or stale), frontends, then connect + bind. */
  private async attempt(life: AbortSignal): Promise<Session> {
    this.setState('connecting');
    if (!this.userInfoLoaded) await this.restoreUserInfo();
    if (!this.token || this.tokenStale) {
      const tokenJson = await this.fetchTokenJson();
      this.token = parseTokenJson(tokenJson, { appId: this.appId, appAccount: this.appAccount });
      this.tokenStale = false;
      this.frontends = null;
      await this.saveUserInfo(tokenJson);
    }
    const token = this.token;
    const frontends = (this.frontends ??= this.settings.frontend
      ? [this.settings.frontend]
      : await resolveFrontends(this.settings.resolverUrl, token.feDomainName, this.settings.connectTimeoutMs, life));
    let lastError: unknown;
    for (const address of frontends) {
      if (life.aborted) break;
      try {
        this.setState('binding');
        return await Session.establish(
          {
            address,
            resource: this.resource,
            token,
            ids: this.ids,
            connectTimeoutMs: this.settings.connectTimeoutMs,
            loginTimeoutMs: this.settings.loginTimeoutMs,
            pingIntervalMs: this.settings.pingIntervalMs,
            responseTimeoutMs: this.settings.responseTimeoutMs,
            maxFrameBody: this.settings.maxFrameBody,
            logger: this.log,
          },
          { onPacket: this.handlePacket, onKick: this.handleKick, onClose: this.handleSessionClose },
          life,
        );
      } catch (err) {
        if (err instanceof LoginRejectedError) {
          const { errorType, errorReason, errorDesc } = err.result;
          if (needsTokenRefresh(errorType, errorReason)) this.tokenStale = true;
          this.reportStatus({ isOnline: false, errorType, errorReason, errorDescription: errorDesc });
          throw err;
        }
        lastError = err;
      }
    }
    // a frontend list that no longer works is resolved again next time
    this.frontends = null;
    throw lastError ?? new MIMCError(ErrorCode.CLOSED, 'login stopped');
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

  private get userInfoKey(): string {
    return `${this.appId}_${this.appAccount}`;
  }

  /** Takes the stored resource (unless one was given) and, with cacheToken, the stored token. */
  private async restoreUserInfo(): Promise<void> {
    this.userInfoLoaded = true;
    let info;
    try {
      info = await this.userInfoStore.load(this.userInfoKey);
    } catch (err) {
      this.log.warn({ err: describeError(err) }, 'cannot read the user-info store');
      return;
    }
    if (!info) return;
    if (!this.resourceGiven) this.currentResource = info.resource;
    if (this.cacheToken && info.tokenJson && !this.token) {
      try {
        this.token = parseTokenJson(info.tokenJson, { appId: this.appId, appAccount: this.appAccount });
      } catch {
        this.log.info('ignored an unusable cached token');
      }
    }
  }

  private async saveUserInfo(tokenJson: string): Promise<void> {
    try {
      await this.userInfoStore.save(this.userInfoKey, {
        resource: this.currentResource,
        ...(this.cacheToken ? { tokenJson } : {}),
      });
    } catch (err) {
      this.log.warn({ err: describeError(err) }, 'cannot write the user-info store');
    }
  }

  private sessionUp(session: Session): void {
    this.session = session;
    if (this.hasBeenOnline) this.counters.reconnects += 1;
    this.hasBeenOnline = true;
    this.reconnectAttempts = 0;
    this.setState('online');
    this.log.info('online');
    for (const waiter of [...this.loginWaiters]) waiter.resolve();
    this.reportStatus({ isOnline: true });
    for (const entry of this.pending.values()) if (!entry.written) this.writeOutgoing(entry, session);
    void this.drainDeliveries();
  }

  /** Login cannot succeed (bad token, refused login): stop and tell whoever waits. */
  private giveUp(err: unknown): void {
    const error = MIMCError.is(err) ? err : new MIMCError(ErrorCode.CONNECTION_LOST, 'login failed', { cause: err });
    this.log.warn({ code: error.code, reason: error.message }, 'login abandoned');
    this.noteError(error);
    this.loginRequested = false;
    this.life = null;
    this.setState('offline');
    // nobody awaits login() during a reconnect: the status delegate is how the app learns it
    if (this.loginWaiters.size === 0) this.reportStatus({ isOnline: false, errorType: error.code, errorReason: error.message });
    for (const waiter of [...this.loginWaiters]) waiter.reject(error);
  }

  /** Ends the wish to be online: the connect loop and login waiters stop. */
  private stopTrying(reason?: MIMCError): void {
    this.loginRequested = false;
    this.life?.abort();
    this.life = null;
    this.sessionEnded?.();
    this.sessionEnded = null;
    const error = reason ?? new MIMCError(ErrorCode.LOGIN_TIMEOUT, 'login abandoned');
    for (const waiter of [...this.loginWaiters]) waiter.reject(error);
    if (!this.session && this.currentState !== 'closed') this.setState('offline');
  }

  /** Drops the session and everything tied to it; pending messages end as timeouts. */
  private abandonConnection(session: Session | null, reason: MIMCError): void {
    if (session && this.session === session) this.session = null;
    this.deliveries.length = 0;
    for (const [, entry] of this.pending.drain()) this.reportTimeout(entry, reason);
  }

  private readonly handleSessionClose = (error: MIMCError | undefined, session: Session): void => {
    if (this.session !== session) return;
    this.session = null;
    if (this.ackBlockedSession === session) this.ackBlockedSession = null;
    this.deliveries.length = 0; // unacked lists come again at the next login
    const resume = this.sessionEnded;
    this.sessionEnded = null;
    if (this.kicked || !this.loginRequested) {
      this.loginRequested = false;
      this.life?.abort();
      this.life = null;
      this.setState('offline');
    } else {
      if (error) this.noteError(error);
      this.log.warn({ code: error?.code, reason: error?.message }, 'connection lost');
      this.setState('reconnecting');
      if (error?.code !== ErrorCode.KICKED) {
        this.reportStatus({ isOnline: false, errorType: NETWORK_ERROR, errorReason: NETWORK_ERROR, errorDescription: error?.message ?? NETWORK_ERROR });
      }
    }
    resume?.();
  };

  private readonly handleKick = (result: BindResult, session: Session): void => {
    if (this.session !== session) return;
    if (needsTokenRefresh(result.errorType, result.errorReason)) {
      this.tokenStale = true; // reconnect with a fresh token
    } else {
      this.kicked = true; // another login took this resource: do not fight it
    }
    this.log.warn({ errorType: result.errorType, errorReason: result.errorReason }, 'kicked by the server');
    this.reportStatus({ isOnline: false, errorType: result.errorType, errorReason: result.errorReason, errorDescription: result.errorDesc });
  };

  // ---- internals: incoming -------------------------------------------------------------------

  private readonly handlePacket = (packet: MimcPacket, session: Session): void => {
    try {
      switch (packet.type) {
        case PacketType.PACKET_ACK:
          this.handleAck(decodePacketAck(packet.payload ?? new Uint8Array(0)));
          return;
        case PacketType.ONLINE_MESSAGE_ACK: {
          const ack = decodeOnlineMessageAck(packet.payload ?? new Uint8Array(0));
          this.handleAck({ packetId: ack.packetId, sequence: 0n, timestamp: BigInt(Date.now()), errorMsg: ack.errorMsg ?? '', code: ack.code });
          return;
        }
        case PacketType.ONLINE_MESSAGE: {
          const message = toP2PMessage(packet);
          this.counters.received += 1;
          void this.callDelegate('handleOnlineMessage', () => this.messageDelegate?.handleOnlineMessage?.(message));
          this.safeEmit('onlineMessage', message);
          return;
        }
        case PacketType.COMPOUND: {
          const list = decodePacketList(packet.payload ?? new Uint8Array(0));
          if (list.resource !== this.resource) {
            this.log.debug({ listResource: list.resource }, 'ignored a list for another resource');
            return;
          }
          this.deliveries.push({ list, session });
          if (this.deliveries.length >= this.settings.maxQueuedDeliveries) session.pauseReading();
          // lists that arrive with the BIND answer wait until the app has heard "online"
          if (this.session === session) void this.drainDeliveries();
          return;
        }
        default:
          this.log.debug({ type: packet.type }, 'ignored packet type');
      }
    } catch (err) {
      session.close(MIMCError.is(err) ? err : new MIMCError(ErrorCode.MALFORMED_FRAME, 'bad packet', { cause: err }));
    }
  };

  private handleAck(ack: Pick<PacketAck, 'packetId' | 'sequence' | 'timestamp' | 'errorMsg' | 'code'>): void {
    const entry = this.pending.settle(ack.packetId);
    if (!entry) {
      this.log.debug({ packetId: ack.packetId }, 'ack for a message no longer pending');
      return;
    }
    this.counters.acked += 1;
    this.counters.observeAckLatency(Date.now() - entry.sentAt);
    if (ack.errorMsg || (ack.code ?? 0) !== 0) this.counters.rejected += 1;
    if (this.pending.size === 0) this.drainWaiter?.();
    const serverAck: ServerAck = {
      packetId: ack.packetId,
      sequence: ack.sequence,
      timestamp: Number(ack.timestamp),
      errorMsg: ack.errorMsg,
      code: ack.code ?? 0,
    };
    void this.callDelegate('handleServerAck', () => this.messageDelegate?.handleServerAck?.(serverAck));
    this.safeEmit('serverAck', serverAck);
    if (entry.waiter) {
      if (serverAck.errorMsg || serverAck.code !== 0) {
        entry.waiter.reject(
          new MIMCError(ErrorCode.SERVER_REJECTED, `server refused the message: ${serverAck.errorMsg || serverAck.code}`, {
            details: { packetId: serverAck.packetId, code: serverAck.code, errorMsg: serverAck.errorMsg },
          }),
        );
      } else entry.waiter.resolve(serverAck);
    }
  }

  private async drainDeliveries(): Promise<void> {
    if (this.delivering) return;
    this.delivering = true;
    try {
      while (this.deliveries.length > 0 && this.currentState !== 'closed') {
        const delivery = this.deliveries.shift()!;
        if (this.deliveries.length <= this.settings.maxQueuedDeliveries / 2) delivery.session.resumeReading();
        await this.deliver(delivery);
      }
    } finally {
      this.delivering = false;
    }
  }

  private async deliver({ list, session }: Delivery): Promise<void> {
    const before = this.settings.ackMode === 'before-handler';
    if (before) this.sendSequenceAck(list, session);
    const fresh = list.packets
      .filter((p) => p.sequence !== undefined && !this.seen.has(p.sequence))
      .sort((a, b) => (a.sequence! < b.sequence! ? -1 : a.sequence! > b.sequence! ? 1 : 0));
    this.counters.duplicatesDropped += list.packets.length - fresh.length;
    // Runs of consecutive P2P or group messages, so the app sees one sequence order across both handlers.
    const runs: Array<{ kind: 'p2p'; messages: P2PMessage[] } | { kind: 'p2t'; messages: P2TMessage[] }> = [];
    let lastSequence = -1n;
    for (const packet of fresh) {
      if (packet.sequence === lastSequence) continue; // the same sequence twice in one list
      lastSequence = packet.sequence!;
      try {
        const last = runs.at(-1);
        if (packet.type === PacketType.P2P_MESSAGE) {
          const message = toP2PMessage(packet);
          if (last?.kind === 'p2p') last.messages.push(message);
          else runs.push({ kind: 'p2p', messages: [message] });
        } else if (packet.type === PacketType.P2T_MESSAGE) {
          const message = toP2TMessage(packet);
          if (last?.kind === 'p2t') last.messages.push(message);
          else runs.push({ kind: 'p2t', messages: [message] });
        }
      } catch (err) {
        this.log.warn({ packetId: packet.packetId, code: (err as MIMCError).code }, 'dropped an unparsable message');
      }
    }
    let ok = true;
    for (const run of runs) ok = (await this.dispatchIncoming(run.kind, run.messages)) && ok;
    if (ok || before) for (const packet of fresh) this.seen.add(packet.sequence!);
    if (list.status === PushStatus.EXCEED_COUNT_LIMIT) void this.notifyPull(session);
    if (before) return;
    if (!ok) {
      // Acking a later list would acknowledge this one too (acks are cumulative), so this
      // session acks nothing more: the server redelivers from here at the next login.
      this.ackBlockedSession = session;
      this.log.warn({ maxSequence: list.maxSequence.toString() }, 'a message handler failed; the list stays unacknowledged');
      return;
    }
    if (this.ackBlockedSession !== session) this.sendSequenceAck(list, session);
  }

  private async notifyPull(session: Session): Promise<void> {
    let wanted: boolean | void = false;
    try {
      wanted = await this.messageDelegate?.handlePullNotification?.();
    } catch (err) {
      this.log.error({ delegate: 'handlePullNotification', err: describeError(err) }, 'delegate threw');
    }
    if (wanted === true && this.session === session) this.pull();
  }

  private async dispatchIncoming(kind: 'p2p' | 'p2t', messages: P2PMessage[] | P2TMessage[]): Promise<boolean> {
    this.counters.received += messages.length;
    const ok =
      kind === 'p2p'
        ? await this.callDelegate('handleMessage', () => this.messageDelegate?.handleMessage?.(messages as P2PMessage[]))
        : await this.callDelegate('handleGroupMessage', () => this.messageDelegate?.handleGroupMessage?.(messages as P2TMessage[]));
    for (const message of messages) {
      if (kind === 'p2p') this.safeEmit('message', message as P2PMessage);
      else this.safeEmit('groupMessage', message as P2TMessage);
      const item = (kind === 'p2p' ? { kind, message } : { kind, message }) as IncomingMessage;
      for (const queue of this.iterators) {
        if (queue.isEnded) this.iterators.delete(queue);
        else await queue.push(item);
      }
    }
    return ok;
  }

  private sendSequenceAck(list: PacketList, session: Session): void {
    const packet: MimcPacket = {
      packetId: this.ids.next(),
      package: session.token.appPackage,
      type: PacketType.SEQUENCE_ACK,
      sequence: list.maxSequence,
      payload: encodeSequenceAck({ uuid: list.uuid, resource: list.resource, sequence: list.maxSequence, appId: this.appId }),
    };
    session.sendPacket(packet, false);
  }

  // ---- internals: outgoing -------------------------------------------------------------------

  private enqueue(
    kind: Outgoing['kind'],
    toAccount: string,
    topicId: bigint,
    payload: Uint8Array,
    options: SendOptions,
    waiter: Waiter | undefined,
  ): string {
    if (this.currentState === 'closed') throw closedError();
    if (!this.accepting) throw new MIMCError(ErrorCode.CLOSED, 'the user is closing');
    if (!this.loginRequested) throw new MIMCError(ErrorCode.NOT_LOGGED_IN, 'call login() before sending');
    if (!(payload instanceof Uint8Array)) throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'payload must be a Uint8Array or Buffer');
    if (payload.length > this.settings.maxPayloadBytes) {
      throw new MIMCError(ErrorCode.PAYLOAD_TOO_LARGE, `payload of ${payload.length} bytes exceeds ${this.settings.maxPayloadBytes}`, {
        details: { length: payload.length, max: this.settings.maxPayloadBytes },
      });
    }
    if (options.isStore !== undefined && typeof options.isStore !== 'boolean') {
      throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'isStore must be a boolean');
    }
    if (options.bizType !== undefined && typeof options.bizType !== 'string') {
      throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'bizType must be a string');
    }
    const entry: Outgoing = {
      kind,
      packetId: this.ids.next(),
      toAccount,
      topicId,
      // copied: the app may reuse its buffer before the message is written
      payload: Uint8Array.prototype.slice.call(payload),
      isStore: options.isStore ?? true,
      bizType: options.bizType,
      sentAt: Date.now(),
      written: false,
      waiter,
    };
    this.pending.add(entry.packetId, entry);
    this.counters.sent += 1;
    if (this.session?.isBound) this.writeOutgoing(entry, this.session);
    return entry.packetId;
  }

  private sendAndWait(kind: Outgoing['kind'], toAccount: string, topicId: bigint, payload: Uint8Array, options: SendAndWaitOptions): Promise<ServerAck> {
    return new Promise<ServerAck>((resolve, reject) => {
      const signal = options.signal;
      if (signal?.aborted) return reject(new MIMCError(ErrorCode.ABORTED, 'send aborted'));
      let done = false;
      const onAbort = () => settle(() => reject(new MIMCError(ErrorCode.ABORTED, 'stopped waiting for the ack')));
      const settle = (fn: () => void) => {
        if (done) return;
        done = true;
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const waiter: Waiter = {
        resolve: (ack) => settle(() => resolve(ack)),
        reject: (err) => settle(() => reject(err)),
      };
      try {
        this.enqueue(kind, toAccount, topicId, payload, options, waiter);
      } catch (err) {
        return reject(err);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private writeOutgoing(entry: Outgoing, session: Session): void {
    const token = session.token;
    const from = { appId: this.appId, appAccount: this.appAccount, uuid: token.uuid, resource: this.resource };
    const common = { payload: entry.payload, isStore: entry.isStore, ...(entry.bizType === undefined ? {} : { bizType: entry.bizType }) };
    const inner =
      entry.kind === 'p2t'
        ? encodeP2TMessage({ from, to: { appId: this.appId, topicId: entry.topicId }, ...common })
        : encodeP2PMessage({ from, to: { appId: this.appId, appAccount: entry.toAccount, uuid: 0n, resource: '' }, ...common });
    const packet: MimcPacket = {
      packetId: entry.packetId,
      package: token.appPackage,
      type: OUTGOING_TYPE[entry.kind],
      payload: inner,
    };
    // a message whose timeout fired while it sat in the write queue is never written
    if (session.sendPacket(packet, true, () => this.pending.has(entry.packetId))) entry.written = true;
  }

  private readonly handleSendTimeout = (_id: string, entry: Outgoing): void => {
    this.reportTimeout(entry, new MIMCError(ErrorCode.SEND_TIMEOUT, `no server ack within ${this.settings.sendTimeoutMs} ms`, {
      details: { packetId: entry.packetId },
    }));
  };

  private reportTimeout(entry: Outgoing, reason: MIMCError): void {
    this.counters.timedOut += 1;
    if (this.pending.size === 0) this.drainWaiter?.();
    const base = {
      packetId: entry.packetId,
      sequence: 0n,
      timestamp: entry.sentAt,
      fromAccount: this.appAccount,
      fromResource: this.resource,
      payload: entry.payload,
      bizType: entry.bizType ?? '',
      isStore: entry.isStore,
    };
    if (entry.kind !== 'p2t') {
      const message: P2PMessage = { ...base, toAccount: entry.toAccount };
      void this.callDelegate('handleSendMessageTimeout', () => this.messageDelegate?.handleSendMessageTimeout?.(message));
      this.safeEmit('sendTimeout', { kind: 'p2p', message });
    } else {
      const message: P2TMessage = { ...base, topicId: entry.topicId };
      void this.callDelegate('handleSendGroupMessageTimeout', () => this.messageDelegate?.handleSendGroupMessageTimeout?.(message));
      this.safeEmit('sendTimeout', { kind: 'p2t', message });
    }
    entry.waiter?.reject(reason);
  }

  // ---- internals: plumbing -------------------------------------------------------------------

  private noteError(error: Error): void {
    this.lastError = { code: MIMCError.is(error) ? error.code : 'ERR_UNKNOWN', message: error.message, at: Date.now() };
  }

  private setState(next: ConnectionState): void {
    const previous = this.currentState;
    if (previous === next || previous === 'closed') return;
    this.currentState = next;
    this.log.debug({ from: previous, to: next }, 'state');
    this.safeEmit('stateChange', next, previous);
  }

  private reportStatus(change: StatusChange): void {
    void this.callDelegate('handleChange', () =>
      this.statusDelegate?.handleChange(change.isOnline, change.errorType, change.errorReason, change.errorDescription),
    );
    this.safeEmit('statusChange', change);
  }

  /** Runs app code; a throw or rejection is logged and reported as false, never propagated. */
  private async callDelegate(name: string, fn: () => void | Promise<void> | undefined): Promise<boolean> {
    try {
      await fn();
      return true;
    } catch (err) {
      this.log.error({ delegate: name, err: describeError(err) }, 'delegate threw');
      return false;
    }
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

/** The fields P2P and group messages share, from the carrying packet and the decoded message. */
function commonFields(packet: MimcPacket, m: P2PMessageBody | P2TMessageBody) {
  return {
    packetId: packet.packetId,
    sequence: packet.sequence ?? 0n,
    timestamp: Number(packet.timestamp ?? 0n),
    fromAccount: m.from.appAccount,
    fromResource: m.from.resource ?? '',
    payload: m.payload,
    bizType: m.bizType ?? '',
    isStore: m.isStore ?? false,
  };
}

function toP2PMessage(packet: MimcPacket): P2PMessage {
  const m = decodeP2PMessage(packet.payload ?? new Uint8Array(0));
  return { ...commonFields(packet, m), toAccount: m.to.appAccount };
}

function toP2TMessage(packet: MimcPacket): P2TMessage {
  const m = decodeP2TMessage(packet.payload ?? new Uint8Array(0));
  return { ...commonFields(packet, m), topicId: m.to.topicId };
}

function closedError(): MIMCError {
  return new MIMCError(ErrorCode.CLOSED, 'the user was destroyed');
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new MIMCError(ErrorCode.INVALID_ARGUMENT, `${name} must be a positive number`);
  }
  return value;
}

function checkAckMode(mode: AckMode | undefined): AckMode {
  if (mode === undefined) return 'after-handler';
  if (mode !== 'after-handler' && mode !== 'before-handler') {
    throw new MIMCError(ErrorCode.INVALID_ARGUMENT, "ackMode must be 'after-handler' or 'before-handler'");
  }
  return mode;
}

function checkAccount(account: unknown): string {
  if (typeof account !== 'string' || account.length === 0) {
    throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'the recipient account must be a non-empty string');
  }
  return account;
}

function checkTopic(topicId: unknown): bigint {
  const id = parseUint64(topicId);
  if (id === undefined || id === 0n) throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'topicId must be a positive bigint or decimal string');
  return id;
}

/** An error as loggable facts: no stack of user data, never payloads. */
function describeError(err: unknown): Record<string, unknown> {
  if (err instanceof Error) return { name: err.name, message: err.message, ...(MIMCError.is(err) ? { code: err.code } : {}) };
  return { value: typeof err };
}
