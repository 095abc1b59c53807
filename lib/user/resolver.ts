import { MIMCError, ErrorCode } from '../errors.js';
import { requestText } from './http-client.js';

/** The real MIMC resolver (GSLB). */
export const DEFAULT_RESOLVER_URL = 'http://resolver.msg.xiaomi.net/gslb/';

export interface FrontendAddress {
  host: string;
  port: number;
}

/** Parses `host:port` (IPv6 in brackets allowed). */
export function parseAddress(text: string): FrontendAddress {
  const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || !(port > 0 && port < 65536)) {
    throw new MIMCError(ErrorCode.RESOLVER_FAILED, `bad frontend address "${text}"`);
  }
  return { host: match[1]!, port };
}

/** Asks the resolver for the frontends of `feDomainName`, in the order to try them. */
export async function resolveFrontends(
  resolverUrl: string,
  feDomainName: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<FrontendAddress[]> {
  const url = new URL(resolverUrl);
  url.searchParams.set('ver', '4.0');
  url.searchParams.set('type', 'wifi');
  url.searchParams.set('list', feDomainName);
  let body: unknown;
  try {
    const answer = await requestText(url, { timeoutMs, what: 'resolver', ...(signal ? { signal } : {}) });
    if (answer.status < 200 || answer.status > 299) throw new Error(`HTTP ${answer.status}`);
    body = JSON.parse(answer.text);
  } catch (err) {
    throw new MIMCError(ErrorCode.RESOLVER_FAILED, `resolver request to ${url.origin}${url.pathname} failed`, { cause: err });
  }
  const answer = body as { S?: unknown; R?: { wifi?: Record<string, unknown> } };
  if (typeof answer?.S !== 'string' || answer.S.toLowerCase() !== 'ok') {
    throw new MIMCError(ErrorCode.RESOLVER_FAILED, 'resolver did not answer Ok');
  }
  const list = answer.R?.wifi?.[feDomainName];
  if (!Array.isArray(list) || list.length === 0) {
    throw new MIMCError(ErrorCode.RESOLVER_FAILED, `resolver knows no frontend for ${feDomainName}`);
  }
  return list.filter((entry): entry is string => typeof entry === 'string').map(parseAddress);
}
