/**
 * Message callbacks to the app server: each event is POSTed as JSON to the instant or the
 * offline URL; only an HTTP 200 answer counts as delivered. A failure (other status, network
 * error, timeout) is retried after each of the configured delays (MIMC: 5 s, 30 s, 5 min),
 * then the event is given up. Every request and retry timer is released by close().
 *
 * Bounded: at most `maxInFlight` requests at once (the others wait in a FIFO for a slot), and
 * at most `maxQueued` events waiting (for a slot or for their retry delay). An event beyond
 * that is dropped and counted in `callbacksDropped`: a receiver that never answers costs at
 * most maxInFlight sockets and maxQueued bodies.
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
  /** Most requests in flight at once. */
  maxInFlight: number;
  /** Most events waiting for a slot or for a retry. */
  maxQueued: number;
}

/** One event on its way: where it goes, its body, and how many retries it used. */
interface Job {
  url: URL;
  body: string;
  retry: number;
  msgType: string;
}

class AttemptFailed extends Error {}

export class CallbackDispatcher {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly requests = new Set<ClientRequest>();
  /** Events due now, waiting for a free request slot (FIFO; `readyHead` avoids shifting). */
  private ready: Job[] = [];
  private readyHead = 0;
  /** Events waiting for their retry delay. */
  private retrying = 0;
  private inFlightCount = 0;
  private urls: { instant?: URL; offline?: URL } = {};
  private closed = false;

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

  /** Number of events not yet delivered nor given up (in flight or waiting). */
  get pending(): number {
    return this.inFlightCount + this.queued;
  }

  /** Requests in flight right now. */
  get inFlight(): number {
    return this.inFlightCount;
  }

  /** Events waiting for a request slot or for their retry. */
  private get queued(): number {
    return this.ready.length - this.readyHead + this.retrying;
  }

  /** Queues one event (no-op when the channel has no URL or the emulator closed). */
  emit(channel: CallbackChannel, event: Record<string, unknown>): void {
    const url = this.urls[channel];
    if (!url || this.closed) return;
    const job: Job = { url, body: stringifyExact(event), retry: 0, msgType: String(event.msgType) };
    if (this.inFlightCount < this.settings.maxInFlight) {
      this.attempt(job);
      return;
    }
    if (this.queued >= this.settings.maxQueued) {
      this.drop(job, 'queue full');
      return;
    }
    this.ready.push(job);
  }

  private drop(job: Job, reason: string): void {
    this.stats.callbacksDropped++;
    this.log.warn({ msgType: job.msgType, reason, maxInFlight: this.settings.maxInFlight, maxQueued: this.settings.maxQueued }, 'callback dropped');
  }

  /** Starts queued events while slots are free. */
  private startReady(): void {
    while (!this.closed && this.inFlightCount < this.settings.maxInFlight && this.readyHead < this.ready.length) {
      const job = this.ready[this.readyHead]!;
      this.ready[this.readyHead++] = undefined as unknown as Job;
      if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
        this.ready = this.ready.slice(this.readyHead);
        this.readyHead = 0;
      }
      this.attempt(job);
    }
  }

  private attempt(job: Job): void {
    if (this.closed) return;
    this.inFlightCount++;
    this.post(job.url, job.body).then(
      () => {
        if (this.closed) return;
        this.inFlightCount--;
        this.stats.callbacksDelivered++;
        this.log.debug({ msgType: job.msgType, retry: job.retry }, 'callback delivered');
        this.startReady();
      },
      (err: unknown) => {
        if (this.closed) return;
        this.inFlightCount--;
        this.stats.callbackFailures++;
        // The freed slot goes to an event already waiting first; then this one may queue for its retry.
        this.startReady();
        const reason = err instanceof Error ? err.message : String(err);
        const delay = this.settings.retryDelaysMs[job.retry];
        if (delay === undefined) {
          this.stats.callbacksAbandoned++;
          this.log.warn({ msgType: job.msgType, attempts: job.retry + 1, reason }, 'callback given up');
          return;
        }
        if (this.queued >= this.settings.maxQueued) {
          this.drop(job, 'queue full, retry not scheduled');
          return;
        }
        this.log.info({ msgType: job.msgType, retry: job.retry + 1, delayMs: delay, reason }, 'callback failed, will retry');
        this.retrying++;
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.retrying--;
          const next = { ...job, retry: job.retry + 1 };
          if (this.inFlightCount < this.settings.maxInFlight) this.attempt(next);
          else this.ready.push(next); // still counted: it moved from retrying to ready
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
    this.ready = [];
    this.readyHead = 0;
    this.retrying = 0;
    this.inFlightCount = 0;
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
