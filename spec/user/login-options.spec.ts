/** BIND login options: SSO, kick and the client/cloud attributes, end to end against the emulator. */
import { ErrorCode } from '../../lib/errors.js';
import { MCUser } from '../../lib/user/mcuser.js';
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { decodeBind, encodeBind } from '../../lib/protocol/packets.js';
import { destroyUsers, makeUser, until } from '../helpers/users.js';
import { testTransport } from '../helpers/transport.js';

let emulator: Emulator;

beforeEach(async () => {
  emulator = await startEmulator();
});

afterEach(async () => {
  destroyUsers();
  await emulator.close();
});

const kickedStatus = (reason: string) => ({ online: false, type: 'multi-login', reason });

describe('BIND fields', () => {
  it('writes sso only when asked, so the default BIND is the one every SDK sends', () => {
    const base = { token: 't', kick: '0', method: 'XIAOMI-PASS', clientAttrs: '', cloudAttrs: '', sig: 's' };
    expect(decodeBind(encodeBind(base)).sso).toBe(false);
    expect(encodeBind({ ...base, sso: false })).toEqual(encodeBind(base));
    const withSso = encodeBind({ ...base, sso: true });
    expect(withSso.length).toBe(encodeBind(base).length + 2); // field 7, varint 1
    expect(decodeBind(withSso)).toMatchObject({ sso: true, kick: '0' });
  });
});

describe('login options', () => {
  it('by default resources of one account coexist and send empty attributes', async () => {
    const a = makeUser(emulator, 'alice', { resource: 'res_a' });
    const b = makeUser(emulator, 'alice', { resource: 'res_b' });
    await a.user.login();
    await b.user.login();
    expect(emulator.onlineResources('alice').sort()).toEqual(['res_a', 'res_b']);
    expect(emulator.onlineSessions('alice')).toContainEqual({ resource: 'res_a', transport: testTransport, sso: false, clientAttrs: '', cloudAttrs: '' });
    expect(a.user.isOnline).toBe(true);
  });

  it('sends client and cloud attributes in the signed BIND', async () => {
    const a = makeUser(emulator, 'alice', { resource: 'res_a', clientAttrs: 'region=eu&tier=1', cloudAttrs: '{"shard":7}' });
    await a.user.login();
    expect(emulator.onlineSessions('alice')).toEqual([{ resource: 'res_a', transport: testTransport, sso: false, clientAttrs: 'region=eu&tier=1', cloudAttrs: '{"shard":7}' }]);
  });

  it('sso: the new login kicks the other resources with the multi-login reason, and they stay offline', async () => {
    const a = makeUser(emulator, 'alice', { resource: 'res_a' });
    const b = makeUser(emulator, 'alice', { resource: 'res_b' });
    await a.user.login();
    await b.user.login();
    const c = makeUser(emulator, 'alice', { resource: 'res_c', sso: true });
    await c.user.login();
    await until(() => a.user.state === 'offline' && b.user.state === 'offline', 5000, 'both kicked');
    expect(a.seen.statuses.at(-1)).toEqual(kickedStatus('single sign-on'));
    expect(b.seen.statuses.at(-1)).toEqual(kickedStatus('single sign-on'));
    expect(emulator.onlineSessions('alice')).toEqual([{ resource: 'res_c', transport: testTransport, sso: true, clientAttrs: '', cloudAttrs: '' }]);
    expect(c.user.isOnline).toBe(true);
    expect(() => a.user.sendMessage('bob', new Uint8Array([1]))).toThrow(expect.objectContaining({ code: ErrorCode.NOT_LOGGED_IN }));
  });

  it('sso: while an SSO login is bound, a later login of the account kicks it', async () => {
    const sso = makeUser(emulator, 'alice', { resource: 'res_sso', sso: true });
    await sso.user.login();
    const later = makeUser(emulator, 'alice', { resource: 'res_later' });
    await later.user.login();
    await until(() => sso.user.state === 'offline', 5000, 'sso session kicked');
    expect(sso.seen.statuses.at(-1)).toEqual(kickedStatus('single sign-on'));
    expect(emulator.onlineResources('alice')).toEqual(['res_later']);
  });

  it('kick: the login kicks the other resources once; later logins coexist with it', async () => {
    const a = makeUser(emulator, 'alice', { resource: 'res_a' });
    await a.user.login();
    const k = makeUser(emulator, 'alice', { resource: 'res_k', kick: true });
    await k.user.login();
    await until(() => a.user.state === 'offline', 5000, 'kicked');
    expect(a.seen.statuses.at(-1)).toEqual(kickedStatus('kicked by another login'));
    const later = makeUser(emulator, 'alice', { resource: 'res_later' });
    await later.user.login();
    expect(emulator.onlineResources('alice').sort()).toEqual(['res_k', 'res_later']);
    expect(k.user.isOnline).toBe(true);
  });

  it('other accounts are never kicked', async () => {
    const bob = makeUser(emulator, 'bob', { resource: 'res_a' });
    await bob.user.login();
    const alice = makeUser(emulator, 'alice', { resource: 'res_b', sso: true, kick: true });
    await alice.user.login();
    await alice.user.sendMessageAndWait('bob', new Uint8Array([1]));
    expect(bob.user.isOnline).toBe(true);
  });

  it('rejects bad option values with typed errors', () => {
    const base = { appId: emulator.app.appId, appAccount: 'alice' };
    const bad = [{ sso: 'yes' }, { kick: 1 }, { clientAttrs: 5 }, { cloudAttrs: 'x'.repeat(1025) }, { clientAttrs: 'é'.repeat(513) }];
    for (const options of bad) {
      expect(() => new MCUser({ ...base, ...(options as object) })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    }
    expect(() => new MCUser({ ...base, clientAttrs: 'x'.repeat(1024) }).destroy()).not.toThrow();
  });
});
