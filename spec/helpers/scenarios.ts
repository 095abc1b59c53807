/** Steps shared by the reliability scenarios (spec/reliability). */
import { sleep, type Harness, type Tracked } from './invariants.js';

/** Sends `count` messages from `from` to `to`, yielding every few sends; `at(i)` runs before send i. */
export async function burst(
  harness: Harness,
  from: Tracked,
  to: string,
  count: number,
  at: (i: number) => void | Promise<void> = () => undefined,
): Promise<void> {
  for (let i = 0; i < count; i++) {
    await at(i);
    harness.send(from, to, { isStore: i % 7 !== 3 });
    if (i % 10 === 9) await sleep(2);
  }
}

/** Final checks shared by every scenario: invariants held, then a clean shutdown. */
export async function expectClean(harness: Harness): Promise<void> {
  expect(harness.violations()).toEqual([]);
  expect(await harness.shutdown()).toEqual([]);
  expect(harness.violations()).toEqual([]);
}
