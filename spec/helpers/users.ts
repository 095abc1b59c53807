import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { createLogger } from '../../lib/user/logger.js';
import { MCUser } from '../../lib/user/mcuser.js';
import type { MCUserOptions, P2PMessage, P2TMessage, ServerAck } from '../../lib/user/types.js';
import type { Emulator } from '../../lib/emulator/index.js';
import { endpointOptions } from './transport.js';

/** Everything a user's delegates saw, for assertions. */
export interface Recorder {
  messages: P2PMessage[];
  groupMessages: P2TMessage[];
  acks: ServerAck[];
  timeouts: string[];
  statuses: Array<{ online: boolean; type?: string; reason?: string }>;
}

export interface TestUser {
  user: MCUser;
  seen: Recorder;
}

const live = new Set<MCUser>();

/**
 * A user wired to the emulator through the resolver (as in production), or over WebSocket in the
 * websocket test project, recording every callback.
 */
export function makeUser(emulator: Emulator, appAccount: string, options: Partial<MCUserOptions> = {}): TestUser {
  const seen: Recorder = { messages: [], groupMessages: [], acks: [], timeouts: [], statuses: [] };
  const user = new MCUser({
    appId: emulator.app.appId,
    appAccount,
    resolverUrl: emulator.resolverUrl,
    ...endpointOptions(emulator, options, {}),
    tokenDelegate: { fetchToken: () => emulator.fetchToken(appAccount) },
    statusDelegate: {
      handleChange: (online, type, reason) => {
        seen.statuses.push({ online, ...(type === undefined ? {} : { type }), ...(reason === undefined ? {} : { reason }) });
      },
    },
    messageDelegate: {
      handleMessage: (messages) => void seen.messages.push(...messages),
      handleGroupMessage: (messages) => void seen.groupMessages.push(...messages),
      handleServerAck: (ack) => void seen.acks.push(ack),
      handleSendMessageTimeout: (m) => void seen.timeouts.push(m.packetId),
      handleSendGroupMessageTimeout: (m) => void seen.timeouts.push(m.packetId),
    },
    ...options,
  });
  live.add(user);
  return { user, seen };
}

/** Destroys every user made by makeUser; call in afterEach. */
export function destroyUsers(): void {
  for (const user of live) user.destroy();
  live.clear();
}

/** Resolves when `predicate` holds, re-checking on every event loop turn (bounded by `timeoutMs`). */
export async function until(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const str = (b: Uint8Array): string => new TextDecoder().decode(b);

/** The SDK's logger at the most verbose level, writing into a string to inspect what gets logged. */
export function captureLogger(): { logger: Logger; output: () => string } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return { logger: createLogger({ level: 'trace', destination: sink }), output: () => chunks.join('') };
}
