// Shared by the kernel suites of every backend: seeded data, masks, the tolerance table, the
// comparison against the `js` oracle and the random shapes each op is tested on.

/** The ops of a full forward that every backend implements. */
export type ForwardOp = 'linear' | 'layerNorm' | 'gelu' | 'add' | 'attention' | 'favorFeatures' | 'linearAttention' | 'stackLayers' | 'maxPoolLayers';

export interface Tolerance {
  atol: number;
  rtol: number;
}

/** |backend − js| ≤ atol + rtol·|js|; the reasons are in the header of test/kernels.test.ts. */
export const TOLERANCES: Record<ForwardOp, Tolerance> = {
  linear: { atol: 1e-5, rtol: 1e-5 },
  layerNorm: { atol: 1e-5, rtol: 1e-5 },
  gelu: { atol: 1e-12, rtol: 5e-7 },
  add: { atol: 0, rtol: 0 },
  attention: { atol: 1e-5, rtol: 1e-5 },
  favorFeatures: { atol: 1e-7, rtol: 2e-5 },
  linearAttention: { atol: 1e-5, rtol: 1e-5 },
  stackLayers: { atol: 0, rtol: 0 },
  maxPoolLayers: { atol: 0, rtol: 0 },
};

/** Seeded xorshift32 generator, so that every failing case reproduces. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  /** Returns a uniform number in [0, 1). */
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 2 ** 32;
  }

  uniform(size: number, low = -1, high = 1): Float32Array {
    const values = new Float32Array(size);
    for (let i = 0; i < size; i++) values[i] = low + (high - low) * this.next();
    return values;
  }

  /** Returns normal samples (Box–Muller). */
  normal(size: number, mean = 0, std = 1): Float32Array {
    const values = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      const radius = Math.sqrt(-2 * Math.log(1 - this.next()));
      values[i] = mean + std * radius * Math.cos(2 * Math.PI * this.next());
    }
    return values;
  }
}

export type MaskKind = 'none' | 'mixed';

/**
 * Returns a mask [batch, seq], or null for 'none'. Rows cycle through three patterns: right
 * padding (the first 60% real), random holes, and no real token at all.
 */
export function makeMask(kind: MaskKind, batch: number, seq: number, random: Random): Uint8Array | null {
  if (kind === 'none') return null;
  const mask = new Uint8Array(batch * seq);
  for (let b = 0; b < batch; b++) {
    for (let s = 0; s < seq; s++) {
      let real: boolean;
      if (b % 3 === 0) real = s < Math.max(1, Math.ceil(seq * 0.6));
      else if (b % 3 === 1) real = random.next() > 0.3;
      else real = false;
      mask[b * seq + s] = real ? 1 : 0;
    }
  }
  return mask;
}

/** Writes NaN into the [offset, offset + width) slice of every masked token of a [batch, seq, rowWidth] array. */
export function poisonMasked(data: Float32Array, mask: Uint8Array | null, rowWidth: number, offset: number, width: number): void {
  if (!mask) return;
  for (let token = 0; token < mask.length; token++) {
    if (mask[token] === 0) data.fill(NaN, token * rowWidth + offset, token * rowWidth + offset + width);
  }
}

export interface ErrorStats {
  maxAbs: number;
  maxRel: number;
  maxToleranceUsed: number;
}

/**
 * Returns a description of the first value outside the tolerance, or undefined; NaN matches NaN.
 * Adds the errors it measures to `stats`.
 */
export function findMismatch(actual: Float32Array, expected: Float32Array, tolerance: Tolerance, stats: ErrorStats, backend: string): string | undefined {
  if (actual.length !== expected.length) return `length ${actual.length} ≠ ${expected.length}`;

  let first: string | undefined;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const b = expected[i];
    if (Number.isNaN(a) || Number.isNaN(b) || !Number.isFinite(b)) {
      if (!Object.is(a, b) && !(Number.isNaN(a) && Number.isNaN(b))) first ??= `index ${i}: ${backend} ${a}, js ${b}`;
      continue;
    }
    const error = Math.abs(a - b);
    const allowed = tolerance.atol + tolerance.rtol * Math.abs(b);
    stats.maxAbs = Math.max(stats.maxAbs, error);
    if (Math.abs(b) >= 1e-2) stats.maxRel = Math.max(stats.maxRel, error / Math.abs(b));
    if (allowed > 0) stats.maxToleranceUsed = Math.max(stats.maxToleranceUsed, error / allowed);
    if (!(error <= allowed)) first ??= `index ${i}: ${backend} ${a}, js ${b}, error ${error.toExponential(3)} > ${allowed.toExponential(3)}`;
  }
  return first;
}

/** Returns one line per op with the largest errors seen, for OMNINET_ACCURACY=1. */
export function accuracyReport(accuracy: ReadonlyMap<string, ErrorStats>): string[] {
  return [...accuracy].map(
    ([op, stats]) =>
      `${op.padEnd(16)} max abs ${stats.maxAbs.toExponential(2)}  max rel (|js| ≥ 1e-2) ${stats.maxRel.toExponential(2)}  tolerance used ${(100 * stats.maxToleranceUsed).toFixed(1)}%`,
  );
}

// Random shapes per op: 1, odd sizes and sizes that are not multiples of any tile or vector width.

export const LINEAR_CASES = [
  { rows: 1, inFeatures: 1, outFeatures: 1 },
  { rows: 5, inFeatures: 3, outFeatures: 7 },
  { rows: 6, inFeatures: 17, outFeatures: 33 },
  { rows: 13, inFeatures: 64, outFeatures: 20 },
];

export const LAYER_NORM_CASES = [
  { rows: 1, dim: 1 },
  { rows: 3, dim: 3 },
  { rows: 2, dim: 8 },
  { rows: 5, dim: 17 },
  { rows: 4, dim: 100 },
  { rows: 3, dim: 768 },
];

export interface AttentionCase {
  batch: number;
  seq: number;
  heads: number;
  dimHead: number;
  causal: boolean;
  mask: MaskKind;
  scale?: number;
}

export const ATTENTION_SHAPES = [
  { batch: 1, seq: 1, heads: 1, dimHead: 1 },
  { batch: 3, seq: 7, heads: 3, dimHead: 3 },
  { batch: 3, seq: 37, heads: 2, dimHead: 8 },
  { batch: 3, seq: 19, heads: 2, dimHead: 5 },
  { batch: 3, seq: 130, heads: 2, dimHead: 64 },
  { batch: 2, seq: 83, heads: 1, dimHead: 21 },
];

export interface FavorCase {
  batch: number;
  tokens: number;
  heads: number;
  dimHead: number;
  nbFeatures: number;
}

export const FAVOR_CASES: FavorCase[] = [
  { batch: 1, tokens: 1, heads: 1, dimHead: 1, nbFeatures: 1 },
  { batch: 3, tokens: 9, heads: 3, dimHead: 3, nbFeatures: 7 },
  { batch: 3, tokens: 17, heads: 2, dimHead: 8, nbFeatures: 33 },
  { batch: 3, tokens: 21, heads: 2, dimHead: 64, nbFeatures: 267 },
];

export interface LinearAttentionCase {
  batch: number;
  tokens: number;
  heads: number;
  dimHead: number;
  nbFeatures: number;
  mask: MaskKind;
}

export const LINEAR_ATTENTION_SHAPES = [
  { batch: 1, tokens: 1, heads: 1, dimHead: 1, nbFeatures: 1 },
  { batch: 3, tokens: 5, heads: 2, dimHead: 3, nbFeatures: 7 },
  { batch: 3, tokens: 67, heads: 2, dimHead: 8, nbFeatures: 33 },
  { batch: 3, tokens: 130, heads: 2, dimHead: 64, nbFeatures: 65 },
  { batch: 2, tokens: 45, heads: 3, dimHead: 13, nbFeatures: 2 },
];

export const LAYER_SHAPES = [
  { batch: 1, seq: 1, dim: 1, layers: 1 },
  { batch: 2, seq: 5, dim: 7, layers: 3 },
  { batch: 3, seq: 4, dim: 16, layers: 2 },
  { batch: 1, seq: 9, dim: 33, layers: 5 },
];
