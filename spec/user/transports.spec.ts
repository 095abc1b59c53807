/**
 * TCP and WebSocket users side by side on one emulator: they share accounts, stores, topics
 * and unlimited groups, so each talks to the other as to its own kind. Also checks that the
 * websocket test project really runs its users over WebSocket.
 */
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { ErrorCode } from '../../lib/errors.js';
import { MCUser } from '../../lib/user/mcuser.js';
import type { MCUserOptions, UCMessage } from '../../lib/user/types.js';
import { testTransport } from '../helpers/transport.js';
import { captureLogger, destroyUsers, makeUser, str, text, until, type TestUser } from '../helpers/users.js';

let emulator: Emulator;

beforeEach(async () => {
  emulator = await startEmulator();
});

afterEach(async () => {
  destroyUsers();
  await emulator.close();
});

const overTcp = (): Partial<MCUserOptions> => ({ transport: 'tcp', resolverUrl: emulator.resolverUrl });
const overWebSocket = (): Partial<MCUserOptions> => ({ transport: 'websocket', websocket: { url: emulator.websocketUrl! } });

async function online(account: string, options: Partial<MCUserOptions>): Promise<TestUser> {
  const t = makeUser(emulator, account, { restUrl: emulator.restUrl, ...options });
  await t.user.login();
  return t;
}

describe('transports', () => {
  it(`this project's users run over ${testTransport}`, async () => {
    const { user } = await online('project_user', {});
    expect(user.health().transport).toBe(testTransport);
    expect(emulator.onlineSessions('project_user').map((s) => s.transport)).toEqual([testTransport]);
  });

  it('a WebSocket user and a TCP user exchange P2P messages both ways, stored and online-only', async () => {
    const ws = await online('ws_user', overWebSocket());
    const tcp = await online('tcp_user', overTcp());
    expect(ws.user.health().transport).toBe('websocket');
    expect(tcp.user.health().transport).toBe('tcp');
    const up = await ws.user.sendMessageAndWait('tcp_user', text('over ws'));
    const down = await tcp.user.sendMessageAndWait('ws_user', text('over tcp'), { isStore: false });
    expect([up.code, down.code]).toEqual([0, 0]);
    await until(() => ws.seen.messages.length === 1 && tcp.seen.messages.length === 1);
    expect(tcp.seen.messages[0]).toMatchObject({ fromAccount: 'ws_user', packetId: up.packetId, sequence: up.sequence });
    expect(str(ws.seen.messages[0]!.payload)).toBe('over tcp');
  });

  it('a message stored while the WebSocket user was offline arrives at its next login', async () => {
    const tcp = await online('tcp_user', overTcp());
    await tcp.user.sendMessageAndWait('ws_later', text('while you were away'));
    const later = await online('ws_later', overWebSocket());
    await until(() => later.seen.messages.length === 1);
    expect(str(later.seen.messages[0]!.payload)).toBe('while you were away');
  });

  it('one account logged in over both transports (two resources) gets each message on both', async () => {
    const viaWs = await online('both', overWebSocket());
    const viaTcp = await online('both', overTcp());
    const sender = await online('sender', overTcp());
    await sender.user.sendMessageAndWait('both', text('to every resource'));
    await until(() => viaWs.seen.messages.length === 1 && viaTcp.seen.messages.length === 1);
    expect(emulator.onlineSessions('both').map((s) => s.transport).sort()).toEqual(['tcp', 'websocket']);
  });

  it('topic (P2T) members on different transports each get the group message once', async () => {
    const owner = await online('owner', overWebSocket());
    const member = await online('member', overTcp());
    const topicId = emulator.createTopic('owner', ['member']);
    await owner.user.sendGroupMessageAndWait(topicId, text('to the topic'));
    await member.user.sendGroupMessageAndWait(topicId, text('back'));
    await until(() => member.seen.groupMessages.length === 1 && owner.seen.groupMessages.length === 1);
    expect(str(member.seen.groupMessages[0]!.payload)).toBe('to the topic');
    expect(str(owner.seen.groupMessages[0]!.payload)).toBe('back');
  });

  it('an unlimited group mixes transports: messages fan out to both, the online count sees both', async () => {
    const host = await online('host', overWebSocket());
    const guest = await online('guest', overTcp());
    const got: Record<string, UCMessage[]> = { host: [], guest: [] };
    host.user.on('unlimitedGroupMessage', (m) => void got.host!.push(m));
    guest.user.on('unlimitedGroupMessage', (m) => void got.guest!.push(m));
    const topicId = await host.user.createUnlimitedGroup('mixed room');
    await guest.user.joinUnlimitedGroup(topicId);
    await host.user.sendUnlimitedGroupMessageAndWait(topicId, text('from ws'));
    await guest.user.sendUnlimitedGroupMessageAndWait(topicId, text('from tcp'));
    await until(() => got.host!.length === 1 && got.guest!.length === 1);
    expect(str(got.guest![0]!.payload)).toBe('from ws');
    expect(str(got.host![0]!.payload)).toBe('from tcp');
    expect(await guest.user.queryUnlimitedGroupOnlineUsers(topicId)).toBe(2n);
  });

  it('a kick (multi-login) reaches a WebSocket user and it stays offline', async () => {
    const first = await online('kicked', { ...overWebSocket(), resource: 'same' });
    await online('kicked', { ...overTcp(), resource: 'same' });
    await until(() => first.seen.statuses.some((s) => !s.online));
    expect(first.seen.statuses.at(-1)).toMatchObject({ online: false, type: 'multi-login' });
    expect(first.user.isOnline).toBe(false);
  });

  it('never puts credentials or a query of the WebSocket URL into errors or logs', async () => {
    const closed = await startEmulator();
    const url = closed.websocketUrl!.replace('ws://', 'ws://proxyuser:url-secret@') + 'path?token=query-secret';
    await closed.close(); // nothing listens there any more
    const { logger, output } = captureLogger();
    const { user } = makeUser(emulator, 'careful', { transport: 'websocket', websocket: { url }, logger, reconnect: { maxAttempts: 1 } });
    const error = await user.login().catch((err: unknown) => err as Error);
    expect(error).toMatchObject({ code: ErrorCode.RETRIES_EXHAUSTED });
    const cause = (error as Error & { cause?: Error }).cause!;
    expect(cause).toMatchObject({ code: ErrorCode.CONNECTION_LOST });
    expect(cause.message).toContain('/path');
    for (const text of [cause.message, output()]) {
      expect(text).not.toContain('url-secret');
      expect(text).not.toContain('query-secret');
    }
  });

  it('refuses options that mix the transports', () => {
    const base = { appId: emulator.app.appId, appAccount: 'x' };
    expect(() => new MCUser({ ...base, websocket: { url: 'ws://127.0.0.1:1/' } })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    expect(() => new MCUser({ ...base, transport: 'websocket', frontendAddress: '127.0.0.1:1' })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    expect(() => new MCUser({ ...base, transport: 'websocket', websocket: { url: 'http://127.0.0.1:1/' } })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    expect(() => new MCUser({ ...base, transport: 'udp' as 'tcp' })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
  });
});
