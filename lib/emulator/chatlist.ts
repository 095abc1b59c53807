/**
 * The recent chat list behind GET/DELETE /api/contact/: per account, one row per conversation
 * (P2P peer or topic) holding its last message, plus the per-conversation index (convIndex)
 * that acks and deliveries carry. Fed by stored messages whose sender set `conversation`.
 * Pure bookkeeping, no I/O.
 */
import type { Account, Topic } from './store.js';

/** The REST API lists the conversations of the last month only. */
export const CHAT_LIST_WINDOW_MS = 30 * 24 * 60 * 60 * 1000;

/** Rows kept per account; the least recently active go first. */
export const CHAT_LIST_MAX_ROWS = 1000;

export interface ChatLastMessage {
  from: Account;
  payload: Uint8Array;
  /** The history sequence of the message (exact 64-bit). */
  sequence: bigint;
}

export type ChatRow =
  | { userType: 'USER'; peer: Account; ts: number; last: ChatLastMessage }
  | { userType: 'TOPIC'; topic: Topic; ts: number; last: ChatLastMessage };

function pairKey(a: Account, b: Account): string {
  return a.appAccount < b.appAccount ? `u:${a.appAccount}\u0000${b.appAccount}` : `u:${b.appAccount}\u0000${a.appAccount}`;
}

export class ChatList {
  /** appAccount → conversation key → row; a Map keeps insertion order, re-set on activity, so the oldest is first. */
  private readonly rows = new Map<string, Map<string, ChatRow>>();
  /** Conversation key → last convIndex assigned (P2P pair or topic). */
  private readonly indexes = new Map<string, bigint>();

  constructor(private readonly maxRows: number = CHAT_LIST_MAX_ROWS) {}

  private nextIndex(key: string): bigint {
    const next = (this.indexes.get(key) ?? 0n) + 1n;
    this.indexes.set(key, next);
    return next;
  }

  private put(owner: Account, key: string, row: ChatRow): void {
    let byKey = this.rows.get(owner.appAccount);
    if (!byKey) {
      byKey = new Map();
      this.rows.set(owner.appAccount, byKey);
    }
    byKey.delete(key);
    byKey.set(key, row);
    if (byKey.size > this.maxRows) byKey.delete(byKey.keys().next().value as string);
  }

  /** Records a P2P message in both parties' lists; returns its convIndex in the pair's conversation. */
  recordP2P(from: Account, to: Account, payload: Uint8Array, sequence: bigint, ts: number): bigint {
    const key = pairKey(from, to);
    const last: ChatLastMessage = { from, payload, sequence };
    this.put(from, key, { userType: 'USER', peer: to, ts, last });
    if (to !== from) this.put(to, key, { userType: 'USER', peer: from, ts, last });
    return this.nextIndex(key);
  }

  /** Records a topic message in every member's list; returns its convIndex in the topic. */
  recordP2T(from: Account, topic: Topic, payload: Uint8Array, sequence: bigint, ts: number): bigint {
    const key = `t:${topic.id}`;
    const last: ChatLastMessage = { from, payload, sequence };
    for (const member of topic.members) this.put(member, key, { userType: 'TOPIC', topic, ts, last });
    return this.nextIndex(key);
  }

  /** The owner's rows active since `now - CHAT_LIST_WINDOW_MS`, most recently active first (ties within a ms included). */
  list(owner: Account, now: number): ChatRow[] {
    const byKey = this.rows.get(owner.appAccount);
    if (!byKey) return [];
    const since = now - CHAT_LIST_WINDOW_MS;
    return [...byKey.values()].reverse().filter((r) => r.ts >= since);
  }

  /** Removes the owner's row with `peer` (the peer's own list keeps it); true when there was one. */
  deleteP2P(owner: Account, peer: Account): boolean {
    return this.rows.get(owner.appAccount)?.delete(pairKey(owner, peer)) ?? false;
  }

  /** Removes the owner's row of the topic; true when there was one. */
  deleteP2T(owner: Account, topicId: bigint): boolean {
    return this.rows.get(owner.appAccount)?.delete(`t:${topicId}`) ?? false;
  }

  /** A dismissed topic leaves every list (its index too: a new topic never reuses an id anyway). */
  forgetTopic(topicId: bigint): void {
    const key = `t:${topicId}`;
    for (const byKey of this.rows.values()) byKey.delete(key);
    this.indexes.delete(key);
  }
}
