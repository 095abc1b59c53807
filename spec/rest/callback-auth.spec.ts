/**
 * Callback authenticity (issue 17, item 4): MIMC signs nothing, so createCallbackHandler needs a
 * `verify` unless the caller opts out explicitly; a secret in the callback URL is the easy choice.
 */
import { startEmulator } from '../../lib/emulator/index.js';
import { ErrorCode } from '../../lib/errors.js';
import { MIMCRestClient, callbackSecretVerifier, callbackUrlWithSecret, createCallbackHandler, type CallbackEvent } from '../../lib/rest/index.js';
import { until } from '../helpers/users.js';
import { http, serve } from './helpers.js';

const SECRET = 'cb-secret-0123456789abcdef';
const p2p = '{"msgType":"NORMAL_MSG","fromAppId":1,"fromAccount":"a","toAppId":1,"toAccount":"b","payload":"aGk=","timestamp":1700000000000}';

describe('createCallbackHandler authenticity', () => {
  it('refuses to build a handler without verify unless insecureNoVerify: true is passed', () => {
    expect(() => createCallbackHandler(() => undefined)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT, message: expect.stringMatching(/verify/) }));
    expect(() => createCallbackHandler(() => undefined, { insecureNoVerify: false })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    expect(typeof createCallbackHandler(() => undefined, { insecureNoVerify: true })).toBe('function');
    expect(typeof createCallbackHandler(() => undefined, { verify: () => true })).toBe('function');
  });

  it('callbackSecretVerifier accepts the secret in the query and nothing else', async () => {
    const events: CallbackEvent[] = [];
    const server = await serve(createCallbackHandler((e) => void events.push(e), { verify: callbackSecretVerifier(SECRET) }));
    try {
      const ok = new URL(callbackUrlWithSecret(`${server.url}/mimc/callback`, SECRET));
      expect(ok.searchParams.get('secret')).toBe(SECRET);
      expect((await http(server.url, 'POST', `${ok.pathname}${ok.search}`, { body: p2p })).status).toBe(200);
      for (const path of ['/mimc/callback', '/mimc/callback?secret=', `/mimc/callback?secret=${SECRET}x`, `/mimc/callback?secret=${SECRET.slice(0, -1)}`, `/mimc/callback?token=${SECRET}`, '/mimc/callback?secret=%zz']) {
        const answer = await http(server.url, 'POST', path, { body: p2p });
        expect(answer.status).toBe(401);
      }
      expect(events).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  it('a custom query parameter, and a secret too short to be one, refused at construction', () => {
    expect(typeof callbackSecretVerifier(SECRET, { param: 'k' })).toBe('function');
    expect(new URL(callbackUrlWithSecret('http://h/cb?x=1', SECRET, { param: 'k' })).searchParams.get('k')).toBe(SECRET);
    expect(() => callbackSecretVerifier('short')).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    expect(() => callbackUrlWithSecret('not a url', SECRET)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
  });

  it('end to end: the emulator POSTs to the URL with the secret; the handler accepts it', async () => {
    const events: CallbackEvent[] = [];
    const server = await serve(createCallbackHandler((e) => void events.push(e), { verify: callbackSecretVerifier(SECRET) }));
    const emu = await startEmulator({ callbackUrl: callbackUrlWithSecret(`${server.url}/cb`, SECRET), callbackRetryDelaysMs: [] });
    try {
      const rest = new MIMCRestClient({ appId: emu.app.appId, appKey: emu.app.appKey, appSecret: emu.app.appSecret, baseUrl: emu.restUrl });
      await rest.pushP2P({ fromAccount: 'bot', toAccount: 'nobody-online', payload: 'x' });
      await until(() => emu.stats.callbacksDelivered === 1, 5000, 'the callback delivered');
      expect(events.map((e) => e.msgType)).toEqual(['OFFLINE_MSG']);
    } finally {
      await emu.close();
      await server.close();
    }
  });
});
