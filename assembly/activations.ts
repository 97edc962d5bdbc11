// Elementwise kernels: GELU (erf form) and addition with an optional row broadcast.

import { erfHalfSqrt4, expMinusHalfSquare4, scaledErfc4 } from './math';

const INV_SQRT2: f32 = 0.70710677;

// Inputs are clamped to ±GELU_CLAMP before the erfc branch: beyond it GELU is x or -0 in float32.
const GELU_CLAMP: f32 = 20;

/**
 * Returns GELU(x) = x/2·(1 + erf(x/√2)) per lane. Measured against mpmath at 144k points over
 * [-14, 10]: at most 1.7 ulp for x > −1/√2 and 3.9 ulp below (4.6 ulp where the output is
 * subnormal). Negative inputs past −1/√2 go through erfc, so their tiny outputs keep full relative
 * precision instead of cancelling in 1 + erf. GELU(+inf) = +inf and GELU(−inf) = −0.
 */
// @ts-ignore: decorator
@inline export function gelu4(x: v128): v128 {
  const half = f32x4.splat(0.5);
  const h = f32x4.mul(half, x);

  // |x| < 1/√2: h + h·erf(x/√2).
  const nearZero = f32x4.add(h, f32x4.mul(h, erfHalfSqrt4(x)));

  // Otherwise erfc(t) with t = |x|/√2: GELU = x − h·erfc(t) for x > 0, h·erfc(t) for x < 0.
  const clamped = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-GELU_CLAMP)), f32x4.splat(GELU_CLAMP));
  const t = f32x4.mul(f32x4.abs(clamped), f32x4.splat(INV_SQRT2));
  const erfc = f32x4.mul(expMinusHalfSquare4(clamped), scaledErfc4(t));
  const halfErfc = f32x4.mul(f32x4.mul(half, clamped), erfc);
  const tails = v128.bitselect(halfErfc, f32x4.sub(x, halfErfc), f32x4.lt(x, f32x4.splat(0)));

  const isNearZero = f32x4.lt(f32x4.abs(x), f32x4.splat(INV_SQRT2));
  return v128.bitselect(nearZero, tails, isNearZero);
}

/** y[i] = GELU(x[i]) for `size` floats; y may equal x. */
export function gelu(x: usize, y: usize, size: i32): void {
  let i = 0;
  for (; i + 4 <= size; i += 4) {
    const offset = <usize>i << 2;
    v128.store(y + offset, gelu4(v128.load(x + offset)));
  }
  for (; i < size; i++) {
    const offset = <usize>i << 2;
    store<f32>(y + offset, f32x4.extract_lane(gelu4(f32x4.splat(load<f32>(x + offset))), 0));
  }
}

/** y[i] = a[i] + b[i mod period] for `size` floats, where `period` divides `size`; y may equal a. */
export function addBroadcast(a: usize, b: usize, y: usize, size: i32, period: i32): void {
  const rows = size / period;
  for (let row = 0; row < rows; row++) {
    const rowOffset = <usize>row * <usize>period << 2;
    const aRow = a + rowOffset;
    const yRow = y + rowOffset;
    let i = 0;
    for (; i + 4 <= period; i += 4) {
      const offset = <usize>i << 2;
      v128.store(yRow + offset, f32x4.add(v128.load(aRow + offset), v128.load(b + offset)));
    }
    for (; i < period; i++) {
      const offset = <usize>i << 2;
      store<f32>(yRow + offset, load<f32>(aRow + offset) + load<f32>(b + offset));
    }
  }
}
