/**
 * Secret hygiene of the REST side: inspecting or serialising a MIMCRestClient shows no
 * credential or cached token, and an upstream error message (which may echo the request) reaches
 * a MIMCError only bounded and with secret-looking values removed.
 */
import { format, inspect } from 'node:util';
import { MIMCError } from '../../lib/errors.js';
import { MIMCRestClient } from '../../lib/rest/index.js';
import { HttpTokenFetcher, parseTokenJson } from '../../lib/user/token.js';
import { mimcRejection as rejection } from './helpers.js';

const APP_SECRET = 'S3cr3tAppSecretValue0123456789';
const APP_KEY = '5421234567890AppKey';
const TOKEN = 'tok-USERTOKEN-abcdefghijklmnopqrstuvwxyz0123456789';

/** A fetch that answers every request with `body` (and remembers what it was asked). */
function answering(body: string, status = 200): typeof fetch {
  return (async () => new Response(body, { status, headers: { 'content-type': 'application/json' } })) as typeof fetch;
}

/** Everything an error shows when logged or serialised. */
const shown = (err: MIMCError): string => `${err.message}\n${JSON.stringify(err.details)}\n${inspect(err, { depth: 5 })}`;

describe('MIMCRestClient does not show its credentials', () => {
  it('util.inspect, console.log formatting, JSON.stringify and own keys show no appSecret, appKey or token', async () => {
    const mint = JSON.stringify({
      code: 200,
      message: 'success',
      data: { appId: '2882303761517479657', appAccount: 'alice', miUserId: '10776577642332161', miUserSecurityKey: 'c2VjdXJpdHk=', token: TOKEN, feDomainName: 'x' },
    });
    let calls = 0;
    const fetchImpl = (async () => {
      calls++;
      return new Response(calls === 1 ? mint : JSON.stringify({ code: 200, message: 'success', data: { appId: '2882303761517479657', messages: [], row: 0, timestamp: 0 } }));
    }) as typeof fetch;
    const client = new MIMCRestClient({ appId: 2882303761517479657n, appKey: APP_KEY, appSecret: APP_SECRET, baseUrl: 'http://127.0.0.1:9', fetch: fetchImpl });
    // A token-only call caches a minted token inside the client.
    await client.p2pHistoryByTime('alice', { fromAccount: 'alice', toAccount: 'bob', fromTime: 0, toTime: 1000 });
    const views = [
      inspect(client),
      inspect(client, { showHidden: true, depth: 10, getters: true }),
      format('%o', client),
      format('%O', client),
      format('%j', client),
      JSON.stringify(client),
      inspect(Object.entries(client), { depth: 10 }),
      String(client),
    ];
    for (const view of views) {
      expect(view).not.toContain(APP_SECRET);
      expect(view).not.toContain(APP_KEY);
      expect(view).not.toContain(TOKEN);
    }
    expect(inspect(client)).toContain('2882303761517479657');
    expect(calls).toBe(2); // the token was minted and used
  });
});

describe('HttpTokenFetcher does not show its credentials', () => {
  it('util.inspect and JSON.stringify show no appKey or appSecret', () => {
    const fetcher = new HttpTokenFetcher({ appId: '2882303761517479657', appKey: APP_KEY, appSecret: APP_SECRET, appAccount: 'alice', url: 'http://127.0.0.1:9/t' });
    for (const view of [inspect(fetcher, { showHidden: true, depth: 10 }), format('%O', fetcher), JSON.stringify(fetcher)]) {
      expect(view).not.toContain(APP_SECRET);
      expect(view).not.toContain(APP_KEY);
    }
    expect(inspect(fetcher)).toContain('alice');
  });
});

describe('upstream error messages', () => {
  const client = (body: string, status = 200) =>
    new MIMCRestClient({ appId: '2882303761517479657', appKey: APP_KEY, appSecret: APP_SECRET, baseUrl: 'http://127.0.0.1:9', retries: 0, fetch: answering(body, status) });
  const echo = `invalid request {"appKey":"${APP_KEY}","appSecret":"${APP_SECRET}","token":"${TOKEN}"} appSecret=${APP_SECRET}`;

  it('an error envelope that echoes the request leaks no credential into the MIMCError', async () => {
    const err = await rejection(client(JSON.stringify({ code: 400, message: echo, data: null })).mintToken('alice'));
    expect(err.code).toBe('ERR_API');
    expect(err.details?.code).toBe(400);
    const text = shown(err);
    expect(text).not.toContain(APP_SECRET);
    expect(text).not.toContain(APP_KEY);
    expect(text).not.toContain(TOKEN);
    expect(err.message).toContain('invalid request');
  });

  it('the same for an HTTP error status', async () => {
    const err = await rejection(client(JSON.stringify({ code: 500, message: echo }), 500).mintToken('alice'));
    expect(err.code).toBe('ERR_HTTP');
    const text = shown(err);
    expect(text).not.toContain(APP_SECRET);
    expect(text).not.toContain(TOKEN);
  });

  it('keeps only a bounded, printable form of a huge or binary message', async () => {
    const err = await rejection(client(JSON.stringify({ code: 500, message: `boom\u0000\u001b[31m${'x'.repeat(100_000)}` })).mintToken('alice'));
    expect(err.message.length).toBeLessThan(400);
    expect(String(err.details?.message).length).toBeLessThanOrEqual(200);
    expect(err.message).not.toMatch(/[\u0000-\u001f]/);
  });

  it('parseTokenJson: a refusal that echoes a secret does not carry it', () => {
    const text = JSON.stringify({ code: 401, message: `bad credentials appSecret=${APP_SECRET} token: ${TOKEN}`, data: null });
    let err: MIMCError | undefined;
    try {
      parseTokenJson(text, { appId: 1n, appAccount: 'alice' });
    } catch (e) {
      err = e as MIMCError;
    }
    expect(err?.code).toBe('ERR_INVALID_TOKEN');
    expect(shown(err!)).not.toContain(APP_SECRET);
    expect(shown(err!)).not.toContain(TOKEN);
    expect(err!.message).toContain('bad credentials');
  });
});
