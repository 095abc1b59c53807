/**
 * MIMCRestClient reads answers with a size cap (`maxResponseBytes`, default 1 MiB): beyond it the
 * response is destroyed and the call rejects with ERR_HTTP_TOO_LARGE, whether the server
 * announces the size or streams without end.
 */
import { once } from 'node:events';
import { MIMCRestClient } from '../../lib/rest/index.js';
import { serve, type TestServer, mimcRejection as rejection, endlessAnswer } from './helpers.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const client = (url: string, extra: { maxResponseBytes?: number } = {}) =>
  new MIMCRestClient({ appId: '2882303761517479657', appKey: 'key', appSecret: 'secret', baseUrl: url, retries: 2, retryMinDelayMs: 0, retryMaxDelayMs: 0, timeoutMs: 3000, ...extra });

describe('MIMCRestClient response size cap', () => {
  it('destroys an endless chunked answer beyond the default 1 MiB and rejects with ERR_HTTP_TOO_LARGE (no retry)', async () => {
    const streams: Promise<number>[] = [];
    server = await serve((_req, res) => {
      streams.push(endlessAnswer(res));
    });
    const err = await rejection(client(server.url).isBlacklisted('alice', 'bob'));
    expect(err.code).toBe('ERR_HTTP_TOO_LARGE');
    expect(err.details).toMatchObject({ limit: 1024 * 1024, method: 'GET' });
    // The server sees the connection go away: the stream ends instead of running until a timeout.
    const written = await streams[0]!;
    expect(written).toBeGreaterThan(1024 * 1024);
    expect(streams).toHaveLength(1); // a too-large answer is not retried
  });

  it('refuses an announced content-length above the cap before reading the body', async () => {
    let closed: Promise<unknown> | undefined;
    server = await serve((_req, res) => {
      closed = once(res, 'close');
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(50 * 1024 * 1024) });
      res.write('{"code":200,');
    });
    const err = await rejection(client(server.url, { maxResponseBytes: 4096 }).isBlacklisted('alice', 'bob'));
    expect(err.code).toBe('ERR_HTTP_TOO_LARGE');
    expect(err.details).toMatchObject({ limit: 4096, contentLength: 50 * 1024 * 1024 });
    await closed; // the response was destroyed, not left open
  });

  it('accepts an answer of exactly the cap and refuses one byte more', async () => {
    const envelope = (size: number): string => {
      const head = '{"code":200,"message":"success","data":{"isBlack":true},"pad":"';
      return head + 'x'.repeat(size - head.length - 2) + '"}';
    };
    let size = 0;
    server = await serve((_req, res) => {
      const body = envelope(size);
      res.writeHead(200, { 'content-type': 'application/json' }); // chunked: no length announced
      res.end(body);
    });
    const c = client(server.url, { maxResponseBytes: 2048 });
    size = 2048;
    await expect(c.isBlacklisted('alice', 'bob')).resolves.toBe(true);
    size = 2049;
    expect((await rejection(c.isBlacklisted('alice', 'bob'))).code).toBe('ERR_HTTP_TOO_LARGE');
  });

  it('validates the option', () => {
    expect(() => client('http://127.0.0.1:9', { maxResponseBytes: 0 })).toThrow(/maxResponseBytes/);
    expect(() => client('http://127.0.0.1:9', { maxResponseBytes: 1.5 })).toThrow(/maxResponseBytes/);
  });
});
