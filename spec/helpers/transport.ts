/**
 * The transport the messaging specs run over. jest.config.js runs them twice: the `tcp` project
 * and the `websocket` project, which sets the global MIMC_TEST_TRANSPORT.
 */
import type { Emulator } from '../../lib/emulator/index.js';
import type { MCUserOptions } from '../../lib/user/types.js';

export type TestTransport = 'tcp' | 'websocket';

export const testTransport: TestTransport = (globalThis as { MIMC_TEST_TRANSPORT?: string }).MIMC_TEST_TRANSPORT === 'websocket' ? 'websocket' : 'tcp';

/**
 * Options putting a user on the transport under test: over WebSocket, the emulator's ws:// URL
 * instead of the resolver or a TCP address. A test that chose its endpoint (a frontendAddress
 * or a transport of its own) keeps it.
 */
export function endpointOptions(emulator: Emulator, chosen: Partial<MCUserOptions>, tcp: Partial<MCUserOptions>): Partial<MCUserOptions> {
  if (chosen.frontendAddress !== undefined || chosen.transport !== undefined) return {};
  if (testTransport === 'tcp') return tcp;
  return { transport: 'websocket', websocket: { url: emulator.websocketUrl! } };
}
