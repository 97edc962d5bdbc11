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
];
