// A micro-benchmark of the SIMD multiply-add throughput that V8 reaches with the GEMM kernel's
// instruction stream: the ceiling the GEMM is measured against in bench/gemm.mjs.
import { madd } from './madd';

/**
 * Runs `iterations` k steps of a 4 × 8 outer product acc[r][c] += x[r]·w[c] on data that stays in
 * L1, and returns a lane sum that keeps the accumulators live. A step is the GEMM micro-kernel's
 * step: two w vectors and four broadcast x values loaded, eight f32x4 multiply-adds (multiply then
 * add in the plain build, relaxed_madd in the relaxed one), 64 FLOPs. Unlike the GEMM it never
 * misses the cache and never packs, so its rate is the arithmetic ceiling. `scratch` is 512 bytes
 * of memory that the function fills itself; the 8 steps it cycles through stay in L1.
 */
export function simdPeak(iterations: i32, scratch: usize): f32 {
  for (let j = 0; j < 32; j++) v128.store(scratch + (<usize>j << 4), f32x4.splat(<f32>1e-3 * <f32>(j + 1)));

  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);

  // Eight steps per loop round, at constant offsets, as the GEMM's k loop walks its panels.
  for (let i = 0; i < iterations; i += 8) {
    for (let s = 0; s < 8; s++) {
      const step = scratch + (<usize>s << 6);
      const b0 = v128.load(step);
      const b1 = v128.load(step, 16);
      let a = v128.load32_splat(step, 32);
      c00 = madd(a, b0, c00);
      c01 = madd(a, b1, c01);
      a = v128.load32_splat(step, 36);
      c10 = madd(a, b0, c10);
      c11 = madd(a, b1, c11);
      a = v128.load32_splat(step, 40);
      c20 = madd(a, b0, c20);
      c21 = madd(a, b1, c21);
      a = v128.load32_splat(step, 44);
      c30 = madd(a, b0, c30);
      c31 = madd(a, b1, c31);
    }
  }

  const sum = f32x4.add(f32x4.add(f32x4.add(c00, c01), f32x4.add(c10, c11)), f32x4.add(f32x4.add(c20, c21), f32x4.add(c30, c31)));
  return f32x4.extract_lane(sum, 0) + f32x4.extract_lane(sum, 1) + f32x4.extract_lane(sum, 2) + f32x4.extract_lane(sum, 3);
}
