import type { WasmBackend } from './backend.js';
import { MIN_PARALLEL_MULTIPLY_ADDS, splitRange, splitRows } from './threads/partition.js';

/**
 * y [rows, outFeatures] = x · Wᵀ + bias (then GELU with `gelu`), with the rows split across the
 * backend's threads when the GEMM is large enough. Each thread writes its own rows of y.
 */
export function parallelLinear(wasm: WasmBackend, gelu: boolean, x: number, packed: number, bias: number, y: number, rows: number, outFeatures: number, inFeatures: number): void {
  const kernel = gelu ? 'linearGeluForward' : 'linearForward';
  const pool = wasm.pool;
  if (pool === null || rows * outFeatures * inFeatures < MIN_PARALLEL_MULTIPLY_ADDS) {
    wasm.kernels[kernel](x, packed, bias, y, rows, outFeatures, inFeatures);
    return;
  }

  const parts = splitRows(rows, pool.threads).map(({ first, count }) => [x + first * inFeatures * 4, packed, bias, y + first * outFeatures * 4, count, outFeatures, inFeatures]);
  pool.run(kernel, parts);
}

/**
 * Runs a per-(batch, head) kernel (`attentionHeads`, `favorFeaturesHeads`, `linearAttentionHeads`)
 * on `pairs` = batch·heads pairs, split across the backend's threads. `argsFor` returns the
 * arguments for one thread's range; `scratchBytes` > 0 gives each thread its own scratch block,
 * which argsFor receives.
 */
export function parallelHeads(
  wasm: WasmBackend,
  kernel: 'attentionHeads' | 'favorFeaturesHeads' | 'linearAttentionHeads',
  pairs: number,
  scratchBytes: number,
  argsFor: (first: number, count: number, scratch: number) => number[],
): void {
  const ranges = splitRange(pairs, wasm.pool?.threads ?? 1);
  if (ranges.length === 0) return;
  const scratch = scratchBytes > 0 ? ranges.map(() => wasm.allocate(scratchBytes)) : [];
  try {
    const parts = ranges.map(({ first, count }, part) => argsFor(first, count, scratch[part] ?? 0));
    if (wasm.pool === null || parts.length === 1) (wasm.kernels[kernel] as (...args: number[]) => void)(...parts[0]);
    else wasm.pool.run(kernel, parts);
  } finally {
    for (const block of scratch) wasm.release(block);
  }
}
