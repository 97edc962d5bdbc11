import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { EXIT_CODES } from '../src/cli/exit-codes.js';
import { writeNpy } from '../src/io/npy.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { Omninet } from '../src/model/model.js';

const BIN = fileURLToPath(new URL('../bin/omninet.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'omninet-exit-'));

function omninet(...args: string[]): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stderr: result.stderr };
}

function file(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

function input(seq: number, dim: number): string {
  return file(`x-${seq}.npy`, writeNpy({ dtype: 'float32', shape: [seq, dim], data: new Float32Array(seq * dim).fill(0.1) }));
}

describe('omninet exit codes', () => {
  it('maps codes to distinct exits', () => {
    const distinct = new Set(Object.values(EXIT_CODES));
    expect([...distinct].sort()).toEqual([2, 3, 4, 5, 6]);
  });

  it('exits 4 on NaN weights', () => {
    const good = readSafetensors(new Omninet({ dim: 8, depth: 2, heads: 2, dimHead: 4 }).toSafetensors());
    const tensors = [...good.tensors.values()].map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape, data: t.data as Float32Array }));
    tensors[0]!.data[0] = Number.NaN;
    const model = file('nan.safetensors', writeSafetensors(tensors, good.metadata));

    const result = omninet('forward', model, '--input', input(4, 8), '--output', join(dir, 'y.npy'), '--backend', 'js');
    expect(result.status, result.stderr).toBe(EXIT_CODES.NON_FINITE);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^omninet: .*nan\.safetensors: weight "[^"]+" \[\d+\] holds NaN at flat index 0; fix the checkpoint/);
  });

  it('exits 3 over the wasm limit', () => {
    const model = file('wide.safetensors', new Omninet({ dim: 8, depth: 2, heads: 8, dimHead: 64, nbFeatures: 4096 }).toSafetensors());
    const result = omninet('forward', model, '--input', input(16384, 8), '--output', join(dir, 'y.npy'), '--backend', 'wasm');
    expect(result.status, result.stderr).toBe(EXIT_CODES.LIMIT_EXCEEDED);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^omninet: a forward of batch 1 × seq 16384 needs about \d+ MiB .* over the 4096 MiB limit of the wasm backend/);
  });
});
