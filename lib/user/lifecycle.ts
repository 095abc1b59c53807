import type { Logger } from 'pino';
import pRetry from 'p-retry';
import { MIMCError, ErrorCode } from '../errors.js';
import { needsTokenRefresh } from '../protocol/constants.js';
import type { BindResult, MimcPacket } from '../protocol/packets.js';
import type { IdGenerator } from './ids.js';
import { describeError } from './logger.js';
import type { Settings } from './options.js';
import type { Endpoint } from '../transport/types.js';
import { resolveFrontends } from './resolver.js';
import { LoginRejectedError, Session, type SessionEvents } from './session.js';
import { parseTokenJson, type TokenInfo } from './token.js';
import type { UserInfoStore } from './user-info-store.js';
import type { ConnectionState, HealthSnapshot, ReconnectingEvent } from './types.js';

export interface StatusChange {
  isOnline: boolean;
  errorType?: string;
  errorReason?: string;
  errorDescription?: string;
}

export interface LoginOptions {
  /** Give up the first login after this long (default 30 000 ms); reconnects later retry forever. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What the connection lifecycle needs from its owner. */
export interface LifecycleHost {
  readonly log: Logger;
  readonly ids: IdGenerator;
  /** The app's token delegate; resolves with the token-service JSON text. */
  fetchToken(): Promise<string>;
  /** A session is bound and "online" was announced: the other parts may write. */
  onOnline(session: Session, isReconnect: boolean): void;
  onPacket(packet: MimcPacket, session: Session): void;
  onStateChange(next: ConnectionState, previous: ConnectionState): void;
  reportStatus(change: StatusChange): void;
  /** A retry was scheduled after a failed attempt. */
  onReconnecting(event: ReconnectingEvent): void;
}

export interface Identity {
  appId: bigint;
  appAccount: string;
  resource: string | undefined;
  /** None by default: a store only this user reads would give back nothing it does not hold already. */
  userInfoStore: UserInfoStore | undefined;
  cacheToken: boolean;
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

/** Longest delay a Node timer takes (about 24.8 days). */
const MAX_TIMER_MS = 0x7fffffff;

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

type LoginWaiter = { resolve(): void; reject(err: MIMCError): void };

/**
 * The wish to be online, from login() until logout, destroy, a kick or a final failure. Its
 * AbortController lives only as long as a connect run needs it: an online user holds none.
 */
class Life {
  private controller: AbortController | null = null;

  /** The signal of the current connect run; aborted once the wish ended. */
  get signal(): AbortSignal {
    return (this.controller ??= new AbortController()).signal;
  }

  /** A connect run ended online: nothing listens to its signal any more. */
  release(): void {
    this.controller = null;
  }

  /** Stops the connect run, if any, and any later one. */
  end(): void {
    (this.controller ??= new AbortController()).abort();
  }
}

/**
 * The one state machine of a user: token, resolver, connect + bind, reconnect with backoff,
 * kick, logout. It owns the session; the other parts only ever see the bound one.
 * "Wants to be online" is `life !== null`: there is no separate flag for it. It is the sink of
 * its sessions' events (each ignores a session that is no longer the current one).
 */
export class ConnectionLifecycle implements SessionEvents {
  private current: ConnectionState = 'offline';
  /** Present while the user wants to be online; ending it stops the connect run. */
  private life: Life | null = null;
  private session: Session | null = null;
  private token: TokenInfo | null = null;
  private tokenStale = false;
  /** Where to connect, resolved once per token (the resolver's frontends, or the WebSocket endpoint). */
  private endpoints: Endpoint[] | null = null;
  /** Only while someone awaits login(); null otherwise, so an online user holds no empty Set. */
  private loginWaiters: Set<LoginWaiter> | null = null;
  private currentResource: string;
  private userInfoLoaded = false;
  private everOnline = false;
  private attemptsSinceOnline = 0;
  private lastErrorRecord: HealthSnapshot['lastError'] = null;
  /** The error behind `lastErrorRecord`: the `cause` of a login timeout. */
  private lastErrorObject: Error | null = null;

  constructor(
    private readonly identity: Identity,
    private readonly settings: Settings,
    private readonly host: LifecycleHost,
    generatedResource: string,
  ) {
    this.currentResource = identity.resource ?? generatedResource;
  }

  get state(): ConnectionState {
    return this.current;
  }

  get resource(): string {
    return this.currentResource;
  }

  get uuid(): bigint | undefined {
    return this.token?.uuid;
  }

  /** True between login() and logout()/destroy()/a final failure. */
  get wantsOnline(): boolean {
    return this.life !== null;
  }

  /** The session while it is bound (writes allowed), else null. */
  get boundSession(): Session | null {
    return this.session?.isBound ? this.session : null;
  }

  get reconnectAttempts(): number {
    return this.attemptsSinceOnline;
  }

  get lastError(): HealthSnapshot['lastError'] {
    return this.lastErrorRecord && { ...this.lastErrorRecord };
  }

  /** Monotonic ms of the last byte received on the current session, or null. */
  get lastReceivedAt(): number | null {
    return this.session ? this.session.lastReceivedAt : null;
  }

  login(options: LoginOptions): Promise<void> {
    if (this.current === 'online') return Promise.resolve();
    const timeoutMs = options.timeoutMs ?? 30_000;
    const promise = new Promise<void>((resolve, reject) => {
      const signal = options.signal;
      const finish = (err?: MIMCError) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.loginWaiters?.delete(waiter);
        if (this.loginWaiters?.size === 0) this.loginWaiters = null;
        if (err) reject(err);
        else resolve();
      };
      const waiter: LoginWaiter = { resolve: () => finish(), reject: (err) => finish(err) };
      const abandonIfAlone = () => {
        if (!this.loginWaiters && this.current !== 'online') this.stop();
      };
      const onAbort = () => {
        finish(new MIMCError(ErrorCode.ABORTED, 'login aborted', { cause: signal?.reason }));
        abandonIfAlone();
      };
      const timer = setTimeout(() => {
        const lastError = this.lastErrorObject ?? undefined;
        finish(new MIMCError(ErrorCode.LOGIN_TIMEOUT, `not online within ${timeoutMs} ms`, { cause: lastError, details: { lastError: this.lastErrorRecord?.code } }));
        abandonIfAlone();
      }, timeoutMs);
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      (this.loginWaiters ??= new Set()).add(waiter);
    });
    if (!this.life) {
      this.life = new Life();
      void this.connect(this.life);
    }
    return promise;
  }

  /**
   * Stops wanting to be online: the connect run ends and login waiters are rejected with
   * `reason`. The session, if any, is left to the caller (unbind or close).
   */
  stop(reason?: MIMCError): Session | null {
    this.life?.end();
    this.life = null;
    const error = reason ?? new MIMCError(ErrorCode.LOGIN_TIMEOUT, 'login abandoned');
    for (const waiter of [...(this.loginWaiters ?? [])]) waiter.reject(error);
    const session = this.session;
    if (!session) this.setState('offline');
    return session;
  }

  /** Forgets the session (after its unbind or close) and goes `offline`, or `closed` for good. */
  detach(final: 'offline' | 'closed'): void {
    this.session = null;
    this.setState(final);
  }

  noteError(error: Error): void {
    this.lastErrorObject = error;
    this.lastErrorRecord = { code: MIMCError.is(error) ? error.code : 'ERR_UNKNOWN', message: error.message, at: Date.now() };
  }

  // ---- connect run ----------------------------------------------------------------------------

  /**
   * Attempts (with backoff) until a session is bound, then ends: an online user keeps no
   * suspended function. A lost session starts the next run (`onClose`).
   */
  private async connect(life: Life): Promise<void> {
    const signal = life.signal;
    while (!signal.aborted) {
      let session: Session;
      // p-retry may reject on abort after an attempt already bound a session: close that one too
      let established: Session | undefined;
      // set when the strategy or maxAttempts ends the retries: what the give-up reports
      const plan: { stop: MIMCError | null } = { stop: null };
      try {
        session = await pRetry(async () => (established = await this.attempt(signal)), {
          retries: Number.POSITIVE_INFINITY,
          // p-retry runs the loop and the abort; the wait is ours (onFailedAttempt), as the strategy says
          minTimeout: 0,
          signal,
          shouldRetry: ({ error }) => !signal.aborted && plan.stop === null && isRetryable(error),
          onFailedAttempt: async ({ error, attemptNumber }) => {
            this.attemptsSinceOnline += 1;
            this.noteError(error);
            if (signal.aborted) return;
            this.host.log.warn({ code: this.lastErrorRecord?.code, attempt: attemptNumber, reason: error.message }, 'login attempt failed');
            this.setState('reconnecting');
            if (!isRetryable(error)) return;
            const delayMs = this.retryDelay(error as MIMCError);
            if (typeof delayMs !== 'number') {
              plan.stop = delayMs;
              return;
            }
            this.host.onReconnecting({ attempt: this.attemptsSinceOnline, delayMs, error: error as MIMCError });
            await sleep(delayMs, signal);
          },
        });
      } catch (err) {
        established?.close();
        if (!signal.aborted) this.giveUp(plan.stop ?? err);
        return;
      }
      if (signal.aborted) {
        session.close();
        return;
      }
      if (!session.isBound) continue; // lost between bind and here: try again
      // released first: a session lost during the "online" callbacks starts the next run at once
      life.release();
      this.sessionUp(session);
      return;
    }
  }

  /** The wait before the next attempt after a retryable failure, or the error that ends the retries. */
  private retryDelay(error: MIMCError): number | MIMCError {
    const r = this.settings.reconnect;
    const attempts = this.attemptsSinceOnline;
    const exhausted = (why: string, cause: unknown = error) =>
      new MIMCError(ErrorCode.RETRIES_EXHAUSTED, `gave up reconnecting after ${attempts} failed attempts: ${why}`, { cause, details: { attempts } });
    if (attempts >= r.maxAttempts) return exhausted('reconnect.maxAttempts reached');
    let delay: number | null;
    try {
      delay = r.delay(attempts, error);
    } catch (err) {
      return exhausted('reconnect.strategy threw', err);
    }
    if (delay === null) return exhausted('reconnect.strategy returned null');
    if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0) {
      return exhausted('reconnect.strategy returned no delay', new MIMCError(ErrorCode.INVALID_ARGUMENT, 'reconnect.strategy must return a delay in ms (>= 0) or null', { cause: error }));
    }
    return Math.min(delay, MAX_TIMER_MS);
  }

  /** One login attempt: token (when missing or stale), frontends, then connect + bind. */
  private async attempt(life: AbortSignal): Promise<Session> {
    this.setState('connecting');
    if (!this.userInfoLoaded) await this.restoreUserInfo();
    if (!this.token || this.tokenStale) {
      const tokenJson = await this.host.fetchToken();
      this.token = parseTokenJson(tokenJson, { appId: this.identity.appId, appAccount: this.identity.appAccount });
      this.tokenStale = false;
      this.endpoints = null;
      await this.saveUserInfo(tokenJson);
    }
    const token = this.token;
    const s = this.settings;
    const endpoints = (this.endpoints ??= await this.endpointsFor(token, life));
    let lastError: unknown;
    for (const endpoint of endpoints) {
      if (life.aborted) break;
      try {
        this.setState('binding');
        return await Session.establish(
          {
            endpoint,
            resource: this.resource,
            token,
            ids: this.host.ids,
            connectTimeoutMs: s.connectTimeoutMs,
            loginTimeoutMs: s.loginTimeoutMs,
            pingIntervalMs: s.pingIntervalMs,
            responseTimeoutMs: s.responseTimeoutMs,
            maxFrameBody: s.maxFrameBody,
            bind: s.bind,
            logger: this.host.log,
          },
          this,
          life,
        );
      } catch (err) {
        if (err instanceof LoginRejectedError) {
          const { errorType, errorReason, errorDesc } = err.result;
          if (needsTokenRefresh(errorType, errorReason)) this.tokenStale = true;
          this.host.reportStatus({ isOnline: false, errorType, errorReason, errorDescription: errorDesc });
          throw err;
        }
        lastError = err;
      }
    }
    // a frontend list that no longer works is resolved again next time
    this.endpoints = null;
    throw lastError ?? new MIMCError(ErrorCode.CLOSED, 'login stopped');
  }

  private async endpointsFor(token: TokenInfo, life: AbortSignal): Promise<Endpoint[]> {
    const s = this.settings;
    if (s.websocket) return [{ kind: 'websocket', ...s.websocket }];
    const frontends = s.frontend ? [s.frontend] : await resolveFrontends(s.resolverUrl, token.feDomainName, s.connectTimeoutMs, life);
    return frontends.map((f) => ({ kind: 'tcp', host: f.host, port: f.port }));
  }

  private get userInfoKey(): string {
    return `${this.identity.appId}_${this.identity.appAccount}`;
  }

  /** Takes the stored resource (unless one was given) and, with cacheToken, the stored token. */
  private async restoreUserInfo(): Promise<void> {
    this.userInfoLoaded = true;
    const store = this.identity.userInfoStore;
    if (!store) return;
    let info;
    try {
      info = await store.load(this.userInfoKey);
    } catch (err) {
      this.host.log.warn({ err: describeError(err) }, 'cannot read the user-info store');
      return;
    }
    if (!info) return;
    if (this.identity.resource === undefined) this.currentResource = info.resource;
    if (this.identity.cacheToken && info.tokenJson && !this.token) {
      try {
        this.token = parseTokenJson(info.tokenJson, { appId: this.identity.appId, appAccount: this.identity.appAccount });
      } catch {
        this.host.log.info('ignored an unusable cached token');
      }
    }
  }

  private async saveUserInfo(tokenJson: string): Promise<void> {
    const store = this.identity.userInfoStore;
    if (!store) return;
    try {
      await store.save(this.userInfoKey, {
        resource: this.currentResource,
        ...(this.identity.cacheToken ? { tokenJson } : {}),
      });
    } catch (err) {
      this.host.log.warn({ err: describeError(err) }, 'cannot write the user-info store');
    }
  }

  private sessionUp(session: Session): void {
    this.session = session;
    const isReconnect = this.everOnline;
    this.everOnline = true;
    this.attemptsSinceOnline = 0;
    this.setState('online');
    this.host.log.info('online');
    for (const waiter of [...(this.loginWaiters ?? [])]) waiter.resolve();
    this.host.reportStatus({ isOnline: true });
    this.host.onOnline(session, isReconnect);
  }

  /** Login cannot succeed (bad token, refused login): stop and tell whoever waits. */
  private giveUp(err: unknown): void {
    const error = MIMCError.is(err) ? err : new MIMCError(ErrorCode.CONNECTION_LOST, 'login failed', { cause: err });
    this.host.log.warn({ code: error.code, reason: error.message }, 'login abandoned');
    this.noteError(error);
    this.life = null;
    this.setState('offline');
    // nobody awaits login() during a reconnect: the status delegate is how the app learns it
    if (!this.loginWaiters) this.host.reportStatus({ isOnline: false, errorType: error.code, errorReason: error.message });
    for (const waiter of [...(this.loginWaiters ?? [])]) waiter.reject(error);
  }

  // ---- SessionEvents ---------------------------------------------------------------------------

  onPacket(packet: MimcPacket, session: Session): void {
    this.host.onPacket(packet, session);
  }

  onClose(error: MIMCError | undefined, session: Session): void {
    if (this.session !== session) return;
    this.session = null;
    const life = this.life;
    if (!life) {
      this.setState('offline'); // logout, destroy or a kick ended the wish to be online
    } else if (!this.settings.reconnect.enabled) {
      // automatic reconnect is off: the app decides when to log in again
      if (error) this.noteError(error);
      this.host.log.warn({ code: error?.code, reason: error?.message }, 'connection lost; reconnect is disabled');
      life.end();
      this.life = null;
      this.setState('offline');
      if (error?.code !== ErrorCode.KICKED) {
        this.host.reportStatus({ isOnline: false, errorType: NETWORK_ERROR, errorReason: NETWORK_ERROR, errorDescription: error?.message ?? NETWORK_ERROR });
      }
    } else {
      if (error) this.noteError(error);
      this.host.log.warn({ code: error?.code, reason: error?.message }, 'connection lost');
      this.setState('reconnecting');
      if (error?.code !== ErrorCode.KICKED) {
        this.host.reportStatus({ isOnline: false, errorType: NETWORK_ERROR, errorReason: NETWORK_ERROR, errorDescription: error?.message ?? NETWORK_ERROR });
      }
      // unless the status delegate logged out (or out and in again: that login started its own run)
      if (this.life === life) void this.connect(life);
    }
  }

  onKick(result: BindResult, session: Session): void {
    if (this.session !== session) return;
    if (needsTokenRefresh(result.errorType, result.errorReason)) {
      this.tokenStale = true; // reconnect with a fresh token
    } else {
      // another login took this resource: do not fight it
      this.life?.end();
      this.life = null;
    }
    this.host.log.warn({ errorType: result.errorType, errorReason: result.errorReason }, 'kicked by the server');
    this.host.reportStatus({ isOnline: false, errorType: result.errorType, errorReason: result.errorReason, errorDescription: result.errorDesc });
  }

  private setState(next: ConnectionState): void {
    const previous = this.current;
    if (previous === next || previous === 'closed') return;
    this.current = next;
    this.host.log.debug({ from: previous, to: next }, 'state');
    this.host.onStateChange(next, previous);
  }
}
