import type { Tensor } from '../tensor.js';

/**
 * The ops of an OmniNet forward and their arguments. Every backend implements each op with
 * the same semantics; `js` is the reference. Ops never modify their inputs and always return
 * a new tensor on the backend that ran them.
 *
 * Masks are host arrays of shape [batch, seq] (1 = real token, 0 = padding). A masked token is
 * never used as a key: its values never reach another position, even when they are not finite.
 */
export interface OpArgs {
  /** y = x·Wᵀ + b, then the activation. x [rows, inFeatures], weight [outFeatures, inFeatures], bias [outFeatures]. */
  linear: { x: Tensor; weight: Tensor; bias: Tensor | null; activation: 'none' | 'gelu' };

  /** LayerNorm over the last axis with the biased variance. x [rows, dim], gamma and beta [dim]. */
  layerNorm: { x: Tensor; gamma: Tensor; beta: Tensor; eps: number };

  /** GELU, erf form: 0.5·x·(1 + erf(x/√2)). */
  gelu: { x: Tensor };

  /** a + b, where b has the shape of a or is one row [dim] added to every row of a. */
  add: { a: Tensor; b: Tensor };

  /**
   * Multi-head softmax attention, softmax(q·kᵀ·scale)·v per head.
   * qkv [batch, seq, 3·heads·dimHead] (q, then k, then v; head-major inside each) → [batch, seq, heads·dimHead].
   * `causal` hides keys j > i. Masked keys are ignored; a query with no visible key returns 0.
   */
  attention: {
    qkv: Tensor;
    batch: number;
    seq: number;
    heads: number;
    dimHead: number;
    scale: number;
    causal: boolean;
    mask: Uint8Array | null;
  };

  /**
   * FAVOR+ features (performer-pytorch `softmax_kernel`) of x [batch, tokens, heads·dimHead]
   * with projection W [nbFeatures, dimHead] → [batch, heads, tokens, nbFeatures].
   * With x' = x·dimHead^-0.25 and u = x'·Wᵀ:
   *   query: nbFeatures^-0.5 · (exp(u − |x'|²/2 − max_j u_j) + 1e-4)
   *   key:   nbFeatures^-0.5 · (exp(u − |x'|²/2 − M) + 1e-4), M = max of u over every real token and feature of (batch, head);
   *          masked keys get exactly 0.
   */
  favorFeatures: {
    x: Tensor;
    projection: Tensor;
    batch: number;
    tokens: number;
    heads: number;
    dimHead: number;
    kind: 'query' | 'key';
    mask: Uint8Array | null;
  };

  /**
   * Non-causal linear attention: out_t = φ_t·(Σ_s ψ_s v_sᵀ) / (φ_t·Σ_s ψ_s), sums over real tokens s.
   * queryFeatures and keyFeatures [batch, heads, tokens, nbFeatures], v [batch, tokens, heads·dimHead]
   * → [batch, tokens, heads·dimHead].
   */
  linearAttention: {
    queryFeatures: Tensor;
    keyFeatures: Tensor;
    v: Tensor;
    batch: number;
    tokens: number;
    heads: number;
    dimHead: number;
    mask: Uint8Array | null;
  };

  /**
   * Interleaves L hidden states [batch, seq, dim] position-major → [batch, seq·L, dim]:
   * the token at position p of hiddens[l] lands at index p·L + l (l = 0 is the oldest).
   */
  stackLayers: { hiddens: Tensor[]; batch: number; seq: number; dim: number };

  /** Max over the L consecutive tokens of each position: x [batch, seq·L, dim] → [batch, seq, dim]. */
  maxPoolLayers: { x: Tensor; batch: number; seq: number; layers: number; dim: number };

  /**
   * Causal linear attention with causal FAVOR+ key features, per head over the token index t:
   *   out_t = Σ_{s≤t} (φ_t·ψ_s) v_s / Σ_{s≤t} (φ_t·ψ_s), sums over real tokens s,
   * with ψ_s = exp(k_s'·Wᵀ − |k_s'|²/2) and k' = k·dimHead^-0.25 (no eps and no nbFeatures^-0.5).
   * A positive factor common to every ψ cancels, so kernels keep ψ relative to the running max of
   * the exponent over s ≤ t. Then every exp is at most 1, and a ψ that underflows is negligible
   * next to the visible key that set the max. That is why the op takes the raw k and W, not ψ.
   * queryFeatures φ [batch, heads, tokens, nbFeatures] (favorFeatures, kind 'query'), k and v
   * [batch, tokens, heads·dimHead], projection W [nbFeatures, dimHead] → [batch, tokens, heads·dimHead].
   * `state` (from causalLinearAttentionState, or null) contains the sums over earlier tokens, which
   * come before token 0. Masked tokens are never keys but are still queries; a token with no real
   * key at or before it gets 0.
   */
  causalLinearAttention: {
    queryFeatures: Tensor;
    k: Tensor;
    v: Tensor;
    projection: Tensor;
    state: Tensor | null;
    batch: number;
    tokens: number;
    heads: number;
    dimHead: number;
    mask: Uint8Array | null;
  };

  /**
   * The running state of causalLinearAttention after this call's tokens, continuing `state` (null
   * for none): [batch, heads, causalFavorStateSize(nbFeatures, dimHead)]. Per (batch, head), with
   * e_s = k_s'·Wᵀ − |k_s'|²/2 and M the max of e over the real keys so far and their features
   * (−∞ before the first real key):
   *   [0, nbFeatures·(dimHead + 1))  Σ_s exp(e_s − M)·[v_s, 1]ᵀ, row-major [nbFeatures, dimHead + 1];
   *                                  the last column is the normaliser z = Σ_s exp(e_s − M)
   *   last value                     M, a float32 value
   * Its size does not grow with the number of tokens. Arguments as in causalLinearAttention.
   */
  causalLinearAttentionState: {
    k: Tensor;
    v: Tensor;
    projection: Tensor;
    state: Tensor | null;
    batch: number;
    tokens: number;
    heads: number;
    dimHead: number;
    mask: Uint8Array | null;
  };

  /**
   * Copies positions 0 … count−1 of rows [batch, n ≥ count, rowWidth], columns columnOffset …
   * columnOffset + width − 1, into cache [batch, capacity, width] at positions position …
   * position + count − 1, and returns `cache` itself. Unlike every other op it writes into an
   * argument, so a decoder appends to its key/value cache without copying it. Allocate the cache
   * on the backend that runs this op: a cache moved to another backend would be written as a
   * temporary copy, and the op would return that copy instead of `cache`.
   */
  cacheWrite: { cache: Tensor; rows: Tensor; batch: number; count: number; columnOffset: number; position: number };

  /**
   * Multi-head softmax attention of one new position per batch row against a key/value cache:
   * the last row of causal `attention`, for decoding.
   * qkv [batch, 3·heads·dimHead] (or [batch, 1, …]): q of the new position in the first
   * heads·dimHead columns, head-major; the rest is ignored.
   * cache [batch, capacity, 2·heads·dimHead]: k, then v, of each cached position; positions
   * 0 … length − 1 are keys. mask [batch, length]: 0 = that position is not a key.
   * → [batch, heads·dimHead]; a query with no visible key returns 0.
   */
  attentionDecode: {
    qkv: Tensor;
    cache: Tensor;
    batch: number;
    length: number;
    heads: number;
    dimHead: number;
    scale: number;
    mask: Uint8Array | null;
  };
}

/** Returns the number of float32 values of one (batch, head) of a causalLinearAttentionState. */
export function causalFavorStateSize(nbFeatures: number, dimHead: number): number {
  return nbFeatures * (dimHead + 1) + 1;
}

export type OpName = keyof OpArgs;

export const OP_NAMES: readonly OpName[] = [
  'linear',
  'layerNorm',
  'gelu',
  'add',
  'attention',
  'favorFeatures',
  'linearAttention',
  'stackLayers',
  'maxPoolLayers',
  'causalLinearAttention',
  'causalLinearAttentionState',
  'cacheWrite',
  'attentionDecode',
];
