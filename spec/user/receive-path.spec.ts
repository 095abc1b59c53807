/**
 * Regression specs for the receive path (issue 14): each case failed on the code before the
 * incoming pipeline, and describes what an app relies on.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { ErrorCode } from '../../lib/errors.js';
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import { encodeFrame, FrameDecoder } from '../../lib/protocol/frame.js';
import { FrameConnection } from '../../lib/transport/connection.js';
import { SequenceWindow } from '../../lib/user/dedup.js';
import type { DeadLetter, P2PMessage } from '../../lib/user/types.js';
import { loginRaw } from '../helpers/raw-client.js';
import { destroyUsers, makeUser, str, text, until } from '../helpers/users.js';

let emulator: Emulator;

beforeEach(async () => {
  emulator = await startEmulator();
});

afterEach(async () => {
  destroyUsers();
  await emulator.close();
});

const payloads = (messages: P2PMessage[]) => messages.map((m) => str(m.payload));

describe('receive path', () => {
  it('1: a failed stored message is not lost when more than dedupWindow newer sequences pass it', async () => {
    let failedOnce = false;
    const handled: string[] = [];
    const bob = makeUser(emulator, 'bob', {
      dedupWindow: 50,
      handlerRetry: { minDelayMs: 50 },
      messageDelegate: {
        handleMessage: (messages) => {
          if (!failedOnce && payloads(messages).includes('important')) {
            failedOnce = true;
            throw new Error('database unavailable');
          }
          handled.push(...payloads(messages));
        },
      },
    });
    const alice = makeUser(emulator, 'alice');
    await Promise.all([alice.user.login(), bob.user.login()]);
    await alice.user.sendMessageAndWait('bob', text('important'));
    await until(() => failedOnce);
    for (let i = 0; i < 120; i++) alice.user.sendMessage('bob', text(`live ${i}`), { isStore: false });
    await until(() => handled.length === 121, 10_000, 'every message handled');
    expect(handled[0]).toBe('important');
    expect(new Set(handled).size).toBe(121);
  });

  it('2: a handler that never settles times out; later messages flow and the user’s own sends are acked meanwhile', async () => {
    const letters: DeadLetter[] = [];
    let hung = 0;
    const handled: string[] = [];
    const bob = makeUser(emulator, 'bob', {
      handlerTimeoutMs: 300,
      handlerRetry: { maxAttempts: 2, minDelayMs: 10 },
      messageDelegate: {
        handleMessage: (messages) => {
          if (payloads(messages).includes('stuck')) {
            hung += 1;
            return new Promise<void>(() => undefined);
          }
          handled.push(...payloads(messages));
        },
        handleDeadLetter: (letter) => void letters.push(letter),
      },
    });
    const alice = makeUser(emulator, 'alice');
    await Promise.all([alice.user.login(), bob.user.login()]);
    await alice.user.sendMessageAndWait('bob', text('stuck'));
    await until(() => hung === 1);
    // while the handler hangs, bob's own traffic is unaffected
    await expect(bob.user.sendMessageAndWait('alice', text('still here'))).resolves.toMatchObject({ errorMsg: '' });
    expect(bob.user.state).toBe('online');
    await alice.user.sendMessageAndWait('bob', text('after'));
    await until(() => handled.includes('after'), 5000, "'after' handled");
    expect(hung).toBe(2);
    expect(letters).toHaveLength(1);
    expect(letters[0]!.error.code).toBe(ErrorCode.HANDLER_TIMEOUT);
    expect(bob.user.metrics()).toMatchObject({ handlerTimeouts: 2, deadLettered: 1 });
  });

  it('3: one throw does not stall reception: every message is handled and acknowledged without pull()', async () => {
    let calls = 0;
    const handled: string[] = [];
    const bob = makeUser(emulator, 'bob', {
      resource: 'bob_main',
      handlerRetry: { minDelayMs: 10 },
      messageDelegate: {
        handleMessage: (messages) => {
          calls += 1;
          if (calls === 1) throw new Error('bug');
          handled.push(...payloads(messages));
        },
      },
    });
    const alice = makeUser(emulator, 'alice');
    await Promise.all([alice.user.login(), bob.user.login()]);
    for (let i = 0; i < 6; i++) await alice.user.sendMessageAndWait('bob', text(`m${i}`));
    await until(() => handled.length === 6, 5000, 'six handled');
    expect(handled).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
    await bob.user.logout();
    // acknowledged: the next login on the resource brings only what is new
    const again = makeUser(emulator, 'bob', { resource: 'bob_main' });
    await again.user.login();
    await alice.user.sendMessageAndWait('bob', text('new'));
    await until(() => again.seen.messages.length > 0);
    expect(payloads(again.seen.messages)).toEqual(['new']);
  });

  it('4: a failing group handler does not hand the already handled P2P message of the same list over again', async () => {
    const alice = makeUser(emulator, 'alice');
    await alice.user.login();
    const topicId = emulator.createTopic('alice', ['bob']);
    await alice.user.sendMessageAndWait('bob', text('direct'));
    await alice.user.sendGroupMessageAndWait(topicId, text('group'));
    let groupCalls = 0;
    const direct: string[] = [];
    const group: string[] = [];
    const bob = makeUser(emulator, 'bob', {
      resource: 'bob_main',
      handlerRetry: { minDelayMs: 10 },
      messageDelegate: {
        handleMessage: (messages) => void direct.push(...payloads(messages)),
        handleGroupMessage: (messages) => {
          groupCalls += 1;
          if (groupCalls === 1) throw new Error('group store down');
          group.push(...messages.map((m) => str(m.payload)));
        },
      },
    });
    await bob.user.login(); // both arrive in the offline flush, one list
    await until(() => group.length === 1, 5000, 'group handled');
    await bob.user.logout();
    await bob.user.login();
    await alice.user.sendMessageAndWait('bob', text('marker'));
    await until(() => direct.includes('marker'));
    expect(direct).toEqual(['direct', 'marker']);
    expect(group).toEqual(['group']);
  });

  it('5: logout() in the tick a handler finished writes the ack before UBND and nothing after it', async () => {
    let loggedOut: Promise<void> | undefined;
    const bob = makeUser(emulator, 'bob', {
      resource: 'bob_main',
      messageDelegate: {
        handleMessage: () => {
          process.nextTick(() => (loggedOut = bob.user.logout())); // before the SDK's continuation runs
        },
      },
    });
    const alice = makeUser(emulator, 'alice');
    await Promise.all([alice.user.login(), bob.user.login()]);
    await alice.user.sendMessageAndWait('bob', text('once'));
    await until(() => loggedOut !== undefined);
    await loggedOut;
    expect(emulator.stats.rejectedFrames).toBe(0);
    const again = makeUser(emulator, 'bob', { resource: 'bob_main' });
    await again.user.login();
    await alice.user.sendMessageAndWait('bob', text('marker'));
    await until(() => again.seen.messages.length > 0);
    expect(payloads(again.seen.messages)).toEqual(['marker']);
  });

  it('7: the dedup window starts empty: a negative sequence is new, and the window never forgets one still in progress', () => {
    const window = new SequenceWindow(2);
    expect(window.has(-5n)).toBe(false);
    window.add(-5n);
    expect(window.has(-5n)).toBe(true);
    // 10 is still being handled: finished sequences above it are kept even past the capacity
    for (const s of [11n, 12n, 13n]) window.add(s, 10n);
    expect(window.has(10n)).toBe(false);
    expect(window.has(11n)).toBe(true);
  });

  it('8: an iterator nobody reads never blocks the delegates; what it misses is counted', async () => {
    const handled: string[] = [];
    const bob = makeUser(emulator, 'bob', {
      messageDelegate: { handleMessage: (messages) => void handled.push(...payloads(messages)) },
    });
    bob.user.messages(10); // never read
    const alice = makeUser(emulator, 'alice', { maxPendingMessages: 1000 });
    await Promise.all([alice.user.login(), bob.user.login()]);
    for (let i = 0; i < 200; i++) alice.user.sendMessage('bob', text(`m${i}`));
    await until(() => handled.length === 200, 10_000, 'all 200 handled');
    expect(bob.user.metrics().iteratorDropped).toBe(190);
  });
});

describe('6: verified frames before a corrupt one are handled before the close', () => {
  const body = (n: number) => new Uint8Array([n, n, n]);
  const corrupt = (frame: Uint8Array) => {
    const bad = Uint8Array.from(frame);
    bad[bad.length - 1]! ^= 0xff;
    return bad;
  };

  it('FrameDecoder.decode returns the valid frames and then the error', () => {
    const decoder = new FrameDecoder();
    const chunk = Buffer.concat([encodeFrame(body(1)), encodeFrame(body(2)), corrupt(encodeFrame(body(3)))]);
    const { frames, error } = decoder.decode(chunk);
    expect(frames.map((f) => [...f])).toEqual([[1, 1, 1], [2, 2, 2]]);
    expect(error?.code).toBe(ErrorCode.BAD_CHECKSUM);
    expect(decoder.decode(encodeFrame(body(4))).error?.code).toBe(ErrorCode.MALFORMED_FRAME);
  });

  it('the client connection hands a valid frame to its owner, then closes with the error', async () => {
    const server: Server = createServer((socket) => socket.end(Buffer.concat([encodeFrame(body(7)), corrupt(encodeFrame(body(8)))])));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const frames: number[][] = [];
      const closed = new Promise<string | undefined>((resolve) => {
        void FrameConnection.open(
          { host: '127.0.0.1', port: (server.address() as AddressInfo).port, connectTimeoutMs: 2000, maxFrameBody: 1024 },
          { onFrame: (f) => void frames.push([...f]), onClose: (err) => resolve(err?.code) },
        );
      });
      expect(await closed).toBe(ErrorCode.BAD_CHECKSUM);
      expect(frames).toEqual([[7, 7, 7]]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('the emulator routes a valid message written together with a corrupt frame, then refuses the connection', async () => {
    const bob = await loginRaw(emulator, 'bob', 'rb');
    const alice = await loginRaw(emulator, 'alice', 'ra');
    try {
      const valid = (() => {
        let frame!: Uint8Array;
        const send = alice.send.bind(alice);
        alice.send = (bytes: Uint8Array) => void (frame = bytes);
        alice.sendP2P('bob', 'before the corruption');
        alice.send = send;
        return frame;
      })();
      alice.send(Buffer.concat([valid, corrupt(encodeFrame(body(9)))]));
      const list = await bob.nextCompound();
      expect(list.packets).toHaveLength(1);
      await alice.waitClosed();
      expect(emulator.stats.rejectedFrames).toBe(1);
    } finally {
      alice.close();
      bob.close();
    }
  });
});
