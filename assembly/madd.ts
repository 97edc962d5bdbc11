// The multiply-add of the GEMM and attention micro-kernels, chosen when the module is compiled.
// The relaxed-SIMD build (asconfig target "release-relaxed") uses f32x4.relaxed_madd, which V8 on
// x64 with FMA3 runs as one fused instruction with one rounding. The plain SIMD build multiplies,
// rounds, then adds. Either way every lane accumulates in float32.

/** Returns a·b + c per lane. */
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}
