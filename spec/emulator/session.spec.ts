/** Handshake, login, keep-alive and logout against the emulator frontend, with raw frames. */
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { ErrorCode } from '../../lib/errors.js';
import { Cmd, DirFlag } from '../../lib/protocol/index.js';
import { RawClient, isCmd, loginRaw, parseToken } from '../helpers/raw-client.js';

let emu: Emulator;
const clients: RawClient[] = [];

async function connect(): Promise<RawClient> {
  const c = await RawClient.connect(emu.frontend.port);
  clients.push(c);
  return c;
}

async function login(account: string, resource: string): Promise<RawClient> {
  const c = await loginRaw(emu, account, resource);
  clients.push(c);
  return c;
}

beforeAll(async () => {
  emu = await startEmulator({ tokenTtlMs: 60_000 });
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  emu.faults.reset();
});
afterAll(async () => {
  await emu.close();
});

describe('CONN and BIND', () => {
  it('answers CONN in plaintext with an alphanumeric challenge and binds a valid login', async () => {
    const token = parseToken(await emu.fetchToken('alice'));
    const c = await connect();
    const challenge = await c.conn({ uuid: token.uuid, resource: 'res_a', udid: 'cpp_udid_42' });
    expect(challenge).toMatch(/^[A-Za-z0-9]{16,32}$/);
    const result = await c.bind(token);
    expect(result).toEqual({ result: true, errorType: '', errorReason: '', errorDesc: '' });
    expect(emu.onlineResources('alice')).toEqual(['res_a']);
    expect(emu.stats.bound).toBeGreaterThanOrEqual(1);
  });

  it('echoes the BIND id and marks the response SC_RESP', async () => {
    const token = parseToken(await emu.fetchToken('alice'));
    const c = await connect();
    await c.conn({ uuid: token.uuid, resource: 'res_hdr' });
    c.send(c.bindFrame(token, { id: 'bind_id_7' }));
    const reply = await c.next(isCmd(Cmd.BIND));
    expect(reply.header).toMatchObject({ id: 'bind_id_7', uuid: token.uuid, resource: 'res_hdr', dirFlag: DirFlag.SC_RESP, chid: 9 });
  });

  it('refuses a bad signature with auth/invalid-sig and keeps the connection', async () => {
    const token = parseToken(await emu.fetchToken('alice'));
    const c = await connect();
    await c.conn({ uuid: token.uuid, resource: 'res_sig' });
    const result = await c.bind(token, { sig: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' });
    expect(result).toMatchObject({ result: false, errorType: 'auth', errorReason: 'invalid-sig' });
    expect(emu.onlineResources('alice')).not.toContain('res_sig');
    // A correct retry on the same connection succeeds (Go re-BINDs every 5 s).
    expect((await c.bind(token)).result).toBe(true);
  });

  it('refuses an unknown token with auto/invalid-token', async () => {
    const token = parseToken(await emu.fetchToken('alice'));
    const c = await connect();
    await c.conn({ uuid: token.uuid, resource: 'res_tok' });
    const result = await c.bind({ ...token, token: 'no-such-token' });
    expect(result).toMatchObject({ result: false, errorType: 'auto', errorReason: 'invalid-token' });
  });

  it('refuses a token after tokenTtlMs with token-expired', async () => {
    const short = await startEmulator({ tokenTtlMs: 1 });
    try {
      const token = parseToken(await short.fetchToken('alice'));
      const c = await RawClient.connect(short.frontend.port);
      clients.push(c);
      await c.conn({ uuid: token.uuid, resource: 'res_exp' });
      // 1 ms TTL: by the time BIND arrives (a network round trip later) the token is expired.
      await new Promise((r) => setTimeout(r, 5));
      const result = await c.bind(token);
      expect(result).toEqual({ result: false, errorType: 'token-expired', errorReason: 'token expired', errorDesc: 'please refresh token' });
    } finally {
      await short.close();
    }
  });

  it('expireTokens: the next BIND gets token-expired, bound sessions get KICK token-expired and may re-bind', async () => {
    const c = await login('erin', 'res_e');
    const old = c.token!;
    emu.faults.expireTokens('erin');
    const kick = await c.nextKick();
    expect(kick).toMatchObject({ result: false, errorType: 'token-expired' });
    expect(emu.onlineResources('erin')).toEqual([]);
    expect((await c.bind(old)).errorType).toBe('token-expired');
    // Fresh token, same connection (what the Go SDK does after a KICK).
    const fresh = parseToken(await emu.fetchToken('erin'));
    expect((await c.bind(fresh)).result).toBe(true);
    expect(emu.onlineResources('erin')).toEqual(['res_e']);
  });

  it('closes a connection whose BIND header uuid is not the token owner', async () => {
    const token = parseToken(await emu.fetchToken('alice'));
    const c = await connect();
    await c.conn({ uuid: token.uuid, resource: 'res_uuid' });
    const before = emu.stats.rejectedFrames;
    c.send(c.bindFrame(token, { uuid: token.uuid + 1n }));
    const reply = await c.next(isCmd(Cmd.BIND));
    expect(reply.bind).toMatchObject({ result: false, errorType: 'auth' });
    await c.waitClosed();
    expect(emu.stats.rejectedFrames).toBe(before + 1);
  });

  it('binds with signed client/cloud attributes and SSO, and closes a connection whose kick is neither "0" nor "1"', async () => {
    const token = parseToken(await emu.fetchToken('gina'));
    const ok = await connect();
    await ok.conn({ uuid: token.uuid, resource: 'res_attrs' });
    expect((await ok.bind(token, { clientAttrs: 'a=1', cloudAttrs: 'b', sso: true, kick: '1' })).result).toBe(true);
    expect(emu.onlineSessions('gina')).toEqual([{ resource: 'res_attrs', transport: 'tcp', sso: true, clientAttrs: 'a=1', cloudAttrs: 'b' }]);

    const bad = await connect();
    await bad.conn({ uuid: token.uuid, resource: 'res_kick' });
    const before = emu.stats.rejectedFrames;
    const result = await bad.bind(token, { kick: '2' });
    expect(result).toMatchObject({ result: false, errorType: 'auth', errorReason: 'invalid-kick' });
    await bad.waitClosed();
    expect(emu.stats.rejectedFrames).toBe(before + 1);
    expect(emu.onlineResources('gina')).toEqual(['res_attrs']);
  });

  it('refuses attributes over 1 KiB with auth/invalid-attrs and keeps the connection', async () => {
    const token = parseToken(await emu.fetchToken('hank'));
    const c = await connect();
    await c.conn({ uuid: token.uuid, resource: 'res_long' });
    expect(await c.bind(token, { cloudAttrs: 'x'.repeat(1025) })).toMatchObject({ result: false, errorReason: 'invalid-attrs' });
    expect((await c.bind(token, { cloudAttrs: 'x'.repeat(1024) })).result).toBe(true);
  });

  it('kicks the older connection of the same (uuid, resource) with multi-login, then closes it', async () => {
    const first = await login('frank', 'res_same');
    const second = await login('frank', 'res_same');
    const kick = await first.nextKick();
    expect(kick).toMatchObject({ result: false, errorType: 'multi-login' });
    expect(kick.errorReason.length).toBeGreaterThan(0);
    await first.waitClosed();
    expect(emu.onlineResources('frank')).toEqual(['res_same']);
    await second.ping();
  });

  it('closes connections that do not BIND in time', async () => {
    const quick = await startEmulator({ bindTimeoutMs: 50 });
    try {
      const c = await RawClient.connect(quick.frontend.port);
      clients.push(c);
      await c.conn({ resource: 'slow' });
      await c.waitClosed(2000);
    } finally {
      await quick.close();
    }
  });

  it('closes idle connections', async () => {
    const quick = await startEmulator({ idleTimeoutMs: 50 });
    try {
      const c = await loginRaw(quick, 'idle', 'res_idle');
      clients.push(c);
      await c.waitClosed(2000);
      expect(quick.stats.connections).toBe(0);
    } finally {
      await quick.close();
    }
  });
});

describe('keep-alive and logout', () => {
  it('answers a header PING and an empty frame with the empty frame', async () => {
    const c = await login('gina', 'res_p');
    await c.ping();
    c.sendEmptyFrame();
    await c.nextPong();
  });

  it('answers pings before BIND too', async () => {
    const c = await connect();
    await c.conn({ resource: 'res_pre' });
    await c.ping();
  });

  it('UBND unbinds, replies with the empty frame and keeps the socket open', async () => {
    const c = await login('hank', 'res_u');
    expect(emu.onlineResources('hank')).toEqual(['res_u']);
    await c.unbind();
    expect(emu.onlineResources('hank')).toEqual([]);
    await c.ping();
    expect(c.isClosed).toBe(false);
    // SECMSG after UBND is a violation: the client is no longer bound.
    c.sendP2P('gina', 'after logout');
    await c.waitClosed();
  });

  it('rejects SECMSG before BIND with a closed connection', async () => {
    const token = parseToken(await emu.fetchToken('ivy'));
    const c = await connect();
    await c.conn({ uuid: token.uuid, resource: 'res_early' });
    c.token = token;
    c.securityKey = token.securityKey;
    const before = emu.stats.rejectedFrames;
    c.sendP2P('gina', 'too early');
    await c.waitClosed();
    expect(emu.stats.rejectedFrames).toBe(before + 1);
    expect(c.decodeError).toBeNull();
    expect(ErrorCode.NOT_LOGGED_IN).toBe('ERR_NOT_LOGGED_IN');
  });
});
