/**
 * mimc-node demo: starts the embedded MIMC emulator, logs in alice and bob, exchanges P2P and
 * group messages with server acks, then logs carol in to receive what was stored for her, opens
 * an unlimited group (a live room without a member cap) for all three, and finally shows the two
 * failures a backend must handle: a send that gets no ack in time, and a kick by another login.
 *
 *   npm run demo              readable transcript
 *   npm run demo -- --verbose also the SDK's pino logs (secrets and payloads are redacted)
 */
import { MCUser, createLogger, type MCUserOptions, type P2PMessage, type P2TMessage, type ServerAck, type UCMessage } from '../lib/index.js';
import { startEmulator, type Emulator } from '../lib/emulator/index.js';

const verbose = process.argv.includes('--verbose');
const logger = verbose ? createLogger({ level: 'debug' }) : undefined;
const decoder = new TextDecoder();
const started = Date.now();

function say(line: string): void {
  const t = ((Date.now() - started) / 1000).toFixed(3).padStart(7);
  process.stdout.write(`${t}s  ${line}\n`);
}

const received = new Map<string, number>();
const countReceived = (account: string, n: number) => received.set(account, (received.get(account) ?? 0) + n);

function makeUser(emulator: Emulator, account: string, options: Partial<MCUserOptions> = {}): MCUser {
  const user = new MCUser({
    ...options,
    appId: emulator.app.appId,
    appAccount: account,
    resolverUrl: emulator.resolverUrl,
    restUrl: emulator.restUrl,
    ...(logger ? { logger } : {}),
    tokenDelegate: { fetchToken: () => emulator.fetchToken(account) },
    statusDelegate: {
      handleChange: (online, type) => say(`${account.padEnd(5)} is ${online ? 'online' : `offline (${type})`}`),
    },
    messageDelegate: {
      handleMessage: (messages: P2PMessage[]) => {
        countReceived(account, messages.length);
        for (const m of messages) {
          say(`${account.padEnd(5)} <- ${m.fromAccount}: "${decoder.decode(m.payload)}" (seq ${m.sequence}${m.bizType ? `, ${m.bizType}` : ''})`);
        }
      },
      handleGroupMessage: (messages: P2TMessage[]) => {
        countReceived(account, messages.length);
        for (const m of messages) {
          say(`${account.padEnd(5)} <- ${m.fromAccount} in topic ${m.topicId}: "${decoder.decode(m.payload)}" (seq ${m.sequence})`);
        }
      },
      handleUnlimitedGroupMessage: (messages: UCMessage[]) => {
        countReceived(`${account}:uc`, messages.length);
        for (const m of messages) say(`${account.padEnd(5)} <- ${m.fromAccount} in live room ${m.topicId}: "${decoder.decode(m.payload)}"`);
      },
      handleUnlimitedGroupDismissed: (topicId: bigint) => say(`${account.padEnd(5)} sees live room ${topicId} dismissed`),
      handleServerAck: (ack: ServerAck) =>
        say(`${account.padEnd(5)} ack ${ack.packetId} seq ${ack.sequence}${ack.errorMsg ? ` error: ${ack.errorMsg}` : ''}`),
      handleSendMessageTimeout: (m) => say(`${account.padEnd(5)} no ack in time for ${m.packetId} ("${decoder.decode(m.payload)}"), it may still have arrived`),
    },
  });
  return user;
}

const text = (s: string) => new TextEncoder().encode(s);

async function main(): Promise<void> {
  const emulator = await startEmulator(logger ? { logger } : {});
  say(`emulator: token ${emulator.tokenUrl}, frontend ${emulator.frontend.host}:${emulator.frontend.port}, WebSocket ${emulator.websocketUrl}`);
  const alice = makeUser(emulator, 'alice');
  const bob = makeUser(emulator, 'bob');
  // carol's network only allows HTTPS egress: she connects over WebSocket (ws:// to the emulator)
  const carol = makeUser(emulator, 'carol', { transport: 'websocket', websocket: { url: emulator.websocketUrl! } });
  const dave = makeUser(emulator, 'dave', { sendTimeoutMs: 300 }); // a short ack deadline, for the timeout below
  try {
    await Promise.all([alice.login(), bob.login()]);
    say(`alice uuid ${alice.uuid}, bob uuid ${bob.uuid} (exact 64-bit ids)`);

    await alice.sendMessageAndWait('bob', text('Hi Bob, this is Alice.'));
    await bob.sendMessageAndWait('alice', text('Hello Alice! Bob here.'), { bizType: 'greeting' });

    const topicId = emulator.createTopic('alice', ['bob', 'carol']);
    say(`topic ${topicId} created with alice, bob and carol`);
    await alice.sendGroupMessageAndWait(topicId, text('Welcome to the group!'));

    await alice.sendMessageAndWait('carol', text('Carol, read this when you are back.'));
    await bob.sendMessageAndWait('carol', text('Me too, Carol.'));
    const stored = emulator.storedCount('carol');
    say(`carol is offline; the server stores ${stored} messages for her`);

    await carol.login();
    say(`carol logged in over ${carol.health().transport}; TCP and WebSocket users share one service`);
    await waitFor(() => (received.get('carol') ?? 0) >= stored);

    const room = await alice.createUnlimitedGroup('demo live room');
    await Promise.all([bob.joinUnlimitedGroup(room), carol.joinUnlimitedGroup(room)]);
    say(`live room ${room}: ${await alice.queryUnlimitedGroupOnlineUsers(room)} users joined (unlimited group, no member cap)`);
    await alice.sendUnlimitedGroupMessageAndWait(room, text('Welcome to the live room!'));
    await waitFor(() => (received.get('bob:uc') ?? 0) >= 1 && (received.get('carol:uc') ?? 0) >= 1);
    await alice.dismissUnlimitedGroup(room);
    await waitFor(() => bob.unlimitedGroups().length === 0 && carol.unlimitedGroups().length === 0);

    // A send timeout: the server swallows acks, so dave's message ends in his timeout callback.
    await dave.login();
    emulator.faults.dropAcks(true);
    say('server drops acks for a moment');
    const timedOut = new Promise((resolve) => dave.once('sendTimeout', resolve));
    dave.sendMessage('alice', text('Is anyone there?'));
    await timedOut;
    emulator.faults.dropAcks(false);

    // A kick: another login took bob's account and resource; bob reports "multi-login" and stays offline.
    const kicked = new Promise((resolve) => bob.once('statusChange', resolve));
    emulator.faults.kick('bob');
    await kicked;
    say(`bob is ${bob.state}: a kicked user does not reconnect by itself`);
  } finally {
    await Promise.all([alice.logout(), bob.logout(), carol.logout(), dave.logout()]);
    await emulator.close();
  }
  say('all users logged out, emulator closed');
}

/** Waits for a condition driven by the users' own I/O, checking every 10 ms for at most 5 s. */
async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
