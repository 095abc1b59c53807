/**
 * What the examples share: credentials for the real service from the environment, or an
 * embedded emulator when none are given.
 */
import { HttpTokenFetcher, MIMCRestClient, type MCUserOptions } from '../lib/index.js';
import { startEmulator, type Emulator } from '../lib/emulator/index.js';

export interface Backend {
  /** MCUser options (appId, token delegate, endpoints) for `account`. */
  userOptions(account: string): Pick<MCUserOptions, 'appId' | 'appAccount' | 'tokenDelegate' | 'resolverUrl'>;
  /** The server-side REST API of the same app (topics, push). */
  rest: MIMCRestClient;
  /** The emulator, when no real credentials were given. */
  emulator: Emulator | undefined;
  close(): Promise<void>;
}

/** Real MIMC when MIMC_APP_ID, MIMC_APP_KEY and MIMC_APP_SECRET are set; otherwise a fresh emulator. */
export async function connectBackend(env: NodeJS.ProcessEnv = process.env): Promise<Backend> {
  const { MIMC_APP_ID: appId, MIMC_APP_KEY: appKey, MIMC_APP_SECRET: appSecret } = env;
  if (appId && appKey && appSecret) {
    return {
      emulator: undefined,
      rest: new MIMCRestClient({ appId, appKey, appSecret }),
      userOptions: (account) => ({
        appId,
        appAccount: account,
        tokenDelegate: new HttpTokenFetcher({ appId, appKey, appSecret, appAccount: account }),
      }),
      close: async () => undefined,
    };
  }
  const emulator = await startEmulator();
  return {
    emulator,
    rest: new MIMCRestClient({ ...emulator.app, baseUrl: emulator.restUrl }),
    userOptions: (account) => ({
      appId: emulator.app.appId,
      appAccount: account,
      resolverUrl: emulator.resolverUrl,
      tokenDelegate: new HttpTokenFetcher({ ...emulator.app, appAccount: account, url: emulator.tokenUrl }),
    }),
    close: () => emulator.close(),
  };
}

/** True when the module at `url` is the script node was started with. */
export function isMain(url: string): boolean {
  return process.argv[1] !== undefined && new URL(url).pathname === new URL(`file://${process.argv[1]}`).pathname;
}
