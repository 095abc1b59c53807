/** Public types of the local MIMC emulator (re-exported by index.ts). */
import type { Logger } from 'pino';

export interface EmulatorOptions {
  /** Interface for both listeners; default '127.0.0.1'. */
  host?: string;
  /** Frontend (binary protocol) TCP port; default 0 = chosen by the OS. */
  port?: number;
  /** Token, resolver and admin HTTP port; default 0 = chosen by the OS. */
  httpPort?: number;
  /**
   * The WebSocket frontend (the same protocol as the WebJS SDK, sharing all state with the TCP
   * frontend). Default `true`: ws:// on a port chosen by the OS. `false` turns it off; `tls`
   * (PEM key and certificate) serves wss:// instead.
   */
  websocket?: boolean | { port?: number; tls?: { key: string | Buffer; cert: string | Buffer } };
  /** Application id; default 2882303761517479657n (larger than 2^53 on purpose). */
  appId?: bigint | string;
  appKey?: string;
  appSecret?: string;
  appPackage?: string;
  /** Domain the token advertises and the resolver answers for; default 'app.chat.xiaomi.net'. */
  feDomainName?: string;
  /** Token lifetime; default 24 h. */
  tokenTtlMs?: number;
  /** Most stored (isStore) messages kept per account; the oldest are dropped and counted. Default 10 000. */
  offlineStoreLimit?: number;
  /** Most packets per COMPOUND frame. Default 100. */
  compoundBatchSize?: number;
  /**
   * About the most bytes of packets per COMPOUND frame (a single larger message still goes alone).
   * Default 60 KiB: the frame body then fits the 64 KiB body keystream that both ends cache per
   * connection, so crypting it is an XOR rather than RC4. Never more than `maxFrameBody` allows.
   */
  compoundMaxBytes?: number;
  /**
   * Full COMPOUND batches a resource may have delivered but not yet acknowledged (SEQUENCE_ACK):
   * delivery waits beyond `compoundBatchSize * maxUnackedBatches` unacknowledged stored
   * messages. Acks are cumulative; a reconnect or PULL redelivers from the acknowledged point.
   * Default 4 (1 is the stricter pacing of one batch at a time).
   */
  maxUnackedBatches?: number;
  /** Largest accepted inbound frame body; default 1 MiB. */
  maxFrameBody?: number;
  /** Close connections that sent nothing for this long; default 60 000 ms. */
  idleTimeoutMs?: number;
  /** Close connections that have not bound this long after connecting / after CONN; default 10 000 ms. */
  bindTimeoutMs?: number;
  /**
   * Extension: close a connection whose socket holds more than this many unwritten bytes
   * (a reader that does not keep up). Default 8 MiB.
   */
  maxQueuedBytes?: number;
  /** pino logger; default silent. Tokens, keys, secrets and payload bytes are never logged. */
  logger?: Logger;
  /** Instant message callback URL (NORMAL_MSG, NORMAL_TOPIC_MSG); default none. */
  callbackUrl?: string;
  /** Offline message callback URL (OFFLINE_MSG, OFFLINE_TOPIC_MSG); default `callbackUrl`. */
  offlineCallbackUrl?: string;
  /** Delay before each callback retry; one entry per retry. Default MIMC's [5000, 30000, 300000]. */
  callbackRetryDelaysMs?: number[];
  /** A callback attempt without an answer after this long failed; default 5000 ms. */
  callbackTimeoutMs?: number;
  /** History entries kept per conversation (P2P pair or topic); default 10 000. */
  historyLimit?: number;
  /** Largest decoded payload of a REST push; default 10 240 bytes (the SDKs' MIMC_MAX_PAYLOAD_SIZE). */
  maxPushPayloadBytes?: number;
  /** Most members of a topic created or grown through the REST API; default 500. */
  maxTopicMembers?: number;
  /**
   * Extension: largest inbound frame body before BIND succeeds (CONN, BIND); a larger head closes
   * the connection at once (counted in `preBindFramesRefused`). Default 4096, at least 1024.
   */
  maxPreBindFrameBody?: number;
  /**
   * Extension: most accounts kept. Beyond it whatever would create one is refused: the token
   * service and REST calls answer HTTP 429 (code 429), a P2P message gets PACKET_ACK code 429,
   * `uuidOf`/`fetchToken`/`createTopic` throw ERR_LIMIT_REACHED. Counted in `accountsRefused`. Default 100 000.
   */
  maxAccounts?: number;
  /** Extension: most callback requests in flight at once; further events wait in the queue. Default 64. */
  callbackMaxInFlight?: number;
  /**
   * Extension: most callback events waiting (for a free request slot or for their retry). An event
   * beyond it is dropped and counted in `callbacksDropped`. Default 10 000.
   */
  callbackMaxQueued?: number;
  /** Extension: most unlimited groups at once; creating one more is HTTP 429 / ERR_LIMIT_REACHED. Default 10 000. */
  maxUnlimitedGroups?: number;
  /** Extension: stored messages kept per unlimited group (the oldest go first; a member behind them skips them). Default 10 000. */
  unlimitedGroupStoreLimit?: number;
}

export interface EmulatorApp {
  appId: bigint;
  appKey: string;
  appSecret: string;
  appPackage: string;
  feDomainName: string;
}

export interface EmulatorStats {
  /** Extension: accounts known (created by a token, a push, a message, a topic or a blacklist). */
  accounts: number;
  /** Extension: requests and messages refused because `maxAccounts` was reached. */
  accountsRefused: number;
  /** Extension: connections closed because a frame before BIND exceeded `maxPreBindFrameBody` (also in `rejectedFrames`). */
  preBindFramesRefused: number;
  /** TCP connections open right now. */
  connections: number;
  /** (uuid, resource) sessions bound right now. */
  bound: number;
  /** Frames received (including empty frames). */
  framesIn: number;
  /** Frames written. */
  framesOut: number;
  /**
   * P2P, P2T and online messages accepted for routing (once per message, not per recipient; a batch
   * push counts once per recipient account or topic).
   */
  messagesRouted: number;
  /** Connections closed because a client broke the protocol. */
  rejectedFrames: number;
  /** Extension: TCP connections accepted since start. */
  connectionsTotal: number;
  /** Extension: stored or queued messages dropped because a limit was reached. */
  messagesDropped: number;
  /** Callback events the app server answered with HTTP 200. */
  callbacksDelivered: number;
  /** Failed callback attempts (non-200, network error, timeout), retries included. */
  callbackFailures: number;
  /** Callback events given up after the last retry. */
  callbacksAbandoned: number;
  /** Extension: callback events dropped because `callbackMaxQueued` events were already waiting. */
  callbacksDropped: number;
  /** Extension: unlimited groups existing right now. */
  unlimitedGroups: number;
  /** Extension: UC keep-alive pings answered. */
  ucPings: number;
}

export interface EmulatorFaults {
  /** Destroys sockets: all of them, or those bound to `appAccount`. */
  dropConnections(appAccount?: string): void;
  /** Keeps sockets open but stops answering anything, pings included (all, or `appAccount`'s sessions). */
  stall(enabled: boolean, appAccount?: string): void;
  /** Routes messages but never sends PACKET_ACK. */
  dropAcks(enabled: boolean): void;
  /** Delays COMPOUND delivery and PACKET_ACKs by `ms`; 0 turns it off. */
  delayDelivery(ms: number): void;
  /** Flips a byte of the next frame written to `appAccount` (or to any connection): checksum mismatch. */
  corruptNextFrame(appAccount?: string): void;
  /** Writes a frame head announcing a body larger than 16 MiB to `appAccount`'s connections (or every handshaken one). */
  sendOversizedFrame(appAccount?: string): void;
  /** Expires the current tokens: the next BIND gets token-expired, bound sessions get KICK token-expired. */
  expireTokens(appAccount?: string): void;
  /** KICK {result false, error_type 'multi-login'} then close: every resource of the account, or one. */
  kick(appAccount: string, resource?: string): void;
  /** Turns every fault off. */
  reset(): void;
}

export interface Emulator {
  /** http://host:P/api/account/token */
  readonly tokenUrl: string;
  /** http://host:P/gslb/ */
  readonly resolverUrl: string;
  /** http://host:P/admin */
  readonly adminUrl: string;
  /** http://host:P — the base URL of the REST API (`MIMCRestClient`'s `baseUrl`). */
  readonly restUrl: string;
  readonly frontend: { host: string; port: number };
  /** Extension: "host:port" of the frontend exactly as the resolver hands it out (IPv6 in brackets). */
  frontendAddress(): string;
  /** `ws://host:P/` (or `wss://…` with `websocket.tls`) for `MCUser`'s `websocket.url`; undefined when turned off. */
  readonly websocketUrl: string | undefined;
  readonly app: EmulatorApp;
  /** The raw token-service JSON body for the account, as an app server hands it to the client. */
  fetchToken(appAccount: string): Promise<string>;
  /** Stable uuid (> 2^53) of the account, created on first use. */
  uuidOf(appAccount: string): bigint;
  /** Creates a topic owned (and joined) by `ownerAccount`; returns its id (> 2^53). */
  createTopic(ownerAccount: string, memberAccounts?: string[]): bigint;
  addTopicMembers(topicId: bigint, accounts: string[]): void;
  removeTopicMembers(topicId: bigint, accounts: string[]): void;
  /** Creates an unlimited (UC) group owned by `ownerAccount`, which still has to join it; returns its id (> 2^53). */
  createUnlimitedGroup(ownerAccount: string, name?: string): bigint;
  /** Dismisses an unlimited group (joined connections get DISMISS); false if there is none. */
  dismissUnlimitedGroup(topicId: bigint): boolean;
  /** Members (accounts), accounts joined right now, and stored messages of an unlimited group. */
  unlimitedGroupStats(topicId: bigint): { members: number; online: number; stored: number } | undefined;
  /** Resources of the account bound right now. */
  onlineResources(appAccount: string): string[];
  /** The bound resources of an account with their BIND choices (SSO, client and cloud attributes). */
  onlineSessions(appAccount: string): OnlineSession[];
  /** Number of messages in the account's offline store. */
  storedCount(appAccount: string): number;
  readonly stats: Readonly<EmulatorStats>;
  readonly faults: EmulatorFaults;
  /** Closes every connection and both frontend listeners, then listens again on the same ports; state is kept. */
  restartFrontend(): Promise<void>;
  /** Changes the callback URLs at run time (undefined turns a channel off; `offline` does not default to `instant` here). */
  setCallbackUrls(urls: { instant?: string; offline?: string }): void;
  /** Callback events neither delivered nor given up yet. */
  readonly pendingCallbacks: number;
  /** Releases every socket, server and timer (pending callback retries included). Idempotent. */
  close(): Promise<void>;
  /** Closes the emulator (`close()`), for `await using emulator = await startEmulator()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** One bound resource of an account, as `Emulator.onlineSessions` reports it. */
export interface OnlineSession {
  resource: string;
  /** What the session's connection runs over. */
  transport: 'tcp' | 'websocket';
  sso: boolean;
  clientAttrs: string;
  cloudAttrs: string;
}
