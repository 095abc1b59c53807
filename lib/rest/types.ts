/** Public types of the MIMC REST client (lib/rest). 64-bit ids are exact bigints. */

export interface MIMCRestClientOptions {
  /** App id: a bigint or a decimal string (app ids exceed 2^53). */
  appId: bigint | string;
  appKey: string;
  appSecret: string;
  /** Base URL of the REST API; default `https://mimc.chat.xiaomi.net` (an emulator: `emulator.restUrl`). */
  baseUrl?: string;
  /** Time allowed for each HTTP request, answer body included; default 10 000 ms. */
  timeoutMs?: number;
  /** Retries of idempotent reads after a network error, a timeout or HTTP 5xx/429; default 2. Writes are never retried. */
  retries?: number;
  /** First retry delay (doubling, randomised); default 200 ms. */
  retryMinDelayMs?: number;
  /** Longest retry delay; default 2 000 ms. */
  retryMaxDelayMs?: number;
  /**
   * How long a token minted for a token-only endpoint (history) is reused for the same account;
   * default 10 minutes, 0 = mint for every call. A token refused as invalid is replaced once.
   */
  tokenCacheMs?: number;
  /** Largest push payload accepted before sending; default 10 240 bytes (MIMC's SDK limit). */
  maxPayloadBytes?: number;
  /**
   * Largest response body read, in bytes; default 1 MiB. Beyond it the response is destroyed and
   * the call rejects with ERR_HTTP_TOO_LARGE (not retried).
   */
  maxResponseBytes?: number;
  /** The fetch implementation; default the global one (Node 20+). */
  fetch?: typeof fetch;
}

/** Per-call options. */
export interface RestRequestOptions {
  /** Stops the call (and its retries): rejects with ERR_ABORTED. */
  signal?: AbortSignal;
  /** Overrides the client's per-request timeout for this call. */
  timeoutMs?: number;
}

/**
 * Who a user-level call acts as. A string is an appAccount: the call is authenticated with the
 * app credentials (headers appKey, appSecret, appAccount), or, for token-only endpoints (history),
 * with a token the client mints for that account. `{ token }` uses a user token as is; the
 * P2T history also needs its `account`.
 */
export type RestActor = string | { token: string; account?: string };

/** The token service's answer, parsed. `json` is the verbatim body to hand to a client SDK. */
export interface RestToken {
  appId: bigint;
  appAccount: string;
  appPackage: string;
  /** MIMC's id of the account (`miUserId`). */
  uuid: bigint;
  token: string;
  /** The raw JSON: hand it verbatim to an SDK's token delegate. Holds secrets: never log it. */
  json: string;
}

/** What a server push sends. */
export interface PushContent {
  /** The account the message comes from (the server speaks as it). */
  fromAccount: string;
  /** The sender's resource; default 'mimc_node_rest'. */
  fromResource?: string;
  /** Bytes are sent base64 (`msgType` "base64"); a string is sent as it is (`msgType` ""). */
  payload: Uint8Array | string;
  /** Extension (not in MIMC's manual; the emulator honours it): an app-defined type tag. */
  bizType?: string;
  /** Extension (not in MIMC's manual; the emulator honours it): false = not stored for offline users nor in history. */
  isStore?: boolean;
}

export interface TopicInfo {
  topicId: bigint;
  ownerUuid: bigint;
  ownerAccount: string;
  topicName: string;
  bulletin: string;
}

export interface TopicMember {
  uuid: bigint;
  account: string;
}

/** A topic and its members, the owner first. */
export interface TopicDetail {
  topicInfo: TopicInfo;
  members: TopicMember[];
}

export interface TopicUpdate {
  topicName?: string;
  bulletin?: string;
  /** Transfers the ownership to this member. */
  ownerAccount?: string;
}

/** A time: ms since the epoch, or a Date. */
export type RestTime = number | Date;

export interface HistoryMessage {
  /** Unique and increasing; use it for order and deduplication. */
  sequence: bigint;
  /** Decoded from the base64 on the wire. */
  payload: Uint8Array;
  /** Server time, ms. */
  ts: number;
  fromAccount: string;
  /** P2P only. */
  toAccount?: string;
  /** When the message had one (extension). */
  bizType?: string;
}

export interface HistoryPage {
  appId: bigint;
  /** P2T queries (when the service reports it). */
  topicId?: bigint;
  messages: HistoryMessage[];
  /** Number of messages returned. */
  row: number;
  /** The earliest `ts` of the batch (the cursor of the next, older page for count queries). */
  timestamp: number;
}

/** The last message of a chat-list row. */
export interface ChatLastMessage {
  fromUuid: bigint;
  fromAccount: string;
  payload: Uint8Array;
  /** The message's history sequence (exact 64-bit). */
  sequence: bigint;
}

/** A member of an unlimited group (GET /api/uctopic/userlist). */
export interface UnlimitedGroupMember {
  account: string;
  uuid: bigint;
}

/** One row of the recent chat list (GET /api/contact/), newest first. */
export interface ChatListEntry {
  /** USER: a P2P conversation (`id` is the peer's uuid, `name` its appAccount); TOPIC: a topic (`id` topicId, `name` topicName). */
  userType: 'USER' | 'TOPIC';
  id: bigint;
  name: string;
  /** Last activity, ms. */
  timestamp: number;
  lastMessage: ChatLastMessage;
}

export interface P2PConversation {
  fromAccount: string;
  toAccount: string;
}

export interface TimeRange {
  /** Inclusive. */
  fromTime: RestTime;
  /** Exclusive; at most 24 h after fromTime. */
  toTime: RestTime;
}

export interface CountRange {
  /** Exclusive upper bound. */
  toTime: RestTime;
  count: number;
}

export interface SequenceRange {
  /** Inclusive. */
  startSeq: bigint | string;
  /** Exclusive. */
  stopSeq: bigint | string;
}
