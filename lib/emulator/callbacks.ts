/**
 * Message callbacks to the app server: each event is POSTed as JSON to the instant or the
 * offline URL; only an HTTP 200 answer counts as delivered. A failure (other status, network
 * error, timeout) is retried after each of the configured delays (MIMC: 5 s, 30 s, 5 min),
 * then the event is given up. Every request and retry timer is released by close().
 */
import { request as httpRequest, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Logger } from 'pino';
import { MIMCError, ErrorCode } from '../errors.js';
import { stringifyExact } from '../protocol/json.js';
import type { EmulatorStats } from './types.js';

export type CallbackChannel = 'instant' | 'offline';

export interface CallbackUrls {
  instant?: string;
  offline?: string;
}

export interface CallbackSettings {
  retryDelaysMs: readonly number[];
  timeoutMs: number;
}

class AttemptFailed extends Error {}

export class CallbackDispatcher {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly requests = new Set<ClientRequest>();
  private urls: { instant?: URL; offline?: URL } = {};
  private closed = false;
  private pendingEvents = 0;

  constructor(
    urls: CallbackUrls,
    private readonly settings: CallbackSettings,
    private readonly stats: EmulatorStats,
    private readonly log: Logger,
  ) {
    this.setUrls(urls);
  }

  /** Replaces the URLs (undefined turns a channel off); events already queued keep their URL. */
  setUrls(urls: CallbackUrls): void {
    this.urls = {};
    if (urls.instant !== undefined) this.urls.instant = parseCallbackUrl(urls.instant);
    if (urls.offline !== undefined) this.urls.offline = parseCallbackUrl(urls.offline);
  }

  /** True when events of this channel go somewhere. */
  enabled(channel: CallbackChannel): boolean {
    return this.urls[channel] !== undefined;
  }

  /** Number of events not yet delivered nor given up (in flight or waiting for a retry). */
  get pending(): number {
    return this.pendingEvents;
  }

  /** Queues one event (no-op when the channel has no URL or the emulator closed). */
  emit(channel: CallbackChannel, event: Record<string, unknown>): void {
    const url = this.urls[channel];
    if (!url || this.closed) return;
    const body = stringifyExact(event);
    this.pendingEvents++;
    this.attempt(url, body, 0, String(event.msgType));
  }

  private attempt(url: URL, body: string, retry: number, msgType: string): void {
    if (this.closed) return;
    this.post(url, body).then(
      () => {
        this.pendingEvents--;
        this.stats.callbacksDelivered++;
        this.log.debug({ msgType, retry }, 'callback delivered');
      },
      (err: unknown) => {
        if (this.closed) return;
        this.stats.callbackFailures++;
        const reason = err instanceof Error ? err.message : String(err);
        const delay = this.settings.retryDelaysMs[retry];
        if (delay === undefined) {
          this.pendingEvents--;
          this.stats.callbacksAbandoned++;
          this.log.warn({ msgType, attempts: retry + 1, reason }, 'callback given up');
          return;
        }
        this.log.info({ msgType, retry: retry + 1, delayMs: delay, reason }, 'callback failed, will retry');
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.attempt(url, body, retry + 1, msgType);
        }, delay);
        this.timers.add(timer);
      },
    );
  }

  /** One POST; resolves on HTTP 200, rejects otherwise. A fresh connection each time (no pooled sockets to leak). */
  private post(url: URL, body: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(url, {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'user-agent': 'mimc-emulator' },
      });
      this.requests.add(req);
      let settled = false;
      const done = (err?: Error): void => {
        if (settled) return;
        settled = true;
        this.requests.delete(req);
        if (err) reject(err);
        else resolve();
      };
      req.setTimeout(this.settings.timeoutMs, () => req.destroy(new AttemptFailed(`no answer within ${this.settings.timeoutMs} ms`)));
      req.on('error', (err) => done(err));
      req.on('response', (res) => {
        res.resume();
        res.on('error', (err) => done(err));
        res.on('end', () => (res.statusCode === 200 ? done() : done(new AttemptFailed(`HTTP ${res.statusCode}`))));
      });
      req.end(body);
    });
  }

  /** Drops pending retries and aborts requests in flight. Idempotent. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const req of this.requests) req.destroy();
    this.requests.clear();
    this.pendingEvents = 0;
  }
}

export function parseCallbackUrl(text: unknown): URL {
  let url: URL | undefined;
  try {
    if (typeof text === 'string') url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'a callback URL must be an absolute http: or https: URL');
  }
  return url;
}
