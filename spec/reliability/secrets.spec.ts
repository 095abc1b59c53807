/**
 * A full session with everything logged at trace level, the SDK's and the emulator's, searched
 * for secrets afterwards: tokens, security keys, the app secret, and message payloads (as text,
 * base64, base64url, hex and as the byte lists a serialized Uint8Array would show).
 */
import { Writable } from 'node:stream';
import { jest } from '@jest/globals';
import { pino } from 'pino';
import { HttpTokenFetcher } from '../../lib/user/token.js';
import { Harness, logCapture, sleep, waitFor, type Tracked } from '../helpers/invariants.js';

jest.setTimeout(30_000);

let h: Harness | undefined;

afterEach(async () => {
  await h?.shutdown();
  h = undefined;
});

/** A pino logger with no redaction at all: whatever the code hands it ends up in the text. */
function rawCapture(): { logger: pino.Logger; text(): string } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, callback) {
      chunks.push(String(chunk));
      callback();
    },
  });
  return { logger: pino({ level: 'trace' }, sink), text: () => chunks.join('') };
}

/** Every textual form of `bytes` that a careless log line could carry. */
function forms(bytes: Uint8Array): string[] {
  const b = Buffer.from(bytes);
  const list = [...b.subarray(0, 12)].join(',');
  return [
    b.toString('base64'),
    b.toString('base64url'),
    b.toString('hex'),
    b.toString('hex').toUpperCase(),
    list, // JSON of a Buffer's data / an array
    `"0":${b[0]},"1":${b[1]},"2":${b[2]}`, // JSON of a Uint8Array
  ];
}

describe('secrets never reach a log line', () => {
  it('a full session (login, P2P, P2T, reconnect, token refresh, failures, logout) at trace level', async () => {
    const emulatorLog = rawCapture();
    const sdkLog = logCapture('trace'); // the SDK's own logger, with its redaction rules
    const unredacted = rawCapture(); // and one without any, for the SDK's own discipline
    h = await Harness.start({ emulator: { logger: emulatorLog.logger, tokenTtlMs: 60 * 60 * 1000 }, useResolver: true });
    const emulator = h.emulator;
    const tokens: string[] = [];
    const fetcher = (account: string) => {
      const http = new HttpTokenFetcher({ appId: emulator.app.appId, appKey: emulator.app.appKey, appSecret: emulator.app.appSecret, appAccount: account, url: emulator.tokenUrl });
      return {
        fetchToken: async () => {
          const json = await http.fetchToken();
          tokens.push(json);
          return json;
        },
      };
    };
    const alice = h.user('alice', { logger: sdkLog.logger, tokenDelegate: fetcher('alice') });
    const bob = h.user('bob', { logger: unredacted.logger, tokenDelegate: fetcher('bob') });
    const carol = h.user('carol', { logger: sdkLog.logger, tokenDelegate: fetcher('carol') });
    await h.loginAll();
    const topic = h.createTopic(alice, [bob, carol]);

    // payloads: readable text and raw bytes
    const secretText = `payload-secret-${Date.now().toString(36)}-do-not-log`;
    const secretBytes = Uint8Array.from({ length: 48 }, (_, i) => (i * 97 + 13) & 0xff);
    const payloads: Uint8Array[] = [Buffer.from(secretText), secretBytes];
    const send = (from: Tracked, to: string | bigint, payload: Uint8Array) =>
      typeof to === 'bigint' ? h!.sendGroup(from, to, { payload }) : h!.send(from, to, { payload });

    send(alice, 'bob', payloads[0]!);
    send(bob, 'alice', payloads[1]!);
    send(carol, topic, payloads[0]!);
    send(alice, topic, payloads[1]!);
    await waitFor(() => bob.user.metrics().received >= 3 && alice.user.metrics().received >= 2, 5000);

    // reconnect
    emulator.faults.dropConnections();
    await waitFor(() => alice.user.isOnline && bob.user.isOnline && carol.user.isOnline, 5000);
    send(alice, 'bob', payloads[1]!);
    // token refresh
    emulator.faults.expireTokens();
    await sleep(50);
    await waitFor(() => alice.user.isOnline && bob.user.isOnline && carol.user.isOnline, 5000);
    send(bob, topic, payloads[0]!);
    // failures that log: a timed-out send, a corrupt frame, an oversized frame, a throwing handler
    emulator.faults.dropAcks(true);
    send(alice, 'carol', payloads[0]!);
    await sleep(1200);
    emulator.faults.dropAcks(false);
    emulator.faults.corruptNextFrame('bob');
    send(alice, 'bob', payloads[1]!);
    await waitFor(() => bob.user.isOnline, 5000);
    emulator.faults.sendOversizedFrame('carol');
    carol.handler = () => {
      throw new Error('handler failed');
    };
    send(alice, 'carol', payloads[0]!);
    await sleep(300);
    carol.handler = undefined;
    await waitFor(() => carol.user.isOnline, 5000);
    send(alice, 'carol', payloads[1]!);
    await sleep(200);
    // logout
    expect(await h.settle()).toBe(true);
    await Promise.all([alice.user.logout(), bob.user.logout(), carol.user.logout()]);

    const texts = { sdk: sdkLog.text(), unredacted: unredacted.text(), emulator: emulatorLog.text() };
    for (const text of Object.values(texts)) expect(text.length).toBeGreaterThan(1000);
    // the session really went through the paths above
    expect(texts.sdk).toContain('connection lost');
    expect(texts.sdk).toContain('ERR_FRAME_TOO_LARGE');
    expect(texts.unredacted).toContain('ERR_BAD_CHECKSUM');
    expect(texts.emulator).toContain('fault: tokens expired');
    expect(tokens.length).toBeGreaterThanOrEqual(6);

    const secrets: Array<[string, string]> = [['app secret', emulator.app.appSecret]];
    for (const json of tokens) {
      const data = (JSON.parse(json) as { data: { token: string; miUserSecurityKey: string } }).data;
      secrets.push(['token', data.token], ['security key', data.miUserSecurityKey], ...forms(Buffer.from(data.miUserSecurityKey, 'base64')).map((f) => ['security key bytes', f] as [string, string]));
    }
    secrets.push(['payload text', secretText]);
    for (const payload of payloads) for (const f of forms(payload)) secrets.push(['payload bytes', f]);

    const leaks: string[] = [];
    for (const [where, text] of Object.entries(texts)) {
      for (const [what, secret] of secrets) if (text.includes(secret)) leaks.push(`${where} log contains the ${what}`);
    }
    expect(leaks).toEqual([]);
    expect(h.violations()).toEqual([]);
  });
});
