// Softmax attention of one new position against a key/value cache (decoding), with an online
// softmax over tiles of cached positions. Every head is handled in the same pass over a tile, so
// each cached row [k of all heads, v of all heads] is read front to back. At long contexts the
// cache is far larger than the CPU caches, and a pass per head would stride through all of it.
// Each tile is summed in float32 and then added to float64 totals, so rounding grows with the
// tile and not with the context length.

import { exp4, maxLanes, sumLanes } from './math';

const KEY_TILE: i32 = 64;

// @ts-ignore: decorator
@inline function padTo4(n: i32): i32 {
  return (n + 3) & ~3;
}

// Scratch layout, all offsets multiples of 16 bytes, with dimPad = dimHead rounded up to 4 and
// headsPad = heads rounded up to 4:
//   accTotal   [heads, dimPad] f64   Σ weight·v per head, relative to the head's running max
//   sumTotal   [headsPad] f64        Σ weight per head
//   runningMax [headsPad] f32
//   query      [heads, dimPad] f32   q·scale per head, zero-padded
//   scores     [heads, KEY_TILE] f32 scores, then weights, of one tile
//   acc        [heads, dimPad] f32   Σ weight·v of one tile

/** Returns the scratch bytes `attentionDecode` needs. */
export function attentionDecodeScratchBytes(heads: i32, dimHead: i32): i32 {
  const dimPad = padTo4(dimHead);
  const headsPad = padTo4(heads);
  return ((heads * dimPad + headsPad) << 3) + ((headsPad + 2 * heads * dimPad + heads * KEY_TILE) << 2);
}

/**
 * out [batch, heads·dimHead] = softmax(q·kᵀ·scale)·v per head, from
 *   q: row b at q + b·queryStride floats, head h in columns h·dimHead … (a qkv row works)
 *   cache [batch, capacity, 2·heads·dimHead]: k, then v, of each position; positions 0 … length − 1 are keys
 *   mask [batch, length] bytes (0 = not a key), or 0 for none; masked positions are never read.
 * A query with no visible key gets 0.
 */
export function attentionDecode(
  q: usize,
  queryStride: i32,
  cache: usize,
  mask: usize,
  out: usize,
  scratch: usize,
  batch: i32,
  capacity: i32,
  length: i32,
  heads: i32,
  dimHead: i32,
  scale: f32,
): void {
  const dimPad = padTo4(dimHead);
  const headsPad = padTo4(heads);
  const accTotal = scratch;
  const sumTotal = accTotal + (<usize>(heads * dimPad) << 3);
  const runningMax = sumTotal + (<usize>headsPad << 3);
  const query = runningMax + (<usize>headsPad << 2);
  const scores = query + (<usize>(heads * dimPad) << 2);
  const acc = scores + (<usize>(heads * KEY_TILE) << 2);

  const inner = heads * dimHead;
  const positionBytes = <usize>(2 * inner) << 2;
  const tileRowBytes = <usize>KEY_TILE << 2;

  for (let b = 0; b < batch; b++) {
    memory.fill(query, 0, <usize>(heads * dimPad) << 2);
    for (let h = 0; h < heads; h++) {
      const qRow = q + (<usize>(b * queryStride + h * dimHead) << 2);
      const target = query + (<usize>(h * dimPad) << 2);
      for (let d = 0; d < dimHead; d++) store<f32>(target + (<usize>d << 2), load<f32>(qRow + (<usize>d << 2)) * scale);
      store<f32>(runningMax + (<usize>h << 2), -Infinity);
    }
    memory.fill(accTotal, 0, <usize>(heads * dimPad + headsPad) << 3);
    const rows = cache + <usize>b * <usize>capacity * positionBytes;

    for (let s0 = 0; s0 < length; s0 += KEY_TILE) {
      const tileSize = min<i32>(KEY_TILE, length - s0);

      // Scores of every head; masked positions get −∞ and are never read.
      let anyKey = false;
      for (let i = 0; i < tileSize; i++) {
        const s = s0 + i;
        const real = mask == 0 || load<u8>(mask + <usize>(b * length + s)) != 0;
        anyKey = anyKey || real;
        const keys = rows + <usize>s * positionBytes;
        for (let h = 0; h < heads; h++) {
          const score: f32 = real ? dot(query + (<usize>(h * dimPad) << 2), keys + (<usize>(h * dimHead) << 2), dimHead) : -Infinity;
          store<f32>(scores + <usize>h * tileRowBytes + (<usize>i << 2), score);
        }
      }
      if (!anyKey) continue;

      for (let h = 0; h < heads; h++) foldScores(scores + <usize>h * tileRowBytes, accTotal + (<usize>(h * dimPad) << 3), sumTotal + (<usize>h << 3), runningMax + (<usize>h << 2), tileSize, dimPad);

      // Σ weight·v over the tile, every head from the same row.
      memory.fill(acc, 0, <usize>(heads * dimPad) << 2);
      for (let i = 0; i < tileSize; i++) {
        const values = rows + <usize>(s0 + i) * positionBytes + (<usize>inner << 2);
        for (let h = 0; h < heads; h++) {
          const weight = load<f32>(scores + <usize>h * tileRowBytes + (<usize>i << 2));
          if (weight == 0) continue; // masked, or too small to matter; masked values may be NaN
          addScaledRow(acc + (<usize>(h * dimPad) << 2), values + (<usize>(h * dimHead) << 2), weight, dimHead);
        }
      }
      for (let i = 0; i < heads * dimPad; i++) {
        const target = accTotal + (<usize>i << 3);
        store<f64>(target, load<f64>(target) + <f64>load<f32>(acc + (<usize>i << 2)));
      }
    }

    for (let h = 0; h < heads; h++) {
      const sum = load<f64>(sumTotal + (<usize>h << 3));
      const headAcc = accTotal + (<usize>(h * dimPad) << 3);
      const outRow = out + (<usize>(b * inner + h * dimHead) << 2);
      for (let d = 0; d < dimHead; d++) {
        store<f32>(outRow + (<usize>d << 2), sum > 0 ? <f32>(load<f64>(headAcc + (<usize>d << 3)) / sum) : 0);
      }
    }
  }
}

/**
 * Folds one head's tile of scores into its online softmax. A larger score in the tile raises the
 * running max and rescales the head's totals by exp(old − new). The scores then become weights
 * exp(score − max) in place, and their sum joins sumTotal.
 */
function foldScores(scores: usize, accTotal: usize, sumTotal: usize, runningMax: usize, tileSize: i32, dimPad: i32): void {
  for (let i = tileSize; i < padTo4(tileSize); i++) store<f32>(scores + (<usize>i << 2), -Infinity);

  let tileMax = f32x4.splat(-Infinity);
  for (let i = 0; i < tileSize; i += 4) tileMax = f32x4.max(tileMax, v128.load(scores + (<usize>i << 2)));
  const oldMax = load<f32>(runningMax);
  const newMax = max<f32>(oldMax, maxLanes(tileMax));
  if (newMax > oldMax) {
    if (oldMax != -Infinity) {
      const factor = Math.exp(<f64>oldMax - <f64>newMax);
      store<f64>(sumTotal, load<f64>(sumTotal) * factor);
      for (let d = 0; d < dimPad; d++) {
        const target = accTotal + (<usize>d << 3);
        store<f64>(target, load<f64>(target) * factor);
      }
    }
    store<f32>(runningMax, newMax);
  }

  const shift = f32x4.splat(newMax);
  let weightSum = f32x4.splat(0);
  for (let i = 0; i < tileSize; i += 4) {
    const offset = <usize>i << 2;
    const weights = exp4(f32x4.sub(v128.load(scores + offset), shift));
    v128.store(scores + offset, weights);
    weightSum = f32x4.add(weightSum, weights);
  }
  store<f64>(sumTotal, load<f64>(sumTotal) + <f64>sumLanes(weightSum));
}

/** Returns query·key over dimHead floats; query is zero-padded to a multiple of 4, key is not. */
function dot(query: usize, key: usize, dimHead: i32): f32 {
  let sum = f32x4.splat(0);
  let d = 0;
  for (; d + 4 <= dimHead; d += 4) {
    const offset = <usize>d << 2;
    sum = f32x4.add(sum, f32x4.mul(v128.load(query + offset), v128.load(key + offset)));
  }
  let result = sumLanes(sum);
  for (; d < dimHead; d++) result += load<f32>(query + (<usize>d << 2)) * load<f32>(key + (<usize>d << 2));
  return result;
}

/** acc[d] += weight·row[d] for d < dimHead. */
function addScaledRow(acc: usize, row: usize, weight: f32, dimHead: i32): void {
  const w = f32x4.splat(weight);
  let d = 0;
  for (; d + 4 <= dimHead; d += 4) {
    const offset = <usize>d << 2;
    v128.store(acc + offset, f32x4.add(v128.load(acc + offset), f32x4.mul(w, v128.load(row + offset))));
  }
  for (; d < dimHead; d++) {
    const offset = <usize>d << 2;
    store<f32>(acc + offset, load<f32>(acc + offset) + weight * load<f32>(row + offset));
  }
}
