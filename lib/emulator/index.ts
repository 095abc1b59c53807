/**
 * A local, strict MIMC-compatible server: token service, resolver and the binary frontend,
 * plus fault injection and an admin API. For demos, tests and benchmarks; never for real secrets.
 */
import { EmulatorCore } from './core.js';
import { Faults } from './faults.js';
import { Frontend } from './frontend.js';
import { ADMIN_PATH, HttpService, RESOLVER_PATH, TOKEN_PATH, checkAccountName, tokenBody } from './http.js';
import { resolveOptions } from './options.js';
import { WebSocketFrontend } from './ws-frontend.js';
import type { Emulator, EmulatorApp, EmulatorFaults, EmulatorOptions, EmulatorStats, OnlineSession } from './types.js';

export type { Emulator, EmulatorApp, EmulatorFaults, EmulatorOptions, EmulatorStats, OnlineSession } from './types.js';
export { DEFAULT_APP } from './options.js';

/** Formats host:port for URLs and resolver answers (IPv6 in brackets; wildcards as loopback). */
function reachable(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

class EmulatorImpl implements Emulator {
  readonly faults: EmulatorFaults;
  private closing: Promise<void> | null = null;
  private restarting: Promise<void> | null = null;

  constructor(
    private readonly core: EmulatorCore,
    private readonly fe: Frontend,
    private readonly wsFe: WebSocketFrontend | null,
    private readonly http: HttpService,
    private readonly publicHost: string,
  ) {
    this.faults = new Faults(core);
  }

  get tokenUrl(): string {
    return `http://${this.publicHost}:${this.http.port}${TOKEN_PATH}`;
  }

  get resolverUrl(): string {
    return `http://${this.publicHost}:${this.http.port}${RESOLVER_PATH}`;
  }

  get adminUrl(): string {
    return `http://${this.publicHost}:${this.http.port}${ADMIN_PATH}`;
  }

  get restUrl(): string {
    return `http://${this.publicHost}:${this.http.port}`;
  }

  get frontend(): { host: string; port: number } {
    return { host: this.core.options.host, port: this.fe.port };
  }

  /** host:port as the resolver hands it out. */
  frontendAddress(): string {
    return `${this.publicHost}:${this.fe.port}`;
  }

  get websocketUrl(): string | undefined {
    if (!this.wsFe) return undefined;
    return `${this.wsFe.secure ? 'wss' : 'ws'}://${this.publicHost}:${this.wsFe.port}/`;
  }

  get app(): EmulatorApp {
    return { ...this.core.app };
  }

  get stats(): Readonly<EmulatorStats> {
    return this.core.stats;
  }

  async fetchToken(appAccount: string): Promise<string> {
    return tokenBody(this.core, checkAccountName(appAccount));
  }

  uuidOf(appAccount: string): bigint {
    return this.core.store.account(checkAccountName(appAccount)).uuid;
  }

  createTopic(ownerAccount: string, memberAccounts: string[] = []): bigint {
    return this.core.createTopic(checkAccountName(ownerAccount), memberAccounts.map((a) => checkAccountName(a))).id;
  }

  addTopicMembers(topicId: bigint, accounts: string[]): void {
    this.core.addTopicMembers(topicId, accounts.map((a) => checkAccountName(a)));
  }

  removeTopicMembers(topicId: bigint, accounts: string[]): void {
    this.core.removeTopicMembers(topicId, accounts);
  }

  createUnlimitedGroup(ownerAccount: string, name = ''): bigint {
    return this.core.unlimited.create(this.core.store.account(checkAccountName(ownerAccount)), name).topicId;
  }

  dismissUnlimitedGroup(topicId: bigint): boolean {
    const group = this.core.unlimited.group(topicId);
    if (group) this.core.unlimited.dismiss(group);
    return group !== undefined;
  }

  unlimitedGroupStats(topicId: bigint): { members: number; online: number; stored: number } | undefined {
    const group = this.core.unlimited.group(topicId);
    if (!group) return undefined;
    return { members: group.members.size, online: this.core.unlimited.onlineCount(group), stored: group.stored.length };
  }

  onlineResources(appAccount: string): string[] {
    return this.core.onlineResources(appAccount);
  }

  /** The bound resources of an account with their BIND choices (SSO, client and cloud attributes). */
  onlineSessions(appAccount: string): OnlineSession[] {
    return this.core.onlineSessions(appAccount);
  }

  storedCount(appAccount: string): number {
    return this.core.store.findAccount(appAccount)?.store.size ?? 0;
  }

  setCallbackUrls(urls: { instant?: string; offline?: string }): void {
    this.core.callbacks.setUrls(urls);
  }

  get pendingCallbacks(): number {
    return this.core.callbacks.pending;
  }

  restartFrontend(): Promise<void> {
    if (this.closing) return Promise.reject(new Error('emulator is closed'));
    this.restarting ??= (async () => {
      try {
        this.core.log.info('restarting frontend');
        await Promise.all([this.fe.close(), this.wsFe?.close()]);
        await this.fe.listen();
        await this.wsFe?.listen();
      } finally {
        this.restarting = null;
      }
    })();
    return this.restarting;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.restarting?.catch(() => undefined);
      this.core.callbacks.close();
      await Promise.all([this.fe.close(), this.wsFe?.close(), this.http.close()]);
      this.core.faultState.reset();
      this.core.log.info('emulator closed');
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Starts the frontend and HTTP listeners; resolves once both listen. */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const resolved = resolveOptions(options);
  const log = resolved.logger.child({ component: 'mimc-emulator' });
  const core = new EmulatorCore(resolved, log);
  const fe = new Frontend(core, resolved.host, resolved.port);
  const ws = resolved.websocket;
  const wsFe = ws ? new WebSocketFrontend(core, resolved.host, ws.port, ws.tls) : null;
  let emulator: EmulatorImpl | null = null;
  const http = new HttpService(
    {
      core,
      faults: new Faults(core),
      frontendAddress: () => emulator!.frontendAddress(),
      restartFrontend: () => emulator!.restartFrontend(),
    },
    resolved.host,
    resolved.httpPort,
  );
  await fe.listen();
  try {
    await wsFe?.listen();
    await http.listen();
  } catch (err) {
    await Promise.all([fe.close(), wsFe?.close()]);
    throw err;
  }
  emulator = new EmulatorImpl(core, fe, wsFe, http, reachable(resolved.host));
  log.info({ tokenUrl: emulator.tokenUrl, frontend: emulator.frontendAddress(), websocketUrl: emulator.websocketUrl }, 'emulator started');
  return emulator;
}
