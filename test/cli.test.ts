import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { compareToFixture, listFixtures, readFixture } from './helpers/fixtures.js';
import { requireWebGpu, testedBackends, webgpuAdapter } from './helpers/webgpu.js';

const BIN = fileURLToPath(new URL('../bin/omninet.js', import.meta.url));
const fixtures = listFixtures(['omninet', 'omninet-masked', 'omninet-causal-axial', 'omninet-causal-omni']);
let dir: string;

/** Runs the built CLI the way a user would and returns its exit code and output. */
function omninet(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function file(name: string, bytes: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** Asserts the CLI failed with exit code 2 and one line on stderr matching `pattern`. */
function expectOneLineError(result: ReturnType<typeof omninet>, pattern: RegExp): void {
  expect(result.status, result.stderr).toBe(2);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^omninet: /);
  expect(lines[0]).toMatch(pattern);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'omninet-cli-'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('omninet forward', () => {
  it.each(fixtures.flatMap((f) => testedBackends(['wasm', 'js', 'webgpu'] as const).map((backend) => [f.name, backend, f] as const)))(
    '%s on %s matches',
    (name, backend, fixture) => {
      if (backend === 'webgpu') requireWebGpu();
      const input = file(`${name}-input.npy`, writeNpy({ dtype: 'float32', shape: fixture.shape, data: fixture.input }));
      const args = [fixture.path, '--input', input, '--output', join(dir, `${name}-${backend}.npy`), '--backend', backend];
      if (fixture.mask) args.push('--mask', file(`${name}-mask.npy`, writeNpy({ dtype: 'uint8', shape: fixture.shape.slice(0, 2), data: fixture.mask })));

      const result = omninet('forward', ...args);
      expect(result.status, result.stderr).toBe(0);

      const output = readNpy(new Uint8Array(readFileSync(join(dir, `${name}-${backend}.npy`))));
      expect(output.dtype).toBe('float32');
      expect(output.shape).toEqual(fixture.shape);
      const comparison = compareToFixture(output.data as Float32Array, fixture);
      expect(comparison.failures, `${name} via CLI on ${backend}: first failure ${comparison.first}`).toBe(0);
    },
  );

  it('accepts a (seq, dim) input', () => {
    const fixture = readFixture('omninet-02.safetensors');
    const input = file('seq-dim.npy', writeNpy({ dtype: 'float32', shape: fixture.shape.slice(1), data: fixture.input }));
    const result = omninet('forward', fixture.path, '--input', input, '--output', join(dir, 'seq-dim-out.npy'));
    expect(result.status, result.stderr).toBe(0);

    const output = readNpy(new Uint8Array(readFileSync(join(dir, 'seq-dim-out.npy'))));
    expect(output.shape).toEqual(fixture.shape.slice(1));
    expect(compareToFixture(output.data as Float32Array, fixture).failures).toBe(0);
  });
});

describe('omninet forward errors', () => {
  const fixture = readFixture('omninet-01.safetensors');
  const goodInput = () => file('good.npy', writeNpy({ dtype: 'float32', shape: fixture.shape, data: fixture.input }));
  const out = () => join(dir, 'unused.npy');

  it('rejects a missing --input', () => {
    expectOneLineError(omninet('forward', fixture.path, '--output', out()), /needs --input/);
  });

  it('rejects a missing model file', () => {
    expectOneLineError(omninet('forward', join(dir, 'nope.safetensors'), '--input', goodInput(), '--output', out()), /nope\.safetensors: file not found/);
  });

  it('rejects a truncated checkpoint', () => {
    const truncated = file('truncated.safetensors', fixture.bytes.subarray(0, 5000));
    expectOneLineError(omninet('forward', truncated, '--input', goodInput(), '--output', out()), /truncated\.safetensors/);
  });

  it('rejects a checkpoint that is not safetensors', () => {
    const text = file('notes.safetensors', 'hello, this is not a model');
    expectOneLineError(omninet('forward', text, '--input', goodInput(), '--output', out()), /notes\.safetensors.*header/);
  });

  it('rejects an input with the wrong dim', () => {
    const wrong = file('wrong-dim.npy', writeNpy({ dtype: 'float32', shape: [2, 5, 7], data: new Float32Array(70) }));
    expectOneLineError(omninet('forward', fixture.path, '--input', wrong, '--output', out()), /last dimension 7 but the model's dim is 32/);
  });

  it('rejects a uint8 input', () => {
    const bytes = file('bytes.npy', writeNpy({ dtype: 'uint8', shape: [2, 32], data: new Uint8Array(64) }));
    expectOneLineError(omninet('forward', fixture.path, '--input', bytes, '--output', out()), /dtype is uint8; expected float32/);
  });

  it('rejects a one-dimensional input', () => {
    const flat = file('flat.npy', writeNpy({ dtype: 'float32', shape: [32], data: new Float32Array(32) }));
    expectOneLineError(omninet('forward', fixture.path, '--input', flat, '--output', out()), /shape \(32\) must be \(batch, seq, dim\) or \(seq, dim\)/);
  });

  it('rejects a truncated input file', () => {
    const bytes = writeNpy({ dtype: 'float32', shape: fixture.shape, data: fixture.input });
    const truncated = file('truncated.npy', bytes.subarray(0, bytes.length - 10));
    expectOneLineError(omninet('forward', fixture.path, '--input', truncated, '--output', out()), /truncated\.npy/);
  });

  it('rejects a mask of the wrong shape', () => {
    const mask = file('mask-shape.npy', writeNpy({ dtype: 'uint8', shape: [2, 5], data: new Uint8Array(10).fill(1) }));
    expectOneLineError(omninet('forward', fixture.path, '--input', goodInput(), '--mask', mask, '--output', out()), /mask shape \(2, 5\) does not match the input's \(2, 23\)/);
  });

  it('rejects a float32 mask', () => {
    const mask = file('mask-float.npy', writeNpy({ dtype: 'float32', shape: [2, 23], data: new Float32Array(46).fill(1) }));
    expectOneLineError(omninet('forward', fixture.path, '--input', goodInput(), '--mask', mask, '--output', out()), /mask dtype is float32; expected uint8 or bool/);
  });

  it('rejects a mask value of 2', () => {
    const mask = file('mask-two.npy', writeNpy({ dtype: 'uint8', shape: [2, 23], data: new Uint8Array(46).fill(2) }));
    expectOneLineError(omninet('forward', fixture.path, '--input', goodInput(), '--mask', mask, '--output', out()), /mask value 2 at index 0 is not 0 or 1/);
  });

  it('rejects NaN at a real position', () => {
    const data = Float32Array.from(fixture.input);
    data[40] = NaN;
    const nan = file('nan.npy', writeNpy({ dtype: 'float32', shape: fixture.shape, data }));
    expectOneLineError(omninet('forward', fixture.path, '--input', nan, '--output', out()), /input value NaN at flat index 40 \(token 1, channel 8\) is not finite/);
  });

  it('rejects an unknown backend', () => {
    expectOneLineError(omninet('forward', fixture.path, '--input', goodInput(), '--output', out(), '--backend', 'cuda'), /--backend cuda is not one of auto, webgpu, wasm, js/);
  });

  it('rejects an unknown option', () => {
    expectOneLineError(omninet('forward', fixture.path, '--inptu', goodInput()), /--inptu/);
  });

  it('rejects an unwritable output', () => {
    expectOneLineError(omninet('forward', fixture.path, '--input', goodInput(), '--output', join(dir, 'no-such-dir', 'y.npy')), /cannot write output .*no-such-dir.*not found/);
  });

  it('points int64 masks at uint8', () => {
    // NumPy's v1 layout by hand: np.array([[1] * 23] * 2) saves as int64.
    const header = "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 23), }";
    const padded = header + ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
    const bytes = new Uint8Array(10 + padded.length + 46 * 8);
    bytes.set([0x93, ...new TextEncoder().encode('NUMPY'), 1, 0, padded.length & 0xff, padded.length >> 8]);
    bytes.set(new TextEncoder().encode(padded), 10);
    const mask = file('mask-int64.npy', bytes);
    expectOneLineError(omninet('forward', fixture.path, '--input', goodInput(), '--mask', mask, '--output', out()), /mask dtype <i8 is not supported; save it as uint8 or bool, e\.g\. np\.save\(path, mask\.astype\(np\.uint8\)\)/);
  });

  it('accepts a (seq) mask for batch one', () => {
    const single = readFixture('omninet-02.safetensors');
    const input = file('batch-one.npy', writeNpy({ dtype: 'float32', shape: single.shape, data: single.input }));
    const mask = file('mask-seq.npy', writeNpy({ dtype: 'bool', shape: [50], data: new Uint8Array(50).fill(1) }));
    const result = omninet('forward', single.path, '--input', input, '--mask', mask, '--output', join(dir, 'batch-one-out.npy'));
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/wrote .*batch-one-out\.npy: float32 \(1, 50, 48\) on backend wasm/);
  });

  it('prints usage for forward --help', () => {
    const result = omninet('forward', '--help');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/Usage:/);
  });

  it('names an unknown short option', () => {
    expectOneLineError(omninet('forward', fixture.path, '-i', goodInput()), /unknown option -i; see omninet --help/);
  });

  it('rejects an unknown command', () => {
    expectOneLineError(omninet('backward'), /unknown command "backward"/);
  });
});

describe('omninet info', () => {
  it('reports runtime and backends', () => {
    const result = omninet('info');
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/wasm: simd yes/);
    expect(result.stdout).toMatch(/backend wasm: available/);
    expect(result.stdout).toMatch(/backend js: available/);
  });

  it.runIf(webgpuAdapter)('reports the WebGPU adapter', () => {
    const result = omninet('info');
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/backend webgpu: available/);
    expect(result.stdout).toMatch(new RegExp(`webgpu adapter: vendor ${webgpuAdapter!.vendor}, architecture ${webgpuAdapter!.architecture}`));
    expect(result.stdout).toMatch(/limits: maxStorageBufferBindingSize \d+(\.\d)? [KMG]iB, maxBufferSize .*maxComputeWorkgroupsPerDimension \d+/);
  });

  it('describes a model', () => {
    const result = omninet('info', readFixture('omninet-02.safetensors').path);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/variant omninet, dim 48, depth 6, heads 3, dim_head 16/);
    expect(result.stdout).toMatch(/omni layers \[0, 1, 3, 4\] pooling \[2, 3, 3, 3\]/);
  });
});
