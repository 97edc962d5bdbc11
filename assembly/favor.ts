// FAVOR+ positive random features (performer-pytorch `softmax_kernel`), from the projections
// u = x·Wᵀ that the GEMM computed beforehand.

import { exp4, expScalar } from './math';

const FAVOR_EPS: f32 = 1e-4;

/**
 * features [batch, heads, tokens, nbFeatures] from x [batch, tokens, heads·dimHead] and
 * u [batch, tokens, heads, nbFeatures] = x·Wᵀ (x not yet scaled). With x' = x·dimHead^-0.25:
 *   φ = nbFeatures^-0.5 · (exp(x'·Wᵀ − |x'|²/2 − stabiliser) + 1e-4)
 * where the stabiliser is the max over features of the token for queries (isKey = false), and the
 * max over every real token and feature of the (batch, head) for keys. Masked keys get exactly 0.
 * mask [batch, tokens] bytes (0 = padding), or 0 for none.
 */
export function favorFeatures(
  u: usize,
  x: usize,
  mask: usize,
  features: usize,
  batch: i32,
  tokens: i32,
  heads: i32,
  dimHead: i32,
  nbFeatures: i32,
  isKey: bool,
): void {
  favorFeaturesHeads(u, x, mask, features, batch, tokens, heads, dimHead, nbFeatures, isKey, 0, batch * heads);
}

/**
 * `favorFeatures` restricted to the (batch, head) pairs first … first + count − 1, numbered
 * b·heads + h. Each pair writes only its own rows of features, so threads sharing the memory may
 * run disjoint ranges at once.
 */
export function favorFeaturesHeads(
  u: usize,
  x: usize,
  mask: usize,
  features: usize,
  batch: i32,
  tokens: i32,
  heads: i32,
  dimHead: i32,
  nbFeatures: i32,
  isKey: bool,
  first: i32,
  count: i32,
): void {
  const normalizer = <f32>Math.pow(<f64>dimHead, -0.25);
  const ratio = <f32>Math.pow(<f64>nbFeatures, -0.5);
  const inner = heads * dimHead;

  for (let pair = first; pair < first + count; pair++) {
    const b = pair / heads;
    const h = pair % heads;
    let keyMax: f32 = -Infinity;
    if (isKey) {
      for (let t = 0; t < tokens; t++) {
        if (mask != 0 && load<u8>(mask + <usize>(b * tokens + t)) == 0) continue;
        keyMax = max<f32>(keyMax, rowMax(u + (<usize>(((b * tokens + t) * heads + h) * nbFeatures) << 2), nbFeatures));
      }
      keyMax *= normalizer;
    }

    for (let t = 0; t < tokens; t++) {
      const target = features + (<usize>(((b * heads + h) * tokens + t) * nbFeatures) << 2);
      if (isKey && mask != 0 && load<u8>(mask + <usize>(b * tokens + t)) == 0) {
        memory.fill(target, 0, <usize>nbFeatures << 2);
        continue;
      }

      // |x'|²/2, accumulated in float64: it shifts every exponent of the token.
      const xRow = x + (<usize>((b * tokens + t) * inner + h * dimHead) << 2);
      const squares = sumOfSquares(xRow, dimHead);
      const halfNorm = <f32>(squares * <f64>normalizer * <f64>normalizer * 0.5);

      const uRow = u + (<usize>(((b * tokens + t) * heads + h) * nbFeatures) << 2);
      const stabiliser = isKey ? keyMax : rowMax(uRow, nbFeatures) * normalizer;
      writeFeatures(uRow, target, nbFeatures, normalizer, stabiliser, halfNorm, ratio);
    }
  }
}

/** Returns Σ x[d]² over `size` floats from `row`, accumulated in float64 (two lanes per half vector). */
function sumOfSquares(row: usize, size: i32): f64 {
  let low = f64x2.splat(0);
  let high = f64x2.splat(0);
  let d = 0;
  for (; d + 4 <= size; d += 4) {
    const values = v128.load(row + (<usize>d << 2));
    const a = f64x2.promote_low_f32x4(values);
    const b = f64x2.promote_low_f32x4(f32x4.shuffle(values, values, 2, 3, 0, 1));
    low = f64x2.add(low, f64x2.mul(a, a));
    high = f64x2.add(high, f64x2.mul(b, b));
  }
  const sums = f64x2.add(low, high);
  let squares = f64x2.extract_lane(sums, 0) + f64x2.extract_lane(sums, 1);
  for (; d < size; d++) {
    const value = <f64>load<f32>(row + (<usize>d << 2));
    squares += value * value;
  }
  return squares;
}

/** Returns the max of `size` floats from `row`, or NaN when one of them is NaN. */
function rowMax(row: usize, size: i32): f32 {
  // pmax is one maxps on x64; it skips NaN lanes, which `unordered` records instead.
  let best = f32x4.splat(-Infinity);
  let unordered = i32x4.splat(0);
  let j = 0;
  for (; j + 4 <= size; j += 4) {
    const values = v128.load(row + (<usize>j << 2));
    best = f32x4.pmax(best, values);
    unordered = v128.or(unordered, f32x4.ne(values, values));
  }
  if (v128.any_true(unordered)) return NaN;
  let result = max<f32>(max<f32>(f32x4.extract_lane(best, 0), f32x4.extract_lane(best, 1)), max<f32>(f32x4.extract_lane(best, 2), f32x4.extract_lane(best, 3)));
  for (; j < size; j++) result = max<f32>(result, load<f32>(row + (<usize>j << 2)));
  return result;
}

/** target[j] = ratio·(exp((normalizer·u[j] − stabiliser) − halfNorm) + 1e-4) for j < nbFeatures. */
function writeFeatures(uRow: usize, target: usize, nbFeatures: i32, normalizer: f32, stabiliser: f32, halfNorm: f32, ratio: f32): void {
  const scale = f32x4.splat(normalizer);
  const shift = f32x4.splat(stabiliser);
  const norm = f32x4.splat(halfNorm);
  const eps = f32x4.splat(FAVOR_EPS);
  const ratioLanes = f32x4.splat(ratio);
  let j = 0;
  for (; j + 4 <= nbFeatures; j += 4) {
    const offset = <usize>j << 2;
    const exponent = f32x4.sub(f32x4.sub(f32x4.mul(v128.load(uRow + offset), scale), shift), norm);
    v128.store(target + offset, f32x4.mul(ratioLanes, f32x4.add(exp4(exponent), eps)));
  }
  for (; j < nbFeatures; j++) {
    const offset = <usize>j << 2;
    const exponent = (load<f32>(uRow + offset) * normalizer - stabiliser) - halfNorm;
    store<f32>(target + offset, ratio * (expScalar(exponent) + FAVOR_EPS));
  }
}
