import type { Agent } from 'node:http';
import type { Logger } from 'pino';
import type { MIMCError } from '../errors.js';
import type { UserInfoStore } from './user-info-store.js';
import type { LoggerOptions } from './logger.js';

/** Supplies the raw token-service JSON for this user (from the app's own server). Go: `Token`. */
export interface Token {
  fetchToken(): Promise<string> | string;
}

/** Online/offline changes. Go: `StatusDelegate.HandleChange`. */
export interface StatusDelegate {
  /**
   * Called on every online/offline transition. When going offline, `errorType`, `errorReason`
   * and `errorDescription` say why (server values such as "token-expired" or "multi-login",
   * or "NETWORK_ERROR" for a lost connection, as the Go SDK reports it).
   */
  handleChange(isOnline: boolean, errorType?: string, errorReason?: string, errorDescription?: string): void | Promise<void>;
}

/** Incoming messages and the fate of sent ones. Go: `MessageHandlerDelegate`. All methods are optional. */
export interface MessageHandlerDelegate {
  /** P2P messages, in sequence order. */
  handleMessage?(messages: P2PMessage[]): void | Promise<void>;
  /** Group (P2T) messages, in sequence order. */
  handleGroupMessage?(messages: P2TMessage[]): void | Promise<void>;
  /** The server acknowledged a sent message (check `errorMsg` for a refusal). */
  handleServerAck?(ack: ServerAck): void | Promise<void>;
  /** No server ack arrived for a P2P message within the send timeout. */
  handleSendMessageTimeout?(message: P2PMessage): void | Promise<void>;
  /** No server ack arrived for a group message within the send timeout. */
  handleSendGroupMessageTimeout?(message: P2TMessage): void | Promise<void>;
  /** Unlimited-group (UC) messages of one group, in sequence order; same delivery semantics as P2P. */
  handleUnlimitedGroupMessage?(messages: UCMessage[]): void | Promise<void>;
  /** No server ack arrived for an unlimited-group message within the send timeout. */
  handleSendUnlimitedGroupMessageTimeout?(message: UCMessage): void | Promise<void>;
  /** An unlimited group this user had joined was dismissed by its owner; it is no longer joined. */
  handleUnlimitedGroupDismissed?(topicId: bigint): void | Promise<void>;
  /** An online message (`sendOnlineMessage`): only delivered while online, never stored, not sequenced. */
  handleOnlineMessage?(message: P2PMessage): void | Promise<void>;
  /**
   * The server has more messages waiting than it sent (a list flagged "exceed count limit").
   * Return true to ask for them now with a PULL; the server otherwise sends them as acks arrive.
   * `info` is what the flagged list carried (the Java SDK passes the same range).
   */
  handlePullNotification?(info: PullNotification): boolean | void | Promise<boolean | void>;
  /**
   * A batch whose handler failed (threw, rejected or timed out) on every attempt of
   * `handlerRetry.maxAttempts`. It is acknowledged to the server right after this call: keep it
   * somewhere durable here if it matters. `error.code` is ERR_HANDLER_FAILED or ERR_HANDLER_TIMEOUT.
   */
  handleDeadLetter?(letter: DeadLetter): void | Promise<void>;
}

/** The sequence range of a list flagged "exceed count limit" (exact 64-bit). */
export interface PullNotification {
  /** Smallest sequence in the list (undefined for an empty list). */
  minSequence: bigint | undefined;
  /** The list's maxSequence: what an ack of this list covers. */
  maxSequence: bigint;
  /** Messages in the list. */
  count: number;
}

/** Messages handed to one handler call: consecutive messages of one kind from one server list. */
export type MessageBatch = { kind: 'p2p'; messages: P2PMessage[] } | { kind: 'p2t'; messages: P2TMessage[] } | { kind: 'uc'; messages: UCMessage[] };

/**
 * A message of an unlimited group (UC): the fields of a group message, `topicId` naming the
 * unlimited group; `sequence` is unique across every group of the app. No chat-list index.
 */
export type UCMessage = Omit<P2TMessage, 'convIndex'>;

/** A batch given up after its last handler attempt. */
export type DeadLetter = MessageBatch & {
  /** Handler calls made (= `handlerRetry.maxAttempts`). */
  attempts: number;
  /** Why the last attempt failed; the app's own error is its `cause`. */
  error: MIMCError;
};

/** Retries of a failed handler call (exponential backoff: min × factor^(n−1), capped at max). */
export interface HandlerRetryOptions {
  /** Handler calls per batch, the first included, before it is dead-lettered (default 5). */
  maxAttempts?: number;
  /** Delay before the first retry (default 200 ms). */
  minDelayMs?: number;
  /** Largest delay between retries (default 10 000 ms). */
  maxDelayMs?: number;
  /** Growth factor between retries (default 2). */
  factor?: number;
}

export interface P2PMessage {
  packetId: string;
  /** Server-assigned sequence, 0n for a message that was never acknowledged. */
  sequence: bigint;
  /** Server time in ms (for an unacknowledged message: when it was sent). */
  timestamp: number;
  fromAccount: string;
  fromResource: string;
  toAccount: string;
  payload: Uint8Array;
  bizType: string;
  isStore: boolean;
  /** The message's index in its conversation, when it was sent with `conversation: true` (exact 64-bit). */
  convIndex?: bigint;
}

export interface P2TMessage {
  packetId: string;
  sequence: bigint;
  timestamp: number;
  fromAccount: string;
  fromResource: string;
  topicId: bigint;
  payload: Uint8Array;
  bizType: string;
  isStore: boolean;
  /** The message's index in its conversation, when it was sent with `conversation: true` (exact 64-bit). */
  convIndex?: bigint;
}

export interface ServerAck {
  packetId: string;
  sequence: bigint;
  /** Server time in ms. */
  timestamp: number;
  /** Empty when the server accepted the message. */
  errorMsg: string;
  code: number;
  /** The message's index in its conversation (sent with `conversation: true`), exact 64-bit. */
  convIndex?: bigint;
}

export interface SendOptions {
  /** Keep the message for an offline recipient (default true). */
  isStore?: boolean;
  /** App-defined type tag delivered with the message. */
  bizType?: string;
  /** Record the message in the recent-chat list (MIMCPacket.conversation); the ack then carries its `convIndex`. */
  conversation?: boolean;
}

export interface SendAndWaitOptions extends SendOptions {
  /** Abandon the wait (the message may still be acknowledged later; the ack callback still fires once). */
  signal?: AbortSignal;
}

/** Connection states; `online` is the only one in which messages are written. */
export type ConnectionState = 'offline' | 'connecting' | 'binding' | 'online' | 'reconnecting' | 'closed';

/** Who decides when an incoming list is acknowledged to the server. */
export type AckMode = 'after-handler' | 'before-handler';

/**
 * How lost connections and failed login attempts are retried. By default every failure is
 * retried forever (until `logout()`, `destroy()`, a kick, or `login({ timeoutMs })` for the
 * first login), with an exponential backoff: min × factor^(n−1), times 1 + Math.random() with
 * jitter, capped at max. After a lost connection the first attempt is made at once.
 */
export interface ReconnectOptions {
  /** First retry delay (default 200 ms). */
  minDelayMs?: number;
  /** Largest retry delay (default 10 s). */
  maxDelayMs?: number;
  /** Growth factor between attempts (default 2). */
  factor?: number;
  /** Multiply each delay by a random factor in [1, 2) (default true). */
  jitter?: boolean;
  /**
   * Give up after this many failed attempts in a row (counted since the user was last online;
   * default: never). `login()` then rejects with ERR_RETRIES_EXHAUSTED (the last error as its
   * `cause`); during a reconnect the user goes offline and the status change says so.
   */
  maxAttempts?: number;
  /**
   * Replaces the backoff: called after failed attempt `attempt` (1, 2, …) with its error,
   * returns the delay in ms before the next attempt, or null to give up as `maxAttempts` does.
   * Only retryable errors reach it (a refused token or login gives up at once).
   */
  strategy?: (attempt: number, lastError: MIMCError) => number | null;
  /**
   * false: a lost connection is not re-established; the user goes offline (status change
   * `NETWORK_ERROR`) and the app decides when to call `login()` again. The first login still
   * retries as configured. Default true.
   */
  enabled?: boolean;
}

/** A retry was scheduled (the `reconnecting` event): after failed attempt `attempt`, the next one in `delayMs`. */
export interface ReconnectingEvent {
  /** Failed attempts in a row since the user was last online (1 after the first failure). */
  attempt: number;
  /** Wait before the next attempt. */
  delayMs: number;
  /** Why attempt `attempt` failed. */
  error: MIMCError;
}

/** What a user's frames travel over: see `MCUserOptions.transport`. */
export type Transport = 'tcp' | 'websocket';

/** How a `transport: 'websocket'` user connects. */
export interface WebSocketOptions {
  /** Endpoint; default `wss://wsapp.chat.xiaomi.net` (MIMC's). `ws://` only for a local emulator. */
  url?: string;
  /**
   * Extra CA certificates (PEM) to trust, e.g. a company's private CA or a test certificate.
   * Certificates are always verified; Node's default CAs apply when this is absent.
   */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Agent for the upgrade request: plug an HTTPS proxy in here, e.g. `new HttpsProxyAgent('http://proxy:3128')`. */
  agent?: Agent;
  /** Extra headers on the upgrade request (e.g. a gateway's credentials). */
  headers?: Record<string, string>;
}

export interface MCUserOptions {
  appId: bigint | string;
  appAccount: string;
  /** This instance's resource; a random `mimc_node_…` resource is generated (and kept) if absent. */
  resource?: string;
  tokenDelegate?: Token;
  statusDelegate?: StatusDelegate;
  messageDelegate?: MessageHandlerDelegate;
  /** Resolver (GSLB) base URL. Default: the real MIMC resolver. */
  resolverUrl?: string;
  /** Connect straight to this frontend (`host:port` or an object), skipping the resolver (TCP only). */
  frontendAddress?: string | { host: string; port: number };
  /**
   * How to reach MIMC: `'tcp'` (default), the native protocol to the frontends the resolver
   * names (port 5222); or `'websocket'`, the WebJS SDK's framing over `wss://` (port 443), for
   * networks that only let HTTPS out. Everything above the connection behaves the same.
   */
  transport?: Transport;
  /** WebSocket settings; only with `transport: 'websocket'`. */
  websocket?: WebSocketOptions;
  /** Time allowed for a server ack (default 10 000 ms, as the Go SDK). */
  sendTimeoutMs?: number;
  /** Time allowed for the connect: TCP, or TCP + TLS + HTTP upgrade for WebSocket (default 5 000 ms). */
  connectTimeoutMs?: number;
  /** Time allowed for the CONN and BIND answers (default 5 000 ms). */
  loginTimeoutMs?: number;
  /** Ping after this long without writing (default 3 000 ms over TCP, as the Go SDK; 30 000 ms over WebSocket, as the WebJS SDK). */
  pingIntervalMs?: number;
  /** The connection is declared dead when nothing arrives this long after a request (default 5 000 ms). */
  responseTimeoutMs?: number;
  /** Largest number of messages awaiting an ack; further sends throw ERR_PENDING_FULL (default 10 000). */
  maxPendingMessages?: number;
  /** Largest user payload in bytes (default 64 KiB). */
  maxPayloadBytes?: number;
  /** Largest accepted frame body in bytes (default 1 MiB). */
  maxFrameBody?: number;
  /** How many recent sequences are remembered to drop duplicates (default 10 000). */
  dedupWindow?: number;
  /** Acknowledge incoming lists after the handlers finished (default) or before calling them (Go). */
  ackMode?: AckMode;
  /**
   * Incoming messages waiting for the app (default 5 000). Beyond it, live (isStore=false)
   * messages are dropped and counted (`deliveriesDropped`); stored ones stay on the server.
   */
  maxQueuedMessages?: number;
  /** @deprecated since 0.2: use `maxQueuedMessages` (this value × 100, the server's list size). */
  maxQueuedDeliveries?: number;
  /** A handler call that has not settled by then counts as failed (default 30 000 ms); a late completion is ignored. */
  handlerTimeoutMs?: number;
  /** Retries of failed handler calls before a batch is dead-lettered. */
  handlerRetry?: HandlerRetryOptions;
  reconnect?: ReconnectOptions;
  /**
   * Keeps the resource (and, with `cacheToken`, the token) across restarts, as the Go SDK's
   * cache file does. Default: none (the user keeps both in memory while it lives). `FileUserInfoStore`
   * writes private files; `MemoryUserInfoStore` shares them between users of one process.
   */
  userInfoStore?: UserInfoStore;
  /** Also keep the token JSON in the user-info store, to skip a token fetch after a restart (default false). */
  cacheToken?: boolean;
  /** MIMC REST base URL, for creating and dismissing unlimited groups with this user's token. Default: MIMC's. */
  restUrl?: string;
  /** Unlimited groups this user may be in at once (default 100); each has its own receive queue. */
  maxUnlimitedGroups?: number;
  /** UC keep-alive: a UCPing listing the joined groups this often while online (default 10 000 ms, as Java/WebJS). */
  unlimitedGroupPingIntervalMs?: number;
  /**
   * Single sign-on (BIND `sso`): this login kicks the account's other resources, and while it is
   * bound any later login of the account kicks it in turn — one resource at a time. Default false.
   */
  sso?: boolean;
  /** BIND `kick` "1": this login kicks the account's other resources once (default false: "0", as every SDK sends). */
  kick?: boolean;
  /** Opaque client attributes sent (and signed) in every BIND; at most 1 KiB. Default empty. */
  clientAttrs?: string;
  /** Opaque cloud attributes sent (and signed) in every BIND; at most 1 KiB. Default empty. */
  cloudAttrs?: string;
  /**
   * A pino logger, or pino options (`level`, `destination` stream, `transport`, …) to build one.
   * The SDK logs through a child with `account`, with its redaction applied in both cases. Default: silent.
   */
  logger?: Logger | LoggerOptions;
}

/** Readiness facts for health probes. */
export interface HealthSnapshot {
  state: ConnectionState;
  /** The transport this user connects over (`transport` option). */
  transport: Transport;
  online: boolean;
  /** Epoch ms of the last frame received from the server, or null. */
  lastFrameReceivedAt: number | null;
  /** Messages written and awaiting an ack. */
  pendingAcks: number;
  /** Messages waiting for a connection. */
  queuedSends: number;
  /** Failed connection attempts since the user was last online. */
  reconnectAttempts: number;
  lastError: { code: string; message: string; at: number } | null;
  /** The app is the bottleneck: incoming messages are at their bound, or a handler is being retried. */
  deliveryBackpressured: boolean;
}

/** What `close()` did with the messages still awaiting an ack. */
export interface CloseReport {
  /** Acks that arrived while draining. */
  acked: number;
  /** Messages that got no ack before the drain deadline (reported as timeouts). */
  timedOut: number;
}
