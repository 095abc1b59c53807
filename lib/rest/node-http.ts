/** Small HTTP helpers: request bodies of the token and callback handlers, capped response bodies of the REST client. */
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The request target (`req.url`) as a URL, read as a path: `//x/y` is the path `//x/y`, not a
 * host `x`. Undefined when it does not parse (the caller answers 400).
 */
export function parseRequestTarget(target: string | undefined): URL | undefined {
  const text = target === undefined || target.length === 0 ? '/' : target;
  try {
    return new URL(`http://request.invalid${text.startsWith('/') ? '' : '/'}${text}`);
  } catch {
    return undefined;
  }
}

/** A request body larger than the cap. */
export class BodyTooLarge extends Error {}

/**
 * The request body as bytes, at most `limit` of them. A body already read by a framework
 * (`req.body` as a Buffer or string, e.g. express.raw/express.text) is used as it is; a parsed
 * object is returned as `parsed` (its large integers may already have lost precision).
 */
export async function readRequestBody(req: IncomingMessage, limit: number): Promise<{ raw: Buffer } | { parsed: unknown }> {
  const framework = (req as IncomingMessage & { body?: unknown }).body;
  if (Buffer.isBuffer(framework)) {
    if (framework.length > limit) throw new BodyTooLarge();
    return { raw: framework };
  }
  if (typeof framework === 'string') {
    const raw = Buffer.from(framework, 'utf8');
    if (raw.length > limit) throw new BodyTooLarge();
    return { raw };
  }
  if (framework !== undefined && framework !== null && typeof framework === 'object' && req.readableEnded) return { parsed: framework };
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw new BodyTooLarge();
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        // The rest is read and dropped so that the answer can still be written.
        failed = true;
        chunks.length = 0;
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve({ raw: Buffer.concat(chunks) });
    });
    req.on('error', (err) => {
      if (!failed) reject(err);
    });
  });
}

/** Writes a JSON answer (no-op when an answer was already started). */
export function sendJson(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.writableEnded) return;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(body);
}

/** MIMC's envelope for an answer of ours. */
export function envelopeText(code: number, message: string): string {
  return JSON.stringify({ code, message, data: null });
}

/** A response body larger than the cap; `contentLength` when the server announced it. */
export class ResponseTooLarge extends Error {
  constructor(
    readonly limit: number,
    readonly contentLength?: number,
  ) {
    super(`response body larger than ${limit} bytes`);
  }
}

/**
 * A fetch Response's body as UTF-8 text, at most `limit` bytes. An announced content-length
 * above the cap is refused before reading; otherwise bytes are counted as they arrive. Beyond the
 * cap the body is cancelled and `destroy()` is called (abort the request, so the connection is
 * dropped rather than drained), then ResponseTooLarge is thrown.
 */
export async function readResponseText(response: Response, limit: number, destroy: () => void): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    destroy();
    await response.body?.cancel().catch(() => undefined);
    throw new ResponseTooLarge(limit, declared);
  }
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      destroy();
      await reader.cancel().catch(() => undefined);
      throw new ResponseTooLarge(limit);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}
