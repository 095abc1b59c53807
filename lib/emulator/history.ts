/**
 * Message history for the REST history API: every stored (isStore) P2P and P2T message, from
 * the TCP frontend or a REST push, per conversation. Pure bookkeeping, no I/O.
 */

export interface HistoryEntry {
  /** App-wide, strictly increasing (independent of the per-account delivery sequences). */
  sequence: bigint;
  fromAccount: string;
  /** P2P only. */
  toAccount?: string;
  /** P2T only. */
  topicId?: bigint;
  /** The user payload (raw bytes; base64 only on the wire). */
  payload: Uint8Array;
  /** Server receive time, ms. */
  ts: number;
  bizType?: string;
}

/**
 * History sequences start right above 2^53 so that every one of them is a 64-bit value a
 * double cannot hold: a client that parses them lossily fails at once, not after years.
 */
export const HISTORY_SEQUENCE_BASE = 1n << 53n;

/** Most entries a single query returns. */
export const HISTORY_MAX_ROWS = 1000;

function pairKey(a: string, b: string): string {
  return a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
}

export class History {
  private lastSequence = HISTORY_SEQUENCE_BASE;
  private readonly p2p = new Map<string, HistoryEntry[]>();
  private readonly p2t = new Map<bigint, HistoryEntry[]>();

  /** `limit`: entries kept per conversation (P2P pair or topic); the oldest go first. */
  constructor(private readonly limit: number) {}

  private append(list: HistoryEntry[], entry: HistoryEntry): HistoryEntry {
    list.push(entry);
    // Trim in batches: dropping the oldest entry on every append would shift the whole list each time.
    if (list.length > this.limit + Math.max(64, this.limit >> 2)) list.splice(0, list.length - this.limit);
    return entry;
  }

  /** The newest `limit` entries of a list that may hold a few more until its next trim. */
  private kept(list: HistoryEntry[] | undefined): readonly HistoryEntry[] {
    if (!list) return [];
    return list.length > this.limit ? list.slice(list.length - this.limit) : list;
  }

  recordP2P(fromAccount: string, toAccount: string, payload: Uint8Array, ts: number, bizType?: string): HistoryEntry {
    const key = pairKey(fromAccount, toAccount);
    let list = this.p2p.get(key);
    if (!list) {
      list = [];
      this.p2p.set(key, list);
    }
    const entry: HistoryEntry = { sequence: ++this.lastSequence, fromAccount, toAccount, payload, ts };
    if (bizType !== undefined) entry.bizType = bizType;
    return this.append(list, entry);
  }

  recordP2T(fromAccount: string, topicId: bigint, payload: Uint8Array, ts: number, bizType?: string): HistoryEntry {
    let list = this.p2t.get(topicId);
    if (!list) {
      list = [];
      this.p2t.set(topicId, list);
    }
    const entry: HistoryEntry = { sequence: ++this.lastSequence, fromAccount, topicId, payload, ts };
    if (bizType !== undefined) entry.bizType = bizType;
    return this.append(list, entry);
  }

  /** Both directions of the conversation between a and b, oldest first. */
  conversation(a: string, b: string): readonly HistoryEntry[] {
    return this.kept(this.p2p.get(pairKey(a, b)));
  }

  topic(topicId: bigint): readonly HistoryEntry[] {
    return this.kept(this.p2t.get(topicId));
  }

  forgetTopic(topicId: bigint): void {
    this.p2t.delete(topicId);
  }
}

/** Entries with fromTime <= ts < toTime, oldest first (at most HISTORY_MAX_ROWS, the oldest ones). */
export function byTime(list: readonly HistoryEntry[], fromTime: number, toTime: number): HistoryEntry[] {
  return list.filter((e) => e.ts >= fromTime && e.ts < toTime).slice(0, HISTORY_MAX_ROWS);
}

/** The last `count` entries with ts < toTime, oldest first. */
export function byCount(list: readonly HistoryEntry[], toTime: number, count: number): HistoryEntry[] {
  const before = list.filter((e) => e.ts < toTime);
  return before.slice(Math.max(0, before.length - count));
}

/** Entries with startSeq <= sequence < stopSeq, oldest first (at most HISTORY_MAX_ROWS, the oldest ones). */
export function bySequence(list: readonly HistoryEntry[], startSeq: bigint, stopSeq: bigint): HistoryEntry[] {
  return list.filter((e) => e.sequence >= startSeq && e.sequence < stopSeq).slice(0, HISTORY_MAX_ROWS);
}
