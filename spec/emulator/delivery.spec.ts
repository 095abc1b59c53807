/** DeliveryCursor: batching, window, byte cap and live/stored interleaving, without sockets. */
import { DeliveryCursor } from '../../lib/emulator/delivery.js';
import { Account, type Delivery } from '../../lib/emulator/store.js';

function message(account: Account, bytes = 10, extra: Partial<Delivery> = {}): Delivery {
  return { sequence: account.nextSequence(), packetId: 'p', type: 1, payload: new Uint8Array(bytes), timestamp: 0n, ...extra };
}

const seqs = (items: Delivery[]): number[] => items.map((d) => Number(d.sequence));

describe('DeliveryCursor', () => {
  it('sends the backlog in batches and waits for acks beyond the window', () => {
    const account = new Account('a', 1n, 100);
    for (let i = 0; i < 5; i++) account.store.append(message(account));
    const cursor = new DeliveryCursor(2, 1 << 20, 0, 100);
    const first = cursor.next(account, 'r')!;
    expect(seqs(first.items)).toEqual([1, 2]);
    expect(first).toMatchObject({ more: true, windowFull: true });
    expect(cursor.next(account, 'r')).toBeNull();
    account.ack('r', 2n);
    expect(seqs(cursor.next(account, 'r')!.items)).toEqual([3, 4]);
    account.ack('r', 4n);
    expect(cursor.next(account, 'r')).toMatchObject({ more: false, windowFull: false });
    expect(cursor.next(account, 'r')).toBeNull();
  });

  it('keeps several batches in flight: the window is batchSize * maxUnackedBatches, acks are cumulative', () => {
    const account = new Account('a', 1n, 100);
    for (let i = 0; i < 9; i++) account.store.append(message(account));
    const cursor = new DeliveryCursor(2, 1 << 20, 0, 100, 3);
    expect(seqs(cursor.next(account, 'r')!.items)).toEqual([1, 2]);
    expect(seqs(cursor.next(account, 'r')!.items)).toEqual([3, 4]);
    const third = cursor.next(account, 'r')!;
    expect(seqs(third.items)).toEqual([5, 6]);
    expect(third).toMatchObject({ more: true, windowFull: true });
    expect(cursor.next(account, 'r')).toBeNull();
    // one ack of the second batch frees two batches at once
    account.ack('r', 4n);
    expect(seqs(cursor.next(account, 'r')!.items)).toEqual([7, 8]);
    expect(cursor.next(account, 'r')).toMatchObject({ more: false, windowFull: false });
    expect(cursor.next(account, 'r')).toBeNull();
    // a PULL / reconnect restarts from the acknowledged point, within the same window
    cursor.restart(account.ackedBy('r'), false);
    expect(seqs(cursor.next(account, 'r')!.items)).toEqual([5, 6]);
    expect(seqs(cursor.next(account, 'r')!.items)).toEqual([7, 8]);
    expect(seqs(cursor.next(account, 'r')!.items)).toEqual([9]);
  });

  it('keeps live messages behind unsent stored ones, so an ack never skips a message', () => {
    const account = new Account('a', 1n, 100);
    for (let i = 0; i < 3; i++) account.store.append(message(account));
    const cursor = new DeliveryCursor(2, 1 << 20, 0, 100);
    cursor.offerLive(message(account));
    expect(seqs(cursor.next(account, 'r')!.items)).toEqual([1, 2]);
    expect(cursor.next(account, 'r')).toBeNull();
    account.ack('r', 2n);
    expect(seqs(cursor.next(account, 'r')!.items)).toEqual([3, 4]);
  });

  it('restart resends everything above the acknowledged point', () => {
    const account = new Account('a', 1n, 100);
    for (let i = 0; i < 3; i++) account.store.append(message(account));
    const cursor = new DeliveryCursor(10, 1 << 20, 0, 100);
    expect(seqs(cursor.next(account, 'r')!.items)).toEqual([1, 2, 3]);
    account.ack('r', 1n);
    cursor.restart(account.ackedBy('r'), false);
    expect(seqs(cursor.next(account, 'r')!.items)).toEqual([2, 3]);
  });

  it('cuts batches at the byte budget, but always sends one message', () => {
    const account = new Account('a', 1n, 100);
    for (let i = 0; i < 3; i++) account.store.append(message(account, 3000));
    const cursor = new DeliveryCursor(100, 4096 + 7000, 0, 100);
    expect(seqs(cursor.next(account, 'r')!.items)).toEqual([1, 2]);
    expect(seqs(cursor.next(account, 'r')!.items)).toEqual([3]);
    const huge = new Account('b', 2n, 100);
    huge.store.append(message(huge, 50_000));
    expect(seqs(new DeliveryCursor(100, 4096 + 7000, 0, 100).next(huge, 'r')!.items)).toEqual([1]);
  });

  it('cuts batches at maxBatchBytes when that is below the frame cap', () => {
    const account = new Account('a', 1n, 100);
    for (let i = 0; i < 5; i++) account.store.append(message(account, 1000));
    const cursor = new DeliveryCursor(100, 1 << 20, 0, 100, 1, 2500);
    expect(seqs(cursor.next(account, 'r')!.items)).toEqual([1, 2]);
    expect(seqs(cursor.next(account, 'r')!.items)).toEqual([3, 4]);
    expect(seqs(cursor.next(account, 'r')!.items)).toEqual([5]);
  });

  it('skips messages for other resources', () => {
    const account = new Account('a', 1n, 100);
    account.store.append(message(account, 1, { onlyResource: 'x' }));
    account.store.append(message(account, 1, { excludeResource: 'r' }));
    account.store.append(message(account));
    const cursor = new DeliveryCursor(10, 1 << 20, 0, 100);
    expect(seqs(cursor.next(account, 'r')!.items)).toEqual([3]);
  });

  it('bounds the live queue', () => {
    const account = new Account('a', 1n, 100);
    const cursor = new DeliveryCursor(10, 1 << 20, 0, 2);
    expect(cursor.offerLive(message(account))).toBe(0);
    expect(cursor.offerLive(message(account))).toBe(0);
    expect(cursor.offerLive(message(account))).toBe(1);
    expect(seqs(cursor.next(account, 'r')!.items)).toEqual([2, 3]);
  });
});
