import { describe, expect, it } from 'vitest';

import { checkCase, regressionCases, runCampaign } from './fuzz/harness.js';

// The short pass of the fuzzer. `npm run fuzz:long -- --minutes 30` runs the same campaign for longer.
const CASES_PER_TARGET = 7_000;

describe('fuzzing the readers', () => {
  it('replays saved failing inputs', () => {
    for (const { name, target, bytes } of regressionCases()) {
      expect(checkCase(target, bytes, 2_000), name).toBeUndefined();
    }
  });

  it(`survives ${3 * CASES_PER_TARGET} mutated inputs`, () => {
    const result = runCampaign({
      seed: 20_261_204,
      casesPerTarget: CASES_PER_TARGET,
      maxMilliseconds: 1_000,
      batchSize: 1_000,
      maxMemoryGrowth: 256 * 2 ** 20,
    });

    expect(result.failures.slice(0, 5)).toEqual([]);
    expect(result.count).toBe(3 * CASES_PER_TARGET);
  });
});
