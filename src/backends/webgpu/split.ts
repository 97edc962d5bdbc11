import { OmninetError } from '../../errors.js';

/**
 * A box of a kernel's index space, such as [batch, heads, tokens]: one dispatch covers one box.
 * Kernels that fit the device limits run as a single box covering everything.
 */
export interface Box {
  start: number[];
  size: number[];
}

/** The elements [first, end) of a buffer that a box reads or writes. */
export interface ElementRange {
  buffer: GPUBuffer;
  first: number;
  end: number;
}

/** A storage binding that covers an element range, plus `base`, the element the binding starts at. */
export interface BoundWindow {
  buffer: GPUBuffer;
  offset: number;
  size: number;
  base: number;
}

/**
 * Returns the binding of an element range: its offset rounded down to the storage-offset
 * alignment, so `base` may be below `first`. Kernels index `buffer[i - base]` for element i.
 */
export function bindRange(range: ElementRange, alignment: number): BoundWindow {
  const alignedOffset = Math.floor((range.first * 4) / alignment) * alignment;
  const end = Math.max(range.end, range.first + 1);
  return { buffer: range.buffer, offset: alignedOffset, size: end * 4 - alignedOffset, base: alignedOffset / 4 };
}

/**
 * Splits `whole` into boxes whose cost is at most 1, where the cost of a box is its largest
 * binding or grid size over the device's limit. Each step halves the axis that lowers the cost
 * most (the earlier axis on a tie), and the boxes come out in the order of the axes. Raises
 * LIMIT_EXCEEDED when a box of one index still costs more than 1.
 */
export function splitBox(whole: Box, cost: (box: Box) => number, what: string): Box[] {
  if (whole.size.some((extent) => extent === 0)) return [];
  if (cost(whole) <= 1) return [whole];

  let best: { head: Box; tail: Box; cost: number } | null = null;
  whole.size.forEach((extent, axis) => {
    if (extent < 2) return;
    const firstHalf = Math.ceil(extent / 2);
    const head: Box = { start: [...whole.start], size: [...whole.size] };
    const tail: Box = { start: [...whole.start], size: [...whole.size] };
    head.size[axis] = firstHalf;
    tail.start[axis] += firstHalf;
    tail.size[axis] -= firstHalf;
    const headCost = cost(head);
    if (!best || headCost < best.cost) best = { head, tail, cost: headCost };
  });
  if (!best) {
    throw new OmninetError('LIMIT_EXCEEDED', `${what}: one element of the index space [${whole.start.join(', ')}] needs more than the device's storage-binding or dispatch limits allow`);
  }
  const { head, tail } = best as { head: Box; tail: Box };
  return [...splitBox(head, cost, what), ...splitBox(tail, cost, what)];
}

/** Returns the box [0, dims) of an index space. */
export function wholeBox(dims: readonly number[]): Box {
  return { start: dims.map(() => 0), size: [...dims] };
}

/** Returns the product of a box's extents. */
export function boxVolume(box: Box): number {
  return box.size.reduce((product, extent) => product * extent, 1);
}
