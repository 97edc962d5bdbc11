// `omninet forward --decode`: causal fixtures decoded position by position through the built CLI.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { compareToFixture, listFixtures, readFixture } from './helpers/fixtures.js';

const BIN = fileURLToPath(new URL('../bin/omninet.js', import.meta.url));
const fixtures = listFixtures(['omninet-causal-axial', 'omninet-causal-omni']);
let dir: string;

function omninet(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'omninet-cli-decode-'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('omninet forward --decode', () => {
  it('finds both causal fixtures', () => {
    expect(fixtures.map((f) => f.config.fixture_kind).sort()).toEqual(['omninet-causal-axial', 'omninet-causal-omni']);
  });

  it.each(fixtures.flatMap((f) => (['wasm', 'js'] as const).map((backend) => [f.name, backend, f] as const)))('%s on %s matches', (name, backend, fixture) => {
    const input = join(dir, `${name}-input.npy`);
    writeFileSync(input, writeNpy({ dtype: 'float32', shape: fixture.shape, data: fixture.input }));
    const output = join(dir, `${name}-${backend}-decoded.npy`);
    const args = [fixture.path, '--input', input, '--output', output, '--backend', backend, '--decode'];
    if (fixture.mask) {
      const mask = join(dir, `${name}-mask.npy`);
      writeFileSync(mask, writeNpy({ dtype: 'uint8', shape: fixture.shape.slice(0, 2), data: fixture.mask }));
      args.push('--mask', mask);
    }

    const result = omninet('forward', ...args);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/decoded position by position/);

    const decoded = readNpy(new Uint8Array(readFileSync(output)));
    expect(decoded.shape).toEqual(fixture.shape);
    const comparison = compareToFixture(decoded.data as Float32Array, fixture);
    expect(comparison.failures, `${name} decoded via CLI on ${backend}: first failure ${comparison.first}`).toBe(0);
  });

  it('rejects a non-causal model with one line and exit code 2', () => {
    const fixture = readFixture('omninet-01.safetensors');
    const input = join(dir, 'omninet-input.npy');
    writeFileSync(input, writeNpy({ dtype: 'float32', shape: fixture.shape, data: fixture.input }));
    const result = omninet('forward', fixture.path, '--input', input, '--output', join(dir, 'unused.npy'), '--decode');
    expect(result.status, result.stderr).toBe(2);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^omninet: --decode needs a causal model, but .*omninet-01\.safetensors is variant omninet, whose outputs depend on later positions/);
  });

  it('is listed in the usage', () => {
    expect(omninet('--help').stdout).toMatch(/\[--decode\]/);
  });
});
