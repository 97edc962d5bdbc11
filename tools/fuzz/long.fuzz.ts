import { writeFileSync } from 'node:fs';
import { it } from 'vitest';

import { runCampaign } from '../../test/fuzz/harness.js';

// The long pass of the fuzzer, started by tools/fuzz-long.mjs. The short pass runs in test/fuzz.test.ts.
const minutes = Number(process.env.OMNINET_FUZZ_MINUTES ?? 30);
const seed = Number(process.env.OMNINET_FUZZ_SEED ?? Date.now() % 2 ** 31);
const summaryPath = process.env.OMNINET_FUZZ_SUMMARY;

it(`fuzzes the readers for ${minutes} minutes`, () => {
  const started = Date.now();
  console.log(`fuzz: seed ${seed}, ${minutes} minutes`);
  const result = runCampaign({
    seed,
    deadline: started + minutes * 60_000,
    maxMilliseconds: 2_000,
    batchSize: 10_000,
    maxMemoryGrowth: 512 * 2 ** 20,
    onBatch: (count) => {
      if (count % 500_000 === 0) console.log(`fuzz: ${count} inputs after ${((Date.now() - started) / 60_000).toFixed(1)} min`);
    },
  });

  const summary = {
    seed,
    minutes: (Date.now() - started) / 60_000,
    inputs: result.count,
    byTarget: result.countByTarget,
    memoryGrowthBytes: result.memoryGrowth,
    failures: result.failures,
  };
  console.log(`fuzz: done ${JSON.stringify(summary)}`);
  if (summaryPath) writeFileSync(summaryPath, `${JSON.stringify(summary, null, 2)}\n`);
  if (result.failures.length > 0) {
    throw new Error(`${result.failures.length} failing inputs, saved under test/data/fuzz-regressions/`);
  }
}, 24 * 60 * 60_000);
