import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readSafetensors } from '../../src/io/safetensors.js';

export const FIXTURE_DIR = fileURLToPath(new URL('../data/fixtures/', import.meta.url));

/** A golden case: model checkpoint plus input, optional mask, expected output and tolerance. */
export interface Fixture {
  name: string;
  path: string;
  bytes: Uint8Array;
  config: Record<string, unknown>;
  input: Float32Array;
  shape: number[];
  mask: Uint8Array | null;
  expected: Float32Array;
  tolerance: { abs: number; rel: number };
}

/** Returns the fixture files whose variant the foundation supports. */
export function listFixtures(kinds: readonly string[]): Fixture[] {
  return readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith('.safetensors'))
    .sort()
    .map((f) => readFixture(f))
    .filter((f) => kinds.includes(String(f.config.fixture_kind)));
}

export function readFixture(fileName: string): Fixture {
  const path = FIXTURE_DIR + fileName;
  const bytes = new Uint8Array(readFileSync(path));
  const file = readSafetensors(bytes, { source: fileName });
  const input = file.tensors.get('__input__')!;
  const output = file.tensors.get('__output__')!;
  const mask = file.tensors.get('__mask__');
  return {
    name: fileName.replace(/\.safetensors$/, ''),
    path,
    bytes,
    config: JSON.parse(file.metadata.config),
    input: input.data as Float32Array,
    shape: input.shape,
    mask: mask ? (mask.data as Uint8Array) : null,
    expected: output.data as Float32Array,
    tolerance: JSON.parse(file.metadata.tolerance),
  };
}

/** Compares real positions only; returns the worst errors and the first failing element. */
export function compareToFixture(actual: Float32Array, fixture: Fixture): { maxAbs: number; maxRel: number; failures: number; first: string | null } {
  const dim = fixture.shape[fixture.shape.length - 1];
  let maxAbs = 0;
  let maxRel = 0;
  let failures = 0;
  let first: string | null = null;
  for (let i = 0; i < fixture.expected.length; i++) {
    if (fixture.mask && fixture.mask[Math.floor(i / dim)] === 0) continue;
    const expected = fixture.expected[i];
    const error = Math.abs(actual[i] - expected);
    maxAbs = Math.max(maxAbs, error);
    if (Math.abs(expected) >= 1) maxRel = Math.max(maxRel, error / Math.abs(expected));
    if (!(error <= fixture.tolerance.abs + fixture.tolerance.rel * Math.abs(expected))) {
      failures++;
      first ??= `index ${i}: got ${actual[i]}, expected ${expected}`;
    }
  }
  return { maxAbs, maxRel, failures, first };
}
