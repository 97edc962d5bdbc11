#!/usr/bin/env node
// Long fuzz pass over the safetensors, .npy and checkpoint readers.
// Usage: npm run fuzz:long -- --minutes 30 [--seed N] [--summary out.json]
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    seed: { type: 'string' },
    summary: { type: 'string' },
  },
});

const minutes = Number(values.minutes);
if (!(minutes > 0)) {
  console.error(`fuzz-long: --minutes must be a positive number, got ${values.minutes}`);
  process.exit(2);
}

const env = { ...process.env, OMNINET_FUZZ_MINUTES: String(minutes) };
if (values.seed !== undefined) env.OMNINET_FUZZ_SEED = values.seed;
if (values.summary !== undefined) env.OMNINET_FUZZ_SUMMARY = values.summary;

const vitest = new URL('../node_modules/vitest/vitest.mjs', import.meta.url).pathname;
const config = new URL('./fuzz/vitest.config.ts', import.meta.url).pathname;
const run = spawnSync(process.execPath, [vitest, 'run', '--config', config, '--silent=false'], { env, stdio: 'inherit' });
process.exit(run.status ?? 1);
