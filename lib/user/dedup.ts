/**
 * The sequences this user has finished with (handled, dead-lettered or dropped by policy), for
 * dropping redelivered duplicates. Only finished sequences ever enter it, and it never forgets
 * one at or above `floor` — the lowest sequence still in progress — so a message that has not
 * been handled can never be mistaken for a duplicate. Below the floor, sequences are strictly
 * increasing per recipient, so anything at or below the largest forgotten one also counts as
 * finished: memory stays bounded by `capacity` (plus the finished sequences above the floor).
 */
export class SequenceWindow {
  /** Created at the first add: a user that never receives anything needs no Set. */
  private finished: Set<bigint> | null = null;
  private readonly order: bigint[] = [];
  private head = 0;
  /** Largest forgotten sequence; undefined while nothing was forgotten (any sequence, even negative, is new). */
  private forgottenMax: bigint | undefined;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.finished?.size ?? 0;
  }

  has(sequence: bigint): boolean {
    return (this.forgottenMax !== undefined && sequence <= this.forgottenMax) || (this.finished?.has(sequence) ?? false);
  }

  /** Records a finished sequence, then forgets the oldest ones beyond `capacity` that lie below `floor`. */
  add(sequence: bigint, floor?: bigint): void {
    const finished = (this.finished ??= new Set());
    if (!this.has(sequence)) {
      finished.add(sequence);
      this.order.push(sequence);
    }
    this.trim(finished, floor);
  }

  private trim(finished: Set<bigint>, floor: bigint | undefined): void {
    while (finished.size > this.capacity && this.head < this.order.length) {
      const oldest = this.order[this.head]!;
      if (floor !== undefined && oldest >= floor) break; // would cover a sequence still in progress
      this.head++;
      finished.delete(oldest);
      if (this.forgottenMax === undefined || oldest > this.forgottenMax) this.forgottenMax = oldest;
    }
    // compact the consumed prefix now and then
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order.splice(0, this.head);
      this.head = 0;
    }
  }
}
