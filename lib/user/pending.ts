import { MIMCError, ErrorCode } from '../errors.js';

interface Slot<T> {
  value: T;
  deadline: number;
}

/**
 * Messages awaiting a server ack, keyed by packet id. Every entry leaves through exactly one
 * door: `settle` (an ack arrived), the timeout handler, or `drain` (shutdown). All entries share
 * one timeout, so insertion order is deadline order and a single timer serves the whole table.
 */
export class PendingTable<T> {
  /** Created at the first add: many users never send, and an empty Map is not free. */
  private slots: Map<string, Slot<T>> | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly capacity: number,
    readonly timeoutMs: number,
    private readonly onTimeout: (id: string, value: T) => void,
  ) {}

  get size(): number {
    return this.slots?.size ?? 0;
  }

  has(id: string): boolean {
    return this.slots?.has(id) ?? false;
  }

  /** Adds an entry whose deadline is `timeoutMs` from now; throws ERR_PENDING_FULL when full. */
  add(id: string, value: T): void {
    const slots = (this.slots ??= new Map());
    if (slots.size >= this.capacity) {
      throw new MIMCError(ErrorCode.PENDING_FULL, `${this.capacity} messages are already awaiting an ack`, {
        details: { capacity: this.capacity },
      });
    }
    slots.set(id, { value, deadline: performance.now() + this.timeoutMs });
    if (this.timer === null) this.arm();
  }

  /** Removes and returns the entry (undefined if it already timed out or never existed). */
  settle(id: string): T | undefined {
    const slots = this.slots;
    const slot = slots?.get(id);
    if (!slots || !slot) return undefined;
    // the Map stays once created: a sender that awaits each ack empties the table after every message
    slots.delete(id);
    if (slots.size === 0) this.disarm();
    return slot.value;
  }

  /** Entries in send order. */
  values(): IterableIterator<T> {
    const it = this.slots?.values() ?? [].values();
    return (function* () {
      for (const slot of it) yield slot.value;
    })();
  }

  /** Removes every entry and returns them, in send order (for shutdown). */
  drain(): Array<[string, T]> {
    this.disarm();
    const all = [...(this.slots ?? [])].map(([id, slot]) => [id, slot.value] as [string, T]);
    this.slots = null;
    return all;
  }

  private arm(): void {
    const first = this.slots?.values().next();
    if (!first || first.done) return;
    const delay = Math.max(0, first.value.deadline - performance.now());
    this.timer = setTimeout(this.expire, Math.ceil(delay));
  }

  private disarm(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private readonly expire = (): void => {
    this.timer = null;
    const now = performance.now();
    const expired: Array<[string, T]> = [];
    const slots = this.slots;
    if (!slots) return;
    for (const [id, slot] of slots) {
      if (slot.deadline > now) break;
      expired.push([id, slot.value]);
    }
    for (const [id] of expired) slots.delete(id);
    if (slots.size > 0) this.arm();
    // callbacks last, so a handler that sends again sees a consistent table
    for (const [id, value] of expired) this.onTimeout(id, value);
  };
}
