import { once } from 'node:events';
import type { AddressInfo, Server } from 'node:net';

/** Starts `server` listening; resolves with the bound port, or rejects with the listen error (e.g. EADDRINUSE). */
export async function listenOn(server: Server, host: string, port: number, backlog?: number): Promise<number> {
  server.listen({ host, port, ...(backlog === undefined ? {} : { backlog }) });
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([err]) => {
      throw err;
    }),
  ]);
  return (server.address() as AddressInfo).port;
}
