// Float32 exp and erfc building blocks for four lanes at a time (WebAssembly has neither).
// The polynomial coefficients were fitted for this module: Lawson-weighted least squares in
// float64 toward the minimax relative error, then rounded to float32 and checked in float32.

// exp(x) = 2^n · exp(r) with n = round(x·log2(e)) and |r| ≤ ln(2)/2. LN2_HI has 9 significant
// bits, so n·LN2_HI is exact for every n this module produces.
const LOG2E: f32 = 1.44269504;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;

// exp(r) ≈ 1 + r + r²·(E0 + E1·r + E2·r² + E3·r³ + E4·r⁴), relative error 3.1e-9 on |r| ≤ ln(2)/2.
const E0: f32 = 0.49999994;
const E1: f32 = 0.16666521;
const E2: f32 = 0.041668389;
const E3: f32 = 0.0083687454;
const E4: f32 = 0.0013814541;

// Inputs below EXP_MIN give 0 and above EXP_MAX give +inf; clamping keeps 2^n inside the
// exponent range of two float32 scale factors.
const EXP_MIN: f32 = -110;
const EXP_MAX: f32 = 89;

/** Returns exp(r) for |r| ≤ ln(2)/2. */
// @ts-ignore: decorator
@inline function expReduced(r: v128): v128 {
  let poly = f32x4.splat(E4);
  poly = f32x4.add(f32x4.mul(poly, r), f32x4.splat(E3));
  poly = f32x4.add(f32x4.mul(poly, r), f32x4.splat(E2));
  poly = f32x4.add(f32x4.mul(poly, r), f32x4.splat(E1));
  poly = f32x4.add(f32x4.mul(poly, r), f32x4.splat(E0));
  const tail = f32x4.add(r, f32x4.mul(f32x4.mul(r, r), poly));
  return f32x4.add(f32x4.splat(1), tail);
}

// Adding ROUNDING_SHIFT = 1.5·2^23 to |v| < 2^22 rounds v to the nearest integer (ties to even),
// and that integer sits in the low mantissa bits: the float minus ROUNDING_SHIFT is round(v), and
// the bit pattern minus ROUNDING_SHIFT_BITS is round(v) as an i32. This is cheaper than
// f32x4.nearest followed by i32x4.trunc_sat_f32x4_s.
const ROUNDING_SHIFT: f32 = 12582912;
const ROUNDING_SHIFT_BITS: i32 = 0x4b400000;

/**
 * Returns p·2^n for the integer lanes n in [-252, 254]. Splitting 2^n into two factors lets
 * results fall into the subnormal range or overflow to +inf as they should.
 */
// @ts-ignore: decorator
@inline function scaleByPowerOfTwo(p: v128, exponent: v128): v128 {
  const firstHalf = i32x4.shr_s(exponent, 1);
  const secondHalf = i32x4.sub(exponent, firstHalf);
  const bias = i32x4.splat(127);
  const firstScale = i32x4.shl(i32x4.add(firstHalf, bias), 23);
  const secondScale = i32x4.shl(i32x4.add(secondHalf, bias), 23);
  return f32x4.mul(f32x4.mul(p, firstScale), secondScale);
}

/**
 * Returns exp(x) per lane: within 0.92 ulp of mpmath at 74k points over [-104, 88.7] where the
 * result is normal. NaN stays NaN, -inf gives 0 and +inf gives +inf.
 */
// @ts-ignore: decorator
@inline export function exp4(x: v128): v128 {
  // pmin/pmax (one minps/maxps each on x64) keep a NaN in x as the full min/max would.
  const clamped = f32x4.pmin(f32x4.pmax(x, f32x4.splat(EXP_MIN)), f32x4.splat(EXP_MAX));
  const shifted = f32x4.add(f32x4.mul(clamped, f32x4.splat(LOG2E)), f32x4.splat(ROUNDING_SHIFT));
  const n = f32x4.sub(shifted, f32x4.splat(ROUNDING_SHIFT));
  const r = f32x4.sub(f32x4.sub(clamped, f32x4.mul(n, f32x4.splat(LN2_HI))), f32x4.mul(n, f32x4.splat(LN2_LO)));
  return scaleByPowerOfTwo(expReduced(r), i32x4.sub(shifted, i32x4.splat(ROUNDING_SHIFT_BITS)));
}

/** Returns exp(x) for one float through the same steps as `exp4`, for loop remainders. */
export function expScalar(x: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(x)), 0);
}

/**
 * Returns exp(-x²/2) per lane for |x| ≤ 20, within 1.15 ulp of mpmath over [-14, 14]. Rounding
 * x² to float32 first would cost up to x²·2^-23 of relative error, so x is split into a 12-bit
 * head, whose square is exact, and a tail whose contribution joins the reduced argument.
 */
// @ts-ignore: decorator
@inline export function expMinusHalfSquare4(x: v128): v128 {
  const head = v128.and(x, i32x4.splat(~0xfff));
  const tail = f32x4.sub(x, head);
  const half = f32x4.splat(-0.5);
  const exponentHead = f32x4.pmax(f32x4.mul(half, f32x4.mul(head, head)), f32x4.splat(EXP_MIN));
  const exponentTail = f32x4.mul(half, f32x4.mul(tail, f32x4.add(x, head)));

  const shifted = f32x4.add(f32x4.mul(exponentHead, f32x4.splat(LOG2E)), f32x4.splat(ROUNDING_SHIFT));
  const n = f32x4.sub(shifted, f32x4.splat(ROUNDING_SHIFT));
  let r = f32x4.sub(exponentHead, f32x4.mul(n, f32x4.splat(LN2_HI)));
  r = f32x4.add(f32x4.sub(r, f32x4.mul(n, f32x4.splat(LN2_LO))), exponentTail);
  return scaleByPowerOfTwo(expReduced(r), i32x4.sub(shifted, i32x4.splat(ROUNDING_SHIFT_BITS)));
}

// erf(x/√2) ≈ x·(A0 + A1·x² + … + A4·x⁸) for |x| < 1/√2 (|x/√2| < 0.5), relative error 1.4e-9.
const A0: f32 = 0.79788458;
const A1: f32 = -0.13298066;
const A2: f32 = 0.019945400;
const A3: f32 = -0.0023650185;
const A4: f32 = 0.00020850210;

/** Returns erf(x/√2) per lane for |x| < 1/√2. */
// @ts-ignore: decorator
@inline export function erfHalfSqrt4(x: v128): v128 {
  const x2 = f32x4.mul(x, x);
  let poly = f32x4.splat(A4);
  poly = f32x4.add(f32x4.mul(poly, x2), f32x4.splat(A3));
  poly = f32x4.add(f32x4.mul(poly, x2), f32x4.splat(A2));
  poly = f32x4.add(f32x4.mul(poly, x2), f32x4.splat(A1));
  poly = f32x4.add(f32x4.mul(poly, x2), f32x4.splat(A0));
  return f32x4.mul(x, poly);
}

// erfc(t)·exp(t²)·(t + 1) ≈ S(w) with w = (t − 1)/(t + 1), a degree-9 polynomial fitted on
// t in [0.5, 10.5] with relative error 2.0e-8. Beyond t = 10.5, exp(-t²) underflows float32.
const S0: f32 = 0.85516715;
const S1: f32 = -0.23768124;
const S2: f32 = -0.095555782;
const S3: f32 = 0.013927843;
const S4: f32 = 0.025354940;
const S5: f32 = 0.0092839189;
const S6: f32 = -0.00046356011;
const S7: f32 = -0.0030284515;
const S8: f32 = -0.0063267867;
const S9: f32 = 0.0035038986;
const ERFC_T_MAX: f32 = 10.5;

/** Returns erfc(t)·exp(t²) per lane for t ≥ 0.5, within about 3 ulp (float32 rounding of the polynomial). */
// @ts-ignore: decorator
@inline export function scaledErfc4(t: v128): v128 {
  const clamped = f32x4.pmin(t, f32x4.splat(ERFC_T_MAX));
  const one = f32x4.splat(1);
  const denominator = f32x4.add(clamped, one);
  const w = f32x4.div(f32x4.sub(clamped, one), denominator);

  let poly = f32x4.splat(S9);
  poly = f32x4.add(f32x4.mul(poly, w), f32x4.splat(S8));
  poly = f32x4.add(f32x4.mul(poly, w), f32x4.splat(S7));
  poly = f32x4.add(f32x4.mul(poly, w), f32x4.splat(S6));
  poly = f32x4.add(f32x4.mul(poly, w), f32x4.splat(S5));
  poly = f32x4.add(f32x4.mul(poly, w), f32x4.splat(S4));
  poly = f32x4.add(f32x4.mul(poly, w), f32x4.splat(S3));
  poly = f32x4.add(f32x4.mul(poly, w), f32x4.splat(S2));
  poly = f32x4.add(f32x4.mul(poly, w), f32x4.splat(S1));
  poly = f32x4.add(f32x4.mul(poly, w), f32x4.splat(S0));
  return f32x4.div(poly, denominator);
}

/** Returns the sum of the four lanes. */
// @ts-ignore: decorator
@inline export function sumLanes(v: v128): f32 {
  const pairs = f32x4.add(v, f32x4.shuffle(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(pairs, 0) + f32x4.extract_lane(pairs, 1);
}

/** Returns the maximum of the four lanes (NaN when a lane is NaN). */
// @ts-ignore: decorator
@inline export function maxLanes(v: v128): f32 {
  const pairs = f32x4.max(v, f32x4.shuffle(v, v, 2, 3, 0, 1));
  return max<f32>(f32x4.extract_lane(pairs, 0), f32x4.extract_lane(pairs, 1));
}
