// Every `wasm` kernel against the `js` oracle (float64 accumulation) on the same seeded data.
//
// Tolerances, |wasm − js| ≤ atol + rtol·|js|:
//   op               atol   rtol   why
//   linear           1e-5   1e-5   float32 dot products over inFeatures
//   layerNorm        1e-5   1e-5   float32 moments, shifted by a first mean estimate
//   gelu             1e-12  5e-7   ≤ 4 ulp; atol covers the oracle's own float64 cancellation in
//                                  1 + erf for x below about −6, where outputs are under 1e-8
//   add              0      0      one float32 rounding either way
//   attention        1e-5   1e-5   float32 scores, online softmax over key tiles
//   favorFeatures    1e-7   2e-5   float32 u = x·Wᵀ enters an exp, so its rounding becomes relative error
//   linearAttention  1e-5   1e-5   float32 sums per block of 64 tokens, float64 across blocks
//   stackLayers      0      0      copies
//   maxPoolLayers    0      0      max is exact
//
// Set OMNINET_ACCURACY=1 to print the largest errors seen per op.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsBackend } from '../src/backends/js/index.js';
import { WasmBackend } from '../src/backends/wasm/index.js';
import { OmninetError } from '../src/errors.js';
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
  type ForwardOp,
  type LinearAttentionCase,
  type Tolerance,
} from './helpers/kernel-cases.js';

const accuracy = new Map<ForwardOp, ErrorStats>();

type Upload = (data: Float32Array, shape: readonly number[], persistent?: boolean) => Tensor;

let js: JsBackend;
let wasm: WasmBackend;

/**
 * Runs `op` on both backends with the tensors `build` uploads, checks the outputs against each
 * other, frees the wasm tensors and returns both outputs.
 */
function compare<K extends ForwardOp>(
  op: K,
  label: string,
  build: (upload: Upload) => OpArgs[K],
  tolerance: Tolerance = TOLERANCES[op],
): { actual: Float32Array; expected: Float32Array } {
  const jsKernel = getKernel(op, 'js');
  const wasmKernel = getKernel(op, 'wasm');
  if (!jsKernel || !wasmKernel) throw new Error(`${op}: kernel not registered`);

  const jsArgs = build((data, shape, persistent) => js.upload(data, shape, persistent));
  const expected = js.downloadSync(jsKernel(jsArgs, js));

  const wasmTensors: Tensor[] = [];
  const wasmArgs = build((data, shape, persistent) => {
    const tensor = wasm.upload(data, shape, persistent);
    wasmTensors.push(tensor);
    return tensor;
  });
  const result = wasmKernel(wasmArgs, wasm);
  const actual = wasm.downloadSync(result);
  result.dispose();
  for (const tensor of wasmTensors) tensor.dispose();

  const stats = accuracy.get(op) ?? { maxAbs: 0, maxRel: 0, maxToleranceUsed: 0 };
  accuracy.set(op, stats);
  expect(findMismatch(actual, expected, tolerance, stats, 'wasm'), `${op} ${label}`).toBeUndefined();
  return { actual, expected };
}

beforeAll(async () => {
  js = new JsBackend();
  wasm = await WasmBackend.create();
});

afterAll(() => {
  wasm?.dispose();
  if (process.env.OMNINET_ACCURACY) for (const line of accuracyReport(accuracy)) console.info(line);
});

describe('linear', () => {
  for (const { rows, inFeatures, outFeatures } of LINEAR_CASES) {
    it(`matches js [${rows}, ${inFeatures}] → ${outFeatures}`, () => {
      const random = new Random(rows * 1000 + inFeatures * 10 + outFeatures);
      const x = random.uniform(rows * inFeatures);
      const weight = random.uniform(outFeatures * inFeatures);
      const bias = random.uniform(outFeatures);
      for (const activation of ['none', 'gelu'] as const) {
        for (const persistent of [false, true]) {
          compare('linear', `x [${rows}, ${inFeatures}] weight [${outFeatures}, ${inFeatures}] ${activation} persistent=${persistent}`, (upload) => ({
            x: upload(x, [rows, inFeatures]),
            weight: upload(weight, [outFeatures, inFeatures], persistent),
            bias: activation === 'gelu' ? null : upload(bias, [outFeatures]),
            activation,
          }));
        }
      }
    });
  }

  it('keeps leading axes of x', () => {
    const random = new Random(7);
    const x = random.uniform(2 * 3 * 5);
    const weight = random.uniform(4 * 5);
    const bias = random.uniform(4);
    const run = compare('linear', 'x [2, 3, 5] weight [4, 5]', (upload) => ({
      x: upload(x, [2, 3, 5]),
      weight: upload(weight, [4, 5], true),
      bias: upload(bias, [4]),
      activation: 'none',
    }));
    expect(run.actual.length, 'linear x [2, 3, 5] output size').toBe(24);
  });

  it('reuses a packed persistent weight', () => {
    const random = new Random(8);
    const x = wasm.upload(random.uniform(3 * 9), [3, 9]);
    const weight = wasm.upload(random.uniform(5 * 9), [5, 9], true);
    const kernel = getKernel('linear', 'wasm')!;

    const first = kernel({ x, weight, bias: null, activation: 'none' }, wasm);
    const inUse = wasm.memoryStats().bytesInUse;
    const second = kernel({ x, weight, bias: null, activation: 'none' }, wasm);
    expect(wasm.memoryStats().bytesInUse - inUse, 'linear [3, 9]·[5, 9]ᵀ second call allocates only its output').toBe(64);
    expect(wasm.downloadSync(second), 'linear [3, 9]·[5, 9]ᵀ repeated output').toEqual(wasm.downloadSync(first));

    for (const tensor of [first, second, x, weight]) tensor.dispose();
  });
});

describe('layerNorm', () => {
  for (const { rows, dim } of LAYER_NORM_CASES) {
    it(`matches js [${rows}, ${dim}]`, () => {
      const random = new Random(rows * 100 + dim);
      const x = random.normal(rows * dim, 0.5, 2);
      const gamma = random.uniform(dim, 0.5, 1.5);
      const beta = random.uniform(dim);
      compare('layerNorm', `x [${rows}, ${dim}]`, (upload) => ({
        x: upload(x, [rows, dim]),
        gamma: upload(gamma, [dim]),
        beta: upload(beta, [dim]),
        eps: 1e-5,
      }));
    });
  }

  it('handles mean 1e4 rows', () => {
    for (const dim of [7, 64, 1024]) {
      const random = new Random(dim);
      const x = random.normal(3 * dim, 1e4, 1);
      const gamma = random.uniform(dim, 0.5, 1.5);
      const beta = random.uniform(dim);
      compare('layerNorm', `x [3, ${dim}] with mean 1e4`, (upload) => ({
        x: upload(x, [3, dim]),
        gamma: upload(gamma, [dim]),
        beta: upload(beta, [dim]),
        eps: 1e-5,
      }));
    }
  });

  it('handles constant rows', () => {
    const x = new Float32Array(2 * 9).fill(3.25);
    const gamma = new Float32Array(9).fill(2);
    const beta = new Random(3).uniform(9);
    const { actual } = compare('layerNorm', 'constant x [2, 9]', (upload) => ({
      x: upload(x, [2, 9]),
      gamma: upload(gamma, [9]),
      beta: upload(beta, [9]),
      eps: 1e-5,
    }));
    expect(Array.from(actual.subarray(0, 9)), 'layerNorm constant x [2, 9] gives beta').toEqual(Array.from(beta));
  });
});

describe('gelu', () => {
  it('matches js on a dense grid', () => {
    const size = 400_001; // step 5e-5 over [-10, 10], odd so the scalar tail runs
    const x = new Float32Array(size);
    for (let i = 0; i < size; i++) x[i] = -10 + (20 * i) / (size - 1);
    compare('gelu', `grid [${size}] over [-10, 10]`, (upload) => ({ x: upload(x, [size]) }));
  });

  it('matches js at extremes', () => {
    const x = Float32Array.from([
      0, -0, 1e-45, -1e-45, 1e-30, -1e-30, 1e-8, -1e-8, 0.70710677, -0.70710677, 0.7071068, -0.7071068,
      3.4028235e38, -3.4028235e38, 1e10, -1e10, 20, -20, 100, -100, 5.5, -5.5, Infinity, NaN, 1, -1, 3,
    ]);
    compare('gelu', `extremes [${x.length}]`, (upload) => ({ x: upload(x, [x.length]) }));
  });

  it('maps -inf to zero', () => {
    // The oracle returns NaN here (−inf·0); the wasm kernel returns the limit.
    const x = wasm.upload(Float32Array.from([-Infinity, Infinity, -Infinity]), [3]);
    const y = getKernel('gelu', 'wasm')!({ x }, wasm);
    expect(Array.from(wasm.downloadSync(y)), 'gelu [-inf, inf, -inf]').toEqual([-0, Infinity, -0]);
    y.dispose();
    x.dispose();
  });

  it('matches js on short tails', () => {
    for (const size of [1, 2, 3, 5, 7]) {
      const x = new Random(size).normal(size, 0, 3);
      compare('gelu', `x [${size}]`, (upload) => ({ x: upload(x, [size]) }));
    }
  });
});

describe('add', () => {
  it('matches js for equal shapes', () => {
    for (const shape of [[1], [3, 5, 7], [4, 16], [2, 33]]) {
      const size = shape.reduce((p, d) => p * d, 1);
      const random = new Random(size);
      const a = random.normal(size);
      const b = random.normal(size);
      compare('add', `a and b [${shape.join(', ')}]`, (upload) => ({ a: upload(a, shape), b: upload(b, shape) }));
    }
  });

  it('matches js for one row', () => {
    for (const [rows, dim] of [[1, 1], [5, 1], [3, 7], [4, 16], [6, 33]]) {
      const random = new Random(rows * dim);
      const a = random.normal(rows * dim);
      const b = random.normal(dim);
      compare('add', `a [${rows}, ${dim}] + row [${dim}]`, (upload) => ({ a: upload(a, [rows, dim]), b: upload(b, [dim]) }));
    }
  });
});

function attentionLabel(c: AttentionCase): string {
  return `qkv [${c.batch}, ${c.seq}, 3·${c.heads}·${c.dimHead}] causal=${c.causal} mask=${c.mask}`;
}

function compareAttention(c: AttentionCase, seed: number, qkvData?: Float32Array): Float32Array {
  const random = new Random(seed);
  const inner = c.heads * c.dimHead;
  const qkv = qkvData ?? random.normal(c.batch * c.seq * 3 * inner);
  const mask = makeMask(c.mask, c.batch, c.seq, random);
  // Masked keys and values are never read, so NaN there must not reach any output.
  poisonMasked(qkv, mask, 3 * inner, inner, 2 * inner);
  const scale = c.scale ?? 1 / Math.sqrt(c.dimHead);

  const { actual } = compare('attention', attentionLabel(c), (upload) => ({
    qkv: upload(qkv, [c.batch, c.seq, 3 * inner]),
    batch: c.batch,
    seq: c.seq,
    heads: c.heads,
    dimHead: c.dimHead,
    scale,
    causal: c.causal,
    mask,
  }));
  expect(actual.every(Number.isFinite), `attention ${attentionLabel(c)} outputs are finite`).toBe(true);
  return actual;
}

describe('attention', () => {
  for (const shape of ATTENTION_SHAPES) {
    it(`matches js [${shape.batch}, ${shape.seq}] dimHead ${shape.dimHead}`, () => {
      for (const causal of [false, true]) {
        for (const mask of ['none', 'mixed'] as const) {
          compareAttention({ ...shape, causal, mask }, shape.seq * 31 + shape.dimHead);
        }
      }
    });
  }

  it('gives 0 to queries without keys', () => {
    const c: AttentionCase = { batch: 3, seq: 9, heads: 2, dimHead: 4, causal: true, mask: 'mixed' };
    const actual = compareAttention(c, 5);
    const inner = c.heads * c.dimHead;
    const emptyRow = actual.subarray(2 * c.seq * inner, 3 * c.seq * inner);
    expect(emptyRow.every((value) => value === 0), 'attention batch row without real tokens is 0').toBe(true);
  });

  it('rescales when the max grows', () => {
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
    compareAttention(c, 11, qkv);
    compareAttention({ ...c, causal: true }, 11, qkv);
  });

  it('matches js over 4096 tokens', () => {
    compareAttention({ batch: 1, seq: 4096, heads: 2, dimHead: 16, causal: false, mask: 'mixed' }, 4096);
  });

  it('matches js over 4096 causal tokens', () => {
    compareAttention({ batch: 1, seq: 4096, heads: 2, dimHead: 16, causal: true, mask: 'none' }, 4097);
  });
});

describe('favorFeatures', () => {
  for (const c of FAVOR_CASES) {
    it(`matches js [${c.batch}, ${c.tokens}] dimHead ${c.dimHead} nbFeatures ${c.nbFeatures}`, () => {
      const random = new Random(c.tokens * 7 + c.dimHead + c.nbFeatures);
      const inner = c.heads * c.dimHead;
      const x = random.normal(c.batch * c.tokens * inner);
      const projection = random.normal(c.nbFeatures * c.dimHead);

      for (const kind of ['query', 'key'] as const) {
        for (const maskKind of ['none', 'mixed'] as const) {
          for (const persistent of [false, true]) {
            const mask = makeMask(maskKind, c.batch, c.tokens, random);
            const label = `x [${c.batch}, ${c.tokens}, ${c.heads}·${c.dimHead}] W [${c.nbFeatures}, ${c.dimHead}] ${kind} mask=${maskKind}`;
            compare('favorFeatures', label, (upload) => ({
              x: upload(x, [c.batch, c.tokens, inner]),
              projection: upload(projection, [c.nbFeatures, c.dimHead], persistent),
              batch: c.batch,
              tokens: c.tokens,
              heads: c.heads,
              dimHead: c.dimHead,
              kind,
              mask,
            }));
          }
        }
      }
    });
  }

  it('zeroes masked keys with NaN input', () => {
    const c = { batch: 3, tokens: 11, heads: 2, dimHead: 6, nbFeatures: 9 };
    const random = new Random(99);
    const inner = c.heads * c.dimHead;
    const x = random.normal(c.batch * c.tokens * inner);
    const projection = random.normal(c.nbFeatures * c.dimHead);
    const mask = makeMask('mixed', c.batch, c.tokens, random);
    poisonMasked(x, mask, inner, 0, inner);

    const { actual } = compare('favorFeatures', `key x [3, 11, 2·6] with NaN at masked tokens`, (upload) => ({
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

function compareLinearAttention(c: LinearAttentionCase, seed: number, vMean = 0, tolerance = TOLERANCES.linearAttention): Float32Array {
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
  const { actual } = compare('linearAttention', label, (upload) => ({
    queryFeatures: upload(queryFeatures, [c.batch, c.heads, c.tokens, c.nbFeatures]),
    keyFeatures: upload(keyFeatures, [c.batch, c.heads, c.tokens, c.nbFeatures]),
    v: upload(v, [c.batch, c.tokens, inner]),
    batch: c.batch,
    tokens: c.tokens,
    heads: c.heads,
    dimHead: c.dimHead,
    mask,
  }), tolerance);
  expect(actual.every(Number.isFinite), `linearAttention ${label} outputs are finite`).toBe(true);
  return actual;
}

describe('linearAttention', () => {
  for (const shape of LINEAR_ATTENTION_SHAPES) {
    it(`matches js [${shape.batch}, ${shape.tokens}] dimHead ${shape.dimHead}`, () => {
      for (const mask of ['none', 'mixed'] as const) compareLinearAttention({ ...shape, mask }, shape.tokens + shape.nbFeatures);
    });
  }

  it('gives 0 to batch rows without keys', () => {
    const c: LinearAttentionCase = { batch: 3, tokens: 10, heads: 2, dimHead: 5, nbFeatures: 7, mask: 'mixed' };
    const actual = compareLinearAttention(c, 3);
    const emptyRow = actual.subarray(2 * c.tokens * c.heads * c.dimHead);
    expect(emptyRow.every((value) => value === 0), 'linearAttention batch row without real tokens is 0').toBe(true);
  });

  it('matches js over 16384 tokens', () => {
    // v has mean 1, so outputs stay near 1 instead of averaging out to ~0.01 and the check is a
    // relative one.
    const c: LinearAttentionCase = { batch: 1, tokens: 16384, heads: 2, dimHead: 16, nbFeatures: 63, mask: 'none' };
    compareLinearAttention(c, 16384, 1, { atol: 1e-7, rtol: 1e-5 });
    compareLinearAttention({ ...c, mask: 'mixed' }, 16385, 1, { atol: 1e-7, rtol: 1e-5 });
  });
});

describe('stackLayers and maxPoolLayers', () => {
  for (const { batch, seq, dim, layers } of LAYER_SHAPES) {
    it(`match js [${batch}, ${seq}, ${dim}] × ${layers}`, () => {
      const random = new Random(batch * seq * dim * layers);
      const hiddens = Array.from({ length: layers }, () => random.normal(batch * seq * dim));
      compare('stackLayers', `${layers} hiddens [${batch}, ${seq}, ${dim}]`, (upload) => ({
        hiddens: hiddens.map((hidden) => upload(hidden, [batch, seq, dim])),
        batch,
        seq,
        dim,
      }));

      const x = random.normal(batch * seq * layers * dim);
      x[0] = NaN;
      x[x.length - 1] = -0;
      compare('maxPoolLayers', `x [${batch}, ${seq}·${layers}, ${dim}]`, (upload) => ({
        x: upload(x, [batch, seq * layers, dim]),
        batch,
        seq,
        layers,
        dim,
      }));
    });
  }
});

describe('wasm memory', () => {
  it('reuses blocks across forwards', () => {
    const random = new Random(50);
    const batch = 3;
    const seq = 70;
    const heads = 2;
    const dimHead = 12;
    const inner = heads * dimHead;
    const qkv = wasm.upload(random.normal(batch * seq * 3 * inner), [batch, seq, 3 * inner]);
    const weight = wasm.upload(random.normal(inner * inner), [inner, inner]);
    const mask = makeMask('mixed', batch, seq, random);
    const attention = getKernel('attention', 'wasm')!;
    const linear = getKernel('linear', 'wasm')!;
    const baseline = wasm.memoryStats().bytesInUse;

    let memoryAfterFirst = 0;
    for (let run = 0; run < 50; run++) {
      const context = attention({ qkv, batch, seq, heads, dimHead, scale: 0.3, causal: run % 2 === 0, mask }, wasm);
      const projected = linear({ x: context, weight, bias: null, activation: 'gelu' }, wasm);
      context.dispose();
      projected.dispose();
      expect(wasm.memoryStats().bytesInUse, `attention and linear run ${run}: bytes in use back to baseline`).toBe(baseline);
      if (run === 0) memoryAfterFirst = wasm.memoryStats().memoryBytes;
      expect(wasm.memoryStats().memoryBytes, `attention and linear run ${run}: memory did not grow`).toBe(memoryAfterFirst);
    }

    qkv.dispose();
    weight.dispose();
  });

  it('keeps data across growth', () => {
    const backend = wasm;
    const small = backend.upload(Float32Array.from([1, 2, 3]), [3]);
    const before = backend.memoryStats().memoryBytes;
    const large = backend.empty([8 * 1024 * 1024]); // 32 MiB
    expect(backend.memoryStats().memoryBytes, 'memory after a 32 MiB allocation').toBeGreaterThan(before);
    expect(Array.from(backend.downloadSync(small)), 'tensor [3] after growth').toEqual([1, 2, 3]);
    const after = backend.upload(Float32Array.from([4, 5]), [2]);
    expect(Array.from(backend.downloadSync(after)), 'tensor [2] uploaded after growth').toEqual([4, 5]);
    for (const tensor of [small, large, after]) tensor.dispose();
  });

  it('rejects tensors past 4 GiB', () => {
    const request = () => wasm.empty([2 ** 30 + 1]);
    expect(request, 'empty [2^30 + 1] floats').toThrow(OmninetError);
    expect(request, 'empty [2^30 + 1] floats').toThrow(/4294967300 bytes/);
  });

  it('frees a persistent weight and its packing', () => {
    const baseline = wasm.memoryStats().bytesInUse;
    const x = wasm.upload(new Random(1).uniform(2 * 6), [2, 6]);
    const weight = wasm.upload(new Random(2).uniform(4 * 6), [4, 6], true);
    const y = getKernel('linear', 'wasm')!({ x, weight, bias: null, activation: 'none' }, wasm);
    for (const tensor of [y, x, weight]) tensor.dispose();
    expect(wasm.memoryStats().bytesInUse, 'linear with persistent weight [4, 6]: bytes after disposal').toBe(baseline);
  });
});

describe('WasmBackend lifecycle', () => {
  it('loads caller-provided bytes and modules', async () => {
    const { readFile } = await import('node:fs/promises');
    const bytes = await readFile(new URL('../build/omninet-simd.wasm', import.meta.url));
    const fromBytes = await WasmBackend.create({ module: bytes });
    const fromModule = await WasmBackend.create({ module: await WebAssembly.compile(bytes) });
    for (const backend of [fromBytes, fromModule]) {
      const tensor = backend.upload(Float32Array.from([1, -2]), [2]);
      expect(Array.from(backend.downloadSync(tensor)), 'upload and download [2]').toEqual([1, -2]);
      backend.dispose();
    }
  });

  it('reports a missing module file', async () => {
    await expect(WasmBackend.create({ module: new URL('file:///nonexistent/omninet.wasm') })).rejects.toMatchObject({ code: 'IO_ERROR' });
  });

  it('reports invalid module bytes', async () => {
    await expect(WasmBackend.create({ module: new Uint8Array([1, 2, 3]) })).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
  });

  it('rejects use after dispose', async () => {
    const backend = await WasmBackend.create();
    const tensor = backend.upload(Float32Array.from([1]), [1]);
    backend.dispose();
    expect(() => backend.downloadSync(tensor), 'download after dispose').toThrow(/disposed/);
    expect(() => backend.empty([1]), 'empty after dispose').toThrow(/disposed/);
  });

  it('rejects tensors of another backend', () => {
    const x = js.upload(Float32Array.from([1, 2]), [2]);
    expect(() => getKernel('gelu', 'wasm')!({ x }, wasm), 'gelu on a js tensor').toThrow(/js backend/);
  });
});
