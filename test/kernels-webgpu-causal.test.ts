// The causal and decoding kernels of `webgpu` against the `js` oracle (float64).
//
// Tolerances, |webgpu − js| ≤ atol + rtol·|js|:
//   causalLinearAttention       1e-5 + 1e-5   float32 running sums over up to 16384 keys, float32 exponents
//                                             (wide-range cases use dyadic keys whose exponents are exact)
//   causalLinearAttentionState  same, after rescaling to the oracle's max; atol is relative to max z
//   attentionDecode             1e-5 + 1e-5   float32 scores and online softmax
//   cacheWrite                  exact         copies
//
// Set OMNINET_ACCURACY=1 to print the largest errors per op.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsBackend } from '../src/backends/js/index.js';
import { WebGpuBackend } from '../src/backends/webgpu/index.js';
import type { Backend } from '../src/backends/backend.js';
import { OmninetError } from '../src/errors.js';
import { loadModel } from '../src/index.js';
import { causalFavorStateSize, type OpArgs, type OpName } from '../src/kernels/ops.js';
import { getKernel } from '../src/kernels/registry.js';
import type { Tensor } from '../src/tensor.js';
import { compareToFixture, listFixtures } from './helpers/fixtures.js';
import { requireWebGpu, runWebGpuTests } from './helpers/webgpu.js';

/** Seeded xorshift32 numbers, so that a failing case reproduces. */
class Seeded {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 0x2545f491;
  }

  next(): number {
    this.state ^= this.state << 13;
    this.state ^= this.state >>> 17;
    this.state ^= this.state << 5;
    this.state >>>= 0;
    return this.state / 2 ** 32;
  }

  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  array(size: number, make: () => number): Float32Array {
    const out = new Float32Array(size);
    for (let i = 0; i < size; i++) out[i] = make();
    return out;
  }

  gaussian(): number {
    return Math.sqrt(-2 * Math.log(1 - this.next())) * Math.cos(2 * Math.PI * this.next());
  }
}

interface Shape {
  batch: number;
  tokens: number;
  heads: number;
  dimHead: number;
  nbFeatures: number;
}

interface CausalCase extends Shape {
  phi: Float32Array;
  k: Float32Array;
  v: Float32Array;
  projection: Float32Array;
  mask: Uint8Array | null;
}

/** Returns a mask [batch, tokens] whose rows cycle through: the first 60% real, random holes, none real, all real. */
function rowMask(masked: boolean, batch: number, tokens: number, random: Seeded): Uint8Array | null {
  if (!masked) return null;
  const mask = new Uint8Array(batch * tokens);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < tokens; t++) {
      const kind = b % 4;
      const real = kind === 0 ? t < Math.max(1, Math.ceil(tokens * 0.6)) : kind === 1 ? random.next() > 0.3 : kind === 3;
      mask[b * tokens + t] = real ? 1 : 0;
    }
  }
  return mask;
}

/** Writes NaN into the row [width] of every masked token, so a kernel that reads one leaks it. */
function poison(data: Float32Array, mask: Uint8Array | null, width: number): void {
  if (mask) mask.forEach((real, token) => real === 0 && data.fill(NaN, token * width, (token + 1) * width));
}

/** Returns positive query features shaped like favorFeatures output: m^-0.5·(exp(u) + 1e-4), u ≤ 0 with one 0 per row. */
function features(rows: number, nbFeatures: number, random: Seeded, spread: number): Float32Array {
  const phi = new Float32Array(rows * nbFeatures);
  for (let r = 0; r < rows; r++) {
    const top = random.below(nbFeatures);
    for (let j = 0; j < nbFeatures; j++) phi[r * nbFeatures + j] = (Math.exp(j === top ? 0 : -spread * random.next()) + 1e-4) / Math.sqrt(nbFeatures);
  }
  return phi;
}

function gaussianCase(shape: Shape, seed: number, masked: boolean): CausalCase {
  const random = new Seeded(seed);
  const { batch, tokens, heads, dimHead, nbFeatures } = shape;
  const inner = heads * dimHead;
  const mask = rowMask(masked, batch, tokens, random);
  const k = random.array(batch * tokens * inner, () => random.gaussian());
  const v = random.array(batch * tokens * inner, () => 2 * random.next() - 1);
  poison(k, mask, inner);
  poison(v, mask, inner);
  return { ...shape, phi: features(batch * heads * tokens, nbFeatures, random, 8), k, v, projection: random.array(nbFeatures * dimHead, () => random.gaussian()), mask };
}

/**
 * Returns a case with keys whose exponents e = k'·Wᵀ − |k'|²/2 span hundreds yet are exact in
 * float32: dimHead 16 (k' = k/2), W in {±1/2, ±1, ±2} and every key 2c·(±1, …) with c a multiple
 * of 1/4. Some keys follow the signs of a row of W (e up to about +15), the others have random
 * signs and c up to 5 (e down to about −285). `rising` sorts each (batch, head) by its largest
 * exponent, so the running max grows many times, and `shuffled` leaves them in random order.
 */
function wideCase(tokens: number, seed: number, order: 'rising' | 'shuffled', masked: boolean): CausalCase {
  const random = new Seeded(seed);
  const batch = 4;
  const heads = 2;
  const dimHead = 16;
  const nbFeatures = 12;
  const inner = heads * dimHead;
  const projection = random.array(nbFeatures * dimHead, () => (random.next() < 0.5 ? -1 : 1) * 2 ** (random.below(3) - 1));
  const largest = (key: Float32Array) => {
    let halfNorm = 0;
    for (const x of key) halfNorm += (x / 2) ** 2 / 2;
    let best = -Infinity;
    for (let j = 0; j < nbFeatures; j++) {
      let dot = 0;
      for (let d = 0; d < dimHead; d++) dot += (key[d] / 2) * projection[j * dimHead + d];
      best = Math.max(best, dot - halfNorm);
    }
    return best;
  };

  const k = new Float32Array(batch * tokens * inner);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const keys = Array.from({ length: tokens }, () => {
        const key = new Float32Array(dimHead);
        if (random.next() < 0.3) {
          const row = random.below(nbFeatures);
          const c = (2 + random.below(9)) / 4;
          for (let d = 0; d < dimHead; d++) key[d] = 2 * c * Math.sign(projection[row * dimHead + d]);
        } else {
          const c = (1 + random.below(20)) / 4;
          for (let d = 0; d < dimHead; d++) key[d] = 2 * c * (random.next() < 0.5 ? -1 : 1);
        }
        return { key, top: largest(key) };
      });
      const tops = keys.map(({ top }) => top);
      if (Math.max(...tops) - Math.min(...tops) < 150) throw new Error(`wideCase: the largest exponents only span [${Math.min(...tops)}, ${Math.max(...tops)}]`);
      if (order === 'rising') keys.sort((x, y) => x.top - y.top);
      keys.forEach(({ key }, t) => k.set(key, (b * tokens + t) * inner + h * dimHead));
    }
  }
  const mask = rowMask(masked, batch, tokens, random);
  const v = random.array(batch * tokens * inner, () => 2 * random.next() - 1);
  poison(k, mask, inner);
  poison(v, mask, inner);
  return { batch, tokens, heads, dimHead, nbFeatures, phi: features(batch * heads * tokens, nbFeatures, random, 20), k, v, projection, mask };
}

/** Returns the tokens [from, to) of a case. */
function cut(c: CausalCase, from: number, to: number): CausalCase {
  const { batch, tokens, heads, dimHead, nbFeatures } = c;
  const inner = heads * dimHead;
  const n = to - from;
  const phi = new Float32Array(batch * heads * n * nbFeatures);
  const k = new Float32Array(batch * n * inner);
  const v = new Float32Array(batch * n * inner);
  const mask = c.mask ? new Uint8Array(batch * n) : null;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const row = (b * heads + h) * tokens;
      phi.set(c.phi.subarray((row + from) * nbFeatures, (row + to) * nbFeatures), (b * heads + h) * n * nbFeatures);
    }
    k.set(c.k.subarray((b * tokens + from) * inner, (b * tokens + to) * inner), b * n * inner);
    v.set(c.v.subarray((b * tokens + from) * inner, (b * tokens + to) * inner), b * n * inner);
    if (mask) mask.set(c.mask!.subarray(b * tokens + from, b * tokens + to), b * n);
  }
  return { ...c, tokens: n, phi, k, v, mask };
}

type Upload = (data: Float32Array, shape: readonly number[], persistent?: boolean) => Tensor;

let js: JsBackend;
let gpu: WebGpuBackend;
const largestErrors = new Map<string, number>();

function note(op: string, error: number): void {
  largestErrors.set(op, Math.max(largestErrors.get(op) ?? 0, error));
}

/** Runs one kernel with tensors uploaded to `backend`, returns its output and frees what it made. */
async function run<K extends OpName>(op: K, backend: Backend, build: (upload: Upload) => OpArgs[K]): Promise<Float32Array> {
  const kernel = getKernel(op, backend.name);
  if (!kernel) throw new Error(`${op}: no ${backend.name} kernel`);
  const uploaded: Tensor[] = [];
  const args = build((data, shape, persistent) => {
    const tensor = backend.upload(data, shape, persistent);
    uploaded.push(tensor);
    return tensor;
  });
  const result = kernel(args, backend);
  const output = await backend.download(result);
  result.dispose();
  for (const tensor of uploaded) tensor.dispose();
  return output;
}

function causalArgs(c: CausalCase, state: Float32Array | null, upload: Upload): OpArgs['causalLinearAttention'] {
  const { batch, tokens, heads, dimHead, nbFeatures } = c;
  return {
    queryFeatures: upload(c.phi, [batch, heads, tokens, nbFeatures]),
    k: upload(c.k, [batch, tokens, heads * dimHead]),
    v: upload(c.v, [batch, tokens, heads * dimHead]),
    projection: upload(c.projection, [nbFeatures, dimHead], true),
    state: state ? upload(state, [batch, heads, causalFavorStateSize(nbFeatures, dimHead)]) : null,
    batch,
    tokens,
    heads,
    dimHead,
    mask: c.mask,
  };
}

const attend = (c: CausalCase, backend: Backend, state: Float32Array | null = null) => run('causalLinearAttention', backend, (upload) => causalArgs(c, state, upload));

const scanState = (c: CausalCase, backend: Backend, state: Float32Array | null = null) =>
  run('causalLinearAttentionState', backend, (upload) => {
    const { queryFeatures: _unused, ...args } = causalArgs(c, state, upload);
    return args;
  });

/** Returns the first element outside atol + rtol·|expected| (NaN only matches NaN), or undefined. */
function mismatch(op: string, actual: Float32Array, expected: Float32Array, atol: number, rtol: number): string | undefined {
  if (actual.length !== expected.length) return `length ${actual.length} ≠ ${expected.length}`;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const b = expected[i];
    if (Number.isNaN(a) || Number.isNaN(b)) {
      if (Number.isNaN(a) !== Number.isNaN(b)) return `index ${i}: ${a} vs ${b}`;
      continue;
    }
    const error = Math.abs(a - b);
    note(op, error / (1 + Math.abs(b)));
    if (!(error <= atol + rtol * Math.abs(b))) return `index ${i}: ${a} vs ${b}, error ${error.toExponential(3)}`;
  }
  return undefined;
}

const OUT_TOLERANCE = { atol: 1e-5, rtol: 1e-5 };

/** Compares states per (batch, head) after rescaling `actual` to the max of `expected`. */
function stateMismatch(actual: Float32Array, expected: Float32Array, nbFeatures: number, dimHead: number): string | undefined {
  const size = causalFavorStateSize(nbFeatures, dimHead);
  if (actual.length !== expected.length) return `length ${actual.length} ≠ ${expected.length}`;
  for (let offset = 0; offset < expected.length; offset += size) {
    const maxActual = actual[offset + size - 1];
    const maxExpected = expected[offset + size - 1];
    if (maxActual === -Infinity || maxExpected === -Infinity) {
      if (maxActual !== maxExpected) return `head at ${offset}: max ${maxActual} vs ${maxExpected}`;
      if (actual.subarray(offset, offset + size - 1).some((x) => x !== 0)) return `head at ${offset}: empty state with nonzero sums`;
      continue;
    }
    const factor = Math.exp(maxActual - maxExpected);
    let zScale = 0;
    for (let j = 0; j < nbFeatures; j++) zScale = Math.max(zScale, expected[offset + j * (dimHead + 1) + dimHead]);
    for (let i = 0; i < size - 1; i++) {
      const error = Math.abs(actual[offset + i] * factor - expected[offset + i]);
      note('causalLinearAttentionState', error / zScale);
      if (!(error <= OUT_TOLERANCE.atol * zScale + OUT_TOLERANCE.rtol * Math.abs(expected[offset + i]))) {
        return `head at ${offset}, value ${i}: ${actual[offset + i] * factor} vs ${expected[offset + i]}, error ${error.toExponential(3)}`;
      }
    }
  }
  return undefined;
}

async function expectCaseMatches(c: CausalCase, label: string, state: Float32Array | null = null): Promise<void> {
  const expected = await attend(c, js, state);
  const actual = await attend(c, gpu, state);
  expect(actual.every(Number.isFinite), `${label}: finite outputs`).toBe(true);
  expect(mismatch('causalLinearAttention', actual, expected, OUT_TOLERANCE.atol, OUT_TOLERANCE.rtol), label).toBeUndefined();
  expect(stateMismatch(await scanState(c, gpu, state), await scanState(c, js, state), c.nbFeatures, c.dimHead), `${label}: state`).toBeUndefined();
}

describe.runIf(runWebGpuTests)('webgpu causal kernels', () => {
  beforeAll(async () => {
    requireWebGpu();
    js = new JsBackend();
    gpu = await WebGpuBackend.create();
  });

  afterAll(() => {
    gpu?.dispose();
    if (process.env.OMNINET_ACCURACY) for (const [op, error] of largestErrors) console.info(`${op}: largest error ${error.toExponential(2)} (relative to 1 + |js|, or to max z for states)`);
  });

  describe('causalLinearAttention and causalLinearAttentionState', () => {
    const shapes: Shape[] = [
      { batch: 1, tokens: 1, heads: 1, dimHead: 1, nbFeatures: 1 },
      { batch: 2, tokens: 3, heads: 2, dimHead: 5, nbFeatures: 7 },
      { batch: 4, tokens: 31, heads: 2, dimHead: 5, nbFeatures: 7 },
      { batch: 4, tokens: 32, heads: 1, dimHead: 6, nbFeatures: 16 },
      { batch: 4, tokens: 33, heads: 2, dimHead: 4, nbFeatures: 7 },
      { batch: 4, tokens: 63, heads: 2, dimHead: 8, nbFeatures: 16 },
      { batch: 4, tokens: 65, heads: 3, dimHead: 16, nbFeatures: 33 },
      { batch: 4, tokens: 200, heads: 2, dimHead: 7, nbFeatures: 7 },
      { batch: 1, tokens: 300, heads: 1, dimHead: 70, nbFeatures: 33 },
      { batch: 1, tokens: 16384, heads: 2, dimHead: 8, nbFeatures: 16 },
      { batch: 4, tokens: 4096, heads: 1, dimHead: 4, nbFeatures: 16 },
    ];
    for (const shape of shapes) {
      for (const masked of [false, true]) {
        if (masked && shape.batch < 4) continue;
        it(`matches js: ${JSON.stringify(shape)}${masked ? ' masked' : ''}`, () => expectCaseMatches(gaussianCase(shape, shape.tokens * 17 + shape.nbFeatures, masked), 'gaussian keys'), 60_000);
      }
    }

    it.each([
      ['rising', 300],
      ['shuffled', 1000],
      ['shuffled', 4096],
    ] as const)('matches js on keys whose exponents span hundreds, %s, %i tokens', async (order, tokens) => {
      for (const masked of [false, true]) {
        const c = wideCase(tokens, tokens + order.length, order, masked);
        await expectCaseMatches(c, `${order}${masked ? ' masked' : ''}`);
      }
    }, 60_000);

    it('continues from its own state', async () => {
      for (const [split, tokens] of [[1, 2], [30, 100], [129, 131]]) {
        const c = gaussianCase({ batch: 4, tokens, heads: 2, dimHead: 6, nbFeatures: 7 }, split, true);
        const head = cut(c, 0, split);
        const tail = cut(c, split, tokens);
        const whole = await attend(c, gpu);
        const state = await scanState(head, gpu);
        const continued = await attend(tail, gpu, state);
        const inner = c.heads * c.dimHead;
        for (let b = 0; b < c.batch; b++) {
          const part = continued.subarray(b * (tokens - split) * inner, (b + 1) * (tokens - split) * inner);
          expect(mismatch('causalLinearAttention', part, whole.subarray((b * tokens + split) * inner, (b + 1) * tokens * inner), OUT_TOLERANCE.atol, OUT_TOLERANCE.rtol), `split ${split} of ${tokens}, row ${b}`).toBeUndefined();
        }
        expect(stateMismatch(await scanState(tail, gpu, state), await scanState(c, js), c.nbFeatures, c.dimHead), `state after ${split} + ${tokens - split}`).toBeUndefined();
      }
    });

    it('continues from a js state of wide-range keys', async () => {
      const c = wideCase(300, 8, 'rising', true);
      const state = await scanState(cut(c, 0, 150), js);
      await expectCaseMatches(cut(c, 150, 300), 'tail after 150', state);
    });

    it('leaves a state unchanged by masked tokens', async () => {
      const c = gaussianCase({ batch: 4, tokens: 20, heads: 1, dimHead: 4, nbFeatures: 7 }, 9, true);
      const state = await scanState(c, js);
      const masked = { ...gaussianCase({ batch: 4, tokens: 3, heads: 1, dimHead: 4, nbFeatures: 7 }, 10, false), projection: c.projection, mask: new Uint8Array(12) };
      expect(await scanState(masked, gpu, state)).toEqual(state);
    });
  });

  // A 4 KiB binding limit leaves 960 floats per window with a 256-byte offset alignment, so these
  // cases run over segments of 64, 24 and 30 tokens, with a dispatch per segment and batch row.
  describe('causal linear attention split over dispatches', () => {
    let split: WebGpuBackend;

    beforeAll(async () => {
      split = await WebGpuBackend.create({ limits: { maxStorageBufferBindingSize: 4096 } });
    });

    afterAll(() => split?.dispose());

    it.each([
      [2, 6, 300],
      [2, 20, 100],
    ] as const)('matches js with %i heads of %i columns, %i tokens', async (heads, dimHead, tokens) => {
      const c = gaussianCase({ batch: 3, tokens, heads, dimHead, nbFeatures: 7 }, tokens + dimHead, true);
      const expected = await attend(c, js);
      expect(mismatch('causalLinearAttention', await attend(c, split), expected, OUT_TOLERANCE.atol, OUT_TOLERANCE.rtol), 'outputs').toBeUndefined();
      expect(stateMismatch(await scanState(c, split), await scanState(c, js), c.nbFeatures, c.dimHead), 'state').toBeUndefined();

      const head = { ...gaussianCase({ batch: 3, tokens: 50, heads, dimHead, nbFeatures: 7 }, 4, false), projection: c.projection };
      const incoming = await scanState(head, js);
      expect(mismatch('causalLinearAttention', await attend(c, split, incoming), await attend(c, js, incoming), OUT_TOLERANCE.atol, OUT_TOLERANCE.rtol), 'outputs after a state').toBeUndefined();
      expect(stateMismatch(await scanState(c, split, incoming), await scanState(c, js, incoming), c.nbFeatures, c.dimHead), 'state after a state').toBeUndefined();
    });

    it('matches js on wide-range keys', async () => {
      for (const masked of [false, true]) {
        const c = wideCase(250, 21, 'shuffled', masked);
        expect(mismatch('causalLinearAttention', await attend(c, split), await attend(c, js), OUT_TOLERANCE.atol, OUT_TOLERANCE.rtol), masked ? 'masked' : 'unmasked').toBeUndefined();
        expect(stateMismatch(await scanState(c, split), await scanState(c, js), c.nbFeatures, c.dimHead), `${masked ? 'masked' : 'unmasked'} state`).toBeUndefined();
      }
    });
  });

  it.each(listFixtures(['omninet-causal-omni']).map((f) => [f.name, f] as const))('runs the %s fixture on webgpu alone', async (_name, fixture) => {
    const model = await loadModel(fixture.bytes, { backend: 'webgpu' });
    const output = await model.forward(fixture.input, { shape: fixture.shape, mask: fixture.mask });
    const stats = await model.stats();
    model.dispose();
    expect(stats.moves, 'tensors moved between backends').toBe(0);
    expect(Object.keys(stats.ops), 'backends that ran ops').toEqual(['webgpu']);
    expect(compareToFixture(output, fixture).failures).toBe(0);
  });

  describe('attentionDecode', () => {
    const cases = [
      { batch: 1, length: 1, capacity: 1, heads: 1, dimHead: 1 },
      { batch: 4, length: 5, capacity: 16, heads: 2, dimHead: 5 },
      { batch: 4, length: 64, capacity: 64, heads: 3, dimHead: 8 },
      { batch: 4, length: 65, capacity: 128, heads: 1, dimHead: 12 },
      { batch: 4, length: 300, capacity: 512, heads: 2, dimHead: 70 },
      { batch: 1, length: 16384, capacity: 16384, heads: 2, dimHead: 16 },
    ];
    for (const { batch, length, capacity, heads, dimHead } of cases) {
      for (const masked of [false, true]) {
        it(`matches js: ${JSON.stringify({ batch, length, capacity, heads, dimHead })}${masked ? ' masked' : ''}`, async () => {
          const random = new Seeded(length + dimHead);
          const inner = heads * dimHead;
          const mask = rowMask(masked, batch, length, random);
          const cache = random.array(batch * capacity * 2 * inner, () => 1.5 * random.gaussian());
          for (let b = 0; b < batch; b++) {
            for (let s = 0; s < capacity; s++) {
              if (s >= length || (mask && mask[b * length + s] === 0)) cache.fill(NaN, (b * capacity + s) * 2 * inner, (b * capacity + s + 1) * 2 * inner);
            }
          }
          const qkv = random.array(batch * 3 * inner, () => 1.5 * random.gaussian());
          const decode = (backend: Backend) =>
            run('attentionDecode', backend, (upload) => ({
              qkv: upload(qkv, [batch, 1, 3 * inner]),
              cache: upload(cache, [batch, capacity, 2 * inner]),
              batch,
              length,
              heads,
              dimHead,
              scale: dimHead ** -0.5,
              mask,
            }));
          const expected = await decode(js);
          expect(expected.every(Number.isFinite)).toBe(true);
          expect(mismatch('attentionDecode', await decode(gpu), expected, 1e-5, 1e-5)).toBeUndefined();
        });
      }
    }
  });

  describe('cacheWrite', () => {
    it('copies columns into place and returns the cache', async () => {
      const kernel = getKernel('cacheWrite', 'webgpu')!;
      const random = new Seeded(3);
      const cacheData = random.array(2 * 5 * 4, () => random.next());
      const rowsData = random.array(2 * 3 * 6, () => random.next());
      const cache = gpu.upload(cacheData, [2, 5, 4]);
      const rows = gpu.upload(rowsData, [2, 3, 6]);

      expect(kernel({ cache, rows, batch: 2, count: 2, columnOffset: 1, position: 3 }, gpu)).toBe(cache);
      const expected = Float32Array.from(cacheData);
      for (let b = 0; b < 2; b++) {
        for (let i = 0; i < 2; i++) expected.set(rowsData.subarray((b * 3 + i) * 6 + 1, (b * 3 + i) * 6 + 5), (b * 5 + 3 + i) * 4);
      }
      expect(await gpu.download(cache)).toEqual(expected);

      expect(() => kernel({ cache, rows, batch: 2, count: 3, columnOffset: 0, position: 3 }, gpu)).toThrow(OmninetError);
      expect(() => kernel({ cache, rows, batch: 2, count: 1, columnOffset: 3, position: 0 }, gpu)).toThrow(/cannot copy 1 positions/);
      cache.dispose();
      rows.dispose();
    });

    it('matches js on a long prefill', async () => {
      const random = new Seeded(5);
      const [batch, capacity, width, available, rowWidth] = [2, 5000, 24, 4100, 72];
      const cacheData = random.array(batch * capacity * width, () => random.next());
      const rowsData = random.array(batch * available * rowWidth, () => random.next());
      const write = async (backend: Backend) => {
        const cache = backend.upload(cacheData, [batch, capacity, width]);
        const rows = backend.upload(rowsData, [batch, available, rowWidth]);
        getKernel('cacheWrite', backend.name)!({ cache, rows, batch, count: 4096, columnOffset: 48, position: 700 }, backend);
        const result = await backend.download(cache);
        cache.dispose();
        rows.dispose();
        return result;
      };
      expect(await write(gpu)).toEqual(await write(js));
    });
  });
});
