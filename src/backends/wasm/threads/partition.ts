// Partitions of the heavy kernels' work for the thread pool. Every split keeps the arithmetic of
// each output element as it is on one thread, so results do not depend on the thread count.

/** Minimum multiply-adds of a GEMM before it is split: below this, waking the workers costs more than it saves (an estimate). */
export const MIN_PARALLEL_MULTIPLY_ADDS = 1 << 20;

/** Rows of the GEMM's micro-tile (MR in assembly/gemm.ts): row splits at multiples of it keep every row in the same tile shape. */
const ROW_ALIGNMENT = 4;

/** A range [first, first + count) of rows or (batch, head) pairs. */
export interface Range {
  first: number;
  count: number;
}

/** Splits `total` items into at most `parts` contiguous ranges of near-equal size, each a multiple of `alignment` except the last. */
export function splitRange(total: number, parts: number, alignment = 1): Range[] {
  const units = Math.ceil(total / alignment);
  const used = Math.max(1, Math.min(parts, units));
  const ranges: Range[] = [];
  let first = 0;
  for (let part = 0; part < used; part++) {
    const end = Math.min(total, Math.round((units * (part + 1)) / used) * alignment);
    if (end > first) ranges.push({ first, count: end - first });
    first = end;
  }
  return ranges;
}

/** Splits GEMM rows at multiples of the micro-tile height. */
export function splitRows(rows: number, parts: number): Range[] {
  return splitRange(rows, parts, ROW_ALIGNMENT);
}
