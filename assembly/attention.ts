// Multi-head softmax attention, flash style: for each (batch, head) and block of queries, stream
// over tiles of keys with an online softmax, so no seq × seq score matrix ever exists.
//
// Queries go through a tile four at a time (a group), in two register-blocked kernels with the
// shape of the GEMM micro-kernel: the scores S [4, tile] = Q·Kᵀ against the tile's keys
// transposed once per block, then acc [4, dimHead] += P·V as rank-1 updates against the tile's
// values copied into contiguous rows. Without a mask, and with dimHead a multiple of 4, keys are
// transposed straight from qkv. Otherwise the visible keys of each tile are first gathered into
// scratch, so masked keys (whose values may be NaN) are never read.

import { madd } from './madd';
import { exp4, expScalar, maxLanes, sumLanes } from './math';

const KEY_TILE: i32 = 64;
/** Queries per block, a multiple of GROUP: every key tile is gathered once per block. */
const QUERY_BLOCK: i32 = 64;
/** Queries per register-blocked group. */
const GROUP: i32 = 4;

// Scratch layout, all offsets multiples of 16 bytes, with dimPad = dimHead rounded up to 4:
//   keyIndex [KEY_TILE] i32          sequence index of each visible key in the tile
//   keys     [KEY_TILE, dimPad]      gathered keys, zero-padded (unused without a mask)
//   keysT    [dimPad, KEY_TILE]      the tile's keys transposed, so eight keys score in two vectors
//   values   [KEY_TILE, dimPad]      the tile's values, zero-padded
//   queries  [QUERY_BLOCK, dimPad]   queries of the block times `scale`, zero-padded
//   acc      [QUERY_BLOCK, dimPad]   unnormalised outputs
//   rowMax, rowSum [QUERY_BLOCK]     running max and softmax denominator of each query
//   scores   [GROUP, KEY_TILE]       scores, then weights, of one group against the tile

// @ts-ignore: decorator
@inline function padTo4(n: i32): i32 {
  return (n + 3) & ~3;
}

/** Returns the scratch bytes `attention` needs for heads of size dimHead. */
export function attentionScratchBytes(dimHead: i32): i32 {
  const dimPad = padTo4(dimHead);
  const floats = 3 * KEY_TILE * dimPad + 2 * QUERY_BLOCK * dimPad + 2 * QUERY_BLOCK + GROUP * KEY_TILE;
  return (KEY_TILE + floats) << 2;
}

/**
 * out [batch, seq, heads·dimHead] = softmax(q·kᵀ·scale)·v per head, from
 * qkv [batch, seq, 3·heads·dimHead] (q, then k, then v, head-major inside each).
 * mask [batch, seq] bytes (0 = padding), or 0 for none; masked keys are never read, so
 * their values may be NaN. `causal` hides keys after the query. A query with no visible key gets 0.
 */
export function attention(
  qkv: usize,
  mask: usize,
  out: usize,
  scratch: usize,
  batch: i32,
  seq: i32,
  heads: i32,
  dimHead: i32,
  scale: f32,
  causal: bool,
): void {
  attentionHeads(qkv, mask, out, scratch, batch, seq, heads, dimHead, scale, causal, 0, batch * heads);
}

/**
 * `attention` restricted to the (batch, head) pairs first … first + count − 1, numbered b·heads + h.
 * Each pair writes only its own columns of out, so threads sharing the memory may run disjoint
 * ranges at once, each with its own scratch.
 */
export function attentionHeads(
  qkv: usize,
  mask: usize,
  out: usize,
  scratch: usize,
  batch: i32,
  seq: i32,
  heads: i32,
  dimHead: i32,
  scale: f32,
  causal: bool,
  first: i32,
  count: i32,
): void {
  const dimPad = padTo4(dimHead);
  const keyIndex = scratch;
  const keys = keyIndex + (<usize>KEY_TILE << 2);
  const keysT = keys + (<usize>(KEY_TILE * dimPad) << 2);
  const values = keysT + (<usize>(KEY_TILE * dimPad) << 2);
  const queries = values + (<usize>(KEY_TILE * dimPad) << 2);
  const acc = queries + (<usize>(QUERY_BLOCK * dimPad) << 2);
  const rowMax = acc + (<usize>(QUERY_BLOCK * dimPad) << 2);
  const rowSum = rowMax + (<usize>QUERY_BLOCK << 2);
  const scores = rowSum + (<usize>QUERY_BLOCK << 2);

  const inner = heads * dimHead;
  const rowBytes = <usize>(3 * inner) << 2;
  const padRowBytes = <usize>dimPad << 2;
  const inPlace = mask == 0 && dimPad == dimHead;

  for (let pair = first; pair < first + count; pair++) {
    const b = pair / heads;
    const h = pair % heads;
    for (let q0 = 0; q0 < seq; q0 += QUERY_BLOCK) {
      const queryCount = min<i32>(QUERY_BLOCK, seq - q0);
      const groups = (queryCount + GROUP - 1) / GROUP;
      loadQueries(qkv, queries, b, h, seq, inner, dimHead, dimPad, q0, queryCount, groups * GROUP, scale);
      memory.fill(acc, 0, <usize>(groups * GROUP * dimPad) << 2);
      for (let i = 0; i < groups * GROUP; i++) {
        store<f32>(rowMax + (<usize>i << 2), -Infinity);
        store<f32>(rowSum + (<usize>i << 2), 0);
      }

      // With `causal`, keys at or after keyEnd are hidden from every query of this block.
      const keyEnd = causal ? q0 + queryCount : seq;
      for (let k0 = 0; k0 < keyEnd; k0 += KEY_TILE) {
        const tileSize = min<i32>(KEY_TILE, keyEnd - k0);
        let count = tileSize;
        let keyRows = keys;
        let stride = padRowBytes;
        if (inPlace) {
          for (let c = 0; c < tileSize; c++) store<i32>(keyIndex + (<usize>c << 2), k0 + c);
          keyRows = qkv + <usize>(b * seq + k0) * rowBytes + (<usize>(inner + h * dimHead) << 2);
          stride = rowBytes;
          // Contiguous values keep the 4×8 kernel in L1 and off qkv's row stride.
          const valueRows = keyRows + (<usize>inner << 2);
          for (let c = 0; c < tileSize; c++) memory.copy(values + <usize>c * padRowBytes, valueRows + <usize>c * rowBytes, padRowBytes);
        } else {
          count = gatherVisibleKeys(qkv, mask, keyIndex, keys, values, b, h, seq, heads, dimHead, k0, tileSize);
          if (count == 0) continue;
        }
        transposeKeys(keyRows, stride, keysT, dimPad, count);

        for (let g = 0; g < groups; g++) {
          const first = g * GROUP;
          // Keys are sorted, so the causal limit of the group's last query trims the end of the tile.
          let visible = count;
          if (causal) {
            const lastQuery = q0 + first + GROUP - 1;
            while (visible > 0 && load<i32>(keyIndex + (<usize>(visible - 1) << 2)) > lastQuery) visible--;
          }
          if (visible == 0) continue;

          scoreGroup(queries + <usize>first * padRowBytes, padRowBytes, keysT, scores, dimPad, visible);
          if (causal) hideLaterKeys(scores, keyIndex, q0 + first, visible);
          softmaxGroup(scores, acc + <usize>first * padRowBytes, rowMax + (<usize>first << 2), rowSum + (<usize>first << 2), dimPad, visible);
          accumulateGroup(scores, values, padRowBytes, acc + <usize>first * padRowBytes, dimPad, visible);
        }
      }

      writeOutputs(acc, rowSum, out, b, h, seq, inner, dimHead, dimPad, q0, queryCount);
    }
  }
}

/** Copies rows q0 … q0 + queryCount − 1 of head h, times `scale`, into queries. The rest of the first `rows` rows and the pad columns are 0. */
function loadQueries(qkv: usize, queries: usize, b: i32, h: i32, seq: i32, inner: i32, dimHead: i32, dimPad: i32, q0: i32, queryCount: i32, rows: i32, scale: f32): void {
  const factor = f32x4.splat(scale);
  memory.fill(queries, 0, <usize>(rows * dimPad) << 2);
  for (let i = 0; i < queryCount; i++) {
    const qRow = qkv + (<usize>((b * seq + q0 + i) * 3 * inner + h * dimHead) << 2);
    const target = queries + (<usize>(i * dimPad) << 2);
    let d = 0;
    for (; d + 4 <= dimHead; d += 4) {
      const offset = <usize>d << 2;
      v128.store(target + offset, f32x4.mul(v128.load(qRow + offset), factor));
    }
    for (; d < dimHead; d++) store<f32>(target + (<usize>d << 2), load<f32>(qRow + (<usize>d << 2)) * scale);
  }
}

/**
 * Copies the unmasked keys among [k0, k0 + tileSize) into keys and values (rows of dimPad, pad
 * columns 0), and their sequence indices into keyIndex. Returns how many there are.
 */
function gatherVisibleKeys(
  qkv: usize,
  mask: usize,
  keyIndex: usize,
  keys: usize,
  values: usize,
  b: i32,
  h: i32,
  seq: i32,
  heads: i32,
  dimHead: i32,
  k0: i32,
  tileSize: i32,
): i32 {
  const dimPad = padTo4(dimHead);
  const inner = heads * dimHead;
  let count = 0;
  for (let j = 0; j < tileSize; j++) {
    const key = k0 + j;
    if (mask != 0 && load<u8>(mask + <usize>(b * seq + key)) == 0) continue;

    store<i32>(keyIndex + (<usize>count << 2), key);
    const kRow = qkv + (<usize>((b * seq + key) * 3 * inner + inner + h * dimHead) << 2);
    const keyRow = keys + (<usize>(count * dimPad) << 2);
    const valueRow = values + (<usize>(count * dimPad) << 2);
    memory.copy(keyRow, kRow, <usize>dimHead << 2);
    memory.copy(valueRow, kRow + (<usize>inner << 2), <usize>dimHead << 2);
    for (let d = dimHead; d < dimPad; d++) {
      store<f32>(keyRow + (<usize>d << 2), 0);
      store<f32>(valueRow + (<usize>d << 2), 0);
    }
    count++;
  }
  return count;
}

/**
 * keysT [dimPad, KEY_TILE] = the first `count` key rows (keyStride bytes apart), transposed four
 * by four. Columns from count up to the next multiple of 8 repeat the last key, so the scores of
 * whole vectors stay finite. scoreGroup hides those scores.
 */
function transposeKeys(keys: usize, keyStride: usize, keysT: usize, dimPad: i32, count: i32): void {
  const keyRowBytes = <usize>KEY_TILE << 2;
  const last = count - 1;
  const columns = (count + 7) & ~7;
  for (let c = 0; c < columns; c += 4) {
    const row0 = keys + <usize>min<i32>(c, last) * keyStride;
    const row1 = keys + <usize>min<i32>(c + 1, last) * keyStride;
    const row2 = keys + <usize>min<i32>(c + 2, last) * keyStride;
    const row3 = keys + <usize>min<i32>(c + 3, last) * keyStride;
    let target = keysT + (<usize>c << 2);
    for (let offset: usize = 0; offset < (<usize>dimPad << 2); offset += 16) {
      const a = v128.load(row0 + offset);
      const b = v128.load(row1 + offset);
      const e = v128.load(row2 + offset);
      const f = v128.load(row3 + offset);
      const abLow = f32x4.shuffle(a, b, 0, 4, 1, 5);
      const abHigh = f32x4.shuffle(a, b, 2, 6, 3, 7);
      const efLow = f32x4.shuffle(e, f, 0, 4, 1, 5);
      const efHigh = f32x4.shuffle(e, f, 2, 6, 3, 7);
      v128.store(target, f32x4.shuffle(abLow, efLow, 0, 1, 4, 5));
      v128.store(target + keyRowBytes, f32x4.shuffle(abLow, efLow, 2, 3, 6, 7));
      v128.store(target + 2 * keyRowBytes, f32x4.shuffle(abHigh, efHigh, 0, 1, 4, 5));
      v128.store(target + 3 * keyRowBytes, f32x4.shuffle(abHigh, efHigh, 2, 3, 6, 7));
      target += 4 * keyRowBytes;
    }
  }
}

/**
 * scores[r, c] = query r · key c for the GROUP queries (rows queryStride bytes apart) and the
 * first `visible` keys of keysT, eight keys at a time: the GEMM micro-kernel with the queries as
 * rows and keysT as the panel. The lanes from visible up to the next multiple of 4 get -inf, so
 * that they weigh 0.
 */
function scoreGroup(query: usize, queryStride: usize, keysT: usize, scores: usize, dimPad: i32, visible: i32): void {
  const keyRowBytes = <usize>KEY_TILE << 2;
  for (let c = 0; c < visible; c += 8) {
    let q0 = query;
    let q1 = q0 + queryStride;
    let q2 = q1 + queryStride;
    let q3 = q2 + queryStride;
    let s00 = f32x4.splat(0), s01 = f32x4.splat(0);
    let s10 = f32x4.splat(0), s11 = f32x4.splat(0);
    let s20 = f32x4.splat(0), s21 = f32x4.splat(0);
    let s30 = f32x4.splat(0), s31 = f32x4.splat(0);
    let k = keysT + (<usize>c << 2);
    const kEnd = k + <usize>dimPad * keyRowBytes;
    while (k < kEnd) {
      const k0 = v128.load(k);
      const k1 = v128.load(k, 16);
      let a = v128.load32_splat(q0);
      s00 = madd(a, k0, s00);
      s01 = madd(a, k1, s01);
      a = v128.load32_splat(q1);
      s10 = madd(a, k0, s10);
      s11 = madd(a, k1, s11);
      a = v128.load32_splat(q2);
      s20 = madd(a, k0, s20);
      s21 = madd(a, k1, s21);
      a = v128.load32_splat(q3);
      s30 = madd(a, k0, s30);
      s31 = madd(a, k1, s31);
      q0 += 4;
      q1 += 4;
      q2 += 4;
      q3 += 4;
      k += keyRowBytes;
    }
    const target = scores + (<usize>c << 2);
    v128.store(target, s00);
    v128.store(target, s01, 16);
    v128.store(target + keyRowBytes, s10);
    v128.store(target + keyRowBytes, s11, 16);
    v128.store(target + 2 * keyRowBytes, s20);
    v128.store(target + 2 * keyRowBytes, s21, 16);
    v128.store(target + 3 * keyRowBytes, s30);
    v128.store(target + 3 * keyRowBytes, s31, 16);
  }

  for (let r = 0; r < GROUP; r++) {
    for (let c = visible; c < padTo4(visible); c++) store<f32>(scores + <usize>r * keyRowBytes + (<usize>c << 2), -Infinity);
  }
}

/** Sets scores[r, c] = -inf where key c comes after query firstQuery + r. */
function hideLaterKeys(scores: usize, keyIndex: usize, firstQuery: i32, visible: i32): void {
  for (let r = 0; r < GROUP; r++) {
    const row = scores + (<usize>(r * KEY_TILE) << 2);
    for (let c = visible - 1; c >= 0 && load<i32>(keyIndex + (<usize>c << 2)) > firstQuery + r; c--) {
      store<f32>(row + (<usize>c << 2), -Infinity);
    }
  }
}

/**
 * Folds the tile's scores into each query's online softmax. When the tile contains a larger score,
 * it raises the running max and rescales the acc row and rowSum by exp(oldMax − newMax). Then it
 * turns the scores into weights exp(score − max) in place. A query that has seen no key yet gets
 * weights 0.
 * Each tile is summed on its own before it joins rowSum, which keeps float32 rounding low over long sequences.
 */
function softmaxGroup(scores: usize, acc: usize, rowMax: usize, rowSum: usize, dimPad: i32, visible: i32): void {
  const paddedCount = padTo4(visible);
  for (let r = 0; r < GROUP; r++) {
    const row = scores + (<usize>(r * KEY_TILE) << 2);
    const maxAt = rowMax + (<usize>r << 2);
    const sumAt = rowSum + (<usize>r << 2);

    // pmax drops NaN lanes, but a NaN score still turns its weight, and so the output, into NaN.
    let tileMax = f32x4.splat(-Infinity);
    for (let c = 0; c < paddedCount; c += 4) tileMax = f32x4.pmax(tileMax, v128.load(row + (<usize>c << 2)));
    const oldMax = load<f32>(maxAt);
    const newMax = max<f32>(oldMax, maxLanes(tileMax));
    if (newMax == -Infinity) {
      memory.fill(row, 0, <usize>paddedCount << 2);
      continue;
    }
    if (newMax > oldMax) {
      store<f32>(maxAt, newMax);
      if (oldMax != -Infinity) {
        const correction = expScalar(oldMax - newMax);
        store<f32>(sumAt, load<f32>(sumAt) * correction);
        const factor = f32x4.splat(correction);
        const accRow = acc + (<usize>(r * dimPad) << 2);
        for (let d = 0; d < dimPad; d += 4) {
          const offset = <usize>d << 2;
          v128.store(accRow + offset, f32x4.mul(v128.load(accRow + offset), factor));
        }
      }
    }

    const shift = f32x4.splat(newMax);
    let weightSum = f32x4.splat(0);
    for (let c = 0; c < paddedCount; c += 4) {
      const offset = <usize>c << 2;
      const weights = exp4(f32x4.sub(v128.load(row + offset), shift));
      v128.store(row + offset, weights);
      weightSum = f32x4.add(weightSum, weights);
    }
    store<f32>(sumAt, load<f32>(sumAt) + sumLanes(weightSum));
  }
}

/** acc[r, :] += Σ_c weights[r, c]·value c over `visible` value rows of valueStride bytes, four queries by eight lanes at a time. */
function accumulateGroup(weights: usize, values: usize, valueStride: usize, acc: usize, dimPad: i32, visible: i32): void {
  const accRowBytes = <usize>dimPad << 2;
  const weightRowBytes = <usize>KEY_TILE << 2;
  let d = 0;
  for (; d + 8 <= dimPad; d += 8) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
    let b0 = f32x4.splat(0), b1 = f32x4.splat(0);
    let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
    let e0 = f32x4.splat(0), e1 = f32x4.splat(0);
    let value = values + (<usize>d << 2);
    let weight = weights;
    const weightEnd = weights + (<usize>visible << 2);
    while (weight < weightEnd) {
      const v0 = v128.load(value);
      const v1 = v128.load(value, 16);
      let w = v128.load32_splat(weight);
      a0 = madd(w, v0, a0);
      a1 = madd(w, v1, a1);
      w = v128.load32_splat(weight, KEY_TILE << 2);
      b0 = madd(w, v0, b0);
      b1 = madd(w, v1, b1);
      w = v128.load32_splat(weight, KEY_TILE << 3);
      c0 = madd(w, v0, c0);
      c1 = madd(w, v1, c1);
      w = v128.load32_splat(weight, 3 * KEY_TILE << 2);
      e0 = madd(w, v0, e0);
      e1 = madd(w, v1, e1);
      value += valueStride;
      weight += 4;
    }
    const target = acc + (<usize>d << 2);
    addTo(target, a0, a1);
    addTo(target + accRowBytes, b0, b1);
    addTo(target + 2 * accRowBytes, c0, c1);
    addTo(target + 3 * accRowBytes, e0, e1);
  }
  for (; d < dimPad; d += 4) {
    let a = f32x4.splat(0), b = f32x4.splat(0), c = f32x4.splat(0), e = f32x4.splat(0);
    let value = values + (<usize>d << 2);
    for (let k = 0; k < visible; k++) {
      const v = v128.load(value);
      const weight = weights + (<usize>k << 2);
      a = madd(v128.load32_splat(weight), v, a);
      b = madd(v128.load32_splat(weight + weightRowBytes), v, b);
      c = madd(v128.load32_splat(weight + 2 * weightRowBytes), v, c);
      e = madd(v128.load32_splat(weight + 3 * weightRowBytes), v, e);
      value += valueStride;
    }
    const target = acc + (<usize>d << 2);
    v128.store(target, f32x4.add(v128.load(target), a));
    v128.store(target + accRowBytes, f32x4.add(v128.load(target + accRowBytes), b));
    v128.store(target + 2 * accRowBytes, f32x4.add(v128.load(target + 2 * accRowBytes), c));
    v128.store(target + 3 * accRowBytes, f32x4.add(v128.load(target + 3 * accRowBytes), e));
  }
}

/** Adds eight lanes (low, high) to the floats at target. */
// @ts-ignore: decorator
@inline function addTo(target: usize, low: v128, high: v128): void {
  v128.store(target, f32x4.add(v128.load(target), low));
  v128.store(target, f32x4.add(v128.load(target, 16), high), 16);
}

/** out = acc / rowSum for the block's queries, or 0 for a query that saw no key. */
function writeOutputs(acc: usize, rowSum: usize, out: usize, b: i32, h: i32, seq: i32, inner: i32, dimHead: i32, dimPad: i32, q0: i32, queryCount: i32): void {
  const zero = f32x4.splat(0);
  for (let i = 0; i < queryCount; i++) {
    const sum = load<f32>(rowSum + (<usize>i << 2));
    const outRow = out + (<usize>((b * seq + q0 + i) * inner + h * dimHead) << 2);
    const accRow = acc + (<usize>(i * dimPad) << 2);
    const denominator = f32x4.splat(sum);
    let d = 0;
    for (; d + 4 <= dimHead; d += 4) {
      const offset = <usize>d << 2;
      v128.store(outRow + offset, sum > 0 ? f32x4.div(v128.load(accRow + offset), denominator) : zero);
    }
    for (; d < dimHead; d++) {
      const offset = <usize>d << 2;
      store<f32>(outRow + offset, sum > 0 ? load<f32>(accRow + offset) / sum : 0);
    }
  }
}
