// Why causal FAVOR+ needs its own key stabiliser: performer-pytorch 1.1.4 subtracts from every key
// exponent the max over ALL tokens and features, so in its causal prefix sums an earlier output
// moves when only a later key changes. Ours keeps a running max, and earlier outputs stay put.
// The numbers quoted in docs/causal.md come from the console line this file prints.

import { describe, expect, it } from 'vitest';
import { JsBackend } from '../src/backends/js/index.js';
import { WasmBackend } from '../src/backends/wasm/index.js';
import type { Backend } from '../src/backends/backend.js';
import { getKernel } from '../src/kernels/registry.js';
import { resolveConfig } from '../src/model/config.js';
import { Random, randomParameters } from '../src/model/random-init.js';

const TOKENS = 128;
const DIM_HEAD = 64;
const NB_FEATURES = 266; // performer-pytorch's default for dim_head 64: floor(64·ln 64)
const FAVOR_EPS = 1e-4;

/** u = x'·Wᵀ and |x'|²/2 (x' = x·dimHead^-0.25) of every token of x [tokens, dimHead], in float64. */
function projections(x: Float32Array, w: Float32Array): { u: Float64Array; halfNorm: Float64Array } {
  const normalizer = DIM_HEAD ** -0.25;
  const u = new Float64Array(TOKENS * NB_FEATURES);
  const halfNorm = new Float64Array(TOKENS);
  for (let t = 0; t < TOKENS; t++) {
    for (let d = 0; d < DIM_HEAD; d++) halfNorm[t] += (x[t * DIM_HEAD + d] * normalizer) ** 2 / 2;
    for (let j = 0; j < NB_FEATURES; j++) {
      let dot = 0;
      for (let d = 0; d < DIM_HEAD; d++) dot += x[t * DIM_HEAD + d] * normalizer * w[j * DIM_HEAD + d];
      u[t * NB_FEATURES + j] = dot;
    }
  }
  return { u, halfNorm };
}

/**
 * performer-pytorch 1.1.4 `softmax_kernel`: ratio·(exp(u − |x'|²/2 − stabiliser) + 1e-4) with
 * ratio = m^-0.5, where the stabiliser is the max of u over the features of the token for queries
 * and over every token and feature for keys.
 */
function performerFeatures(x: Float32Array, w: Float32Array, isQuery: boolean): Float64Array {
  const { u, halfNorm } = projections(x, w);
  const ratio = NB_FEATURES ** -0.5;
  const globalMax = Math.max(...u);
  const features = new Float64Array(TOKENS * NB_FEATURES);
  for (let t = 0; t < TOKENS; t++) {
    const row = u.subarray(t * NB_FEATURES, (t + 1) * NB_FEATURES);
    const stabiliser = isQuery ? Math.max(...row) : globalMax;
    for (let j = 0; j < NB_FEATURES; j++) features[t * NB_FEATURES + j] = ratio * (Math.exp(row[j] - halfNorm[t] - stabiliser) + FAVOR_EPS);
  }
  return features;
}

/** performer-pytorch's causal linear attention: prefix sums of ψ vᵀ and ψ, read by each φ_t. */
function performerCausal(phi: Float64Array, psi: Float64Array, v: Float32Array): Float64Array {
  const context = new Float64Array(NB_FEATURES * DIM_HEAD);
  const keySum = new Float64Array(NB_FEATURES);
  const out = new Float64Array(TOKENS * DIM_HEAD);
  for (let t = 0; t < TOKENS; t++) {
    for (let j = 0; j < NB_FEATURES; j++) {
      const p = psi[t * NB_FEATURES + j];
      keySum[j] += p;
      for (let d = 0; d < DIM_HEAD; d++) context[j * DIM_HEAD + d] += p * v[t * DIM_HEAD + d];
    }
    let denominator = 0;
    for (let j = 0; j < NB_FEATURES; j++) denominator += phi[t * NB_FEATURES + j] * keySum[j];
    for (let d = 0; d < DIM_HEAD; d++) {
      let numerator = 0;
      for (let j = 0; j < NB_FEATURES; j++) numerator += phi[t * NB_FEATURES + j] * context[j * DIM_HEAD + d];
      out[t * DIM_HEAD + d] = numerator / denominator;
    }
  }
  return out;
}

/** Our causalLinearAttention on one head, with the same query features. */
function ours(backend: Backend, phi: Float64Array, k: Float32Array, v: Float32Array, w: Float32Array): Float32Array {
  const upload = (data: Float32Array, shape: number[]) => backend.upload(data, shape);
  const tensors = [upload(Float32Array.from(phi), [1, 1, TOKENS, NB_FEATURES]), upload(k, [1, TOKENS, DIM_HEAD]), upload(v, [1, TOKENS, DIM_HEAD]), upload(w, [NB_FEATURES, DIM_HEAD])];
  const [queryFeatures, keys, values, projection] = tensors;
  const result = getKernel('causalLinearAttention', backend.name)!(
    { queryFeatures, k: keys, v: values, projection, state: null, batch: 1, tokens: TOKENS, heads: 1, dimHead: DIM_HEAD, mask: null },
    backend,
  );
  const out = backend.downloadSync!(result);
  for (const t of [result, ...tensors]) t.dispose();
  return out;
}

/** Returns the largest |a − b| over the tokens before the last, and the largest |b| there. */
function earlierChange(a: ArrayLike<number>, b: ArrayLike<number>): { change: number; scale: number } {
  let change = 0;
  let scale = 0;
  for (let i = 0; i < (TOKENS - 1) * DIM_HEAD; i++) {
    change = Math.max(change, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { change, scale };
}

describe('causal key stabiliser', () => {
  it('moves no earlier output when only the last key changes, unlike performer-pytorch', async () => {
    const config = resolveConfig({ variant: 'omninet-causal-omni', dim: DIM_HEAD, depth: 1, heads: 1, dimHead: DIM_HEAD, poolLayerTokensEvery: 1 });
    const w = randomParameters(config, 1).get('layers.0.2.fast_attention.projection_matrix')!.data;
    expect(w.length).toBe(NB_FEATURES * DIM_HEAD);

    const random = new Random(2);
    const normal = (size: number) => Float32Array.from({ length: size }, () => random.normal());
    const q = normal(TOKENS * DIM_HEAD);
    const k = normal(TOKENS * DIM_HEAD);
    const v = normal(TOKENS * DIM_HEAD);
    // Only the last key changes: twice as long, so its projection sets a new max over every token and feature.
    const changed = Float32Array.from(k);
    for (let d = 0; d < DIM_HEAD; d++) changed[(TOKENS - 1) * DIM_HEAD + d] *= 2;

    const phi = performerFeatures(q, w, true);
    const upstream = earlierChange(performerCausal(phi, performerFeatures(changed, w, false), v), performerCausal(phi, performerFeatures(k, w, false), v));
    const maxShift = Math.max(...projections(changed, w).u) - Math.max(...projections(k, w).u);

    const wasm = await WasmBackend.create();
    const results: Record<string, number> = {};
    for (const backend of [new JsBackend(), wasm]) {
      results[backend.name] = earlierChange(ours(backend, phi, changed, v, w), ours(backend, phi, k, v, w)).change;
    }
    wasm.dispose();

    console.log(
      `causal stabiliser, ${TOKENS} tokens, dimHead ${DIM_HEAD}, ${NB_FEATURES} features, last key doubled (global max of u up by ${maxShift.toFixed(2)}): ` +
        `performer-pytorch 1.1.4 moves earlier outputs by up to ${upstream.change.toExponential(3)} (largest |output| ${upstream.scale.toFixed(3)}); ` +
        `ours by ${results.js} on js and ${results.wasm} on wasm`,
    );
    expect(maxShift, 'the changed key sets a new global max').toBeGreaterThan(0);
    expect(upstream.change, 'upstream earlier outputs move').toBeGreaterThan(1e-2);
    expect(results.js).toBe(0);
    expect(results.wasm).toBe(0);
  });
});
