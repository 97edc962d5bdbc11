// Every `webgpu` kernel against the `js` oracle (float64 accumulation) on the shapes and with the
// tolerances of the wasm kernels (test/helpers/kernel-cases.ts), plus the paths that split work by
// device limits, run on a second backend whose limits are lowered.
//
// Set OMNINET_ACCURACY=1 to print the largest errors seen per op.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsBackend } from '../src/backends/js/index.js';
import { WebGpuBackend } from '../src/backends/webgpu/index.js';
import type { OpArgs } from '../src/kernels/ops.js';
import { getKernel } from '../src/kernels/registry.js';
import type { Tensor } from '../src/tensor.js';
import {
  accuracyReport,
  ATTENTION_SHAPES,
  FAVOR_CASES,
  findMismatch,
  LAYER_NORM_CASES,
  LAYER_SHAPES,
  LINEAR_ATTENTION_SHAPES,
  LINEAR_CASES,
  makeMask,
  poisonMasked,
  Random,
  TOLERANCES,
  type AttentionCase,
  type ErrorStats,
  type FavorCase,
  type ForwardOp,
  type LinearAttentionCase,
  type Tolerance,
} from './helpers/kernel-cases.js';
import { requireWebGpu, runWebGpuTests } from './helpers/webgpu.js';

type Upload = (data: Float32Array, shape: readonly number[], persistent?: boolean) => Tensor;

let js: JsBackend;
let gpu: WebGpuBackend;
// Limits low enough that small tensors take every split path: 4 KiB bindings, 3 × 3 workgroups.
let split: WebGpuBackend;
const accuracy = new Map<string, ErrorStats>();

/**
 * Runs `op` on `js` and on `target` with the tensors `build` uploads, checks the outputs against
 * each other, frees the GPU tensors and returns both outputs.
 */
async function compare<K extends ForwardOp>(
  op: K,
  label: string,
  build: (upload: Upload) => OpArgs[K],
  tolerance: Tolerance = TOLERANCES[op],
  target: WebGpuBackend = gpu,
): Promise<{ actual: Float32Array; expected: Float32Array }> {
  const jsKernel = getKernel(op, 'js');
  const gpuKernel = getKernel(op, 'webgpu');
  if (!jsKernel || !gpuKernel) throw new Error(`${op}: kernel not registered`);

  const jsArgs = build((data, shape, persistent) => js.upload(data, shape, persistent));
  const expected = js.downloadSync(jsKernel(jsArgs, js));

  const gpuTensors: Tensor[] = [];
  const gpuArgs = build((data, shape, persistent) => {
    const tensor = target.upload(data, shape, persistent);
    gpuTensors.push(tensor);
    return tensor;
  });
  const result = gpuKernel(gpuArgs, target);
  const actual = await target.download(result);
  result.dispose();
  for (const tensor of gpuTensors) tensor.dispose();

  const key = target === split ? `${op} (split)` : op;
  const stats = accuracy.get(key) ?? { maxAbs: 0, maxRel: 0, maxToleranceUsed: 0 };
  accuracy.set(key, stats);
  expect(findMismatch(actual, expected, tolerance, stats, 'webgpu'), `${op} ${label}`).toBeUndefined();
  return { actual, expected };
}

function compareLinear(rows: number, inFeatures: number, outFeatures: number, target = gpu): Promise<unknown> {
  const random = new Random(rows * 1000 + inFeatures * 10 + outFeatures);
  const x = random.uniform(rows * inFeatures);
  const weight = random.uniform(outFeatures * inFeatures);
  const bias = random.uniform(outFeatures);
  const runs = (['none', 'gelu'] as const).flatMap((activation) =>
    [false, true].map((persistent) =>
      compare(
        'linear',
        `x [${rows}, ${inFeatures}] weight [${outFeatures}, ${inFeatures}] ${activation} persistent=${persistent}`,
        (upload) => ({
          x: upload(x, [rows, inFeatures]),
          weight: upload(weight, [outFeatures, inFeatures], persistent),
          bias: activation === 'gelu' ? null : upload(bias, [outFeatures]),
          activation,
        }),
        TOLERANCES.linear,
        target,
      ),
    ),
  );
  return Promise.all(runs);
}

function compareLayerNorm(rows: number, dim: number, mean = 0.5, std = 2, target = gpu): Promise<unknown> {
  const random = new Random(rows * 100 + dim);
  const x = random.normal(rows * dim, mean, std);
  const gamma = random.uniform(dim, 0.5, 1.5);
  const beta = random.uniform(dim);
  return compare(
    'layerNorm',
    `x [${rows}, ${dim}] mean ${mean}`,
    (upload) => ({ x: upload(x, [rows, dim]), gamma: upload(gamma, [dim]), beta: upload(beta, [dim]), eps: 1e-5 }),
    TOLERANCES.layerNorm,
    target,
  );
}

function attentionLabel(c: AttentionCase): string {
  return `qkv [${c.batch}, ${c.seq}, 3·${c.heads}·${c.dimHead}] causal=${c.causal} mask=${c.mask}`;
}

async function compareAttention(c: AttentionCase, seed: number, qkvData?: Float32Array, target = gpu): Promise<Float32Array> {
  const random = new Random(seed);
  const inner = c.heads * c.dimHead;
  const qkv = qkvData ?? random.normal(c.batch * c.seq * 3 * inner);
  const mask = makeMask(c.mask, c.batch, c.seq, random);
  // Masked keys and values are never read, so NaN there must not reach any output.
  poisonMasked(qkv, mask, 3 * inner, inner, 2 * inner);
  const scale = c.scale ?? 1 / Math.sqrt(c.dimHead);

  const { actual } = await compare(
    'attention',
    attentionLabel(c),
    (upload) => ({ qkv: upload(qkv, [c.batch, c.seq, 3 * inner]), batch: c.batch, seq: c.seq, heads: c.heads, dimHead: c.dimHead, scale, causal: c.causal, mask }),
    TOLERANCES.attention,
    target,
  );
  expect(actual.every(Number.isFinite), `attention ${attentionLabel(c)} outputs are finite`).toBe(true);
  return actual;
}

async function compareFavor(c: FavorCase, target = gpu): Promise<void> {
  const random = new Random(c.tokens * 7 + c.dimHead + c.nbFeatures);
  const inner = c.heads * c.dimHead;
  const x = random.normal(c.batch * c.tokens * inner);
  const projection = random.normal(c.nbFeatures * c.dimHead);

  for (const kind of ['query', 'key'] as const) {
    for (const maskKind of ['none', 'mixed'] as const) {
      for (const persistent of [false, true]) {
        const mask = makeMask(maskKind, c.batch, c.tokens, random);
        const label = `x [${c.batch}, ${c.tokens}, ${c.heads}·${c.dimHead}] W [${c.nbFeatures}, ${c.dimHead}] ${kind} mask=${maskKind}`;
        await compare(
          'favorFeatures',
          label,
          (upload) => ({
            x: upload(x, [c.batch, c.tokens, inner]),
            projection: upload(projection, [c.nbFeatures, c.dimHead], persistent),
            batch: c.batch,
            tokens: c.tokens,
            heads: c.heads,
            dimHead: c.dimHead,
            kind,
            mask,
          }),
          TOLERANCES.favorFeatures,
          target,
        );
      }
    }
  }
}

async function compareLinearAttention(c: LinearAttentionCase, seed: number, vMean = 0, tolerance = TOLERANCES.linearAttention, target = gpu): Promise<Float32Array> {
  const random = new Random(seed);
  const inner = c.heads * c.dimHead;
  const featureCount = c.batch * c.heads * c.tokens * c.nbFeatures;
  // Positive features of the size FAVOR+ produces: nbFeatures^-0.5·(exp(≤ 0) + 1e-4).
  const featureScale = c.nbFeatures ** -0.5;
  const queryFeatures = random.uniform(featureCount, 1e-4 * featureScale, featureScale);
  const keyFeatures = random.uniform(featureCount, 1e-4 * featureScale, featureScale);
  const v = random.normal(c.batch * c.tokens * inner, vMean);
  const mask = makeMask(c.mask, c.batch, c.tokens, random);
  poisonMasked(v, mask, inner, 0, inner);
  if (mask) {
    for (let b = 0; b < c.batch; b++) {
      for (let h = 0; h < c.heads; h++) {
        for (let t = 0; t < c.tokens; t++) {
          if (mask[b * c.tokens + t] !== 0) continue;
          const row = ((b * c.heads + h) * c.tokens + t) * c.nbFeatures;
          keyFeatures.fill(NaN, row, row + c.nbFeatures);
        }
      }
    }
  }

  const label = `φ and ψ [${c.batch}, ${c.heads}, ${c.tokens}, ${c.nbFeatures}] v [${c.batch}, ${c.tokens}, ${c.heads}·${c.dimHead}] mask=${c.mask}`;
  const { actual } = await compare(
    'linearAttention',
    label,
    (upload) => ({
      queryFeatures: upload(queryFeatures, [c.batch, c.heads, c.tokens, c.nbFeatures]),
      keyFeatures: upload(keyFeatures, [c.batch, c.heads, c.tokens, c.nbFeatures]),
      v: upload(v, [c.batch, c.tokens, inner]),
      batch: c.batch,
      tokens: c.tokens,
      heads: c.heads,
      dimHead: c.dimHead,
      mask,
    }),
    tolerance,
    target,
  );
  expect(actual.every(Number.isFinite), `linearAttention ${label} outputs are finite`).toBe(true);
  return actual;
}

async function compareLayers(batch: number, seq: number, dim: number, layers: number, target = gpu): Promise<void> {
  const random = new Random(batch * seq * dim * layers);
  const hiddens = Array.from({ length: layers }, () => random.normal(batch * seq * dim));
  await compare(
    'stackLayers',
    `${layers} hiddens [${batch}, ${seq}, ${dim}]`,
    (upload) => ({ hiddens: hiddens.map((hidden) => upload(hidden, [batch, seq, dim])), batch, seq, dim }),
    TOLERANCES.stackLayers,
    target,
  );

  const x = random.normal(batch * seq * layers * dim);
  x[0] = NaN;
  x[x.length - 1] = -0;
  await compare(
    'maxPoolLayers',
    `x [${batch}, ${seq}·${layers}, ${dim}]`,
    (upload) => ({ x: upload(x, [batch, seq * layers, dim]), batch, seq, layers, dim }),
    TOLERANCES.maxPoolLayers,
    target,
  );
}

describe.runIf(runWebGpuTests)('webgpu kernels', () => {
  beforeAll(async () => {
    requireWebGpu();
    js = new JsBackend();
    gpu = await WebGpuBackend.create();
    split = await WebGpuBackend.create({ limits: { maxStorageBufferBindingSize: 4096, maxComputeWorkgroupsPerDimension: 3 } });
  });

  afterAll(() => {
    gpu?.dispose();
    split?.dispose();
    if (process.env.OMNINET_ACCURACY) for (const line of accuracyReport(accuracy)) console.info(line);
  });

  describe('linear', () => {
    for (const { rows, inFeatures, outFeatures } of LINEAR_CASES) {
      it(`matches js [${rows}, ${inFeatures}] → ${outFeatures}`, () => compareLinear(rows, inFeatures, outFeatures));
    }

    it('matches js past one tile', () => compareLinear(130, 70, 129));

    it('keeps leading axes of x', async () => {
      const random = new Random(7);
      const x = random.uniform(2 * 3 * 5);
      const weight = random.uniform(4 * 5);
      const bias = random.uniform(4);
      const run = await compare('linear', 'x [2, 3, 5] weight [4, 5]', (upload) => ({
        x: upload(x, [2, 3, 5]),
        weight: upload(weight, [4, 5], true),
        bias: upload(bias, [4]),
        activation: 'none',
      }));
      expect(run.actual.length, 'linear x [2, 3, 5] output size').toBe(24);
    });
  });

  describe('layerNorm', () => {
    for (const { rows, dim } of LAYER_NORM_CASES) {
      it(`matches js [${rows}, ${dim}]`, () => compareLayerNorm(rows, dim));
    }

    it('handles mean 1e4 rows', async () => {
      for (const dim of [7, 64, 1024]) await compareLayerNorm(3, dim, 1e4, 1);
    });

    it('handles constant rows', async () => {
      const x = new Float32Array(2 * 9).fill(3.25);
      const gamma = new Float32Array(9).fill(2);
      const beta = new Random(3).uniform(9);
      const { actual } = await compare('layerNorm', 'constant x [2, 9]', (upload) => ({
        x: upload(x, [2, 9]),
        gamma: upload(gamma, [9]),
        beta: upload(beta, [9]),
        eps: 1e-5,
      }));
      expect(Array.from(actual.subarray(0, 9)), 'layerNorm constant x [2, 9] gives beta').toEqual(Array.from(beta));
    });
  });

  describe('gelu', () => {
    it('matches js on a dense grid', async () => {
      const size = 400_001; // step 5e-5 over [-10, 10]
      const x = new Float32Array(size);
      for (let i = 0; i < size; i++) x[i] = -10 + (20 * i) / (size - 1);
      await compare('gelu', `grid [${size}] over [-10, 10]`, (upload) => ({ x: upload(x, [size]) }));
    });

    it('matches js at extremes', async () => {
      const x = Float32Array.from([
        0, -0, 1e-45, -1e-45, 1e-30, -1e-30, 1e-8, -1e-8, 0.70710677, -0.70710677, 0.7071068, -0.7071068,
        3.4028235e38, -3.4028235e38, 1e10, -1e10, 20, -20, 100, -100, 5.5, -5.5, Infinity, NaN, 1, -1, 3,
      ]);
      await compare('gelu', `extremes [${x.length}]`, (upload) => ({ x: upload(x, [x.length]) }));
    });

    it('maps -inf to zero', async () => {
      // The oracle returns NaN here (−inf·0); the kernel returns the limit.
      const x = gpu.upload(Float32Array.from([-Infinity, Infinity, -Infinity]), [3]);
      const y = getKernel('gelu', 'webgpu')!({ x }, gpu);
      expect(Array.from(await gpu.download(y)), 'gelu [-inf, inf, -inf]').toEqual([-0, Infinity, -0]);
      y.dispose();
      x.dispose();
    });

    it('matches js on short tails', async () => {
      for (const size of [1, 2, 3, 5, 7]) {
        const x = new Random(size).normal(size, 0, 3);
        await compare('gelu', `x [${size}]`, (upload) => ({ x: upload(x, [size]) }));
      }
    });
  });

  describe('add', () => {
    it('matches js for equal shapes', async () => {
      for (const shape of [[1], [3, 5, 7], [4, 16], [2, 33]]) {
        const size = shape.reduce((p, d) => p * d, 1);
        const random = new Random(size);
        const a = random.normal(size);
        const b = random.normal(size);
        await compare('add', `a and b [${shape.join(', ')}]`, (upload) => ({ a: upload(a, shape), b: upload(b, shape) }));
      }
    });

    it('matches js for one row', async () => {
      for (const [rows, dim] of [[1, 1], [5, 1], [3, 7], [4, 16], [6, 33]]) {
        const random = new Random(rows * dim);
        const a = random.normal(rows * dim);
        const b = random.normal(dim);
        await compare('add', `a [${rows}, ${dim}] + row [${dim}]`, (upload) => ({ a: upload(a, [rows, dim]), b: upload(b, [dim]) }));
      }
    });
  });

  describe('attention', () => {
    for (const shape of ATTENTION_SHAPES) {
      it(`matches js [${shape.batch}, ${shape.seq}] dimHead ${shape.dimHead}`, async () => {
        for (const causal of [false, true]) {
          for (const mask of ['none', 'mixed'] as const) await compareAttention({ ...shape, causal, mask }, shape.seq * 31 + shape.dimHead);
        }
      });
    }

    it('gives 0 to queries without keys', async () => {
      const c: AttentionCase = { batch: 3, seq: 9, heads: 2, dimHead: 4, causal: true, mask: 'mixed' };
      const actual = await compareAttention(c, 5);
      const inner = c.heads * c.dimHead;
      const emptyRow = actual.subarray(2 * c.seq * inner, 3 * c.seq * inner);
      expect(emptyRow.every((value) => value === 0), 'attention batch row without real tokens is 0').toBe(true);
    });

    it('rescales when the max grows', async () => {
      // Scores rise along the sequence, so later key tiles keep raising the running max.
      const c: AttentionCase = { batch: 1, seq: 300, heads: 1, dimHead: 4, causal: false, mask: 'none', scale: 2 };
      const inner = c.heads * c.dimHead;
      const random = new Random(11);
      const qkv = random.uniform(c.seq * 3 * inner, -0.1, 0.1);
      for (let s = 0; s < c.seq; s++) {
        for (let d = 0; d < c.dimHead; d++) {
          qkv[s * 3 * inner + d] = 1;
          qkv[s * 3 * inner + inner + d] = (10 * s) / c.seq;
        }
      }
      await compareAttention(c, 11, qkv);
      await compareAttention({ ...c, causal: true }, 11, qkv);
    });

    it('matches js over 4096 tokens', async () => {
      await compareAttention({ batch: 1, seq: 4096, heads: 2, dimHead: 16, causal: false, mask: 'mixed' }, 4096);
    });

    it('matches js over 4096 causal tokens', async () => {
      await compareAttention({ batch: 1, seq: 4096, heads: 2, dimHead: 16, causal: true, mask: 'none' }, 4097);
    });
  });

  describe('favorFeatures', () => {
    for (const c of FAVOR_CASES) {
      it(`matches js [${c.batch}, ${c.tokens}] dimHead ${c.dimHead} nbFeatures ${c.nbFeatures}`, () => compareFavor(c));
    }

    it('zeroes masked keys with NaN input', async () => {
      const c = { batch: 3, tokens: 11, heads: 2, dimHead: 6, nbFeatures: 9 };
      const random = new Random(99);
      const inner = c.heads * c.dimHead;
      const x = random.normal(c.batch * c.tokens * inner);
      const projection = random.normal(c.nbFeatures * c.dimHead);
      const mask = makeMask('mixed', c.batch, c.tokens, random);
      poisonMasked(x, mask, inner, 0, inner);

      const { actual } = await compare('favorFeatures', `key x [3, 11, 2·6] with NaN at masked tokens`, (upload) => ({
        x: upload(x, [c.batch, c.tokens, inner]),
        projection: upload(projection, [c.nbFeatures, c.dimHead]),
        ...c,
        kind: 'key',
        mask,
      }));
      expect(actual.every(Number.isFinite), 'favorFeatures key features are finite').toBe(true);
      for (let b = 0; b < c.batch; b++) {
        for (let h = 0; h < c.heads; h++) {
          for (let t = 0; t < c.tokens; t++) {
            if (mask![b * c.tokens + t] !== 0) continue;
            const row = actual.subarray(((b * c.heads + h) * c.tokens + t) * c.nbFeatures, ((b * c.heads + h) * c.tokens + t + 1) * c.nbFeatures);
            expect(row.every((value) => value === 0), `favorFeatures masked key b=${b} h=${h} t=${t} is 0`).toBe(true);
          }
        }
      }
    });
  });

  describe('linearAttention', () => {
    for (const shape of LINEAR_ATTENTION_SHAPES) {
      it(`matches js [${shape.batch}, ${shape.tokens}] dimHead ${shape.dimHead}`, async () => {
        for (const mask of ['none', 'mixed'] as const) await compareLinearAttention({ ...shape, mask }, shape.tokens + shape.nbFeatures);
      });
    }

    it('gives 0 to batch rows without keys', async () => {
      const c: LinearAttentionCase = { batch: 3, tokens: 10, heads: 2, dimHead: 5, nbFeatures: 7, mask: 'mixed' };
      const actual = await compareLinearAttention(c, 3);
      const emptyRow = actual.subarray(2 * c.tokens * c.heads * c.dimHead);
      expect(emptyRow.every((value) => value === 0), 'linearAttention batch row without real tokens is 0').toBe(true);
    });

    it('matches js over 16384 tokens', async () => {
      // v has mean 1, so outputs stay near 1 and the check is a relative one.
      const c: LinearAttentionCase = { batch: 1, tokens: 16384, heads: 2, dimHead: 16, nbFeatures: 63, mask: 'none' };
      await compareLinearAttention(c, 16384, 1, { atol: 1e-7, rtol: 1e-5 });
      await compareLinearAttention({ ...c, mask: 'mixed' }, 16385, 1, { atol: 1e-7, rtol: 1e-5 });
    });
  });

  describe('stackLayers and maxPoolLayers', () => {
    for (const { batch, seq, dim, layers } of LAYER_SHAPES) {
      it(`match js [${batch}, ${seq}, ${dim}] × ${layers}`, () => compareLayers(batch, seq, dim, layers));
    }
  });

  describe('split by device limits', () => {
    it('linear splits rows and columns', () => compareLinear(70, 33, 50, split));

    it('layerNorm splits rows', () => compareLayerNorm(40, 100, 0.5, 2, split));

    it('gelu and add split elements', async () => {
      const random = new Random(5000);
      const a = random.normal(5000, 0, 3);
      const b = random.normal(5000);
      const row = random.normal(50);
      await compare('gelu', 'x [5000]', (upload) => ({ x: upload(a, [5000]) }), TOLERANCES.gelu, split);
      await compare('add', 'a and b [100, 50]', (upload) => ({ a: upload(a, [100, 50]), b: upload(b, [100, 50]) }), TOLERANCES.add, split);
      await compare('add', 'a [100, 50] + row [50]', (upload) => ({ a: upload(a, [100, 50]), b: upload(row, [50]) }), TOLERANCES.add, split);
    });

    it('attention splits batches, queries and keys', async () => {
      for (const causal of [false, true]) {
        for (const mask of ['none', 'mixed'] as const) {
          await compareAttention({ batch: 3, seq: 45, heads: 2, dimHead: 8, causal, mask }, 45, undefined, split);
        }
      }
    });

    it('favorFeatures splits rows and heads', () => compareFavor({ batch: 3, tokens: 30, heads: 2, dimHead: 8, nbFeatures: 33 }, split));

    it('linearAttention splits chunks and tokens', async () => {
      for (const mask of ['none', 'mixed'] as const) {
        await compareLinearAttention({ batch: 3, tokens: 300, heads: 2, dimHead: 8, nbFeatures: 33, mask }, 300, 0, TOLERANCES.linearAttention, split);
      }
    });

    it('stackLayers and maxPoolLayers split rows', () => compareLayers(2, 30, 33, 3, split));
  });

  describe('WebGpuBackend', () => {
    it('records kernels until a download', async () => {
      const random = new Random(21);
      const x = gpu.upload(random.normal(64 * 32), [64, 32]);
      const weight = gpu.upload(random.normal(32 * 32), [32, 32], true);
      const submitsBefore = gpu.recorder.counts.submits;
      const readbacksBefore = gpu.counts.readbacks;

      let h = x;
      for (let i = 0; i < 5; i++) {
        const next = getKernel('linear', 'webgpu')!({ x: h, weight, bias: null, activation: 'gelu' }, gpu);
        if (h !== x) h.dispose();
        h = next;
      }
      expect(gpu.recorder.counts.submits, 'submits while recording 5 linear ops').toBe(submitsBefore);
      await gpu.download(h);
      expect(gpu.recorder.counts.submits, 'submits after the download').toBe(submitsBefore + 1);
      expect(gpu.counts.readbacks, 'readbacks after the download').toBe(readbacksBefore + 1);
      for (const tensor of [h, x, weight]) tensor.dispose();
    });

    it('rejects tensors of another backend', () => {
      const x = js.upload(Float32Array.from([1, 2]), [2]);
      expect(() => getKernel('gelu', 'webgpu')!({ x }, gpu), 'gelu on a js tensor').toThrow(/js backend/);
    });

    it('rejects use after dispose', async () => {
      const backend = await WebGpuBackend.create();
      const tensor = backend.upload(Float32Array.from([1]), [1]);
      backend.dispose();
      await expect(backend.download(tensor), 'download after dispose').rejects.toThrow(/disposed/);
      expect(() => backend.empty([1]), 'empty after dispose').toThrow(/disposed/);
    });
  });
});
