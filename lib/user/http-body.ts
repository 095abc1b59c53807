import { MIMCError, ErrorCode } from '../errors.js';

/** Answers of the token service, the resolver and the uctopic API are a few hundred bytes. */
export const MAX_HTTP_ANSWER_BYTES = 64 * 1024;

/**
 * The body of a fetch() response as text, read as it arrives and never more than `maxBytes`:
 * beyond it the download is cancelled and ERR_HTTP_TOO_LARGE thrown (a hostile or broken
 * server cannot make the SDK buffer without bound).
 */
export async function readTextCapped(response: Response, what: string, maxBytes = MAX_HTTP_ANSWER_BYTES): Promise<string> {
  const announced = Number(response.headers.get('content-length'));
  if (Number.isFinite(announced) && announced > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw tooLarge(what, maxBytes);
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(what, maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

function tooLarge(what: string, maxBytes: number): MIMCError {
  return new MIMCError(ErrorCode.HTTP_TOO_LARGE, `${what} answer is larger than ${maxBytes} bytes`, { details: { limit: maxBytes } });
}
