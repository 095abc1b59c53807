import type { Logger } from 'pino';

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

  /** Buffers the item without waiting; false (item not taken) when the buffer is full or the queue ended. */
  offer(item: T): boolean {
    if (this.ended) return false;
    const taker = this.takers.shift();
    if (taker) {
      taker({ value: item, done: false });
      return true;
    }
    if (this.items.length >= this.capacity) return false;
    this.items.push(item);
    return true;
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

/**
 * Copies items to every open iterator without ever waiting: an iterator that is `capacity`
 * items behind misses further items (`onDrop` counts each) and a warning is logged once per
 * such episode, so an iterator nobody reads can never hold back its producer.
 */
export class IteratorFanout<T> {
  /** Created by the first open iterator: most users never open one. */
  private queues: Map<AsyncQueue<T>, { warned: boolean }> | null = null;

  constructor(
    private readonly onDrop: () => void,
    private readonly log: Logger,
  ) {}

  add(capacity: number, ended: boolean): AsyncQueue<T> {
    const queue = new AsyncQueue<T>(capacity);
    if (ended) queue.end();
    else (this.queues ??= new Map()).set(queue, { warned: false });
    return queue;
  }

  offer(item: T): void {
    if (!this.queues) return;
    for (const [queue, state] of this.queues) {
      if (queue.isEnded) {
        this.queues.delete(queue);
      } else if (queue.offer(item)) {
        state.warned = false;
      } else {
        this.onDrop();
        if (!state.warned) {
          state.warned = true;
          this.log.warn({ capacity: queue.capacity }, 'a messages() iterator is not being read: dropping messages for it');
        }
      }
    }
  }

  endAll(): void {
    for (const queue of this.queues?.keys() ?? []) queue.end();
    this.queues = null;
  }
}
