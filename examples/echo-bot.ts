/**
 * An echo chatbot backend: one MCUser that answers every P2P message with "echo: <text>".
 *
 *   npm run ts examples/echo-bot.ts
 *
 * With MIMC_APP_ID / MIMC_APP_KEY / MIMC_APP_SECRET it serves the real MIMC app; without them it
 * starts an emulator and a sample user that talks to the bot. SIGTERM/SIGINT shut it down cleanly.
 */
import { MCUser, createLogger, type P2PMessage } from '../lib/index.js';
import { connectBackend, isMain, type Backend } from './shared.js';

export interface EchoBot {
  user: MCUser;
  stop(): Promise<void>;
}

export async function startEchoBot(backend: Backend, account = 'echo-bot'): Promise<EchoBot> {
  const user = new MCUser({
    ...backend.userOptions(account),
    logger: createLogger({ level: process.env.LOG_LEVEL ?? 'warn' }),
    messageDelegate: {
      // Awaited: the server only gets the ack for these messages once the replies are queued.
      handleMessage: async (messages: P2PMessage[]) => {
        for (const m of messages) {
          const reply = `echo: ${new TextDecoder().decode(m.payload)}`;
          user.sendMessage(m.fromAccount, new TextEncoder().encode(reply), { bizType: m.bizType || 'echo' });
        }
      },
    },
  });
  await user.login();
  return {
    user,
    stop: async () => {
      const report = await user.close({ drainTimeoutMs: 3_000 });
      if (report.timedOut > 0) process.stderr.write(`${report.timedOut} replies were not acknowledged\n`);
    },
  };
}

async function main(): Promise<void> {
  const backend = await connectBackend();
  const bot = await startEchoBot(backend);
  process.stdout.write(`echo bot online as ${bot.user.appAccount} (${bot.user.resource})\n`);

  let sample: MCUser | undefined;
  if (backend.emulator) {
    // No real app: show the bot working with a user of our own.
    sample = new MCUser({
      ...backend.userOptions('visitor'),
      messageDelegate: {
        handleMessage: (messages) => {
          for (const m of messages) process.stdout.write(`visitor <- ${m.fromAccount}: ${new TextDecoder().decode(m.payload)}\n`);
        },
      },
    });
    await sample.login();
    sample.sendMessage('echo-bot', new TextEncoder().encode('hello bot'));
  }

  const shutdown = async (signal: string) => {
    process.stdout.write(`${signal}: shutting down\n`);
    await sample?.close();
    await bot.stop();
    await backend.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}

if (isMain(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`echo bot failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
