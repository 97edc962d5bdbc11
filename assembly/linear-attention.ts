// Non-causal linear attention (Performer): out_t = φ_t·C / (φ_t·z) with the context
// C = Σ_s ψ_s v_sᵀ [nbFeatures, dimHead] and z = Σ_s ψ_s over the real tokens s of a (batch, head).

export const TOKEN_BLOCK: i32 = 64;

// Scratch layout, all offsets multiples of 16 bytes, with featPad = nbFeatures rounded up to 4
// and dimPad = dimHead rounded up to 8 (padding lanes stay 0):
//   contextTotal [featPad, dimPad] f64   C summed over blocks of tokens
//   keySumTotal  [featPad] f64           z summed over blocks of tokens
//   context      [featPad, dimPad] f32   C rounded for the output pass
//   keySum       [featPad] f32
//   keysT        [featPad, TOKEN_BLOCK]  ψ of the real tokens of one block, transposed
//   valueBlock   [TOKEN_BLOCK, dimPad]   v of the same tokens
//   lanes        [8] f32                 staging for partial output rows
//
// Each block of TOKEN_BLOCK tokens is summed in float32 registers and then added to the float64
// totals, so rounding grows with the block size and not with the sequence length.

// @ts-ignore: decorator
@inline function padTo(n: i32, multiple: i32): i32 {
  return (n + multiple - 1) / multiple * multiple;
}

/** Returns the scratch bytes `linearAttention` needs. */
export function linearAttentionScratchBytes(nbFeatures: i32, dimHead: i32): i32 {
  const featPad = padTo(nbFeatures, 4);
  const dimPad = padTo(dimHead, 8);
  const doubles = featPad * dimPad + featPad;
  const floats = featPad * dimPad + featPad + featPad * TOKEN_BLOCK + TOKEN_BLOCK * dimPad + 8;
  return (doubles << 3) + (floats << 2);
}

/**
 * out [batch, tokens, heads·dimHead] from queryFeatures φ and keyFeatures ψ
 * [batch, heads, tokens, nbFeatures] and v [batch, tokens, heads·dimHead]. Masked tokens
 * (mask [batch, tokens] bytes, 0 = padding; 0 for no mask) are skipped, so their ψ and v are never
 * read. A token whose denominator φ·z is not positive gets 0.
 */
export function linearAttention(
  queryFeatures: usize,
  keyFeatures: usize,
  v: usize,
  mask: usize,
  out: usize,
  scratch: usize,
  batch: i32,
  tokens: i32,
  heads: i32,
  dimHead: i32,
  nbFeatures: i32,
): void {
  linearAttentionHeads(queryFeatures, keyFeatures, v, mask, out, scratch, batch, tokens, heads, dimHead, nbFeatures, 0, batch * heads);
}

/**
 * `linearAttention` restricted to the (batch, head) pairs first … first + count − 1, numbered
 * b·heads + h. Each pair writes only its own columns of out, so threads sharing the memory may run
 * disjoint ranges at once, each with its own scratch.
 */
export function linearAttentionHeads(
  queryFeatures: usize,
  keyFeatures: usize,
  v: usize,
  mask: usize,
  out: usize,
  scratch: usize,
  batch: i32,
  tokens: i32,
  heads: i32,
  dimHead: i32,
  nbFeatures: i32,
  first: i32,
  count: i32,
): void {
  const featPad = padTo(nbFeatures, 4);
  const dimPad = padTo(dimHead, 8);
  const contextTotal = scratch;
  const keySumTotal = contextTotal + (<usize>(featPad * dimPad) << 3);
  const context = keySumTotal + (<usize>featPad << 3);
  const keySum = context + (<usize>(featPad * dimPad) << 2);
  const keysT = keySum + (<usize>featPad << 2);
  const valueBlock = keysT + (<usize>(featPad * TOKEN_BLOCK) << 2);
  const lanes = valueBlock + (<usize>(TOKEN_BLOCK * dimPad) << 2);

  // Feature rows past nbFeatures stay 0 for the whole call.
  memory.fill(keysT, 0, <usize>(featPad * TOKEN_BLOCK) << 2);

  for (let pair = first; pair < first + count; pair++) {
    const b = pair / heads;
    const h = pair % heads;
    memory.fill(contextTotal, 0, <usize>(featPad * dimPad + featPad) << 3);

    for (let s0 = 0; s0 < tokens; s0 += TOKEN_BLOCK) {
      const count = gatherRealTokens(keyFeatures, v, mask, keysT, valueBlock, b, h, tokens, heads, dimHead, nbFeatures, s0, min<i32>(TOKEN_BLOCK, tokens - s0));
      if (count == 0) continue;
      accumulateBlock(keysT, valueBlock, contextTotal, keySumTotal, featPad, dimPad, count);
    }

    for (let i = 0; i < featPad * dimPad; i++) {
      store<f32>(context + (<usize>i << 2), <f32>load<f64>(contextTotal + (<usize>i << 3)));
    }
    for (let j = 0; j < featPad; j++) {
      store<f32>(keySum + (<usize>j << 2), <f32>load<f64>(keySumTotal + (<usize>j << 3)));
    }

    const headFeatures = queryFeatures + (<usize>((b * heads + h) * tokens * nbFeatures) << 2);
    const headOut = out + (<usize>(b * tokens * heads * dimHead + h * dimHead) << 2);
    for (let t = 0; t < tokens; t += 4) {
      writeOutputs(headFeatures, context, keySum, headOut, lanes, t, min<i32>(4, tokens - t), heads * dimHead, dimHead, dimPad, nbFeatures);
    }
  }
}

/**
 * Copies ψ (transposed) and v of the unmasked tokens among [s0, s0 + blockSize) into keysT and
 * valueBlock. Returns how many there are; keysT columns from that count up to the next
 * multiple of 4 are zeroed.
 */
function gatherRealTokens(
  keyFeatures: usize,
  v: usize,
  mask: usize,
  keysT: usize,
  valueBlock: usize,
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
  let count = 0;
  for (let k = 0; k < blockSize; k++) {
    const s = s0 + k;
    if (mask != 0 && load<u8>(mask + <usize>(b * tokens + s)) == 0) continue;

    const psiRow = keyFeatures + (<usize>(((b * heads + h) * tokens + s) * nbFeatures) << 2);
    for (let j = 0; j < nbFeatures; j++) {
      store<f32>(keysT + (<usize>(j * TOKEN_BLOCK + count) << 2), load<f32>(psiRow + (<usize>j << 2)));
    }
    const valueRow = valueBlock + (<usize>(count * dimPad) << 2);
    memory.copy(valueRow, v + (<usize>((b * tokens + s) * heads * dimHead + h * dimHead) << 2), <usize>dimHead << 2);
    for (let d = dimHead; d < dimPad; d++) store<f32>(valueRow + (<usize>d << 2), 0);
    count++;
  }

  for (let c = count; c < padTo(count, 4); c++) {
    for (let j = 0; j < nbFeatures; j++) store<f32>(keysT + (<usize>(j * TOKEN_BLOCK + c) << 2), 0);
  }
  return count;
}

/** contextTotal += keysTᵀ·valueBlock and keySumTotal += Σ_c keysT[:, c] over `count` tokens. */
export function accumulateBlock(keysT: usize, valueBlock: usize, contextTotal: usize, keySumTotal: usize, featPad: i32, dimPad: i32, count: i32): void {
  const keyRowBytes = <usize>TOKEN_BLOCK << 2;
  const valueRowBytes = <usize>dimPad << 2;

  // Two features by eight output lanes per pass, so each loaded value serves two features.
  for (let j = 0; j < featPad; j += 2) {
    const psi0 = keysT + <usize>j * keyRowBytes;
    const psi1 = psi0 + keyRowBytes;
    for (let d = 0; d < dimPad; d += 8) {
      let a00 = f32x4.splat(0);
      let a01 = f32x4.splat(0);
      let a10 = f32x4.splat(0);
      let a11 = f32x4.splat(0);
      let value = valueBlock + (<usize>d << 2);
      for (let c = 0; c < count; c++) {
        const v0 = v128.load(value);
        const v1 = v128.load(value, 16);
        const p0 = f32x4.splat(load<f32>(psi0 + (<usize>c << 2)));
        const p1 = f32x4.splat(load<f32>(psi1 + (<usize>c << 2)));
        a00 = f32x4.add(a00, f32x4.mul(p0, v0));
        a01 = f32x4.add(a01, f32x4.mul(p0, v1));
        a10 = f32x4.add(a10, f32x4.mul(p1, v0));
        a11 = f32x4.add(a11, f32x4.mul(p1, v1));
        value += valueRowBytes;
      }
      const row0 = contextTotal + (<usize>(j * dimPad + d) << 3);
      const row1 = row0 + (<usize>dimPad << 3);
      addToDoubles(row0, a00);
      addToDoubles(row0 + 32, a01);
      addToDoubles(row1, a10);
      addToDoubles(row1 + 32, a11);
    }
  }

  const paddedCount = padTo(count, 4);
  for (let j = 0; j < featPad; j++) {
    const psiRow = keysT + <usize>j * keyRowBytes;
    let sum = f32x4.splat(0);
    for (let c = 0; c < paddedCount; c += 4) sum = f32x4.add(sum, v128.load(psiRow + (<usize>c << 2)));
    const pairs = f64x2.add(f64x2.promote_low_f32x4(sum), f64x2.promote_low_f32x4(f32x4.shuffle(sum, sum, 2, 3, 0, 1)));
    const target = keySumTotal + (<usize>j << 3);
    store<f64>(target, load<f64>(target) + f64x2.extract_lane(pairs, 0) + f64x2.extract_lane(pairs, 1));
  }
}

/** Adds four float32 lanes to the four float64 values at `target`. */
// @ts-ignore: decorator
@inline function addToDoubles(target: usize, lanes: v128): void {
  const low = f64x2.promote_low_f32x4(lanes);
  const high = f64x2.promote_low_f32x4(f32x4.shuffle(lanes, lanes, 2, 3, 0, 1));
  v128.store(target, f64x2.add(v128.load(target), low));
  v128.store(target, f64x2.add(v128.load(target, 16), high), 16);
}

/** Returns Σ_j a[j]·b[j] over `size` floats. */
function dot(a: usize, b: usize, size: i32): f32 {
  let sum = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= size; j += 4) {
    const offset = <usize>j << 2;
    sum = f32x4.add(sum, f32x4.mul(v128.load(a + offset), v128.load(b + offset)));
  }
  let result = (f32x4.extract_lane(sum, 0) + f32x4.extract_lane(sum, 2)) + (f32x4.extract_lane(sum, 1) + f32x4.extract_lane(sum, 3));
  for (; j < size; j++) result += load<f32>(a + (<usize>j << 2)) * load<f32>(b + (<usize>j << 2));
  return result;
}

/**
 * Writes out rows t … t + count − 1 (count ≤ 4) of one head: φ_t·context / (φ_t·keySum).
 * Four tokens share each loaded context vector. When count < 4, the last token is repeated in
 * place of the missing ones and their results are dropped.
 */
function writeOutputs(
  headFeatures: usize,
  context: usize,
  keySum: usize,
  headOut: usize,
  lanes: usize,
  t: i32,
  count: i32,
  inner: i32,
  dimHead: i32,
  dimPad: i32,
  nbFeatures: i32,
): void {
  const rowBytes = <usize>nbFeatures << 2;
  const phi0 = headFeatures + <usize>t * rowBytes;
  const phi1 = headFeatures + <usize>(t + min<i32>(1, count - 1)) * rowBytes;
  const phi2 = headFeatures + <usize>(t + min<i32>(2, count - 1)) * rowBytes;
  const phi3 = headFeatures + <usize>(t + min<i32>(3, count - 1)) * rowBytes;
  const den0 = dot(phi0, keySum, nbFeatures);
  const den1 = dot(phi1, keySum, nbFeatures);
  const den2 = dot(phi2, keySum, nbFeatures);
  const den3 = dot(phi3, keySum, nbFeatures);

  const contextRowBytes = <usize>dimPad << 2;
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

    const outBytes = <usize>inner << 2;
    const firstOut = headOut + <usize>t * outBytes + (<usize>d << 2);
    storeOutputLanes(firstOut, lanes, a00, a01, den0, dimHead - d);
    if (count > 1) storeOutputLanes(firstOut + outBytes, lanes, a10, a11, den1, dimHead - d);
    if (count > 2) storeOutputLanes(firstOut + 2 * outBytes, lanes, a20, a21, den2, dimHead - d);
    if (count > 3) storeOutputLanes(firstOut + 3 * outBytes, lanes, a30, a31, den3, dimHead - d);
  }
}

/** Stores min(8, remaining) lanes of (low, high) / denominator at `target`, or zeros when denominator ≤ 0. */
function storeOutputLanes(target: usize, lanes: usize, low: v128, high: v128, denominator: f32, remaining: i32): void {
  const zero = f32x4.splat(0);
  const divisor = f32x4.splat(denominator);
  const positive = denominator > 0;
  const first = positive ? f32x4.div(low, divisor) : zero;
  const second = positive ? f32x4.div(high, divisor) : zero;
  if (remaining >= 8) {
    v128.store(target, first);
    v128.store(target, second, 16);
    return;
  }
  v128.store(lanes, first);
  v128.store(lanes, second, 16);
  memory.copy(target, lanes, <usize>remaining << 2);
}
