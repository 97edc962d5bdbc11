import { OmninetError } from '../errors.js';
import type { OmninetConfig } from './config.js';

/** Bytes of linear memory a wasm32 instance can address. */
export const WASM_MEMORY_LIMIT_BYTES = 2 ** 32;

/** The float32 bytes a forward uses at its peak, split by part so that an error message shows where they go. */
export interface ForwardBytes {
  weights: number;
  /** The running x, the hiddens kept for the next omni layer, and one [batch, seq, dim] temporary. */
  hiddens: number;
  /** The largest block's temporaries: self-attention, feed-forward or omni attention. */
  block: number;
  total: number;
}

/**
 * Estimates the peak bytes of one forward on a CPU backend, following the order in which
 * forward.ts allocates and frees. Attention streams tiles of keys (wasm) or one query row (js), so
 * no seq × seq matrix appears. FAVOR+ stores query and key features of [batch, heads, seq·L, nbFeatures].
 * NOTE: the estimate leaves out kernel scratch of a few rows, packed weight copies and the allocator's
 * rounding (at most a quarter), so a forward just under the limit can still fail in the allocator.
 */
export function forwardBytes(config: OmninetConfig, batch: number, seq: number): ForwardBytes {
  const { dim, heads, dimHead, ffMult, depth } = config;
  const inner = heads * dimHead;
  const tokens = batch * seq;
  const maxPool = Math.max(1, ...config.omniPoolSizes);

  const parameterCount =
    depth * ((3 + 1 + 4) * inner * dim + 2 * ffMult * dim * dim + 4 * dim) + (config.nbFeatures ?? 0) * dimHead * depth;
  const weights = parameterCount * 4;

  const hiddens = (Math.max(1, maxPool - 1) + 2) * tokens * dim * 4;

  const selfAttention = tokens * (dim + 3 * inner + inner) * 4;
  const feedForward = tokens * (dim + ffMult * dim + dim) * 4;
  let omni = 0;
  if (config.omniLayers.length > 0) {
    const omniTokens = tokens * maxPool;
    const features = config.nbFeatures === null ? 0 : 2 * omniTokens * heads * config.nbFeatures;
    omni = omniTokens * (dim + 3 * inner + inner + dim) * 4 + features * 4;
  }
  const block = Math.max(selfAttention, feedForward, omni);

  return { weights, hiddens, block, total: weights + hiddens + block };
}

/**
 * Refuses a forward whose estimate passes the 4 GiB of wasm32 memory, before any of it is allocated.
 * @throws OmninetError `LIMIT_EXCEEDED` naming the estimate, its parts and the limit.
 */
export function checkWasmForward(config: OmninetConfig, batch: number, seq: number): void {
  const bytes = forwardBytes(config, batch, seq);
  if (bytes.total <= WASM_MEMORY_LIMIT_BYTES) return;
  const mib = (value: number) => `${Math.ceil(value / 2 ** 20)} MiB`;
  throw new OmninetError(
    'LIMIT_EXCEEDED',
    `a forward of batch ${batch} × seq ${seq} needs about ${mib(bytes.total)} (weights ${mib(bytes.weights)}, hiddens ${mib(bytes.hiddens)}, ` +
      `largest block ${mib(bytes.block)}), over the ${mib(WASM_MEMORY_LIMIT_BYTES)} limit of the wasm backend; split the batch or shorten the sequence`,
  );
}
