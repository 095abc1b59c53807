/**
 * In-memory state of the emulated MIMC service: accounts (uuid, sequence counter, offline
 * store, per-resource acknowledgement), tokens and topics. No I/O; survives restartFrontend.
 */
import { MIMCError, ErrorCode } from '../errors.js';
import { pooledRandomBytes } from './random.js';
import type { EmulatorApp, EmulatorStats } from './types.js';

/** A message waiting in, or passing through, an account's delivery stream. */
export interface Delivery {
  /** Recipient-side sequence: unique and increasing per recipient account. */
  sequence: bigint;
  /** The sender's packet id. */
  packetId: string;
  /** PacketType.P2P_MESSAGE or PacketType.P2T_MESSAGE. */
  type: number;
  /** The serialized MIMCP2PMessage / MIMCP2TMessage, as delivered. */
  payload: Uint8Array;
  /** Server receive time, ms. */
  timestamp: bigint;
  /** Only this resource of the recipient may receive it (P2P `to.resource`). */
  onlyResource?: string;
  /** This resource of the recipient must not receive it (the sending resource of a P2T member). */
  excludeResource?: string;
  /** The message's index in its conversation (when the sender set `conversation`). */
  convIndex?: bigint;
}

export function deliverableTo(d: Delivery, resource: string): boolean {
  return (d.onlyResource === undefined || d.onlyResource === resource) && d.excludeResource !== resource;
}

/** Kept per account: tokens beyond this many are forgotten (a later BIND with one gets invalid-token). */
const TOKENS_PER_ACCOUNT = 32;

/** A random id in [2^61, 2^62): above 2^53 on purpose, and still a positive int64. */
export function randomBigId(): bigint {
  const bytes = pooledRandomBytes(8);
  return (bytes.readBigUInt64BE() & ((1n << 61n) - 1n)) | (1n << 61n);
}

/**
 * Stored messages of one account, ordered by sequence, at most `limit` of them. They are
 * kept after being acknowledged, so a resource that has never been seen still gets them;
 * every resource has its own acknowledged sequence.
 */
export class OfflineStore {
  private items: Delivery[] = [];
  private head = 0;

  constructor(private readonly limit: number) {}

  get size(): number {
    return this.items.length - this.head;
  }

  /** Appends (sequences only grow); returns how many old entries were dropped to make room. */
  append(d: Delivery): number {
    this.items.push(d);
    let dropped = 0;
    while (this.size > this.limit) {
      this.head++;
      dropped++;
    }
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return dropped;
  }

  /** Absolute index of the first entry whose sequence is greater than `sequence`. */
  indexAfter(sequence: bigint): number {
    let lo = this.head;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[mid]!.sequence <= sequence) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Entry at an absolute index from indexAfter, or undefined past the end. */
  at(index: number): Delivery | undefined {
    return index >= this.head ? this.items[index] : undefined;
  }
}

export class Account {
  private lastSequence = 0n;
  /** Highest sequence acknowledged per resource. */
  readonly acked = new Map<string, bigint>();
  readonly store: OfflineStore;
  /** Most recent tokens first-in-first-out, to expire them or forget old ones. */
  readonly tokens: string[] = [];
  /** Accounts this one blacklisted: their P2P messages to it are refused. */
  readonly blacklist = new Set<Account>();

  constructor(
    readonly appAccount: string,
    readonly uuid: bigint,
    storeLimit: number,
  ) {
    this.store = new OfflineStore(storeLimit);
  }

  nextSequence(): bigint {
    return ++this.lastSequence;
  }

  get maxSequence(): bigint {
    return this.lastSequence;
  }

  ackedBy(resource: string): bigint {
    return this.acked.get(resource) ?? 0n;
  }

  ack(resource: string, sequence: bigint): void {
    if (sequence > this.ackedBy(resource)) this.acked.set(resource, sequence);
  }
}

export interface TokenRecord {
  account: Account;
  securityKey: string;
  expiresAt: number;
}

export interface Topic {
  id: bigint;
  owner: Account;
  /** Insertion-ordered; the owner is listed first in REST views whatever its position here. */
  members: Set<Account>;
  name: string;
  bulletin: string;
}

export type TokenLookup = { status: 'ok'; record: TokenRecord } | { status: 'expired'; record: TokenRecord } | { status: 'unknown' };

export class Store {
  private readonly byName = new Map<string, Account>();
  private readonly byUuid = new Map<bigint, Account>();
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly topics = new Map<bigint, Topic>();

  constructor(
    readonly app: EmulatorApp,
    private readonly tokenTtlMs: number,
    private readonly storeLimit: number,
    private readonly limits: { maxAccounts: number; stats: Pick<EmulatorStats, 'accounts' | 'accountsRefused'> },
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The account, created on first use. Throws ERR_LIMIT_REACHED (counted in `accountsRefused`)
   * when it does not exist and `maxAccounts` accounts already do.
   */
  account(appAccount: string): Account {
    let account = this.byName.get(appAccount);
    if (!account) {
      if (this.byName.size >= this.limits.maxAccounts) {
        this.limits.stats.accountsRefused++;
        throw new MIMCError(ErrorCode.LIMIT_REACHED, `the emulator keeps at most ${this.limits.maxAccounts} accounts (option maxAccounts)`, {
          details: { maxAccounts: this.limits.maxAccounts },
        });
      }
      let uuid = randomBigId();
      while (this.byUuid.has(uuid)) uuid = randomBigId();
      account = new Account(appAccount, uuid, this.storeLimit);
      this.byName.set(appAccount, account);
      this.byUuid.set(uuid, account);
      this.limits.stats.accounts = this.byName.size;
    }
    return account;
  }

  /** Every account named, or the first that cannot be created; nothing is created when one is refused. */
  accounts(appAccounts: readonly string[]): Account[] {
    const missing = new Set(appAccounts.filter((a) => !this.byName.has(a)));
    if (this.byName.size + missing.size > this.limits.maxAccounts) {
      this.limits.stats.accountsRefused++;
      throw new MIMCError(ErrorCode.LIMIT_REACHED, `the emulator keeps at most ${this.limits.maxAccounts} accounts (option maxAccounts)`, {
        details: { maxAccounts: this.limits.maxAccounts },
      });
    }
    return appAccounts.map((a) => this.account(a));
  }

  findAccount(appAccount: string): Account | undefined {
    return this.byName.get(appAccount);
  }

  /** Issues a fresh token and security key for the account. */
  issueToken(account: Account): { token: string; record: TokenRecord } {
    const token = pooledRandomBytes(24).toString('base64url');
    const record: TokenRecord = { account, securityKey: pooledRandomBytes(16).toString('base64'), expiresAt: this.now() + this.tokenTtlMs };
    this.tokens.set(token, record);
    account.tokens.push(token);
    while (account.tokens.length > TOKENS_PER_ACCOUNT) this.tokens.delete(account.tokens.shift()!);
    return { token, record };
  }

  lookupToken(token: string): TokenLookup {
    const record = this.tokens.get(token);
    if (!record) return { status: 'unknown' };
    return record.expiresAt <= this.now() ? { status: 'expired', record } : { status: 'ok', record };
  }

  /** Marks the current tokens of the account (or of everyone) expired. */
  expireTokens(account?: Account): void {
    if (account) {
      for (const token of account.tokens) this.tokens.get(token)!.expiresAt = 0;
      return;
    }
    for (const record of this.tokens.values()) record.expiresAt = 0;
  }

  isExpired(record: TokenRecord): boolean {
    return record.expiresAt <= this.now();
  }

  createTopic(owner: Account, members: Account[], name = ''): Topic {
    let id = randomBigId();
    while (this.topics.has(id)) id = randomBigId();
    const topic: Topic = { id, owner, members: new Set([owner, ...members]), name, bulletin: '' };
    this.topics.set(id, topic);
    return topic;
  }

  topic(id: bigint): Topic | undefined {
    return this.topics.get(id);
  }

  deleteTopic(id: bigint): boolean {
    return this.topics.delete(id);
  }

  /** Topics the account is a member of, in creation order. */
  topicsOf(account: Account): Topic[] {
    return [...this.topics.values()].filter((t) => t.members.has(account));
  }
}
