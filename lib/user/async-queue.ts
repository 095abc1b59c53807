/**
 * A bounded FIFO with an async iterator. `push` resolves once the item is buffered, so a
 * producer that awaits it slows down to the consumer's pace instead of growing memory.
 */
export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  private readonly items: T[] = [];
  private readonly takers: Array<(result: IteratorResult<T>) => void> = [];
  private readonly spaceWaiters: Array<() => void> = [];
  private ended = false;

  constructor(readonly capacity: number) {}

  get length(): number {
    return this.items.length;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  async push(item: T): Promise<void> {
    if (this.ended) return;
    const taker = this.takers.shift();
    if (taker) return taker({ value: item, done: false });
    while (this.items.length >= this.capacity && !this.ended) {
      await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
    }
    if (!this.ended) this.items.push(item);
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) {
      const value = this.items.shift()!;
      this.spaceWaiters.shift()?.();
      return Promise.resolve({ value, done: false });
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.takers.push(resolve));
  }

  /** Ends the iteration: buffered items are dropped, waiting consumers and producers released. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.items.length = 0;
    for (const taker of this.takers.splice(0)) taker({ value: undefined, done: true });
    for (const waiter of this.spaceWaiters.splice(0)) waiter();
  }

  return(): Promise<IteratorResult<T>> {
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
