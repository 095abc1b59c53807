import { MIMCError, ErrorCode } from '../errors.js';
import { parseJsonExact } from '../protocol/json.js';
import { parseUint64 } from '../protocol/int64.js';
import { requestText } from './http-client.js';

/** Where the MIMC REST API lives (create and dismiss of unlimited groups go there, with the user's token). */
export const DEFAULT_REST_URL = 'https://mimc.chat.xiaomi.net';

/**
 * One call of MIMC's uctopic REST API with a user token. Success is `code` 200 and `message`
 * "success" exactly, as the official SDKs require; anything else is ERR_API with MIMC's code.
 */
async function uctopicCall(baseUrl: string, method: 'POST' | 'DELETE', token: string, timeoutMs: number, init: { body?: unknown; topicId?: bigint }): Promise<unknown> {
  const headers: Record<string, string> = { token, accept: 'application/json' };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (init.topicId !== undefined) headers.topicId = init.topicId.toString();
  let url: URL;
  try {
    url = new URL('/api/uctopic/', baseUrl);
  } catch (err) {
    throw new MIMCError(ErrorCode.HTTP_ERROR, `uctopic ${method} failed`, { cause: err });
  }
  // ERR_HTTP_TIMEOUT, ERR_HTTP_TOO_LARGE or ERR_HTTP (network) as they come
  const { text } = await requestText(url, {
    method,
    headers,
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    timeoutMs,
    what: `uctopic ${method}`,
  });
  let envelope: unknown;
  try {
    envelope = parseJsonExact(text);
  } catch (err) {
    throw new MIMCError(ErrorCode.HTTP_ERROR, `uctopic ${method} answer is not JSON`, { cause: err });
  }
  const e = (typeof envelope === 'object' && envelope !== null ? envelope : {}) as { code?: unknown; message?: unknown; data?: unknown };
  const code = e.code;
  if (code !== 200 || e.message !== 'success') {
    throw new MIMCError(ErrorCode.API_ERROR, `uctopic ${method} refused (${String(code)})`, { details: { code } });
  }
  return e.data;
}

/** Creates an unlimited group owned by the token's user; returns its exact id. */
export async function createUnlimitedGroup(baseUrl: string, token: string, topicName: string, timeoutMs: number): Promise<bigint> {
  const data = (await uctopicCall(baseUrl, 'POST', token, timeoutMs, { body: { topicName } })) as { topicId?: unknown } | null;
  const topicId = parseUint64(data?.topicId);
  if (topicId === undefined || topicId === 0n) throw new MIMCError(ErrorCode.HTTP_ERROR, 'uctopic create answer has no topicId');
  return topicId;
}

/** Dismisses an unlimited group (its owner's token only); members are told with a DISMISS. */
export async function dismissUnlimitedGroup(baseUrl: string, token: string, topicId: bigint, timeoutMs: number): Promise<void> {
  await uctopicCall(baseUrl, 'DELETE', token, timeoutMs, { topicId });
}
