/**
 * The soak in brief (20 users, 10 s of traffic under random faults); the long one is
 * `npm run soak -- --users 200 --seconds 300`.
 */
import { jest } from '@jest/globals';
import { runSoak } from '../../scripts/soak.js';

jest.setTimeout(120_000);

it('20 users, 10 s of P2P and group traffic under random faults: nothing acknowledged is lost, every invariant holds', async () => {
  const seed = Number(process.env.SOAK_SEED ?? 20261125);
  const result = await runSoak({ users: 20, seconds: 10, rate: 3, seed, faultEveryMs: 500 });
  console.log(JSON.stringify(result));
  expect(result.violations).toEqual([]);
  expect(result.invariantViolations).toBe(0);
  expect(result.lost).toBe(0);
  expect(result.sent).toBeGreaterThan(300);
  expect(result.acked + result.timedOut).toBe(result.sent);
  expect(result.rejected).toBe(0);
  expect(Object.values(result.faults).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(10);
  expect(result.peakPending).toBeLessThanOrEqual(10_000);
  expect(result.peakDeliveryQueue).toBeLessThanOrEqual(64);
});
