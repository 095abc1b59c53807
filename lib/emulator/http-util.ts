/** Request reading and the {code, message, data} envelope, shared by the admin, token and REST routes. */
import type { IncomingMessage } from 'node:http';
import { parseJsonExact, stringifyExact } from '../protocol/json.js';
import { parseRequestTarget } from '../rest/node-http.js';

export const MAX_ACCOUNT_LENGTH = 256;
/** Body cap of the token and admin routes. */
export const MAX_BODY = 64 * 1024;

/** Error codes in the body envelope (MIMC documents none; these follow HTTP meanings). */
export const HttpCode = {
  OK: 200,
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  TOO_LARGE: 413,
  TOO_MANY: 429,
  SERVER_ERROR: 500,
} as const;

/** A refused request: `code` goes in the envelope, `status` is the HTTP status (200 as MIMC does, unless routing failed). */
export class HttpError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly status = 200,
  ) {
    super(message);
  }
}

/** The envelope with bigints as decimal strings (token and admin routes). */
export function envelope(code: number, message: string, data: unknown): string {
  return stringifyExact({ code, message, data }, { bigint: 'string' });
}

/** The request target as a URL; one that does not parse is a 400 (HTTP status too: nothing could be routed). */
export function requestUrl(target: string | undefined): URL {
  const url = parseRequestTarget(target);
  if (!url) throw new HttpError(HttpCode.BAD_REQUEST, 'malformed request target', 400);
  return url;
}

/** The non-empty segments of a path, %-decoded; malformed %-encoding is a 400 (HTTP status too). */
export function pathSegments(pathname: string): string[] {
  return pathname
    .split('/')
    .filter((s) => s.length > 0)
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        throw new HttpError(HttpCode.BAD_REQUEST, 'malformed %-encoding in the path', 400);
      }
    });
}

export function checkAccountName(value: unknown, field = 'appAccount'): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ACCOUNT_LENGTH) {
    throw new HttpError(HttpCode.BAD_REQUEST, `${field} must be a non-empty string of at most ${MAX_ACCOUNT_LENGTH} characters`);
  }
  return value;
}

/** The request body as text; beyond `limit` bytes the rest is drained and the promise rejects with 413. */
export function readBody(req: IncomingMessage, limit = MAX_BODY): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > limit) {
        // Keep reading (and dropping) so the 413 answer can still be written.
        tooLarge = true;
        chunks.length = 0;
        reject(new HttpError(HttpCode.TOO_LARGE, `request body larger than ${limit} bytes`, 413));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!tooLarge) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

export async function readJsonObject(req: IncomingMessage, limit = MAX_BODY): Promise<Record<string, unknown>> {
  const text = await readBody(req, limit);
  if (text.trim().length === 0) return {};
  let value: unknown;
  try {
    value = parseJsonExact(text);
  } catch {
    throw new HttpError(HttpCode.BAD_REQUEST, 'request body is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HttpError(HttpCode.BAD_REQUEST, 'request body must be a JSON object');
  return value as Record<string, unknown>;
}

/** Accounts given as an array of strings or a comma-separated string (MIMC's topic API uses the latter). */
export function stringList(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter((s) => s.length > 0) : value;
  if (!Array.isArray(list)) throw new HttpError(HttpCode.BAD_REQUEST, `${field} must be an array of strings or a comma-separated string`);
  return list.map((v) => checkAccountName(v, field));
}
