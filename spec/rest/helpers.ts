/** Test helpers for the REST specs: a throwaway HTTP server on 127.0.0.1 with an OS-chosen port. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { MIMCError } from '../../lib/errors.js';

export interface TestServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const server = createServer(handler);
  server.listen({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Raw HTTP against a base URL: status and parsed text (JSON parsed exactly is left to the caller). */
export async function http(
  base: string,
  method: string,
  path: string,
  options: { body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; text: string; json: { code: number; message: string; data: unknown } }> {
  const response = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json', ...options.headers },
    ...(options.body === undefined ? {} : { body: options.body }),
  });
  const text = await response.text();
  let json: { code: number; message: string; data: unknown };
  try {
    json = JSON.parse(text) as typeof json;
  } catch {
    json = { code: -1, message: text, data: null };
  }
  return { status: response.status, text, json };
}

/** The rejection of `promise` as a MIMCError (fails the test if it resolves or rejects with anything else). */
export async function mimcRejection(promise: Promise<unknown>): Promise<MIMCError> {
  try {
    await promise;
  } catch (err) {
    if (!MIMCError.is(err)) throw err;
    return err;
  }
  throw new Error('expected a rejection');
}

/**
 * Answers 200 with the start of a JSON envelope, then writes `chunkBytes` chunks (honouring
 * backpressure) until the client goes away; resolves with the bytes written.
 */
export function endlessAnswer(res: ServerResponse, chunkBytes = 64 * 1024): Promise<number> {
  const chunk = Buffer.alloc(chunkBytes, 0x20);
  let written = 0;
  return new Promise((resolve) => {
    let closed = false;
    res.on('close', () => {
      closed = true;
      resolve(written);
    });
    const pump = (): void => {
      while (!closed) {
        written += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
    };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"code":200,"message":"success","data":"');
    pump();
  });
}
