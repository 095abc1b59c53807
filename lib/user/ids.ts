import { randomInt } from 'node:crypto';

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** Cryptographically random ASCII letters (the Go SDK's math/rand ids collide). */
export function randomLetters(count: number): string {
  let s = '';
  for (let i = 0; i < count; i++) s += LETTERS[randomInt(LETTERS.length)];
  return s;
}

export function generateResource(): string {
  return `mimc_node_${randomLetters(10)}`;
}

/** Frame and packet ids of one user: `mimc_node_<random>_<n>`, unique across instances and restarts. */
export class IdGenerator {
  private readonly prefix = `mimc_node_${randomLetters(10)}_`;
  private counter = 0;

  next(): string {
    this.counter += 1;
    return this.prefix + this.counter;
  }
}
