// The wasm backend on several threads. The same kernels on 1 and 2 threads give identical outputs,
// because every split keeps the arithmetic of each output element: GEMM rows split at multiples of
// the micro-tile, attention and FAVOR+ by (batch, head). Also the fallback to one thread and the
// pool's lifetime.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WasmBackend } from '../src/backends/wasm/index.js';
import { splitRange, splitRows } from '../src/backends/wasm/threads/partition.js';
import { OmninetError } from '../src/errors.js';
import type { OpArgs } from '../src/kernels/ops.js';
import { getKernel } from '../src/kernels/registry.js';
import { Omninet } from '../src/index.js';
import type { Tensor } from '../src/tensor.js';
import { makeMask, Random, type ForwardOp } from './helpers/kernel-cases.js';

type Upload = (data: Float32Array, shape: readonly number[], persistent?: boolean) => Tensor;

let single: WasmBackend;
let parallel: WasmBackend;

/** Runs `op` on `backend` with the tensors `build` uploads and returns its output. */
function run<K extends ForwardOp>(backend: WasmBackend, op: K, build: (upload: Upload) => OpArgs[K]): Float32Array {
  const kernel = getKernel(op, 'wasm');
  if (!kernel) throw new Error(`${op}: kernel not registered`);
  const tensors: Tensor[] = [];
  const args = build((data, shape, persistent) => {
    const tensor = backend.upload(data, shape, persistent);
    tensors.push(tensor);
    return tensor;
  });
  const result = kernel(args, backend);
  const output = backend.downloadSync(result);
  result.dispose();
  for (const tensor of tensors) tensor.dispose();
  return output;
}

/** Expects `op` to give bit-identical outputs on 1 and 2 threads. */
function expectSameOnBothPools<K extends ForwardOp>(op: K, label: string, build: (upload: Upload) => OpArgs[K]): void {
  const expected = run(single, op, build);
  const actual = run(parallel, op, build);
  expect(actual.length, `${op} ${label} length`).toBe(expected.length);
  const first = actual.findIndex((value, i) => !Object.is(value, expected[i]));
  expect(first, `${op} ${label}: first differing index (${actual[first]} vs ${expected[first]})`).toBe(-1);
}

beforeAll(async () => {
  single = await WasmBackend.create({ threads: 1 });
  parallel = await WasmBackend.create({ threads: 2 });
});

afterAll(() => {
  single?.dispose();
  parallel?.dispose();
});

describe('wasm threads', () => {
  it('creates the requested pool', () => {
    expect(single.threads).toBe(1);
    expect(single.pool).toBeNull();
    expect(parallel.threads).toBe(2);
    expect(parallel.threadsNote).toBeNull();
  });

  it('rejects invalid thread counts', async () => {
    await expect(WasmBackend.create({ threads: 0 })).rejects.toThrow(OmninetError);
    await expect(WasmBackend.create({ threads: 1.5 })).rejects.toThrow(OmninetError);
    await expect(WasmBackend.create({ threads: 65 })).rejects.toThrow(/threads must be an integer from 1 to 64, got 65/);
  });

  it('reports the threads a model runs on', async () => {
    const options = { dim: 32, depth: 2, heads: 2, dimHead: 16, seed: 1 };
    const twoThreads = new Omninet({ ...options, backend: 'wasm', threads: 2 });
    const oneThread = new Omninet({ ...options, backend: 'wasm', threads: 1 });
    const js = new Omninet({ ...options, backend: 'js' });
    expect(await twoThreads.threads()).toEqual({ threads: 2, note: null });
    expect(await oneThread.threads()).toEqual({ threads: 1, note: null });
    expect(await js.threads()).toEqual({ threads: 1, note: 'the model runs on the js backend, which does not use wasm threads' });
    for (const model of [twoThreads, oneThread, js]) model.dispose();
  });

  for (const rows of [1, 5, 97, 1023, 1024]) {
    it(`linear matches on 1 and 2 threads, ${rows} rows`, () => {
      const [inFeatures, outFeatures] = rows < 97 ? [512, 2048] : [256, 200];
      const random = new Random(rows);
      const x = random.uniform(rows * inFeatures);
      const weight = random.uniform(outFeatures * inFeatures);
      const bias = random.uniform(outFeatures);
      for (const activation of ['none', 'gelu'] as const) {
        expectSameOnBothPools('linear', `${rows} rows ${activation}`, (upload) => ({
          x: upload(x, [rows, inFeatures]),
          weight: upload(weight, [outFeatures, inFeatures], true),
          bias: upload(bias, [outFeatures]),
          activation,
        }));
      }
    });
  }

  for (const [batch, seq, heads, dimHead] of [
    [1, 130, 3, 16],
    [2, 67, 8, 64],
  ]) {
    it(`attention matches on 1 and 2 threads, [${batch}, ${seq}] ${heads} heads`, () => {
      const random = new Random(batch * seq * heads);
      const qkv = random.normal(batch * seq * 3 * heads * dimHead);
      for (const causal of [false, true]) {
        for (const maskKind of ['none', 'mixed'] as const) {
          const mask = makeMask(maskKind, batch, seq, random);
          expectSameOnBothPools('attention', `causal=${causal} mask=${maskKind}`, (upload) => ({
            qkv: upload(qkv, [batch, seq, 3 * heads * dimHead]),
            batch,
            seq,
            heads,
            dimHead,
            scale: dimHead ** -0.5,
            causal,
            mask,
          }));
        }
      }
    });
  }

  it('favorFeatures and linearAttention match on 1 and 2 threads', () => {
    const [batch, tokens, heads, dimHead, nbFeatures] = [2, 300, 5, 32, 70];
    const random = new Random(11);
    const x = random.normal(batch * tokens * heads * dimHead);
    const projection = random.normal(nbFeatures * dimHead);
    const phi = random.uniform(batch * heads * tokens * nbFeatures, 0.01, 1);
    const psi = random.uniform(batch * heads * tokens * nbFeatures, 0.01, 1);
    const v = random.normal(batch * tokens * heads * dimHead);
    for (const maskKind of ['none', 'mixed'] as const) {
      const mask = makeMask(maskKind, batch, tokens, random);
      for (const kind of ['query', 'key'] as const) {
        expectSameOnBothPools('favorFeatures', `${kind} mask=${maskKind}`, (upload) => ({
          x: upload(x, [batch, tokens, heads * dimHead]),
          projection: upload(projection, [nbFeatures, dimHead], true),
          batch,
          tokens,
          heads,
          dimHead,
          kind,
          mask,
        }));
      }
      expectSameOnBothPools('linearAttention', `mask=${maskKind}`, (upload) => ({
        queryFeatures: upload(phi, [batch, heads, tokens, nbFeatures]),
        keyFeatures: upload(psi, [batch, heads, tokens, nbFeatures]),
        v: upload(v, [batch, tokens, heads * dimHead]),
        batch,
        tokens,
        heads,
        dimHead,
        mask,
      }));
    }
  });

  it('forward matches on 1 and 2 threads', async () => {
    const dims = { dim: 64, depth: 3, heads: 4, dimHead: 16, poolLayerTokensEvery: 3, seed: 3 };
    const seq = 300;
    const x = new Random(5).normal(2 * seq * dims.dim);
    const mask = makeMask('mixed', 2, seq, new Random(6));
    const outputs: Float32Array[] = [];
    for (const threads of [1, 2]) {
      const model = new Omninet({ ...dims, backend: 'wasm', threads });
      outputs.push(await model.forward(x, { shape: [2, seq, dims.dim], mask: mask ?? undefined }));
      model.dispose();
    }
    const first = outputs[1].findIndex((value, i) => !Object.is(value, outputs[0][i]));
    expect(first, 'first differing output index').toBe(-1);
  });

  it('rejects kernel calls after dispose', async () => {
    const backend = await WasmBackend.create({ threads: 2 });
    const pool = backend.pool;
    backend.dispose();
    expect(pool).not.toBeNull();
    expect(() => pool?.run('linearForward', [[0, 0, 0, 0, 0, 0, 0]])).toThrow(OmninetError);
  });

  it('falls back to one thread without SharedArrayBuffer', async () => {
    const saved = globalThis.SharedArrayBuffer;
    Reflect.deleteProperty(globalThis, 'SharedArrayBuffer');
    let backend: WasmBackend | undefined;
    try {
      backend = await WasmBackend.create({ threads: 2 });
    } finally {
      globalThis.SharedArrayBuffer = saved;
    }
    expect(backend.threads).toBe(1);
    expect(backend.threadsNote).toMatch(/SharedArrayBuffer/);
    const output = run(backend, 'gelu', (upload) => ({ x: upload(Float32Array.of(-1, 0, 1), [3]) }));
    expect(output[1]).toBe(0);
    backend.dispose();
  });
});

describe('wasm threads fallback', () => {
  it('runs one thread when shared memory fails', async () => {
    const original = WebAssembly.Memory;
    function FailingMemory(descriptor: WebAssembly.MemoryDescriptor & { shared?: boolean }): WebAssembly.Memory {
      if (descriptor.shared) throw new RangeError('shared memory refused in this test');
      return new original(descriptor);
    }
    FailingMemory.prototype = original.prototype;
    (WebAssembly as { Memory: unknown }).Memory = FailingMemory;
    let backend: WasmBackend | undefined;
    try {
      backend = await WasmBackend.create({ threads: 2 });
    } finally {
      (WebAssembly as { Memory: unknown }).Memory = original;
    }
    expect(backend.threads).toBe(1);
    expect(backend.threadsNote).toMatch(/shared memory refused in this test/);
    backend.dispose();
  });
});

describe('partition', () => {
  it('splits ranges evenly', () => {
    expect(splitRange(8, 2)).toEqual([
      { first: 0, count: 4 },
      { first: 4, count: 4 },
    ]);
    expect(splitRange(3, 8)).toEqual([
      { first: 0, count: 1 },
      { first: 1, count: 1 },
      { first: 2, count: 1 },
    ]);
    expect(splitRange(0, 2)).toEqual([]);
  });

  it('splits rows at multiples of 4', () => {
    const ranges = splitRows(1023, 2);
    expect(ranges).toEqual([
      { first: 0, count: 512 },
      { first: 512, count: 511 },
    ]);
    expect(splitRows(5, 2)).toEqual([
      { first: 0, count: 4 },
      { first: 4, count: 1 },
    ]);
  });
});
