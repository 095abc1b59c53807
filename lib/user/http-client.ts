/**
 * The client's own HTTP calls (token service, resolver, uctopic create/dismiss): node:http and
 * node:https through one keep-alive agent per scheme, shared by every user of the process.
 *
 * - At most HTTP_MAX_SOCKETS connections per host and port; further requests wait in the agent's
 *   queue (their timeout runs while they wait). A login storm of thousands of users therefore
 *   opens a few dozen connections to the token service instead of one each.
 * - Idle connections are unref'd (they never keep the process alive) and closed after
 *   HTTP_IDLE_SOCKET_MS without a request.
 * - Every request has one deadline for the whole exchange, connect to last byte (ERR_HTTP_TIMEOUT),
 *   honours an AbortSignal (ERR_ABORTED), and reads at most `maxBytes` of the answer
 *   (ERR_HTTP_TOO_LARGE; the connection is then dropped, not drained). Other failures are
 *   ERR_HTTP with the network error as cause.
 * - TLS as Node's defaults: certificates verified against Node's trusted CAs.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type ClientRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { MIMCError, ErrorCode } from '../errors.js';

/** Answers of the token service, the resolver and the uctopic API are a few hundred bytes. */
export const MAX_HTTP_ANSWER_BYTES = 64 * 1024;

/** Most connections the client opens to one host:port for its own HTTP calls. */
export const HTTP_MAX_SOCKETS = 64;

/** An idle keep-alive connection is closed after this long (below the usual 5 s server keep-alive). */
export const HTTP_IDLE_SOCKET_MS = 4_000;

const agentOptions = { keepAlive: true, maxSockets: HTTP_MAX_SOCKETS, maxFreeSockets: HTTP_MAX_SOCKETS, timeout: HTTP_IDLE_SOCKET_MS };
let httpAgent: HttpAgent | undefined;
let httpsAgent: HttpsAgent | undefined;

export interface HttpRequestOptions {
  method?: 'GET' | 'POST' | 'DELETE';
  headers?: Record<string, string>;
  /** A UTF-8 request body (content-length is set from it). */
  body?: string;
  /** Deadline of the whole exchange. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** What the answer is, for error messages ("token service"). */
  what: string;
  maxBytes?: number;
}

export interface HttpAnswer {
  status: number;
  /** The body as UTF-8 text. */
  text: string;
}

/** Errors of a reused keep-alive connection that the server closed just as it was reused. */
const STALE_CONNECTION = new Set(['ECONNRESET', 'EPIPE']);

/**
 * One HTTP exchange; resolves with the status and the body text whatever the status (the
 * caller decides what a 4xx or 5xx means). A request that fails on a reused idle connection
 * before any answer arrived is sent once more on a fresh one (the server closed it meanwhile).
 */
export function requestText(url: string | URL, options: HttpRequestOptions): Promise<HttpAnswer> {
  let target: URL;
  try {
    target = typeof url === 'string' ? new URL(url) : url;
  } catch (err) {
    return Promise.reject(new MIMCError(ErrorCode.HTTP_ERROR, `${options.what}: bad URL`, { cause: err }));
  }
  const secure = target.protocol === 'https:';
  if (!secure && target.protocol !== 'http:') {
    return Promise.reject(new MIMCError(ErrorCode.HTTP_ERROR, `${options.what}: unsupported protocol ${target.protocol}`));
  }
  const { signal, what, timeoutMs } = options;
  if (signal?.aborted) return Promise.reject(aborted(what, signal));
  const maxBytes = options.maxBytes ?? MAX_HTTP_ANSWER_BYTES;
  const headers: Record<string, string> = { ...options.headers };
  if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
  const agent = secure ? (httpsAgent ??= new HttpsAgent(agentOptions)) : (httpAgent ??= new HttpAgent(agentOptions));
  const init = { method: options.method ?? 'GET', headers, agent };
  return new Promise<HttpAnswer>((resolve, reject) => {
    let req: ClientRequest;
    let settled = false;
    const finish = (err: MIMCError | null, answer?: HttpAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err) {
        req.destroy(); // a failed exchange leaves no half-read connection in the pool
        reject(err);
      } else resolve(answer!);
    };
    const onAbort = (): void => finish(aborted(what, signal!));
    const timer = setTimeout(() => finish(new MIMCError(ErrorCode.HTTP_TIMEOUT, `${what} request timed out after ${timeoutMs} ms`)), timeoutMs);
    const send = (mayRetry: boolean): void => {
      const current = (req = secure ? httpsRequest(target, init) : httpRequest(target, init));
      let answered = false;
      current.on('error', (err: NodeJS.ErrnoException) => {
        if (settled) return;
        if (mayRetry && !answered && current.reusedSocket && err.code !== undefined && STALE_CONNECTION.has(err.code)) return send(false);
        finish(new MIMCError(ErrorCode.HTTP_ERROR, `${what} request failed`, { cause: err }));
      });
      current.on('response', (res: IncomingMessage) => {
        answered = true;
        const announced = Number(res.headers['content-length']);
        if (Number.isFinite(announced) && announced > maxBytes) return finish(tooLarge(what, maxBytes));
        const chunks: Buffer[] = [];
        let total = 0;
        res.on('data', (chunk: Buffer) => {
          if (settled) return;
          total += chunk.length;
          if (total > maxBytes) return finish(tooLarge(what, maxBytes));
          chunks.push(chunk);
        });
        res.on('end', () => finish(null, { status: res.statusCode ?? 0, text: Buffer.concat(chunks, total).toString('utf8') }));
        const cut = (err?: Error): void => finish(new MIMCError(ErrorCode.HTTP_ERROR, `${what} answer was cut off`, err ? { cause: err } : undefined));
        res.on('error', cut);
        res.on('close', () => {
          if (!res.complete) cut();
        });
      });
      current.end(options.body);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    send(true);
  });
}

function aborted(what: string, signal: AbortSignal): MIMCError {
  return new MIMCError(ErrorCode.ABORTED, `${what} request aborted`, { cause: signal.reason });
}

function tooLarge(what: string, maxBytes: number): MIMCError {
  return new MIMCError(ErrorCode.HTTP_TOO_LARGE, `${what} answer is larger than ${maxBytes} bytes`, { details: { limit: maxBytes } });
}
