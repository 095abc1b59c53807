/**
 * Remembers the most recent `capacity` sequences. Sequences are strictly increasing per
 * recipient, so anything at or below the largest forgotten sequence is also treated as seen:
 * memory stays bounded without the window of the Go SDK's "clear everything" approach.
 */
export class SequenceWindow {
  private readonly seen = new Set<bigint>();
  private readonly order: bigint[] = [];
  private head = 0;
  private forgottenMax = -1n;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.seen.size;
  }

  has(sequence: bigint): boolean {
    return sequence <= this.forgottenMax || this.seen.has(sequence);
  }

  add(sequence: bigint): void {
    if (this.has(sequence)) return;
    this.seen.add(sequence);
    this.order.push(sequence);
    while (this.seen.size > this.capacity) {
      const oldest = this.order[this.head++]!;
      this.seen.delete(oldest);
      if (oldest > this.forgottenMax) this.forgottenMax = oldest;
    }
    // compact the consumed prefix now and then
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order.splice(0, this.head);
      this.head = 0;
    }
  }
}
