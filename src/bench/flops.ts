import type { OmninetConfig } from '../model/config.js';

// Exact FLOP counts of the ops of an OmniNet forward, from the op definitions in
// src/kernels/ops.ts (not from what a kernel happens to compute: a tiled or chunked kernel does
// the same useful work). Conventions:
//   - a multiply-add counts 2 (GEMM: 2·M·N·K), every other add, multiply, divide, subtract or
//     max counts 1;
//   - exp, erf and the GELU around them are not counted, as usual for transcendental functions;
//   - attention counts its two matrix products only: 4·dimHead per visible (query, key) pair, as
//     the FlashAttention papers count. The softmax's max, exp and sum are not counted.
// Names: n tokens, d = dimHead, m = nbFeatures, h heads, b batch.

/** y = x·Wᵀ + b for x [rows, inFeatures], W [outFeatures, inFeatures]: 2·rows·out·in, plus rows·out for the bias. */
export function linearFlops(rows: number, inFeatures: number, outFeatures: number, bias: boolean): number {
  return 2 * rows * outFeatures * inFeatures + (bias ? rows * outFeatures : 0);
}

/**
 * LayerNorm of rows × dim: 8 per element. The mean adds each element (1), the variance subtracts
 * the mean, squares and adds (3), and the output subtracts, scales by 1/σ, by gamma and adds beta (4).
 */
export function layerNormFlops(rows: number, dim: number): number {
  return 8 * rows * dim;
}

/** Returns the (query, key) pairs softmax attention scores: seq² per (batch, head), seq·(seq + 1)/2 when causal. */
export function attentionPairs(batch: number, heads: number, seq: number, causal: boolean): number {
  return batch * heads * (causal ? (seq * (seq + 1)) / 2 : seq * seq);
}

/** Softmax attention: q·kᵀ and weights·v, 2·d each per visible pair. */
export function attentionFlops(batch: number, heads: number, seq: number, dimHead: number, causal: boolean): number {
  return 4 * dimHead * attentionPairs(batch, heads, seq, causal);
}

/**
 * FAVOR+ features of n tokens: per (b, h, token), the projection x'·Wᵀ (2·d·m), the scaling of x
 * by d^-0.25 (d), |x'|²/2 (2·d), the exponent's two subtractions (2·m), then +eps and ·ratio (2·m).
 * Queries also take a max over the m features (m); keys take one max over every token and feature (m).
 */
export function favorFeaturesFlops(batch: number, heads: number, tokens: number, dimHead: number, nbFeatures: number): number {
  const d = dimHead;
  const m = nbFeatures;
  return batch * heads * tokens * (2 * d * m + 3 * d + 5 * m);
}

/**
 * Non-causal linear attention from features: per (b, h), the context Σ ψ vᵀ (2·n·m·d) and
 * Σ ψ (n·m), then per token φ·context (2·m·d), φ·Σψ (2·m) and the division (d).
 */
export function linearAttentionFlops(batch: number, heads: number, tokens: number, dimHead: number, nbFeatures: number): number {
  const d = dimHead;
  const m = nbFeatures;
  return batch * heads * tokens * (4 * m * d + 3 * m + d);
}

/**
 * Causal linear attention from query features and raw keys: per (b, h, token), the key features
 * ψ = exp(k'·Wᵀ − |k'|²/2) (2·d·m + 3·d + m), the running sums Σ ψ·[v, 1] (2·m·(d + 1)), then
 * φ·Σ ψ·[v, 1] (2·m·(d + 1)) and the division (d).
 */
export function causalLinearAttentionFlops(batch: number, heads: number, tokens: number, dimHead: number, nbFeatures: number): number {
  const d = dimHead;
  const m = nbFeatures;
  return batch * heads * tokens * (2 * d * m + 3 * d + m + 4 * m * (d + 1) + d);
}

/** Returns the FLOPs of an elementwise add: one per element. */
export function addFlops(size: number): number {
  return size;
}

/** Returns the FLOPs of a max over L layers of rows × dim: L − 1 comparisons per output element. */
export function maxPoolFlops(rows: number, layers: number, dim: number): number {
  return rows * (layers - 1) * dim;
}

/** FLOPs of one op, split by name, for a breakdown of a forward. */
export type FlopBreakdown = Record<string, number>;

/**
 * Returns the FLOPs of a forward of `config` on batch × seq tokens without a mask, by op, summing
 * the per-op formulas above over the ops that src/model/forward.ts runs.
 */
export function forwardFlops(config: OmninetConfig, batch: number, seq: number): FlopBreakdown {
  const { dim, heads, dimHead, ffMult } = config;
  const inner = heads * dimHead;
  const rows = batch * seq;
  const causal = config.variant !== 'omninet';
  const flops: FlopBreakdown = {};
  const count = (op: string, value: number): void => {
    flops[op] = (flops[op] ?? 0) + value;
  };

  if (config.variant === 'omninet-causal-axial') count('add', addFlops(rows * dim));
  for (let i = 0; i < config.depth; i++) {
    // Self-attention block.
    count('layerNorm', layerNormFlops(rows, dim));
    count('linear', linearFlops(rows, dim, 3 * inner, false));
    count('attention', attentionFlops(batch, heads, seq, dimHead, causal));
    count('linear', linearFlops(rows, inner, dim, true));
    count('add', addFlops(rows * dim));

    // Feed-forward block.
    count('layerNorm', layerNormFlops(rows, dim));
    count('linear', linearFlops(rows, dim, ffMult * dim, true));
    count('linear', linearFlops(rows, ffMult * dim, dim, true));
    count('add', addFlops(rows * dim));
    if (config.variant === 'omninet-causal-axial') count('add', addFlops(rows * dim));

    const omniIndex = config.omniLayers.indexOf(i);
    if (omniIndex < 0) continue;
    const layers = config.omniPoolSizes[omniIndex];
    const tokens = seq * layers;
    if (config.variant === 'omninet-causal-axial') {
      count('linear', linearFlops(rows * layers, dim, 3 * inner, false));
      count('attention', attentionFlops(rows, heads, layers, dimHead, false));
    } else {
      // omninet computes query and key features, then linear attention; omninet-causal-omni
      // computes query features and leaves the key features to causalLinearAttention.
      const m = config.nbFeatures ?? 0;
      count('linear', 3 * linearFlops(batch * tokens, dim, inner, false));
      count('favorFeatures', favorFeaturesFlops(batch, heads, tokens, dimHead, m));
      if (config.variant === 'omninet') {
        count('favorFeatures', favorFeaturesFlops(batch, heads, tokens, dimHead, m));
        count('linearAttention', linearAttentionFlops(batch, heads, tokens, dimHead, m));
      } else {
        count('causalLinearAttention', causalLinearAttentionFlops(batch, heads, tokens, dimHead, m));
      }
    }
    count('linear', linearFlops(batch * tokens, inner, dim, true));
    count('maxPoolLayers', maxPoolFlops(rows, layers, dim));
    count('add', addFlops(rows * dim));
  }
  return flops;
}

/** Returns the sum of a breakdown. */
export function totalFlops(breakdown: FlopBreakdown): number {
  let total = 0;
  for (const value of Object.values(breakdown)) total += value;
  return total;
}

/** The shape of a tensor argument, as far as FLOP counting needs it. */
interface Shaped {
  readonly shape: readonly number[];
  readonly size: number;
}

/**
 * Returns the FLOPs of one dispatched op from its arguments (as in OpArgs), by the formulas
 * above; masks are ignored, so masked calls are over-counted. Copies, GELU and ops without a
 * formula here count 0.
 */
export function opCallFlops(op: string, args: Record<string, unknown>): number {
  const n = (key: string): number => args[key] as number;
  const t = (key: string): Shaped => args[key] as Shaped;
  switch (op) {
    case 'linear': {
      const [outFeatures, inFeatures] = t('weight').shape;
      return linearFlops(t('x').size / inFeatures, inFeatures, outFeatures, args.bias != null);
    }
    case 'layerNorm': {
      const x = t('x');
      const dim = x.shape[x.shape.length - 1];
      return layerNormFlops(x.size / dim, dim);
    }
    case 'attention':
      return attentionFlops(n('batch'), n('heads'), n('seq'), n('dimHead'), args.causal === true);
    case 'favorFeatures':
      return favorFeaturesFlops(n('batch'), n('heads'), n('tokens'), n('dimHead'), t('projection').shape[0]);
    case 'linearAttention':
      return linearAttentionFlops(n('batch'), n('heads'), n('tokens'), n('dimHead'), t('queryFeatures').shape[3]);
    case 'causalLinearAttention':
      return causalLinearAttentionFlops(n('batch'), n('heads'), n('tokens'), n('dimHead'), t('projection').shape[0]);
    case 'add':
      return addFlops(t('a').size);
    case 'maxPoolLayers':
      return maxPoolFlops(n('batch') * n('seq'), n('layers'), n('dim'));
    default:
      return 0;
  }
}
