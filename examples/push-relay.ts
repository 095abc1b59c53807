/**
 * A push relay: an HTTP endpoint that turns requests into MIMC messages and answers with the
 * server ack.
 *
 *   PORT=8080 npm run ts examples/push-relay.ts  # listens on PORT (default: any free port)
 *   curl -XPOST localhost:8080/p2p -d '{"to":"bob","text":"hi"}'
 *   curl -XPOST localhost:8080/topics -d '{"name":"news","members":["bob"]}'   # → {"topicId":"…"}
 *   curl -XPOST localhost:8080/p2t -d '{"topicId":"<the topicId above>","text":"hi all"}'
 *
 * `/p2p` and `/p2t` body fields: `to` or `topicId` (a string: ids exceed 2^53), `text`, optional
 * `isStore`, `bizType`; they answer 200 {packetId, sequence, timestamp}. `/topics` creates a topic
 * owned by the relay's account (`name`, `members`) through the REST API and answers 200 {topicId}.
 * Failures answer {error: {code, message}} with 400/404/502/503/504.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, MCUser, MIMCError, createLogger } from '../lib/index.js';
import { connectBackend, isMain, type Backend } from './shared.js';

const MAX_BODY = 64 * 1024;

const STATUS_OF: Partial<Record<string, number>> = {
  [ErrorCode.INVALID_ARGUMENT]: 400,
  [ErrorCode.PAYLOAD_TOO_LARGE]: 413,
  [ErrorCode.SERVER_REJECTED]: 502,
  [ErrorCode.SEND_TIMEOUT]: 504,
  [ErrorCode.PENDING_FULL]: 503,
  [ErrorCode.NOT_LOGGED_IN]: 503,
  [ErrorCode.CLOSED]: 503,
  [ErrorCode.API_ERROR]: 502,
  [ErrorCode.HTTP_ERROR]: 502,
  [ErrorCode.HTTP_TIMEOUT]: 504,
};

export interface PushRelay {
  server: Server;
  url: string;
  user: MCUser;
  stop(): Promise<void>;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new MIMCError(ErrorCode.PAYLOAD_TOO_LARGE, 'request body too large');
    chunks.push(chunk as Buffer);
  }
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (typeof value === 'object' && value !== null) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'the body must be a JSON object');
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

export async function startPushRelay(backend: Backend, options: { account?: string; port?: number } = {}): Promise<PushRelay> {
  const account = options.account ?? 'push-relay';
  const user = new MCUser({ ...backend.userOptions(account), logger: createLogger({ level: 'warn' }) });
  await user.login();

  const server = createServer((req, res) => {
    void (async () => {
      try {
        if (req.method !== 'POST' || (req.url !== '/p2p' && req.url !== '/p2t' && req.url !== '/topics')) {
          return send(res, 404, { error: { code: 'NOT_FOUND', message: 'POST /p2p, /p2t or /topics' } });
        }
        const body = await readJson(req);
        if (req.url === '/topics') {
          const members = Array.isArray(body.members) && body.members.every((m) => typeof m === 'string') ? (body.members as string[]) : undefined;
          if (typeof body.name !== 'string' || !members) throw new MIMCError(ErrorCode.INVALID_ARGUMENT, '"name" must be a string and "members" a list of accounts');
          const topic = await backend.rest.createTopic(account, { topicName: body.name, accounts: members });
          return send(res, 200, { topicId: topic.topicInfo.topicId.toString() });
        }
        if (typeof body.text !== 'string') throw new MIMCError(ErrorCode.INVALID_ARGUMENT, '"text" must be a string');
        const payload = new TextEncoder().encode(body.text);
        const sendOptions = {
          ...(typeof body.isStore === 'boolean' ? { isStore: body.isStore } : {}),
          ...(typeof body.bizType === 'string' ? { bizType: body.bizType } : {}),
        };
        const ack =
          req.url === '/p2p'
            ? await user.sendMessageAndWait(body.to as string, payload, sendOptions)
            : await user.sendGroupMessageAndWait(body.topicId as string, payload, sendOptions);
        send(res, 200, { packetId: ack.packetId, sequence: ack.sequence.toString(), timestamp: ack.timestamp });
      } catch (err) {
        const code = MIMCError.is(err) ? err.code : 'ERR_INTERNAL';
        send(res, STATUS_OF[code] ?? 500, { error: { code, message: err instanceof Error ? err.message : 'failed' } });
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    user,
    stop: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await user.close({ drainTimeoutMs: 3_000 });
    },
  };
}

async function main(): Promise<void> {
  const backend = await connectBackend();
  const relay = await startPushRelay(backend, { port: Number(process.env.PORT ?? 0) });
  process.stdout.write(`push relay listening on ${relay.url} (POST /p2p, /topics, /p2t)\n`);
  const shutdown = async () => {
    await relay.stop();
    await backend.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
}

if (isMain(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`push relay failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
