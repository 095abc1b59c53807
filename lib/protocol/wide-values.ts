/**
 * The last few 64-bit values at or past 2^53 with their 32-bit halves, for the protobuf reader and
 * writer. App ids and server-assigned uuids are that large and repeat in every message; converting
 * between a bigint and its halves costs several BigInt temporaries each time, a lookup here none.
 * A bigint is immutable, so handing out the remembered one is the same as building it again.
 */
const SLOTS = 4;

export class WideValues {
  /** Halves of each slot's value (low and high 32 bits of its two's complement). */
  readonly lo = new Uint32Array(SLOTS);
  readonly hi = new Uint32Array(SLOTS);
  private readonly values: (bigint | undefined)[] = new Array<bigint | undefined>(SLOTS).fill(undefined);
  /** Round-robin: the slot the next new value replaces. */
  private next = 0;

  /** The slot holding `value`, or -1. */
  slotOf(value: bigint): number {
    return this.values.indexOf(value);
  }

  /** The remembered value whose halves are `lo`, `hi`, or undefined. */
  valueOf(lo: number, hi: number): bigint | undefined {
    for (let k = 0; k < SLOTS; k++) if (this.lo[k] === lo && this.hi[k] === hi && this.values[k] !== undefined) return this.values[k];
    return undefined;
  }

  remember(value: bigint, lo: number, hi: number): void {
    const k = this.next;
    this.next = (k + 1) % SLOTS;
    this.values[k] = value;
    this.lo[k] = lo;
    this.hi[k] = hi;
  }
}
