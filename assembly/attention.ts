// Multi-head softmax attention, flash style: for each (batch, head) and block of queries, stream
// over tiles of keys with an online softmax, so no seq × seq score matrix ever exists.

import { exp4, expScalar, maxLanes, sumLanes } from './math';

const KEY_TILE: i32 = 64;
const QUERY_BLOCK: i32 = 16;

// Scratch layout, all offsets multiples of 16 bytes:
//   keyIndex [KEY_TILE] i32       sequence index of each visible key in the tile
//   keysT    [dimHead, KEY_TILE]  visible keys, transposed so four keys score in one vector
//   values   [KEY_TILE, dimPad]   visible values, zero-padded to dimPad = dimHead rounded up to 4
//   queries  [QUERY_BLOCK, dimHead] queries of the block, pre-multiplied by `scale`
//   acc      [QUERY_BLOCK, dimPad] unnormalised outputs
//   rowMax, rowSum [QUERY_BLOCK]  running max and softmax denominator of each query
//   scores   [KEY_TILE]           scores, then weights, of one query against the tile

// @ts-ignore: decorator
@inline function padTo4(n: i32): i32 {
  return (n + 3) & ~3;
}

/** Returns the scratch bytes `attention` needs for heads of size dimHead. */
export function attentionScratchBytes(dimHead: i32): i32 {
  const dimPad = padTo4(dimHead);
  const floats = dimHead * KEY_TILE + KEY_TILE * dimPad + QUERY_BLOCK * dimHead + QUERY_BLOCK * dimPad + 2 * QUERY_BLOCK + KEY_TILE;
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
  const dimPad = padTo4(dimHead);
  const keyIndex = scratch;
  const keysT = keyIndex + (<usize>KEY_TILE << 2);
  const values = keysT + (<usize>(dimHead * KEY_TILE) << 2);
  const queries = values + (<usize>(KEY_TILE * dimPad) << 2);
  const acc = queries + (<usize>(QUERY_BLOCK * dimHead) << 2);
  const rowMax = acc + (<usize>(QUERY_BLOCK * dimPad) << 2);
  const rowSum = rowMax + (<usize>QUERY_BLOCK << 2);
  const scores = rowSum + (<usize>QUERY_BLOCK << 2);

  const inner = heads * dimHead;
  const rowStride = 3 * inner;

  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let q0 = 0; q0 < seq; q0 += QUERY_BLOCK) {
        const queryCount = min<i32>(QUERY_BLOCK, seq - q0);

        // Load the scaled queries and reset the running softmax state.
        for (let i = 0; i < queryCount; i++) {
          const qRow = qkv + (<usize>((b * seq + q0 + i) * rowStride + h * dimHead) << 2);
          for (let d = 0; d < dimHead; d++) {
            store<f32>(queries + (<usize>(i * dimHead + d) << 2), load<f32>(qRow + (<usize>d << 2)) * scale);
          }
          memory.fill(acc + (<usize>(i * dimPad) << 2), 0, <usize>dimPad << 2);
          store<f32>(rowMax + (<usize>i << 2), -Infinity);
          store<f32>(rowSum + (<usize>i << 2), 0);
        }

        // With `causal`, keys at or after keyEnd are hidden from every query of this block.
        const keyEnd = causal ? q0 + queryCount : seq;
        for (let k0 = 0; k0 < keyEnd; k0 += KEY_TILE) {
          const count = gatherVisibleKeys(qkv, mask, keyIndex, keysT, values, b, h, seq, heads, dimHead, k0, min<i32>(KEY_TILE, keyEnd - k0));
          if (count == 0) continue;

          for (let i = 0; i < queryCount; i++) {
            // Keys are sorted, so the causal limit trims the end of the tile.
            let visible = count;
            if (causal) {
              const query = q0 + i;
              while (visible > 0 && load<i32>(keyIndex + (<usize>(visible - 1) << 2)) > query) visible--;
            }
            if (visible == 0) continue;

            scoreKeys(queries + (<usize>(i * dimHead) << 2), keysT, scores, dimHead, visible);
            accumulateTile(scores, values, acc + (<usize>(i * dimPad) << 2), rowMax + (<usize>i << 2), rowSum + (<usize>i << 2), dimPad, visible);
          }
        }

        // out = acc / rowSum, or 0 for a query that saw no key.
        for (let i = 0; i < queryCount; i++) {
          const sum = load<f32>(rowSum + (<usize>i << 2));
          const outRow = out + (<usize>((b * seq + q0 + i) * inner + h * dimHead) << 2);
          const accRow = acc + (<usize>(i * dimPad) << 2);
          const denominator = f32x4.splat(sum);
          const zero = f32x4.splat(0);
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
    }
  }
}

/**
 * Copies the unmasked keys among [k0, k0 + tileSize) into keysT (transposed) and values, and
 * their sequence indices into keyIndex. Returns how many there are. Key columns from that count
 * up to the next multiple of 4 are zeroed so that whole-vector scores stay finite.
 */
function gatherVisibleKeys(
  qkv: usize,
  mask: usize,
  keyIndex: usize,
  keysT: usize,
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
  const rowStride = 3 * inner;
  let count = 0;
  for (let j = 0; j < tileSize; j++) {
    const key = k0 + j;
    if (mask != 0 && load<u8>(mask + <usize>(b * seq + key)) == 0) continue;

    store<i32>(keyIndex + (<usize>count << 2), key);
    const kRow = qkv + (<usize>((b * seq + key) * rowStride + inner + h * dimHead) << 2);
    for (let d = 0; d < dimHead; d++) {
      store<f32>(keysT + (<usize>(d * KEY_TILE + count) << 2), load<f32>(kRow + (<usize>d << 2)));
    }
    const valueRow = values + (<usize>(count * dimPad) << 2);
    memory.copy(valueRow, kRow + (<usize>inner << 2), <usize>dimHead << 2);
    for (let d = dimHead; d < dimPad; d++) store<f32>(valueRow + (<usize>d << 2), 0);
    count++;
  }

  for (let c = count; c < padTo4(count); c++) {
    for (let d = 0; d < dimHead; d++) store<f32>(keysT + (<usize>(d * KEY_TILE + c) << 2), 0);
  }
  return count;
}

/**
 * scores[c] = query · key c for c < visible, four keys per vector; the lanes from visible up to
 * the next multiple of 4 get -inf so that they weigh 0.
 */
function scoreKeys(query: usize, keysT: usize, scores: usize, dimHead: i32, visible: i32): void {
  const keyRowBytes = <usize>KEY_TILE << 2;
  let c = 0;
  for (; c + 16 <= visible; c += 16) {
    let s0 = f32x4.splat(0);
    let s1 = f32x4.splat(0);
    let s2 = f32x4.splat(0);
    let s3 = f32x4.splat(0);
    let keys = keysT + (<usize>c << 2);
    for (let d = 0; d < dimHead; d++) {
      const q = f32x4.splat(load<f32>(query + (<usize>d << 2)));
      s0 = f32x4.add(s0, f32x4.mul(q, v128.load(keys)));
      s1 = f32x4.add(s1, f32x4.mul(q, v128.load(keys, 16)));
      s2 = f32x4.add(s2, f32x4.mul(q, v128.load(keys, 32)));
      s3 = f32x4.add(s3, f32x4.mul(q, v128.load(keys, 48)));
      keys += keyRowBytes;
    }
    const target = scores + (<usize>c << 2);
    v128.store(target, s0);
    v128.store(target, s1, 16);
    v128.store(target, s2, 32);
    v128.store(target, s3, 48);
  }
  for (; c < visible; c += 4) {
    let s = f32x4.splat(0);
    let keys = keysT + (<usize>c << 2);
    for (let d = 0; d < dimHead; d++) {
      s = f32x4.add(s, f32x4.mul(f32x4.splat(load<f32>(query + (<usize>d << 2))), v128.load(keys)));
      keys += keyRowBytes;
    }
    v128.store(scores + (<usize>c << 2), s);
  }
  for (c = visible; c < padTo4(visible); c++) store<f32>(scores + (<usize>c << 2), -Infinity);
}

/**
 * Folds one tile into a query's online softmax: raises the running max when the tile contains a
 * larger score (rescaling acc and rowSum by exp(oldMax − newMax)), turns the scores into weights
 * exp(score − max), and adds Σ weight·value to acc. Each tile is summed on its own before it
 * joins acc and rowSum, which keeps float32 rounding low over long sequences.
 */
function accumulateTile(scores: usize, values: usize, acc: usize, rowMax: usize, rowSum: usize, dimPad: i32, visible: i32): void {
  const paddedCount = padTo4(visible);

  let tileMax = f32x4.splat(-Infinity);
  for (let c = 0; c < paddedCount; c += 4) tileMax = f32x4.max(tileMax, v128.load(scores + (<usize>c << 2)));
  const oldMax = load<f32>(rowMax);
  const newMax = max<f32>(oldMax, maxLanes(tileMax));
  if (newMax > oldMax) {
    store<f32>(rowMax, newMax);
    if (oldMax != -Infinity) {
      const correction = expScalar(oldMax - newMax);
      store<f32>(rowSum, load<f32>(rowSum) * correction);
      const factor = f32x4.splat(correction);
      for (let d = 0; d < dimPad; d += 4) {
        const offset = <usize>d << 2;
        v128.store(acc + offset, f32x4.mul(v128.load(acc + offset), factor));
      }
    }
  }

  // Weights, in place of the scores.
  const shift = f32x4.splat(newMax);
  let weightSum = f32x4.splat(0);
  for (let c = 0; c < paddedCount; c += 4) {
    const offset = <usize>c << 2;
    const weights = exp4(f32x4.sub(v128.load(scores + offset), shift));
    v128.store(scores + offset, weights);
    weightSum = f32x4.add(weightSum, weights);
  }
  store<f32>(rowSum, load<f32>(rowSum) + sumLanes(weightSum));

  // acc += Σ_c weight_c · value_c, sixteen output lanes at a time while they last.
  const valueRowBytes = <usize>dimPad << 2;
  let d = 0;
  for (; d + 16 <= dimPad; d += 16) {
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    let value = values + (<usize>d << 2);
    for (let c = 0; c < visible; c++) {
      const weight = f32x4.splat(load<f32>(scores + (<usize>c << 2)));
      a0 = f32x4.add(a0, f32x4.mul(weight, v128.load(value)));
      a1 = f32x4.add(a1, f32x4.mul(weight, v128.load(value, 16)));
      a2 = f32x4.add(a2, f32x4.mul(weight, v128.load(value, 32)));
      a3 = f32x4.add(a3, f32x4.mul(weight, v128.load(value, 48)));
      value += valueRowBytes;
    }
    const target = acc + (<usize>d << 2);
    v128.store(target, f32x4.add(v128.load(target), a0));
    v128.store(target, f32x4.add(v128.load(target, 16), a1), 16);
    v128.store(target, f32x4.add(v128.load(target, 32), a2), 32);
    v128.store(target, f32x4.add(v128.load(target, 48), a3), 48);
  }
  for (; d < dimPad; d += 4) {
    let a = f32x4.splat(0);
    let value = values + (<usize>d << 2);
    for (let c = 0; c < visible; c++) {
      a = f32x4.add(a, f32x4.mul(f32x4.splat(load<f32>(scores + (<usize>c << 2))), v128.load(value)));
      value += valueRowBytes;
    }
    const target = acc + (<usize>d << 2);
    v128.store(target, f32x4.add(v128.load(target), a));
  }
}
