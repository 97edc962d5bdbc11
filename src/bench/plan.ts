import type { Variant } from '../model/config.js';

/** Model options the benchmarks use, in the camelCase of `new Omninet(...)`. */
export interface BenchModel {
  dim: number;
  depth: number;
  heads: number;
  dimHead: number;
  poolLayerTokensEvery: number;
  ffMult: number;
}

/** The README configuration: dim 512, depth 6, heads 8, dim_head 64, pool_layer_tokens_every 3. */
export const README_MODEL: BenchModel = { dim: 512, depth: 6, heads: 8, dimHead: 64, poolLayerTokensEvery: 3, ffMult: 4 };

/** Sizes of the benchmark cases. Token counts are batch-1 sequence lengths. */
export interface BenchPlan {
  model: BenchModel;
  /** The model's GEMM shapes at these sequence lengths (rows = tokens, or tokens·L in omni layers). */
  gemmTokens: number[];
  /** Also time the GEMM of one row, as in decoding. */
  gemmDecode: boolean;
  /** Sequence lengths of the attention, FAVOR+ and LayerNorm series (flattened tokens for FAVOR+). */
  sequenceTokens: number[];
  /** Sequence lengths of the end-to-end forwards. */
  forwardTokens: number[];
  /** Model variants of the forwards; a variant the model code cannot run yet is skipped with its error. */
  variants: Variant[];
  /** The js backend (the float64 oracle) runs only cases up to this many tokens. */
  jsMaxTokens: number;
  /** A software WebGPU adapter (lavapipe, SwiftShader: the GPU emulated on the CPU) runs only cases up to this many tokens. */
  softwareGpuMaxTokens: number;
}

export function defaultPlan(quick: boolean): BenchPlan {
  if (quick) {
    return {
      model: README_MODEL,
      gemmTokens: [128],
      gemmDecode: true,
      sequenceTokens: [128, 512, 1024],
      forwardTokens: [128, 512],
      variants: ['omninet', 'omninet-causal-axial', 'omninet-causal-omni'],
      jsMaxTokens: 128,
      softwareGpuMaxTokens: 512,
    };
  }
  return {
    model: README_MODEL,
    gemmTokens: [128, 1024],
    gemmDecode: true,
    sequenceTokens: [128, 256, 512, 1024, 2048, 4096, 8192, 16384],
    forwardTokens: [128, 512, 1024, 2048, 4096],
    variants: ['omninet', 'omninet-causal-axial', 'omninet-causal-omni'],
    jsMaxTokens: 512,
    softwareGpuMaxTokens: 1024,
  };
}
