// WGSL shared by the kernels. WGSL has no erf, and its exp may be off by 3 + 2·|x| ulp, so
// exp and GELU follow the WebAssembly kernels (assembly/math.ts, assembly/activations.ts) step
// by step, with the same float32 coefficients. Every step is a plain float32 operation or a bit
// operation, so a compiler that fuses a·b + c into one FMA only makes it more accurate.

/** Returns the WGSL entry-point header of a 1-D workgroup whose flat index comes from a 2-D grid. */
export function computeEntry(workgroupSize: number): string {
  return `@compute @workgroup_size(${workgroupSize})
fn main(@builtin(workgroup_id) workgroupId: vec3<u32>, @builtin(num_workgroups) workgroupCount: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let group = workgroupId.x + workgroupId.y * workgroupCount.x;`;
}

/** isNan(x) from the bits: comparisons with NaN may be folded away by optimising compilers. */
export const WGSL_IS_NAN = /* wgsl */ `
fn isNan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}
`;

/** expF32(x) within about 1 ulp where the result is normal, and expMinusHalfSquare(x) = exp(-x²/2). */
export const WGSL_EXP = /* wgsl */ `
${WGSL_IS_NAN}
const LOG2E: f32 = 1.44269504;
// LN2_HI has 9 significant bits, so n·LN2_HI is exact for every n below.
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
const E0: f32 = 0.49999994;
const E1: f32 = 0.16666521;
const E2: f32 = 0.041668389;
const E3: f32 = 0.0083687454;
const E4: f32 = 0.0013814541;
const EXP_MIN: f32 = -110.0;
const EXP_MAX: f32 = 89.0;

// exp(r) for |r| ≤ ln(2)/2, relative error 3.1e-9 before rounding.
fn expReduced(r: f32) -> f32 {
  var p = E4;
  p = p * r + E3;
  p = p * r + E2;
  p = p * r + E1;
  p = p * r + E0;
  return 1.0 + (r + (r * r) * p);
}

// p·2^n for n in [-252, 254], as two factors so results may underflow or overflow as they should.
fn scaleByPowerOfTwo(p: f32, n: i32) -> f32 {
  let first = n >> 1u;
  let second = n - first;
  return (p * bitcast<f32>(u32(first + 127) << 23u)) * bitcast<f32>(u32(second + 127) << 23u);
}

fn expF32(x: f32) -> f32 {
  let c = clamp(x, EXP_MIN, EXP_MAX);
  let n = round(c * LOG2E);
  let r = (c - n * LN2_HI) - n * LN2_LO;
  return select(scaleByPowerOfTwo(expReduced(r), i32(n)), x, isNan(x));
}

// exp(-x²/2) for |x| ≤ 20: x splits into a 12-bit head, whose square is exact, and a tail whose
// share of the exponent joins the reduced argument.
fn expMinusHalfSquare(x: f32) -> f32 {
  let head = bitcast<f32>(bitcast<u32>(x) & 0xfffff000u);
  let tail = x - head;
  let exponentHead = max(-0.5 * (head * head), EXP_MIN);
  let exponentTail = -0.5 * (tail * (x + head));
  let n = round(exponentHead * LOG2E);
  let r = ((exponentHead - n * LN2_HI) - n * LN2_LO) + exponentTail;
  return scaleByPowerOfTwo(expReduced(r), i32(n));
}
`;

/** gelu(x) = x/2·(1 + erf(x/√2)), the erf form, within a few ulp; needs WGSL_EXP. */
export const WGSL_GELU = /* wgsl */ `
const INV_SQRT2: f32 = 0.70710677;
const GELU_CLAMP: f32 = 20.0;

// erf(x/√2) ≈ x·(A0 + A1·x² + … + A4·x⁸) for |x| < 1/√2.
const A0: f32 = 0.79788458;
const A1: f32 = -0.13298066;
const A2: f32 = 0.019945400;
const A3: f32 = -0.0023650185;
const A4: f32 = 0.00020850210;

// erfc(t)·exp(t²)·(t + 1) ≈ S(w), w = (t − 1)/(t + 1), for t in [0.5, 10.5].
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

fn erfHalfSqrt(x: f32) -> f32 {
  let x2 = x * x;
  var p = A4;
  p = p * x2 + A3;
  p = p * x2 + A2;
  p = p * x2 + A1;
  p = p * x2 + A0;
  return x * p;
}

// erfc(t)·exp(t²) for t ≥ 0.5.
fn scaledErfc(t: f32) -> f32 {
  let c = min(t, ERFC_T_MAX);
  let denominator = c + 1.0;
  let w = (c - 1.0) / denominator;
  var p = S9;
  p = p * w + S8;
  p = p * w + S7;
  p = p * w + S6;
  p = p * w + S5;
  p = p * w + S4;
  p = p * w + S3;
  p = p * w + S2;
  p = p * w + S1;
  p = p * w + S0;
  return p / denominator;
}

// Inputs past −1/√2 go through erfc, so tiny negative outputs keep their relative precision.
// gelu(+inf) = +inf, gelu(−inf) = −0, gelu(NaN) = NaN.
fn gelu(x: f32) -> f32 {
  let h = 0.5 * x;
  if (abs(x) < INV_SQRT2) {
    return h + h * erfHalfSqrt(x);
  }
  let c = clamp(x, -GELU_CLAMP, GELU_CLAMP);
  let t = abs(c) * INV_SQRT2;
  let halfErfc = (0.5 * c) * (expMinusHalfSquare(c) * scaledErfc(t));
  let y = select(x - halfErfc, halfErfc, x < 0.0);
  return select(y, x, isNan(x));
}
`;
