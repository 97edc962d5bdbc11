// Causal linear attention with causal FAVOR+ keys, as a chunked scan per (batch, head): inside a
// chunk of TOKEN_BLOCK tokens a masked quadratic form, between chunks a carried state
// S = Σ_s ψ_s v_sᵀ [nbFeatures, dimHead] and z = Σ_s ψ_s over the real keys so far.
//
// Stabilisers. With e_s = k_s'·Wᵀ − |k_s'|²/2 (k' = k·dimHead^-0.25) and ψ_s = exp(e_s), the state
// is kept relative to M, the max of e over the keys folded into it, and P_s is the running max up
// to and including key s. A chunk key is stored as ψ̃_s = exp(e_s − P_s), and query t uses P_t:
//   weight of chunk key s ≤ t:   (φ_t·ψ̃_s)·exp(P_s − P_t)
//   weight of the state:         exp(M − P_t)·(φ_t·S) and exp(M − P_t)·(φ_t·z)
// Every exponent is at most 0, so nothing overflows. A value that underflows is negligible: the
// key that set the max it is measured against is visible to the same query, and its weight is at
// least min_j φ_tj. Whenever the running max grows past M, S and z are rescaled by exp(M_old − M_new).

import { accumulateBlock, TOKEN_BLOCK } from './linear-attention';
import { exp4, sumLanes } from './math';

// @ts-ignore: decorator
@inline function padTo(n: i32, multiple: i32): i32 {
  return (n + multiple - 1) / multiple * multiple;
}

// Scratch layout, all offsets multiples of 16 bytes, with featPad = nbFeatures rounded up to 4
// and dimPad = dimHead rounded up to 8 (padding lanes stay 0):
//   contextTotal [featPad, dimPad] f64   S of the state, relative to its max M
//   keySumTotal  [featPad] f64           z of the state
//   context      [featPad, dimPad] f32   S rounded for the output pass
//   keySum       [featPad] f32           z rounded for the output pass
//   keysT        [featPad, TOKEN_BLOCK]  ψ̃ of the real keys of one chunk, transposed
//   valueBlock   [TOKEN_BLOCK, dimPad]   v of the same keys
//   keyIndex     [TOKEN_BLOCK] i32       token index of each of those keys
//   keyMax       [TOKEN_BLOCK] f32       P of each of those keys; −∞ in the padding lanes
//   weights      [TOKEN_BLOCK] f32       weights of the chunk keys for one query
//   acc          [4, dimPad] f32         numerators of four queries
//   denominators [4] f32
//   lanes        [8] f32                 staging for partial output rows

/** Returns the scratch bytes `causalLinearAttention` needs. */
export function causalLinearAttentionScratchBytes(nbFeatures: i32, dimHead: i32): i32 {
  const featPad = padTo(nbFeatures, 4);
  const dimPad = padTo(dimHead, 8);
  const doubles = featPad * dimPad + featPad;
  const floats = featPad * dimPad + featPad + featPad * TOKEN_BLOCK + TOKEN_BLOCK * dimPad + 3 * TOKEN_BLOCK + 4 * dimPad + 4 + 8;
  return (doubles << 3) + (floats << 2);
}

/**
 * Runs the scan over tokens [batch, tokens] for every (batch, head) and writes the outputs, the
 * final state, or both:
 *   queryFeatures φ [batch, heads, tokens, nbFeatures] (read only when out ≠ 0)
 *   u [batch, tokens, heads, nbFeatures] = k·Wᵀ with k not yet scaled (the GEMM's output)
 *   k, v [batch, tokens, heads·dimHead]
 *   mask [batch, tokens] bytes, 0 = padding, or 0 for none; masked keys are never read
 *   stateIn, stateOut [batch, heads, nbFeatures·(dimHead + 1) + 1] (see causalLinearAttentionState
 *     in src/kernels/ops.ts), or 0 for none
 *   out [batch, tokens, heads·dimHead], or 0 for none
 */
export function causalLinearAttention(
  queryFeatures: usize,
  u: usize,
  k: usize,
  v: usize,
  mask: usize,
  stateIn: usize,
  out: usize,
  stateOut: usize,
  scratch: usize,
  batch: i32,
  tokens: i32,
  heads: i32,
  dimHead: i32,
  nbFeatures: i32,
): void {
  const featPad = padTo(nbFeatures, 4);
  const dimPad = padTo(dimHead, 8);
  const contextTotal = scratch;
  const keySumTotal = contextTotal + (<usize>(featPad * dimPad) << 3);
  const context = keySumTotal + (<usize>featPad << 3);
  const keySum = context + (<usize>(featPad * dimPad) << 2);
  const keysT = keySum + (<usize>featPad << 2);
  const valueBlock = keysT + (<usize>(featPad * TOKEN_BLOCK) << 2);
  const keyIndex = valueBlock + (<usize>(TOKEN_BLOCK * dimPad) << 2);
  const keyMax = keyIndex + (<usize>TOKEN_BLOCK << 2);
  const weights = keyMax + (<usize>TOKEN_BLOCK << 2);
  const acc = weights + (<usize>TOKEN_BLOCK << 2);
  const denominators = acc + (<usize>(4 * dimPad) << 2);
  const lanes = denominators + 16;

  const normalizer = <f32>Math.pow(<f64>dimHead, -0.25);
  const stateSize = nbFeatures * (dimHead + 1) + 1;

  // Feature rows past nbFeatures stay 0 for the whole call.
  memory.fill(keysT, 0, <usize>(featPad * TOKEN_BLOCK) << 2);

  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const headState = <usize>((b * heads + h) * stateSize) << 2;
      let stateMax = loadState(stateIn == 0 ? 0 : stateIn + headState, contextTotal, keySumTotal, featPad, dimPad, dimHead, nbFeatures);
      if (out != 0) roundState(contextTotal, keySumTotal, context, keySum, featPad, dimPad);

      for (let s0 = 0; s0 < tokens; s0 += TOKEN_BLOCK) {
        const blockSize = min<i32>(TOKEN_BLOCK, tokens - s0);
        const count = gatherKeys(u, k, v, mask, keysT, valueBlock, keyIndex, keyMax, stateMax, normalizer, b, h, tokens, heads, dimHead, nbFeatures, s0, blockSize);

        if (out != 0) {
          const headFeatures = queryFeatures + (<usize>((b * heads + h) * tokens * nbFeatures) << 2);
          const headOut = out + (<usize>(b * tokens * heads * dimHead + h * dimHead) << 2);
          let visible = 0;
          for (let t = s0; t < s0 + blockSize; t += 4) {
            visible = writeOutputs(
              headFeatures, headOut, context, keySum, keysT, valueBlock, keyIndex, keyMax, weights, acc, denominators, lanes,
              stateMax, visible, count, t, min<i32>(4, s0 + blockSize - t), heads * dimHead, dimHead, dimPad, nbFeatures,
            );
          }
        }

        if (count > 0) {
          const chunkMax = load<f32>(keyMax + (<usize>(count - 1) << 2));
          foldChunk(keysT, valueBlock, keyMax, contextTotal, keySumTotal, stateMax, chunkMax, featPad, dimPad, count);
          stateMax = chunkMax;
          if (out != 0 && s0 + TOKEN_BLOCK < tokens) roundState(contextTotal, keySumTotal, context, keySum, featPad, dimPad);
        }
      }

      if (stateOut != 0) storeState(stateOut + headState, contextTotal, keySumTotal, stateMax, dimPad, dimHead, nbFeatures);
    }
  }
}

/** Loads one (batch, head) of a state into the float64 sums and returns its max; state 0 gives empty sums and −∞. */
function loadState(state: usize, contextTotal: usize, keySumTotal: usize, featPad: i32, dimPad: i32, dimHead: i32, nbFeatures: i32): f32 {
  memory.fill(contextTotal, 0, <usize>(featPad * dimPad + featPad) << 3);
  if (state == 0) return -Infinity;
  for (let j = 0; j < nbFeatures; j++) {
    const row = state + (<usize>(j * (dimHead + 1)) << 2);
    const target = contextTotal + (<usize>(j * dimPad) << 3);
    for (let d = 0; d < dimHead; d++) store<f64>(target + (<usize>d << 3), <f64>load<f32>(row + (<usize>d << 2)));
    store<f64>(keySumTotal + (<usize>j << 3), <f64>load<f32>(row + (<usize>dimHead << 2)));
  }
  return load<f32>(state + (<usize>(nbFeatures * (dimHead + 1)) << 2));
}

/** Stores the float64 sums and the max as one (batch, head) of a state, in float32. */
function storeState(state: usize, contextTotal: usize, keySumTotal: usize, stateMax: f32, dimPad: i32, dimHead: i32, nbFeatures: i32): void {
  for (let j = 0; j < nbFeatures; j++) {
    const row = state + (<usize>(j * (dimHead + 1)) << 2);
    const source = contextTotal + (<usize>(j * dimPad) << 3);
    for (let d = 0; d < dimHead; d++) store<f32>(row + (<usize>d << 2), <f32>load<f64>(source + (<usize>d << 3)));
    store<f32>(row + (<usize>dimHead << 2), <f32>load<f64>(keySumTotal + (<usize>j << 3)));
  }
  store<f32>(state + (<usize>(nbFeatures * (dimHead + 1)) << 2), stateMax);
}

/** context, keySum = the float64 sums rounded to float32, for the output pass. */
function roundState(contextTotal: usize, keySumTotal: usize, context: usize, keySum: usize, featPad: i32, dimPad: i32): void {
  for (let i = 0; i < featPad * dimPad; i++) {
    store<f32>(context + (<usize>i << 2), <f32>load<f64>(contextTotal + (<usize>i << 3)));
  }
  for (let j = 0; j < featPad; j++) {
    store<f32>(keySum + (<usize>j << 2), <f32>load<f64>(keySumTotal + (<usize>j << 3)));
  }
}

/**
 * Gathers the real keys among tokens [s0, s0 + blockSize): ψ̃ = exp(e − P) into keysT
 * (transposed), v into valueBlock, the token index into keyIndex and the running max P, which
 * starts from stateMax, into keyMax. Returns how many there are; keysT columns and keyMax lanes
 * from that count up to the next multiple of 4 get 0 and −∞.
 */
function gatherKeys(
  u: usize,
  k: usize,
  v: usize,
  mask: usize,
  keysT: usize,
  valueBlock: usize,
  keyIndex: usize,
  keyMax: usize,
  stateMax: f32,
  normalizer: f32,
  b: i32,
  h: i32,
  tokens: i32,
  heads: i32,
  dimHead: i32,
  nbFeatures: i32,
  s0: i32,
  blockSize: i32,
): i32 {
  const dimPad = padTo(dimHead, 8);
  const inner = heads * dimHead;
  const keyRowBytes = <usize>TOKEN_BLOCK << 2;
  let runningMax = stateMax;
  let count = 0;
  for (let i = 0; i < blockSize; i++) {
    const s = s0 + i;
    if (mask != 0 && load<u8>(mask + <usize>(b * tokens + s)) == 0) continue;

    // |k'|²/2 in float64, as favorFeatures computes it.
    const kRow = k + (<usize>((b * tokens + s) * inner + h * dimHead) << 2);
    let squares: f64 = 0;
    for (let d = 0; d < dimHead; d++) {
      const value = <f64>load<f32>(kRow + (<usize>d << 2));
      squares += value * value;
    }
    const halfNorm = <f32>(squares * <f64>normalizer * <f64>normalizer * 0.5);

    // e_j = u_j·normalizer − halfNorm rounds monotonically in u_j, so the max of e is e of the max u.
    const uRow = u + (<usize>(((b * tokens + s) * heads + h) * nbFeatures) << 2);
    runningMax = max<f32>(runningMax, rowMax(uRow, nbFeatures) * normalizer - halfNorm);

    const scale = f32x4.splat(normalizer);
    const shift = f32x4.splat(halfNorm);
    const stabiliser = f32x4.splat(runningMax);
    const column = keysT + (<usize>count << 2);
    let j = 0;
    for (; j + 4 <= nbFeatures; j += 4) {
      const exponent = f32x4.sub(f32x4.sub(f32x4.mul(v128.load(uRow + (<usize>j << 2)), scale), shift), stabiliser);
      const psi = exp4(exponent);
      const target = column + <usize>j * keyRowBytes;
      store<f32>(target, f32x4.extract_lane(psi, 0));
      store<f32>(target + keyRowBytes, f32x4.extract_lane(psi, 1));
      store<f32>(target + 2 * keyRowBytes, f32x4.extract_lane(psi, 2));
      store<f32>(target + 3 * keyRowBytes, f32x4.extract_lane(psi, 3));
    }
    for (; j < nbFeatures; j++) {
      const exponent = f32x4.splat((load<f32>(uRow + (<usize>j << 2)) * normalizer - halfNorm) - runningMax);
      store<f32>(column + <usize>j * keyRowBytes, f32x4.extract_lane(exp4(exponent), 0));
    }

    const valueRow = valueBlock + (<usize>(count * dimPad) << 2);
    memory.copy(valueRow, v + (<usize>((b * tokens + s) * inner + h * dimHead) << 2), <usize>dimHead << 2);
    for (let d = dimHead; d < dimPad; d++) store<f32>(valueRow + (<usize>d << 2), 0);
    store<i32>(keyIndex + (<usize>count << 2), s);
    store<f32>(keyMax + (<usize>count << 2), runningMax);
    count++;
  }

  for (let c = count; c < padTo(count, 4); c++) {
    for (let j = 0; j < nbFeatures; j++) store<f32>(keysT + <usize>j * keyRowBytes + (<usize>c << 2), 0);
    store<f32>(keyMax + (<usize>c << 2), -Infinity);
  }
  return count;
}

/** Returns the max of `size` floats from `row`. */
function rowMax(row: usize, size: i32): f32 {
  let best = f32x4.splat(-Infinity);
  let j = 0;
  for (; j + 4 <= size; j += 4) best = f32x4.max(best, v128.load(row + (<usize>j << 2)));
  let result = max<f32>(max<f32>(f32x4.extract_lane(best, 0), f32x4.extract_lane(best, 1)), max<f32>(f32x4.extract_lane(best, 2), f32x4.extract_lane(best, 3)));
  for (; j < size; j++) result = max<f32>(result, load<f32>(row + (<usize>j << 2)));
  return result;
}

/**
 * Folds the chunk's keys into the state: rescales the sums from stateMax to chunkMax, scales key
 * column c of keysT by exp(P_c − chunkMax), and adds keysTᵀ·valueBlock and the key sums.
 */
function foldChunk(
  keysT: usize,
  valueBlock: usize,
  keyMax: usize,
  contextTotal: usize,
  keySumTotal: usize,
  stateMax: f32,
  chunkMax: f32,
  featPad: i32,
  dimPad: i32,
  count: i32,
): void {
  if (stateMax != -Infinity && chunkMax > stateMax) {
    // Once per chunk at most, so the factor is worth a float64 exp.
    const factor = Math.exp(<f64>stateMax - <f64>chunkMax);
    const scale = f64x2.splat(factor);
    for (let i = 0; i < featPad * dimPad; i += 2) {
      const target = contextTotal + (<usize>i << 3);
      v128.store(target, f64x2.mul(v128.load(target), scale));
    }
    for (let j = 0; j < featPad; j++) {
      const target = keySumTotal + (<usize>j << 3);
      store<f64>(target, load<f64>(target) * factor);
    }
  }

  const keyRowBytes = <usize>TOKEN_BLOCK << 2;
  const shift = f32x4.splat(chunkMax);
  for (let c = 0; c < padTo(count, 4); c += 4) {
    const scale = exp4(f32x4.sub(v128.load(keyMax + (<usize>c << 2)), shift));
    let column = keysT + (<usize>c << 2);
    for (let j = 0; j < featPad; j++) {
      v128.store(column, f32x4.mul(v128.load(column), scale));
      column += keyRowBytes;
    }
  }

  accumulateBlock(keysT, valueBlock, contextTotal, keySumTotal, featPad, dimPad, count);
}

/**
 * Writes the outputs of tokens t … t + queryCount − 1 (queryCount ≤ 4) of one head. Returns how
 * many chunk keys are visible to the last of them; `visible` is that count for token t − 1, and the
 * keys are sorted by token index.
 */
function writeOutputs(
  headFeatures: usize,
  headOut: usize,
  context: usize,
  keySum: usize,
  keysT: usize,
  valueBlock: usize,
  keyIndex: usize,
  keyMax: usize,
  weights: usize,
  acc: usize,
  denominators: usize,
  lanes: usize,
  stateMax: f32,
  visible: i32,
  count: i32,
  t: i32,
  queryCount: i32,
  inner: i32,
  dimHead: i32,
  dimPad: i32,
  nbFeatures: i32,
): i32 {
  const rowBytes = <usize>nbFeatures << 2;
  const hasState = stateMax != -Infinity;
  if (hasState) {
    stateProducts(headFeatures, context, keySum, acc, denominators, t, queryCount, dimPad, nbFeatures);
  } else {
    memory.fill(acc, 0, <usize>(4 * dimPad) << 2);
    memory.fill(denominators, 0, 16);
  }

  for (let i = 0; i < queryCount; i++) {
    const query = t + i;
    while (visible < count && load<i32>(keyIndex + (<usize>visible << 2)) <= query) visible++;
    const queryMax = visible > 0 ? load<f32>(keyMax + (<usize>(visible - 1) << 2)) : stateMax;

    const accRow = acc + (<usize>(i * dimPad) << 2);
    let denominator: f32 = 0;
    if (hasState) {
      // The state's sums are relative to stateMax ≤ queryMax.
      const factor = f32x4.extract_lane(exp4(f32x4.splat(stateMax - queryMax)), 0);
      const lanesFactor = f32x4.splat(factor);
      for (let d = 0; d < dimPad; d += 4) {
        const offset = <usize>d << 2;
        v128.store(accRow + offset, f32x4.mul(v128.load(accRow + offset), lanesFactor));
      }
      denominator = load<f32>(denominators + (<usize>i << 2)) * factor;
    }
    if (visible > 0) {
      denominator += chunkProducts(headFeatures + <usize>query * rowBytes, keysT, valueBlock, keyMax, weights, accRow, queryMax, visible, dimPad, nbFeatures);
    }

    storeOutputRow(headOut + (<usize>(query * inner) << 2), accRow, lanes, denominator, dimHead);
  }
  return visible;
}

/**
 * acc[i] = φ_{t+i}·S and denominators[i] = φ_{t+i}·z for i < queryCount, from the float32 copy of
 * the state. Four tokens share each loaded row of S. When queryCount < 4, the last token is repeated
 * in place of the missing ones.
 */
function stateProducts(headFeatures: usize, context: usize, keySum: usize, acc: usize, denominators: usize, t: i32, queryCount: i32, dimPad: i32, nbFeatures: i32): void {
  const rowBytes = <usize>nbFeatures << 2;
  const phi0 = headFeatures + <usize>t * rowBytes;
  const phi1 = headFeatures + <usize>(t + min<i32>(1, queryCount - 1)) * rowBytes;
  const phi2 = headFeatures + <usize>(t + min<i32>(2, queryCount - 1)) * rowBytes;
  const phi3 = headFeatures + <usize>(t + min<i32>(3, queryCount - 1)) * rowBytes;
  store<f32>(denominators, dot(phi0, keySum, nbFeatures));
  store<f32>(denominators, dot(phi1, keySum, nbFeatures), 4);
  store<f32>(denominators, dot(phi2, keySum, nbFeatures), 8);
  store<f32>(denominators, dot(phi3, keySum, nbFeatures), 12);

  const contextRowBytes = <usize>dimPad << 2;
  const accRowBytes = <usize>dimPad << 2;
  for (let d = 0; d < dimPad; d += 8) {
    let a00 = f32x4.splat(0);
    let a01 = f32x4.splat(0);
    let a10 = f32x4.splat(0);
    let a11 = f32x4.splat(0);
    let a20 = f32x4.splat(0);
    let a21 = f32x4.splat(0);
    let a30 = f32x4.splat(0);
    let a31 = f32x4.splat(0);
    let row = context + (<usize>d << 2);
    for (let j = 0; j < nbFeatures; j++) {
      const offset = <usize>j << 2;
      const c0 = v128.load(row);
      const c1 = v128.load(row, 16);
      const p0 = f32x4.splat(load<f32>(phi0 + offset));
      const p1 = f32x4.splat(load<f32>(phi1 + offset));
      const p2 = f32x4.splat(load<f32>(phi2 + offset));
      const p3 = f32x4.splat(load<f32>(phi3 + offset));
      a00 = f32x4.add(a00, f32x4.mul(p0, c0));
      a01 = f32x4.add(a01, f32x4.mul(p0, c1));
      a10 = f32x4.add(a10, f32x4.mul(p1, c0));
      a11 = f32x4.add(a11, f32x4.mul(p1, c1));
      a20 = f32x4.add(a20, f32x4.mul(p2, c0));
      a21 = f32x4.add(a21, f32x4.mul(p2, c1));
      a30 = f32x4.add(a30, f32x4.mul(p3, c0));
      a31 = f32x4.add(a31, f32x4.mul(p3, c1));
      row += contextRowBytes;
    }
    const target = acc + (<usize>d << 2);
    v128.store(target, a00);
    v128.store(target, a01, 16);
    v128.store(target + accRowBytes, a10);
    v128.store(target + accRowBytes, a11, 16);
    v128.store(target + 2 * accRowBytes, a20);
    v128.store(target + 2 * accRowBytes, a21, 16);
    v128.store(target + 3 * accRowBytes, a30);
    v128.store(target + 3 * accRowBytes, a31, 16);
  }
}

/**
 * Adds Σ_c w_c·v_c to accRow over the first `visible` chunk keys, with w_c = (φ·ψ̃_c)·exp(P_c − queryMax),
 * and returns Σ_c w_c.
 */
function chunkProducts(
  phi: usize,
  keysT: usize,
  valueBlock: usize,
  keyMax: usize,
  weights: usize,
  accRow: usize,
  queryMax: f32,
  visible: i32,
  dimPad: i32,
  nbFeatures: i32,
): f32 {
  const keyRowBytes = <usize>TOKEN_BLOCK << 2;
  const paddedVisible = padTo(visible, 4);

  // φ·ψ̃_c for four keys per vector, sixteen while they last.
  let c = 0;
  for (; c + 16 <= visible; c += 16) {
    let s0 = f32x4.splat(0);
    let s1 = f32x4.splat(0);
    let s2 = f32x4.splat(0);
    let s3 = f32x4.splat(0);
    let keys = keysT + (<usize>c << 2);
    for (let j = 0; j < nbFeatures; j++) {
      const p = f32x4.splat(load<f32>(phi + (<usize>j << 2)));
      s0 = f32x4.add(s0, f32x4.mul(p, v128.load(keys)));
      s1 = f32x4.add(s1, f32x4.mul(p, v128.load(keys, 16)));
      s2 = f32x4.add(s2, f32x4.mul(p, v128.load(keys, 32)));
      s3 = f32x4.add(s3, f32x4.mul(p, v128.load(keys, 48)));
      keys += keyRowBytes;
    }
    const target = weights + (<usize>c << 2);
    v128.store(target, s0);
    v128.store(target, s1, 16);
    v128.store(target, s2, 32);
    v128.store(target, s3, 48);
  }
  for (; c < visible; c += 4) {
    let s = f32x4.splat(0);
    let keys = keysT + (<usize>c << 2);
    for (let j = 0; j < nbFeatures; j++) {
      s = f32x4.add(s, f32x4.mul(f32x4.splat(load<f32>(phi + (<usize>j << 2))), v128.load(keys)));
      keys += keyRowBytes;
    }
    v128.store(weights + (<usize>c << 2), s);
  }

  // Weights relative to queryMax; keys after the query (lanes ≥ visible) may have exp(P_c − queryMax) = ∞, so they are set to 0.
  const shift = f32x4.splat(queryMax);
  let sum = f32x4.splat(0);
  for (c = 0; c < paddedVisible; c += 4) {
    const offset = <usize>c << 2;
    v128.store(weights + offset, f32x4.mul(v128.load(weights + offset), exp4(f32x4.sub(v128.load(keyMax + offset), shift))));
  }
  for (c = visible; c < paddedVisible; c++) store<f32>(weights + (<usize>c << 2), 0);
  for (c = 0; c < paddedVisible; c += 4) sum = f32x4.add(sum, v128.load(weights + (<usize>c << 2)));

  const valueRowBytes = <usize>dimPad << 2;
  for (let d = 0; d < dimPad; d += 8) {
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let value = valueBlock + (<usize>d << 2);
    for (c = 0; c < visible; c++) {
      const weight = f32x4.splat(load<f32>(weights + (<usize>c << 2)));
      a0 = f32x4.add(a0, f32x4.mul(weight, v128.load(value)));
      a1 = f32x4.add(a1, f32x4.mul(weight, v128.load(value, 16)));
      value += valueRowBytes;
    }
    const target = accRow + (<usize>d << 2);
    v128.store(target, f32x4.add(v128.load(target), a0));
    v128.store(target, f32x4.add(v128.load(target, 16), a1), 16);
  }
  return sumLanes(sum);
}

/** Returns Σ_j a[j]·b[j] over `size` floats. */
function dot(a: usize, b: usize, size: i32): f32 {
  let sum = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= size; j += 4) {
    const offset = <usize>j << 2;
    sum = f32x4.add(sum, f32x4.mul(v128.load(a + offset), v128.load(b + offset)));
  }
  let result = sumLanes(sum);
  for (; j < size; j++) result += load<f32>(a + (<usize>j << 2)) * load<f32>(b + (<usize>j << 2));
  return result;
}

/** Stores dimHead lanes of accRow / denominator at `target`, or zeros when the denominator is not positive. */
function storeOutputRow(target: usize, accRow: usize, lanes: usize, denominator: f32, dimHead: i32): void {
  const positive = denominator > 0;
  const divisor = f32x4.splat(denominator);
  const zero = f32x4.splat(0);
  let d = 0;
  for (; d + 4 <= dimHead; d += 4) {
    const offset = <usize>d << 2;
    v128.store(target + offset, positive ? f32x4.div(v128.load(accRow + offset), divisor) : zero);
  }
  if (d < dimHead) {
    v128.store(lanes, positive ? f32x4.div(v128.load(accRow + (<usize>d << 2)), divisor) : zero);
    memory.copy(target + (<usize>d << 2), lanes, <usize>(dimHead - d) << 2);
  }
}
