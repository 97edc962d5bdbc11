// Causality of the causal variants and token-by-token decoding against the full forward.

import { describe, expect, it } from 'vitest';
import { loadModel, OmninetCausal, OmninetError, Omninet, type OmninetModel } from '../src/index.js';
import { Random } from '../src/model/random-init.js';
import { compareToFixture, readFixture } from './helpers/fixtures.js';

const TOLERANCE = { abs: 1e-5, rel: 1e-5 };
const BACKENDS = ['js', 'wasm'] as const;
const VARIANTS = ['omninet-causal-axial', 'omninet-causal-omni'] as const;

// Depth 6 with P = 3: causal-omni pools 3 hiddens at layers 2 and 5, causal-axial at 0, 1, 3 and 4.
const dims = { dim: 24, depth: 6, heads: 3, dimHead: 8, poolLayerTokensEvery: 3, nbFeatures: 11, seed: 11 };

function randomInput(size: number, seed: number): Float32Array {
  const random = new Random(seed);
  return Float32Array.from({ length: size }, () => random.normal());
}

/** Runs `model` position by position and returns the outputs as one [batch, seq, dim] array. */
async function decodeAll(model: OmninetModel, x: Float32Array, batch: number, seq: number, mask: Uint8Array | null = null): Promise<Float32Array> {
  const dim = model.config.dim;
  const decoder = model.createDecoder({ batch });
  const out = new Float32Array(batch * seq * dim);
  const row = new Float32Array(batch * dim);
  const rowMask = new Uint8Array(batch);
  for (let p = 0; p < seq; p++) {
    for (let b = 0; b < batch; b++) {
      row.set(x.subarray((b * seq + p) * dim, (b * seq + p + 1) * dim), b * dim);
      rowMask[b] = mask ? mask[b * seq + p] : 1;
    }
    const y = await decoder.step(row, { mask: mask ? rowMask : null });
    for (let b = 0; b < batch; b++) out.set(y.subarray(b * dim, (b + 1) * dim), (b * seq + p) * dim);
  }
  decoder.dispose();
  return out;
}

/** Returns the first element outside abs + rel·|expected| at a real position, or undefined. */
function findMismatch(actual: Float32Array, expected: Float32Array, dim: number, mask: Uint8Array | null = null): string | undefined {
  for (let i = 0; i < expected.length; i++) {
    if (mask && mask[Math.floor(i / dim)] === 0) continue;
    const error = Math.abs(actual[i] - expected[i]);
    if (!(error <= TOLERANCE.abs + TOLERANCE.rel * Math.abs(expected[i]))) {
      return `token ${Math.floor(i / dim)}, channel ${i % dim}: decoded ${actual[i]}, forward ${expected[i]}, error ${error.toExponential(3)}`;
    }
  }
  return undefined;
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

describe.each(BACKENDS)('golden fixtures decoded on %s', (backend) => {
  it.each(['omninet-causal-omni-01', 'omninet-causal-axial-01'])('%s matches position by position', async (name) => {
    const fixture = readFixture(`${name}.safetensors`);
    const [batch, seq] = fixture.shape;
    const model = await loadModel(fixture.bytes, { backend });
    const output = await decodeAll(model, fixture.input, batch, seq, fixture.mask);
    model.dispose();

    const result = compareToFixture(output, fixture);
    console.log(`${backend} ${name} decoded: max abs ${result.maxAbs.toExponential(2)}, max rel ${result.maxRel.toExponential(2)}`);
    expect(result.failures, `${name} decoded on ${backend}: first failure ${result.first}`).toBe(0);
  });
});

describe.each(BACKENDS)('causal models on %s', (backend) => {
  it.each(VARIANTS)('%s: inputs after position t leave outputs up to t unchanged', async (variant) => {
    const model = new OmninetCausal({ ...dims, variant, backend });
    const batch = 2;
    const seq = 40; // causal-omni: 120 flattened tokens, across two chunks of the wasm kernel
    const x = randomInput(batch * seq * dims.dim, 1);
    const before = await model.forward(x, { shape: [batch, seq, dims.dim] });

    for (const t of [0, 20, 38]) {
      const changed = Float32Array.from(x);
      const random = new Random(t);
      for (let b = 0; b < batch; b++) {
        for (let i = (b * seq + t + 1) * dims.dim; i < (b + 1) * seq * dims.dim; i++) changed[i] = 4 * random.normal();
      }
      const after = await model.forward(changed, { shape: [batch, seq, dims.dim] });

      for (let b = 0; b < batch; b++) {
        const kept = [(b * seq) * dims.dim, (b * seq + t + 1) * dims.dim] as const;
        const moved = [(b * seq + t + 1) * dims.dim, (b + 1) * seq * dims.dim] as const;
        const difference = maxDifference(before.subarray(...kept), after.subarray(...kept));
        if (backend === 'js') expect(difference, `row ${b}, positions ≤ ${t}`).toBe(0);
        else expect(difference, `row ${b}, positions ≤ ${t}`).toBeLessThanOrEqual(1e-6);
        expect(maxDifference(before.subarray(...moved), after.subarray(...moved)), `row ${b}, positions > ${t}`).toBeGreaterThan(1e-3);
      }
    }
    model.dispose();
  });

  it.each(VARIANTS)('%s: decoding equals the forward at every position', async (variant) => {
    const model = new OmninetCausal({ ...dims, variant, backend });
    const batch = 2;
    const seq = 40;
    const x = randomInput(batch * seq * dims.dim, 2);
    const expected = await model.forward(x, { shape: [batch, seq, dims.dim] });
    const decoded = await decodeAll(model, x, batch, seq);
    expect(findMismatch(decoded, expected, dims.dim)).toBeUndefined();
    model.dispose();
  });

  it.each(VARIANTS)('%s: decoding equals the forward with right padding', async (variant) => {
    const model = new OmninetCausal({ ...dims, variant, backend });
    const seq = 30;
    const lengths = [30, 17, 1];
    const batch = lengths.length;
    const x = randomInput(batch * seq * dims.dim, 3);
    const mask = new Uint8Array(batch * seq);
    lengths.forEach((n, b) => mask.fill(1, b * seq, b * seq + n));
    // Padded positions hold garbage, including non-finite values.
    for (let b = 0; b < batch; b++) for (let p = lengths[b]; p < seq; p++) x[(b * seq + p) * dims.dim + (p % dims.dim)] = p % 2 ? NaN : 1e30;

    const expected = await model.forward(x, { shape: [batch, seq, dims.dim], mask });
    const decoded = await decodeAll(model, x, batch, seq, mask);
    expect(findMismatch(decoded, expected, dims.dim, mask)).toBeUndefined();

    for (let b = 0; b < batch; b++) {
      const n = lengths[b];
      expect(decoded.subarray((b * seq + n) * dims.dim, (b + 1) * seq * dims.dim).every((v) => v === 0), `padded outputs of row ${b}`).toBe(true);
      // Padding invariance: each row decoded alone gives the same real outputs.
      const alone = await decodeAll(model, x.slice(b * seq * dims.dim, (b * seq + n) * dims.dim), 1, n);
      expect(findMismatch(decoded.subarray(b * seq * dims.dim, (b * seq + n) * dims.dim), alone, dims.dim), `row ${b} alone`).toBeUndefined();
    }
    model.dispose();
  });

  it.each(VARIANTS)('%s: decoding equals the forward with holes in the mask', async (variant) => {
    const model = new OmninetCausal({ ...dims, variant, backend });
    const batch = 2;
    const seq = 25;
    const x = randomInput(batch * seq * dims.dim, 4);
    const random = new Random(5);
    const mask = Uint8Array.from({ length: batch * seq }, () => (random.uniform() < 0.7 ? 1 : 0));
    const expected = await model.forward(x, { shape: [batch, seq, dims.dim], mask });
    expect(findMismatch(await decodeAll(model, x, batch, seq, mask), expected, dims.dim, mask)).toBeUndefined();
    model.dispose();
  });
});

describe('decoder', () => {
  it('holds a constant FAVOR+ state and grows its key/value cache geometrically', async () => {
    const model = new OmninetCausal({ ...dims, variant: 'omninet-causal-omni', backend: 'wasm' });
    const decoder = model.createDecoder({ batch: 2 });
    const inner = dims.heads * dims.dimHead;
    const cacheBytes = (capacity: number) => dims.depth * 2 * capacity * 2 * inner * 4;
    const stateBytes = 2 * 2 * dims.heads * (dims.nbFeatures * (dims.dimHead + 1) + 1) * 4; // 2 omni layers, batch 2

    const sizes: number[] = [];
    for (let p = 0; p < 40; p++) {
      await decoder.step(randomInput(2 * dims.dim, p));
      sizes.push(decoder.memoryBytes());
    }
    expect(decoder.length).toBe(40);
    expect(sizes[0]).toBe(cacheBytes(16) + stateBytes);
    expect(sizes[15]).toBe(cacheBytes(16) + stateBytes);
    expect(sizes[16]).toBe(cacheBytes(32) + stateBytes);
    expect(sizes[39]).toBe(cacheBytes(64) + stateBytes);
    decoder.dispose();
    model.dispose();
  });

  it('starts over after reset', async () => {
    const model = new OmninetCausal({ ...dims, variant: 'omninet-causal-omni', backend: 'js' });
    const decoder = model.createDecoder({ batch: 1 });
    const inputs = Array.from({ length: 5 }, (_, p) => randomInput(dims.dim, 100 + p));
    const first = [];
    for (const x of inputs) first.push(await decoder.step(x));
    await decoder.reset();
    expect(decoder.length).toBe(0);
    for (let p = 0; p < inputs.length; p++) expect(await decoder.step(inputs[p]), `position ${p}`).toEqual(first[p]);
    decoder.dispose();
    model.dispose();
  });

  it('runs steps issued without awaiting in call order', async () => {
    const model = new OmninetCausal({ ...dims, backend: 'wasm' });
    const inputs = Array.from({ length: 6 }, (_, p) => randomInput(dims.dim, 200 + p));
    const sequential = model.createDecoder({ batch: 1 });
    const expected = [];
    for (const x of inputs) expected.push(await sequential.step(x));
    const concurrent = model.createDecoder({ batch: 1 });
    expect(await Promise.all(inputs.map((x) => concurrent.step(x)))).toEqual(expected);
    sequential.dispose();
    concurrent.dispose();
    model.dispose();
  });

  it('follows per-op overrides that move the cache between backends', async () => {
    const variant = 'omninet-causal-omni';
    const reference = new OmninetCausal({ ...dims, variant, backend: 'wasm' });
    const mixed = new OmninetCausal({ ...dims, variant, backend: 'wasm', ops: { cacheWrite: 'js', causalLinearAttentionState: 'js' } });
    const x = randomInput(10 * dims.dim, 6);
    const expected = await reference.forward(x, { shape: [1, 10, dims.dim] });
    expect(findMismatch(await decodeAll(mixed, x, 1, 10), expected, dims.dim)).toBeUndefined();
    expect((await mixed.stats()).moves).toBeGreaterThan(0);
    reference.dispose();
    mixed.dispose();
  });

  it('fails with DISPOSED after dispose', async () => {
    const model = new OmninetCausal({ ...dims, backend: 'js' });
    const decoder = model.createDecoder({ batch: 1 });
    const pending = decoder.step(randomInput(dims.dim, 7));
    decoder.dispose();
    decoder.dispose();
    await expect(pending, 'a step issued before dispose still runs').resolves.toHaveLength(dims.dim);
    for (const call of [() => decoder.step(randomInput(dims.dim, 8)), () => decoder.reset()]) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OmninetError);
      expect((error as OmninetError).code).toBe('DISPOSED');
    }
    model.dispose();
  });

  it('is refused for a non-causal model', () => {
    const model = new Omninet({ dim: 8, depth: 2, heads: 2, dimHead: 4 });
    expect(() => model.createDecoder({ batch: 1 })).toThrow(/createDecoder needs a causal model .*in variant omninet every position attends to later ones/);
  });

  it('rejects bad options and inputs', async () => {
    const model = new OmninetCausal({ ...dims, backend: 'js' });
    expect(() => model.createDecoder({ batch: 0 })).toThrow(/batch must be a positive integer, got 0/);
    expect(() => model.createDecoder({ batch: 1, bacth: 2 } as never)).toThrow(/unknown decoder option "bacth"/);

    const decoder = model.createDecoder({ batch: 2 });
    await expect(decoder.step(new Float32Array(5))).rejects.toThrow(/has 5 values but batch × dim = 2 × 24 = 48/);
    await expect(decoder.step(new Float32Array(48), { mask: [1] })).rejects.toThrow(/mask has 1 values but the batch is 2/);
    await expect(decoder.step(new Float32Array(48), { mask: [1, 2] })).rejects.toThrow(/mask value 2 at row 1/);
    const x = new Float32Array(48);
    x[30] = NaN;
    await expect(decoder.step(x)).rejects.toThrow(/value NaN at row 1, channel 6 is not finite/);
    expect(decoder.length, 'rejected inputs decode nothing').toBe(0);
    await expect(decoder.step(x, { mask: [1, 0] }), 'a padded row may hold NaN').resolves.toHaveLength(48);
    decoder.dispose();
    model.dispose();
  });
});
