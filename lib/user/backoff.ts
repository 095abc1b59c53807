/** Exponential backoff, shared by reconnects and handler retries. */
export interface Backoff {
  minDelayMs: number;
  maxDelayMs: number;
  factor: number;
}

/**
 * The delay before retry `n` (1 for the first): min × factor^(n−1) × `spread`, capped at max and
 * rounded to whole ms. `spread` is 1 without jitter, 1 + Math.random() (in [1, 2)) with it.
 */
export function backoffDelay(backoff: Backoff, n: number, spread = 1): number {
  return Math.min(backoff.maxDelayMs, Math.round(backoff.minDelayMs * backoff.factor ** (n - 1) * spread));
}
