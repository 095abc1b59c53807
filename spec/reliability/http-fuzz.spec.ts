/**
 * HTTP fuzzing, 10 000 cases per run: the emulator's HTTP service (token, resolver, admin, REST),
 * createTokenHandler and createCallbackHandler. Every request must get a 2xx/4xx answer (never a
 * 5xx, nor an envelope code 500) and every server must keep serving. Longer runs:
 * `npm run fuzz -- --target http --cases N` or `--seconds N`.
 */
import { jest } from '@jest/globals';
import { runHttpFuzz } from './fuzz/http-kit.js';

// Only a backstop for a hang: every request has its own answer deadline in the kit (10 000 cases
// take about 80 s on a quiet 2-core machine, so 180 s left too little room on a loaded CI one).
jest.setTimeout(600_000);

const SEED = Number(process.env.FUZZ_SEED ?? 20261126);
const CASES = Number(process.env.FUZZ_HTTP_CASES ?? 10_000);

describe('HTTP fuzz', () => {
  it('10 000 hostile requests: every one answered 2xx/4xx, the servers keep serving', async () => {
    const result = await runHttpFuzz({ cases: CASES, seed: SEED });
    console.log(JSON.stringify(result));
    expect(result.problems).toEqual([]);
    expect(result.cases).toBe(CASES);
    expect(result.healthChecks).toBeGreaterThanOrEqual(Math.floor(CASES / 500));
    for (const target of ['emulator', 'token', 'callback'] as const) {
      const { cases, statuses } = result.byTarget[target];
      expect(cases).toBeGreaterThan(CASES / 20);
      // Both accepted and refused requests were exercised, with several distinct refusals.
      expect(statuses['200']).toBeGreaterThan(0);
      expect(Object.keys(statuses).filter((s) => s.startsWith('4')).length).toBeGreaterThanOrEqual(3);
    }
  });
});
