// LayerNorm over the last axis, biased variance, as torch.nn.LayerNorm.

/** Returns the sum of `size` floats from `row`, over 8 interleaved partial sums. */
function sumRow(row: usize, size: i32): f32 {
  let even = f32x4.splat(0);
  let odd = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= size; i += 8) {
    const offset = <usize>i << 2;
    even = f32x4.add(even, v128.load(row + offset));
    odd = f32x4.add(odd, v128.load(row + offset, 16));
  }
  for (; i + 4 <= size; i += 4) even = f32x4.add(even, v128.load(row + (<usize>i << 2)));

  const lanes = f32x4.add(even, odd);
  let sum = (f32x4.extract_lane(lanes, 0) + f32x4.extract_lane(lanes, 2)) + (f32x4.extract_lane(lanes, 1) + f32x4.extract_lane(lanes, 3));
  for (; i < size; i++) sum += load<f32>(row + (<usize>i << 2));
  return sum;
}

/**
 * y = (x − mean)/√(variance + eps)·gamma + beta per row of x [rows, dim].
 *
 * A first pass gives a rough mean `shift`; the second sums d = x − shift and d². When |mean| is
 * large next to the spread (say 1e4 ± 1), x − shift is exact in float32, so the moments keep full
 * precision where the one-pass Σx² − (Σx)² formula would lose every digit. The output uses
 * (x − shift) − meanOfD for the same reason.
 */
export function layerNorm(x: usize, gamma: usize, beta: usize, y: usize, rows: i32, dim: i32, eps: f64): void {
  for (let r = 0; r < rows; r++) {
    const rowOffset = <usize>r * <usize>dim << 2;
    const xRow = x + rowOffset;
    const yRow = y + rowOffset;

    const shift = <f32>(<f64>sumRow(xRow, dim) / <f64>dim);
    const shiftLanes = f32x4.splat(shift);

    // Σd and Σd² over 8 interleaved partial sums each.
    let sumA = f32x4.splat(0);
    let sumB = f32x4.splat(0);
    let squaresA = f32x4.splat(0);
    let squaresB = f32x4.splat(0);
    let i = 0;
    for (; i + 8 <= dim; i += 8) {
      const offset = <usize>i << 2;
      const dA = f32x4.sub(v128.load(xRow + offset), shiftLanes);
      const dB = f32x4.sub(v128.load(xRow + offset, 16), shiftLanes);
      sumA = f32x4.add(sumA, dA);
      sumB = f32x4.add(sumB, dB);
      squaresA = f32x4.add(squaresA, f32x4.mul(dA, dA));
      squaresB = f32x4.add(squaresB, f32x4.mul(dB, dB));
    }
    const sums = f32x4.add(sumA, sumB);
    const squares = f32x4.add(squaresA, squaresB);
    let sumD: f64 = <f64>f32x4.extract_lane(sums, 0) + <f64>f32x4.extract_lane(sums, 1);
    sumD += <f64>f32x4.extract_lane(sums, 2) + <f64>f32x4.extract_lane(sums, 3);
    let sumSquares: f64 = <f64>f32x4.extract_lane(squares, 0) + <f64>f32x4.extract_lane(squares, 1);
    sumSquares += <f64>f32x4.extract_lane(squares, 2) + <f64>f32x4.extract_lane(squares, 3);
    for (; i < dim; i++) {
      const d = <f64>(load<f32>(xRow + (<usize>i << 2)) - shift);
      sumD += d;
      sumSquares += d * d;
    }

    const meanOfD = sumD / <f64>dim;
    const variance = max<f64>(sumSquares / <f64>dim - meanOfD * meanOfD, 0);
    const invStd = f32x4.splat(<f32>(1 / Math.sqrt(variance + eps)));
    const meanOfDLanes = f32x4.splat(<f32>meanOfD);

    // y = ((x − shift) − meanOfD)·invStd·gamma + beta
    i = 0;
    for (; i + 4 <= dim; i += 4) {
      const offset = <usize>i << 2;
      const centered = f32x4.sub(f32x4.sub(v128.load(xRow + offset), shiftLanes), meanOfDLanes);
      const scaled = f32x4.mul(f32x4.mul(centered, invStd), v128.load(gamma + offset));
      v128.store(yRow + offset, f32x4.add(scaled, v128.load(beta + offset)));
    }
    for (; i < dim; i++) {
      const offset = <usize>i << 2;
      const centered = (load<f32>(xRow + offset) - shift) - <f32>meanOfD;
      const scaled = centered * f32x4.extract_lane(invStd, 0) * load<f32>(gamma + offset);
      store<f32>(yRow + offset, scaled + load<f32>(beta + offset));
    }
  }
}
