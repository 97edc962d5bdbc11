// GEMM y = x·Wᵀ + b (PyTorch Linear), float32, row-major, on 128-bit SIMD.
//
// Packed weight layout: W [N = outFeatures, K = inFeatures] is cut into panels of NR = 8 output
// columns. Panel p contains K rows of 8 floats, packed[(p·K + k)·8 + j] = W[p·8 + j, k], and the
// columns past N in the last panel are zero. A k-step of the micro-kernel therefore reads one
// contiguous 32-byte row of the panel.
//
// Blocking: K is split into blocks of KC and rows into blocks of MC. Within one block the
// KC-slice of a panel (KC·32 bytes) stays in L1 while the micro-kernel walks MR = 4 rows at a
// time down the MC rows, whose KC-slice of x (MC·KC·4 bytes) stays in L2.
//
// Summation order: each output starts from the bias (or 0), and every K block adds its own
// partial sum, accumulated from 0 in registers, in increasing k order. Blocking K this way also
// keeps the float32 rounding error lower than one running sum over all of K.
//
// The kernels allocate nothing and use no static scratch, so several threads may run them on a
// shared memory at once as long as their y buffers do not overlap.

import { gelu } from './activations';
import { madd } from './madd';

/** Output columns per packed panel: two f32x4 vectors. */
const NR: i32 = 8;
/**
 * Rows per micro-tile. V8 11.3 (Node 20) issues the 6 loads of a k-step before the arithmetic, so
 * a 4×8 tile needs 8 accumulators + 6 operands + 1 product = 15 xmm registers, which is all that
 * x64 V8 allocates because xmm15 is its scratch register. A 6×8 tile spilled 4 accumulators and
 * ran about 1.5× slower in bench/gemm.mjs on an AMD EPYC (Zen 4, family 25 model 17).
 */
const MR: i32 = 4;
/** Panels per k-step in the one-row kernel (used for rows = 1, as in decoding). */
const ROW_PANELS: i32 = 3;
/** K block: a panel slice of KC·32 bytes (16 KiB) and 4 x rows of KC·4 bytes fit a 32 KiB L1. */
const KC: i32 = 512;
/** Row block, a multiple of MR: the x block of MC·KC·4 bytes (192 KiB) stays in L2. */
const MC: i32 = 96;

/** y = partial sum (first K block, no bias). */
const STORE_SET: i32 = 0;
/** y = bias + partial sum (first K block). */
const STORE_BIAS: i32 = 1;
/** y = y + partial sum (later K blocks). */
const STORE_ADD: i32 = 2;

/** Returns the number of float32 values the packed form of an [outFeatures, inFeatures] weight needs. */
export function packedLinearSize(outFeatures: i32, inFeatures: i32): i32 {
  return ((outFeatures + NR - 1) / NR) * NR * inFeatures;
}

/** Packs weight w [outFeatures, inFeatures] (row-major) into `packed` as k-major panels of 8 columns. */
export function packLinearWeight(w: usize, packed: usize, outFeatures: i32, inFeatures: i32): void {
  const panels = (outFeatures + NR - 1) / NR;
  for (let p = 0; p < panels; p++) {
    const panel = packed + <usize>p * <usize>inFeatures * NR * 4;
    for (let j = 0; j < NR; j++) {
      const o = p * NR + j;
      const wRow = w + <usize>o * <usize>inFeatures * 4;
      for (let k = 0; k < inFeatures; k++) {
        const value: f32 = o < outFeatures ? load<f32>(wRow + <usize>k * 4) : 0;
        store<f32>(panel + (<usize>k * NR + <usize>j) * 4, value);
      }
    }
  }
}

/** Stores 8 finished columns (lo = columns 0..3, hi = 4..7) of one output row. */
@inline
function storeRow(yRow: usize, lo: v128, hi: v128, bias: usize, mode: i32, cols: i32): void {
  if (cols < NR) {
    storeRowPartial(yRow, lo, hi, bias, mode, cols);
    return;
  }
  if (mode == STORE_ADD) {
    lo = f32x4.add(v128.load(yRow), lo);
    hi = f32x4.add(v128.load(yRow, 16), hi);
  } else if (mode == STORE_BIAS) {
    lo = f32x4.add(v128.load(bias), lo);
    hi = f32x4.add(v128.load(bias, 16), hi);
  }
  v128.store(yRow, lo);
  v128.store(yRow, hi, 16);
}

/** Stores the first `cols` (< 8) columns of a row in the last panel, touching nothing past them. */
function storeRowPartial(yRow: usize, lo: v128, hi: v128, bias: usize, mode: i32, cols: i32): void {
  for (let j = 0; j < cols; j++) {
    // extract_lane takes a constant lane index, hence the chain of selects.
    const source = j < 4 ? lo : hi;
    const lane = j & 3;
    let value: f32 = lane == 0 ? f32x4.extract_lane(source, 0)
      : lane == 1 ? f32x4.extract_lane(source, 1)
      : lane == 2 ? f32x4.extract_lane(source, 2)
      : f32x4.extract_lane(source, 3);
    const offset = <usize>j * 4;
    if (mode == STORE_ADD) value = load<f32>(yRow + offset) + value;
    else if (mode == STORE_BIAS) value = load<f32>(bias + offset) + value;
    store<f32>(yRow + offset, value);
  }
}

/**
 * Computes a tile of `tileRows` rows (a constant 1..4 after inlining) × 8 columns over one K
 * block. x points at x[r, k0] with a row stride of xStride bytes, and panel at row k0 of the panel.
 */
@inline
function microTile(tileRows: i32, x: usize, xStride: usize, panel: usize, kc: i32, y: usize, yStride: usize, bias: usize, mode: i32, cols: i32): void {
  // Rows past tileRows alias row 0; their code is removed after inlining.
  let x0 = x;
  let x1 = tileRows > 1 ? x0 + xStride : x0;
  let x2 = tileRows > 2 ? x1 + xStride : x0;
  let x3 = tileRows > 3 ? x2 + xStride : x0;
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);

  // Rank-1 update per k: broadcast x[r, k] times the panel row W[n0..n0+7, k].
  let w = panel;
  const wEnd = panel + <usize>kc * NR * 4;
  while (w < wEnd) {
    const b0 = v128.load(w);
    const b1 = v128.load(w, 16);
    let a = v128.load32_splat(x0);
    c00 = madd(a, b0, c00);
    c01 = madd(a, b1, c01);
    if (tileRows > 1) {
      a = v128.load32_splat(x1);
      c10 = madd(a, b0, c10);
      c11 = madd(a, b1, c11);
    }
    if (tileRows > 2) {
      a = v128.load32_splat(x2);
      c20 = madd(a, b0, c20);
      c21 = madd(a, b1, c21);
    }
    if (tileRows > 3) {
      a = v128.load32_splat(x3);
      c30 = madd(a, b0, c30);
      c31 = madd(a, b1, c31);
    }
    x0 += 4;
    x1 += 4;
    x2 += 4;
    x3 += 4;
    w += NR * 4;
  }

  storeRow(y, c00, c01, bias, mode, cols);
  if (tileRows > 1) storeRow(y + yStride, c10, c11, bias, mode, cols);
  if (tileRows > 2) storeRow(y + 2 * yStride, c20, c21, bias, mode, cols);
  if (tileRows > 3) storeRow(y + 3 * yStride, c30, c31, bias, mode, cols);
}

/**
 * Computes one row × ROW_PANELS panels (24 columns) over one K block. With a single row the 4×8
 * tile would have only 2 independent add chains and stall on the f32x4.add latency; 3 panels
 * give 6. Only the last of the panels may be partial (`lastCols` < 8).
 */
@inline
function rowTile(x: usize, panel: usize, panelStride: usize, kc: i32, y: usize, bias: usize, mode: i32, lastCols: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);

  let w0 = panel;
  let w1 = w0 + panelStride;
  let w2 = w1 + panelStride;
  const xEnd = x + <usize>kc * 4;
  while (x < xEnd) {
    const a = v128.load32_splat(x);
    c00 = madd(a, v128.load(w0), c00);
    c01 = madd(a, v128.load(w0, 16), c01);
    c10 = madd(a, v128.load(w1), c10);
    c11 = madd(a, v128.load(w1, 16), c11);
    c20 = madd(a, v128.load(w2), c20);
    c21 = madd(a, v128.load(w2, 16), c21);
    x += 4;
    w0 += NR * 4;
    w1 += NR * 4;
    w2 += NR * 4;
  }

  storeRow(y, c00, c01, bias, mode, NR);
  storeRow(y + NR * 4, c10, c11, bias + NR * 4, mode, NR);
  storeRow(y + 2 * NR * 4, c20, c21, bias + 2 * NR * 4, mode, lastCols);
}

/**
 * y [rows, outFeatures] = x [rows, inFeatures] · Wᵀ + bias; bias == 0 means no bias.
 * y must not overlap x, the packed weight or the bias, because y is written before they are all read.
 */
export function linearForward(x: usize, packed: usize, bias: usize, y: usize, rows: i32, outFeatures: i32, inFeatures: i32): void {
  linearBlocked(x, packed, bias, y, rows, outFeatures, inFeatures, false);
}

/**
 * y = GELU(x · Wᵀ + bias), as linearForward followed by `gelu` on y, with the same result. The
 * last K block applies GELU to each block of MC rows as soon as it is done. On an AMD EPYC (Zen 4)
 * this took as long as a separate pass: GELU's arithmetic costs more than its memory traffic.
 */
export function linearGeluForward(x: usize, packed: usize, bias: usize, y: usize, rows: i32, outFeatures: i32, inFeatures: i32): void {
  linearBlocked(x, packed, bias, y, rows, outFeatures, inFeatures, true);
}

function linearBlocked(x: usize, packed: usize, bias: usize, y: usize, rows: i32, outFeatures: i32, inFeatures: i32, withGelu: bool): void {
  const panels = (outFeatures + NR - 1) / NR;
  const xStride = <usize>inFeatures * 4;
  const yStride = <usize>outFeatures * 4;
  const panelStride = <usize>inFeatures * NR * 4;

  // One pass per K block; the first pass also runs when inFeatures is 0 and then stores the bias.
  let k0 = 0;
  do {
    const kc = min(KC, inFeatures - k0);
    let mode = STORE_SET;
    if (k0 > 0) mode = STORE_ADD;
    else if (bias != 0) mode = STORE_BIAS;
    const xBlock = x + <usize>k0 * 4;
    const packedBlock = packed + <usize>k0 * NR * 4;
    const activate = withGelu && k0 + kc >= inFeatures;

    // TODO: multithreading goes here: row blocks write disjoint rows of y, so WebAssembly threads
    // sharing this memory (one worker per core) could take one block each.
    for (let m0 = 0; m0 < rows; m0 += MC) {
      const mc = min(MC, rows - m0);
      const tileRowsEnd = m0 + (mc & ~(MR - 1));
      const tailRows = mc & (MR - 1);

      // Full 4-row tiles, then a 2- or 3-row tail, against each panel while it is in L1.
      for (let p = 0; p < panels; p++) {
        const n0 = p * NR;
        const cols = min(NR, outFeatures - n0);
        const panel = packedBlock + <usize>p * panelStride;
        const panelBias = bias + <usize>n0 * 4;
        for (let r = m0; r < tileRowsEnd; r += MR) {
          microTile(4, xBlock + <usize>r * xStride, xStride, panel, kc, y + <usize>r * yStride + <usize>n0 * 4, yStride, panelBias, mode, cols);
        }
        const xTail = xBlock + <usize>tileRowsEnd * xStride;
        const yTail = y + <usize>tileRowsEnd * yStride + <usize>n0 * 4;
        if (tailRows == 3) microTile(3, xTail, xStride, panel, kc, yTail, yStride, panelBias, mode, cols);
        else if (tailRows == 2) microTile(2, xTail, xStride, panel, kc, yTail, yStride, panelBias, mode, cols);
      }

      // A 1-row tail (every row when rows = 1) goes through the wider one-row kernel.
      if (tailRows == 1) {
        const xRow = xBlock + <usize>tileRowsEnd * xStride;
        const yRow = y + <usize>tileRowsEnd * yStride;
        let p = 0;
        for (; p + ROW_PANELS <= panels; p += ROW_PANELS) {
          const n0 = p * NR;
          const lastCols = min(NR, outFeatures - (n0 + (ROW_PANELS - 1) * NR));
          rowTile(xRow, packedBlock + <usize>p * panelStride, panelStride, kc, yRow + <usize>n0 * 4, bias + <usize>n0 * 4, mode, lastCols);
        }
        for (; p < panels; p++) {
          const n0 = p * NR;
          microTile(1, xRow, xStride, packedBlock + <usize>p * panelStride, kc, yRow + <usize>n0 * 4, yStride, bias + <usize>n0 * 4, mode, min(NR, outFeatures - n0));
        }
      }

      // The finished rows of this block (MC·outFeatures·4 bytes) are still in L2.
      if (activate) gelu(y + <usize>m0 * yStride, y + <usize>m0 * yStride, mc * outFeatures);
    }
    k0 += kc;
  } while (k0 < inFeatures);
}
