/**
 * The SDK's own HTTP calls (token service, resolver, uctopic create/dismiss) read at most 64 KiB
 * of an answer: a server that streams without end is cut off with ERR_HTTP_TOO_LARGE (wrapped
 * where the call has its own code) instead of filling memory.
 */
import { ErrorCode, MIMCError } from '../../lib/errors.js';
import { HttpTokenFetcher } from '../../lib/user/token.js';
import { resolveFrontends } from '../../lib/user/resolver.js';
import { createUnlimitedGroup } from '../../lib/user/uc-rest.js';
import { MAX_HTTP_ANSWER_BYTES } from '../../lib/user/http-client.js';
import { serve, type TestServer, mimcRejection as rejection, endlessAnswer } from '../rest/helpers.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function endlessServer(): Promise<{ url: string; written: Promise<number>[] }> {
  const written: Promise<number>[] = [];
  server = await serve((_req, res) => void written.push(endlessAnswer(res, 16 * 1024)));
  return { url: server.url, written };
}

describe('answers of the SDK’s own HTTP calls are capped', () => {
  it('token service: ERR_TOKEN_FETCH_FAILED caused by ERR_HTTP_TOO_LARGE, and the download stops', async () => {
    const { url, written } = await endlessServer();
    const fetcher = new HttpTokenFetcher({ appId: '1', appKey: 'k', appSecret: 's', appAccount: 'alice', url, timeoutMs: 10_000 });
    const err = await rejection(fetcher.fetchToken());
    expect(err.code).toBe(ErrorCode.TOKEN_FETCH_FAILED);
    expect((err.cause as MIMCError).code).toBe(ErrorCode.HTTP_TOO_LARGE);
    expect(await written[0]!).toBeGreaterThan(MAX_HTTP_ANSWER_BYTES);
  });

  it('resolver: ERR_RESOLVER_FAILED caused by ERR_HTTP_TOO_LARGE', async () => {
    const { url } = await endlessServer();
    const err = await rejection(resolveFrontends(url, 'app.chat.xiaomi.net', 10_000));
    expect(err.code).toBe(ErrorCode.RESOLVER_FAILED);
    expect((err.cause as MIMCError).code).toBe(ErrorCode.HTTP_TOO_LARGE);
  });

  it('uctopic create: ERR_HTTP_TOO_LARGE', async () => {
    const { url } = await endlessServer();
    const err = await rejection(createUnlimitedGroup(url, 'token', 'room', 10_000));
    expect(err.code).toBe(ErrorCode.HTTP_TOO_LARGE);
    expect(err.details).toMatchObject({ limit: MAX_HTTP_ANSWER_BYTES });
  });
});
