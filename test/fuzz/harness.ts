import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';

import { OmninetError } from '../../src/errors.js';
import { readNpy } from '../../src/io/npy.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { readCheckpoint } from '../../src/model/checkpoint.js';
import { mutateCheckpoint, mutateNpy, mutateSafetensors } from './mutators.js';
import { FuzzRandom } from './random.js';
import { checkpointSeeds, npySeeds, safetensorsSeeds } from './seeds.js';

/** The readers under test, each with the mutator that feeds it. */
export type FuzzTarget = 'safetensors' | 'npy' | 'checkpoint';

export const FUZZ_TARGETS: readonly FuzzTarget[] = ['safetensors', 'npy', 'checkpoint'];

export const REGRESSION_DIR = new URL('../data/fuzz-regressions/', import.meta.url);

/** A case fails when it throws anything but an OmninetError, or runs past the time bound. */
export interface FuzzFailure {
  target: FuzzTarget;
  seed: number;
  reason: string;
  file?: string;
}

export function runTarget(target: FuzzTarget, bytes: Uint8Array): void {
  if (target === 'safetensors') readSafetensors(bytes, { source: 'fuzz.safetensors' });
  else if (target === 'npy') readNpy(bytes, { source: 'fuzz.npy' });
  else readCheckpoint(bytes, 'fuzz.safetensors');
}

/** Runs one input and returns why it failed, or undefined when it succeeded or raised an OmninetError. */
export function checkCase(target: FuzzTarget, bytes: Uint8Array, maxMilliseconds: number): string | undefined {
  const start = performance.now();
  try {
    runTarget(target, bytes);
  } catch (error) {
    if (!(error instanceof OmninetError)) {
      const name = error instanceof Error ? error.name : typeof error;
      const message = error instanceof Error ? error.message : String(error);
      return `threw ${name} instead of an OmninetError: ${message.slice(0, 200)}`;
    }
  }
  const elapsed = performance.now() - start;
  if (elapsed > maxMilliseconds) return `took ${elapsed.toFixed(0)} ms, over the ${maxMilliseconds} ms bound`;
  return undefined;
}

/** Stores a failing input so that the regression test replays it forever after. */
export function saveRegression(target: FuzzTarget, bytes: Uint8Array): string {
  mkdirSync(REGRESSION_DIR, { recursive: true });
  const name = `${target}-${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.bin`;
  writeFileSync(new URL(name, REGRESSION_DIR), bytes);
  return name;
}

export function regressionCases(): { name: string; target: FuzzTarget; bytes: Uint8Array }[] {
  let names: string[] = [];
  try {
    names = readdirSync(REGRESSION_DIR).filter((name) => name.endsWith('.bin'));
  } catch {
    return [];
  }
  return names.map((name) => {
    const target = name.split('-')[0] as FuzzTarget;
    if (!FUZZ_TARGETS.includes(target)) throw new Error(`regression file ${name} does not start with a target name`);
    return { name, target, bytes: new Uint8Array(readFileSync(new URL(name, REGRESSION_DIR))) };
  });
}

export interface CampaignOptions {
  seed: number;
  /** Stop after this many inputs per target... */
  casesPerTarget?: number;
  /** ...or when this much time has passed. */
  deadline?: number;
  maxMilliseconds: number;
  /** Inputs between memory samples. */
  batchSize: number;
  /** Growth of heap plus array buffers, in bytes, that counts as a leak. */
  maxMemoryGrowth: number;
  onBatch?: (count: number) => void;
}

export interface CampaignResult {
  count: number;
  countByTarget: Record<FuzzTarget, number>;
  failures: FuzzFailure[];
  memoryGrowth: number;
}

function memoryInUse(): number {
  (globalThis as { gc?: () => void }).gc?.();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/**
 * Mutates the seed files round-robin across the targets. Case i of a campaign uses the
 * generator seeded with `seed + i`, so one failing case can be rebuilt from its number alone.
 */
export function runCampaign(options: CampaignOptions): CampaignResult {
  const seeds = { safetensors: safetensorsSeeds(), npy: npySeeds(), checkpoint: checkpointSeeds() };
  const countByTarget: Record<FuzzTarget, number> = { safetensors: 0, npy: 0, checkpoint: 0 };
  const failures: FuzzFailure[] = [];

  const baseline = memoryInUse();
  let memoryGrowth = 0;
  let count = 0;
  const limit = (options.casesPerTarget ?? Infinity) * FUZZ_TARGETS.length;

  while (count < limit && (options.deadline === undefined || Date.now() < options.deadline)) {
    const caseSeed = options.seed + count;
    const random = new FuzzRandom(caseSeed);
    const target = FUZZ_TARGETS[count % FUZZ_TARGETS.length]!;
    const bytes = mutate(target, seeds, random);

    const reason = checkCase(target, bytes, options.maxMilliseconds);
    if (reason !== undefined) failures.push({ target, seed: caseSeed, reason, file: saveRegression(target, bytes) });
    countByTarget[target]++;
    count++;

    if (count % options.batchSize === 0) {
      memoryGrowth = Math.max(memoryGrowth, memoryInUse() - baseline);
      if (memoryGrowth > options.maxMemoryGrowth) {
        failures.push({ target, seed: caseSeed, reason: `memory grew by ${memoryGrowth} bytes after ${count} cases` });
        break;
      }
      options.onBatch?.(count);
    }
  }
  return { count, countByTarget, failures, memoryGrowth };
}

function mutate(
  target: FuzzTarget,
  seeds: { safetensors: Uint8Array[]; npy: Uint8Array[]; checkpoint: ReturnType<typeof checkpointSeeds> },
  random: FuzzRandom,
): Uint8Array {
  if (target === 'safetensors') return mutateSafetensors(random.pick(seeds.safetensors), random);
  if (target === 'npy') return mutateNpy(random.pick(seeds.npy), random);
  return mutateCheckpoint(random.pick(seeds.checkpoint), random);
}
