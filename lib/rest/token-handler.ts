/**
 * createTokenHandler: the app server's token endpoint ("AppProxyService" in MIMC's manual).
 * A client app asks it for its token; it checks the caller (authorize hook), asks MIMC's token
 * service with the app credentials it alone holds, and returns MIMC's JSON verbatim for the
 * client SDK to parse. A plain node:http handler, so it mounts in Express, Fastify or http.createServer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { MIMCError, ErrorCode } from '../errors.js';
import { parseJsonExact } from '../protocol/json.js';
import { MIMCRestClient } from './client.js';
import { BodyTooLarge, envelopeText, parseRequestTarget, readRequestBody, sendJson } from './node-http.js';
import type { MIMCRestClientOptions } from './types.js';

export interface TokenHandlerOptions {
  /** The client that mints tokens; or give the credentials (`appId`, `appKey`, `appSecret`, `baseUrl`…) instead. */
  client?: MIMCRestClient;
  appId?: MIMCRestClientOptions['appId'];
  appKey?: string;
  appSecret?: string;
  baseUrl?: string;
  /** Timeout of the request to MIMC's token service (default the client's). */
  timeoutMs?: number;
  /**
   * Decides whether this request may get a token for `account` (check your session, cookie,
   * JWT…). False answers 403; a throw answers 500. Without it, anyone reaching the endpoint
   * gets a token for any account: only acceptable behind your own authentication.
   */
  authorize?(req: IncomingMessage, account: string): boolean | Promise<boolean>;
  /** Largest request body; default 4 096 bytes. */
  maxBodyBytes?: number;
  /** Longest account name accepted; default 256. */
  maxAccountLength?: number;
  /** Logs refusals and failures (account names and error codes only: never tokens or secrets). */
  logger?: Logger;
}

export type NodeRequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function clientFrom(options: TokenHandlerOptions): MIMCRestClient {
  if (options.client) return options.client;
  if (options.appId === undefined || options.appKey === undefined || options.appSecret === undefined) {
    throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'createTokenHandler needs a client, or appId, appKey and appSecret');
  }
  const clientOptions: MIMCRestClientOptions = { appId: options.appId, appKey: options.appKey, appSecret: options.appSecret };
  if (options.baseUrl !== undefined) clientOptions.baseUrl = options.baseUrl;
  return new MIMCRestClient(clientOptions);
}

/** The account asked for: `?account=` / `?appAccount=`, or a JSON body `{"appAccount"}` / `{"account"}`. */
async function requestedAccount(req: IncomingMessage, maxBodyBytes: number): Promise<unknown> {
  const url = parseRequestTarget(req.url);
  if (!url) throw new Refusal(400, 'malformed request target');
  const fromQuery = url.searchParams.get('appAccount') ?? url.searchParams.get('account');
  if (req.method === 'GET') return fromQuery ?? undefined;
  let body: { raw: Buffer } | { parsed: unknown };
  try {
    body = await readRequestBody(req, maxBodyBytes);
  } catch (err) {
    if (err instanceof BodyTooLarge) throw new Refusal(413, `request body larger than ${maxBodyBytes} bytes`);
    throw err;
  }
  let parsed: unknown;
  if ('parsed' in body) {
    parsed = body.parsed;
  } else {
    const text = body.raw.toString('utf8');
    if (text.trim().length === 0) return fromQuery ?? undefined;
    try {
      parsed = parseJsonExact(text);
    } catch {
      throw new Refusal(400, 'request body is not JSON');
    }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Refusal(400, 'request body must be a JSON object');
  const o = parsed as Record<string, unknown>;
  return o.appAccount ?? o.account ?? fromQuery ?? undefined;
}

/**
 * A node:http handler answering `POST {"appAccount": "alice"}` (or `GET ?account=alice`) with
 * MIMC's token JSON, verbatim. Errors are answered as `{code, message, data: null}` with the
 * same HTTP status: 400 bad request, 403 not authorized, 405 other methods, 413 body too
 * large, 502 the token service refused or failed, 504 it timed out, 500 the authorize hook threw.
 */
export function createTokenHandler(options: TokenHandlerOptions): NodeRequestHandler {
  const client = clientFrom(options);
  const maxBodyBytes = options.maxBodyBytes ?? 4096;
  const maxAccountLength = options.maxAccountLength ?? 256;
  const log = options.logger;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'POST') throw new Refusal(405, 'use GET or POST');
    const account = await requestedAccount(req, maxBodyBytes);
    if (typeof account !== 'string' || account.length === 0 || account.length > maxAccountLength) {
      throw new Refusal(400, `appAccount must be a non-empty string of at most ${maxAccountLength} characters`);
    }
    if (options.authorize) {
      let allowed: boolean;
      try {
        allowed = await options.authorize(req, account);
      } catch (err) {
        log?.error({ account, err: err instanceof Error ? err.message : String(err) }, 'token handler: authorize hook failed');
        throw new Refusal(500, 'authorization check failed');
      }
      if (allowed !== true) {
        log?.info({ account }, 'token handler: request not authorized');
        throw new Refusal(403, 'not allowed to get a token for this account');
      }
    }
    let json: string;
    try {
      json = await client.fetchTokenJson(account, options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
    } catch (err) {
      const code = MIMCError.is(err) ? err.code : undefined;
      log?.warn({ account, code }, 'token handler: token service failed');
      if (code === ErrorCode.HTTP_TIMEOUT) throw new Refusal(504, 'the token service did not answer in time');
      if (code === ErrorCode.API_ERROR && MIMCError.is(err)) throw new Refusal(502, `the token service refused: ${String(err.details?.message ?? '')}`.trimEnd());
      throw new Refusal(502, 'the token service failed');
    }
    sendJson(res, 200, json);
  };

  return (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof Refusal) {
        sendJson(res, err.status, envelopeText(err.status, err.message), err.status === 405 ? { allow: 'GET, POST' } : {});
        return;
      }
      log?.error({ err: err instanceof Error ? err.message : String(err) }, 'token handler failed');
      sendJson(res, 500, envelopeText(500, 'internal error'));
    });
  };
}
