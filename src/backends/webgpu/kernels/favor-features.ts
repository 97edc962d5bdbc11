import { registerKernel } from '../../../kernels/registry.js';
import { asWebGpuBackend, assertSize } from '../backend.js';
import { ParamsWriter } from '../params.js';
import { computeEntry, WGSL_EXP } from '../wgsl.js';
import { recordGemm } from './linear.js';

const WHAT = 'webgpu favorFeatures';
const FAVOR_EPS = 1e-4;

// FAVOR+ features in three or four dispatches over rows r = (b·tokens + t)·heads + h, the layout
// in which x [batch, tokens, heads·dimHead] is [rows, dimHead]:
//   1. u [rows, nbFeatures] = x·Wᵀ through the GEMM (not yet scaled by dimHead^-0.25);
//   2. stats [rows, 2] = (max_j u, |x'|²/2) per row;
//   3. keys only: keyMax [batch·heads] = max of stats.max over the real tokens of each (b, h);
//   4. features [batch, heads, tokens, nbFeatures], one invocation per value.

// Index space: [rows]; one invocation per row.
const STATS_WGSL = /* wgsl */ `
struct Params { rowStart: u32, rowCount: u32, dimHead: u32, nbFeatures: u32, normalizer: f32, uBase: u32, xBase: u32, statsBase: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
${computeEntry(64)}
  let local = group * 64u + lid;
  if (local >= params.rowCount) { return; }
  let row = params.rowStart + local;

  let uRow = row * params.nbFeatures - params.uBase;
  var rowMax = u[uRow];
  for (var j = 1u; j < params.nbFeatures; j++) { rowMax = max(rowMax, u[uRow + j]); }

  let xRow = row * params.dimHead - params.xBase;
  var squares = 0.0;
  for (var d = 0u; d < params.dimHead; d++) {
    let value = x[xRow + d];
    squares += value * value;
  }
  let stats0 = row * 2u - params.statsBase;
  stats[stats0] = rowMax;
  stats[stats0 + 1u] = squares * params.normalizer * params.normalizer * 0.5;
}
`;

// Index space: [batch, heads]; one workgroup of 64 per (b, h). When no token of (b, h) is real,
// every key feature of (b, h) is 0 and the max is never read.
const KEY_MAX_WGSL = /* wgsl */ `
struct Params { batchStart: u32, batchCount: u32, headStart: u32, headCount: u32, tokens: u32, heads: u32, hasMask: u32, statsBase: u32, keyMaxBase: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stats: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read_write> keyMax: array<f32>;
var<workgroup> partial: array<f32, 64>;
${computeEntry(64)}
  if (group >= params.batchCount * params.headCount) { return; }
  let b = params.batchStart + group / params.headCount;
  let h = params.headStart + group % params.headCount;
  var best = bitcast<f32>(0xff7fffffu); // the lowest float32: a constant −inf is a WGSL shader-creation error
  for (var t = lid; t < params.tokens; t += 64u) {
    if (params.hasMask != 0u && mask[b * params.tokens + t] == 0u) { continue; }
    best = max(best, stats[((b * params.tokens + t) * params.heads + h) * 2u - params.statsBase]);
  }
  partial[lid] = best;
  for (var stride = 32u; stride > 0u; stride = stride >> 1u) {
    workgroupBarrier();
    if (lid < stride) { partial[lid] = max(partial[lid], partial[lid + stride]); }
  }
  if (lid == 0u) { keyMax[b * params.heads + h - params.keyMaxBase] = partial[0]; }
}
`;

// Index space: [batch, heads, tokens]; one invocation per feature value.
//   query: ratio·(exp(u·normalizer − rowMax·normalizer − |x'|²/2) + 1e-4)
//   key:   ratio·(exp(u·normalizer − keyMax·normalizer − |x'|²/2) + 1e-4), exactly 0 at masked tokens
const FEATURES_WGSL = /* wgsl */ `
struct Params {
  batchStart: u32, batchCount: u32, headStart: u32, headCount: u32, tokenStart: u32, tokenCount: u32,
  tokens: u32, heads: u32, nbFeatures: u32, isKey: u32, hasMask: u32, normalizer: f32, ratio: f32,
  uBase: u32, statsBase: u32, keyMaxBase: u32, featuresBase: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read> keyMax: array<f32>;
@group(0) @binding(5) var<storage, read_write> features: array<f32>;
${WGSL_EXP}
${computeEntry(256)}
  let local = group * 256u + lid;
  let j = local % params.nbFeatures;
  let boxRow = local / params.nbFeatures;
  if (boxRow >= params.batchCount * params.headCount * params.tokenCount) { return; }
  let t = params.tokenStart + boxRow % params.tokenCount;
  let h = params.headStart + (boxRow / params.tokenCount) % params.headCount;
  let b = params.batchStart + boxRow / (params.tokenCount * params.headCount);
  let out = (((b * params.heads + h) * params.tokens + t) * params.nbFeatures + j) - params.featuresBase;

  if (params.isKey != 0u && params.hasMask != 0u && mask[b * params.tokens + t] == 0u) {
    features[out] = 0.0;
    return;
  }
  let row = (b * params.tokens + t) * params.heads + h;
  let halfNorm = stats[row * 2u + 1u - params.statsBase];
  var stabiliser = stats[row * 2u - params.statsBase];
  if (params.isKey != 0u) { stabiliser = keyMax[b * params.heads + h - params.keyMaxBase]; }
  let exponent = (u[row * params.nbFeatures + j - params.uBase] * params.normalizer - stabiliser * params.normalizer) - halfNorm;
  features[out] = params.ratio * (expF32(exponent) + ${FAVOR_EPS});
}
`;

registerKernel({
  kernelName: 'favorFeatures',
  backendName: 'webgpu',
  kernelFunc: ({ x, projection, batch, tokens, heads, dimHead, kind, mask }, backend) => {
    const gpu = asWebGpuBackend(backend, WHAT);
    const nbFeatures = projection.shape[0];
    assertSize(projection, nbFeatures * dimHead, WHAT, 'projection');
    assertSize(x, batch * tokens * heads * dimHead, WHAT, 'x');
    const rows = batch * tokens * heads;
    const normalizer = dimHead ** -0.25;
    const isKey = kind === 'key';
    const xBuffer = gpu.buffer(x, WHAT);
    const maskBuffer = gpu.mask(mask, batch, tokens, WHAT);
    const hasMask = mask ? 1 : 0;
    const features = gpu.empty([batch, heads, tokens, nbFeatures]);
    const featuresBuffer = features.storage as GPUBuffer;

    const u = gpu.scratch(rows * nbFeatures * 4);
    const stats = gpu.scratch(rows * 2 * 4);
    const keyMax = isKey ? gpu.scratch(batch * heads * 4) : gpu.placeholder();
    recordGemm(gpu, { x: xBuffer, weight: projection, bias: null, y: u, rows, inFeatures: dimHead, outFeatures: nbFeatures, gelu: false }, WHAT);

    gpu.run(
      {
        pipeline: gpu.pipeline('favorStats', () => STATS_WGSL),
        dims: [rows],
        ranges: ({ start: [row], size: [count] }) => [
          { buffer: u, first: row * nbFeatures, end: (row + count) * nbFeatures },
          { buffer: xBuffer, first: row * dimHead, end: (row + count) * dimHead },
          { buffer: stats, first: row * 2, end: (row + count) * 2 },
        ],
        workgroups: ({ size: [count] }) => Math.ceil(count / 64),
        params: ({ start: [row], size: [count] }, [uBase, xBase, statsBase]) =>
          new ParamsWriter().u32(row).u32(count).u32(dimHead).u32(nbFeatures).f32(normalizer).u32(uBase).u32(xBase).u32(statsBase).finish(),
      },
      WHAT,
    );

    // Rows (b, t, h) of a box of [batch, ?, heads] from its first to its last index.
    const statsRows = (b: number, bCount: number, h: number, hCount: number, t = 0, tCount = tokens) => ({
      first: (b * tokens + t) * heads + h,
      end: ((b + bCount - 1) * tokens + t + tCount - 1) * heads + h + hCount,
    });

    if (isKey) {
      gpu.run(
        {
          pipeline: gpu.pipeline('favorKeyMax', () => KEY_MAX_WGSL),
          dims: [batch, heads],
          ranges: ({ start: [b, h], size: [bCount, hCount] }) => {
            const { first, end } = statsRows(b, bCount, h, hCount);
            return [
              { buffer: stats, first: first * 2, end: end * 2 },
              { buffer: maskBuffer, first: 0, end: mask ? mask.length : 1 },
              { buffer: keyMax, first: b * heads + h, end: (b + bCount - 1) * heads + h + hCount },
            ];
          },
          workgroups: ({ size: [bCount, hCount] }) => bCount * hCount,
          params: ({ start: [b, h], size: [bCount, hCount] }, [statsBase, , keyMaxBase]) =>
            new ParamsWriter().u32(b).u32(bCount).u32(h).u32(hCount).u32(tokens).u32(heads).u32(hasMask).u32(statsBase).u32(keyMaxBase).finish(),
        },
        WHAT,
      );
    }

    gpu.run(
      {
        pipeline: gpu.pipeline('favorFeatures', () => FEATURES_WGSL),
        dims: [batch, heads, tokens],
        ranges: ({ start: [b, h, t], size: [bCount, hCount, tCount] }) => {
          const { first, end } = statsRows(b, bCount, h, hCount, t, tCount);
          return [
            { buffer: u, first: first * nbFeatures, end: end * nbFeatures },
            { buffer: stats, first: first * 2, end: end * 2 },
            { buffer: maskBuffer, first: 0, end: mask ? mask.length : 1 },
            isKey ? { buffer: keyMax, first: b * heads + h, end: (b + bCount - 1) * heads + h + hCount } : { buffer: keyMax, first: 0, end: 1 },
            {
              buffer: featuresBuffer,
              first: ((b * heads + h) * tokens + t) * nbFeatures,
              end: (((b + bCount - 1) * heads + h + hCount - 1) * tokens + t + tCount) * nbFeatures,
            },
          ];
        },
        workgroups: ({ size: [bCount, hCount, tCount] }) => Math.ceil((bCount * hCount * tCount * nbFeatures) / 256),
        params: ({ start: [b, h, t], size: [bCount, hCount, tCount] }, [uBase, statsBase, , keyMaxBase, featuresBase]) =>
          new ParamsWriter()
            .u32(b)
            .u32(bCount)
            .u32(h)
            .u32(hCount)
            .u32(t)
            .u32(tCount)
            .u32(tokens)
            .u32(heads)
            .u32(nbFeatures)
            .u32(isKey ? 1 : 0)
            .u32(hasMask)
            .f32(normalizer)
            .f32(nbFeatures ** -0.5)
            .u32(uBase)
            .u32(statsBase)
            .u32(keyMaxBase)
            .u32(featuresBase)
            .finish(),
      },
      WHAT,
    );

    gpu.releaseScratch(u);
    gpu.releaseScratch(stats);
    if (isKey) gpu.releaseScratch(keyMax);
    return features;
  },
});
