/** The examples, run end to end against the emulator. */
import { startEchoBot } from '../../examples/echo-bot.js';
import { startPushRelay } from '../../examples/push-relay.js';
import { connectBackend, type Backend } from '../../examples/shared.js';
import { destroyUsers, makeUser, str, text, until } from '../helpers/users.js';

let backend: Backend;

beforeEach(async () => {
  backend = await connectBackend({});
});

afterEach(async () => {
  destroyUsers();
  await backend.close();
});

it('the echo bot answers every message', async () => {
  const bot = await startEchoBot(backend);
  try {
    const visitor = makeUser(backend.emulator!, 'visitor');
    await visitor.user.login();
    visitor.user.sendMessage('echo-bot', text('ping 1'));
    visitor.user.sendMessage('echo-bot', text('ping 2'));
    await until(() => visitor.seen.messages.length === 2);
    expect(visitor.seen.messages.map((m) => str(m.payload))).toEqual(['echo: ping 1', 'echo: ping 2']);
    expect(visitor.seen.messages[0]!.fromAccount).toBe('echo-bot');
  } finally {
    await bot.stop();
  }
});

it('the push relay turns HTTP requests into messages and returns the ack', async () => {
  const relay = await startPushRelay(backend);
  try {
    const bob = makeUser(backend.emulator!, 'bob');
    await bob.user.login();
    const response = await fetch(`${relay.url}/p2p`, { method: 'POST', body: JSON.stringify({ to: 'bob', text: 'pushed' }) });
    expect(response.status).toBe(200);
    const ack = (await response.json()) as { packetId: string; sequence: string };
    expect(ack.sequence).toMatch(/^[0-9]+$/);
    await until(() => bob.seen.messages.length === 1);
    expect(str(bob.seen.messages[0]!.payload)).toBe('pushed');
    expect(bob.seen.messages[0]!.packetId).toBe(ack.packetId);

    const created = await fetch(`${relay.url}/topics`, { method: 'POST', body: JSON.stringify({ name: 'news', members: ['bob'] }) });
    expect(created.status).toBe(200);
    const { topicId } = (await created.json()) as { topicId: string };
    expect(topicId).toMatch(/^[0-9]+$/);
    const badTopic = await fetch(`${relay.url}/topics`, { method: 'POST', body: JSON.stringify({ name: 'x', members: 'bob' }) });
    expect(badTopic.status).toBe(400);
    const group = await fetch(`${relay.url}/p2t`, { method: 'POST', body: JSON.stringify({ topicId, text: 'to all' }) });
    expect(group.status).toBe(200);
    await until(() => bob.seen.groupMessages.length === 1);

    const bad = await fetch(`${relay.url}/p2p`, { method: 'POST', body: JSON.stringify({ to: '', text: 'x' }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('ERR_INVALID_ARGUMENT');
    const refused = await fetch(`${relay.url}/p2t`, { method: 'POST', body: JSON.stringify({ topicId: '42', text: 'x' }) });
    expect(refused.status).toBe(502);
  } finally {
    await relay.stop();
  }
});
