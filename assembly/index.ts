// Entry of the WebAssembly module: every kernel the `wasm` backend calls.
// The module has no allocator of its own: the TypeScript side owns all memory above
// `heapBase()` and passes byte offsets (pointers) to the kernels.

export * from './gemm';
export { gelu, addBroadcast } from './activations';
export { layerNorm } from './layer-norm';
export { attention, attentionHeads, attentionScratchBytes } from './attention';
export { favorFeatures, favorFeaturesHeads } from './favor';
export { linearAttention, linearAttentionHeads, linearAttentionScratchBytes } from './linear-attention';
export { stackLayer, maxPoolLayers } from './layers';
export { causalLinearAttention, causalLinearAttentionScratchBytes } from './causal-linear-attention';
export { attentionDecode, attentionDecodeScratchBytes } from './attention-decode';
export { simdPeak } from './simd-peak';

/** Returns the first byte the host may use for tensors, 16-byte aligned. */
export function heapBase(): usize {
  return (__heap_base + 15) & ~(15 as usize);
}
