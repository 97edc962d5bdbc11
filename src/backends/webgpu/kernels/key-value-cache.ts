import { OmninetError } from '../../../errors.js';
import { registerKernel } from '../../../kernels/registry.js';
import { asWebGpuBackend, assertSize } from '../backend.js';
import { ParamsWriter } from '../params.js';
import { computeEntry, WGSL_EXP } from '../wgsl.js';

// cacheWrite: index space [batch, count]; one invocation per copied float, flat over the box.
const CACHE_WRITE_WGSL = /* wgsl */ `
struct Params {
  batchStart: u32, batchCount: u32, positionStart: u32, positionCount: u32, width: u32, rowWidth: u32,
  available: u32, capacity: u32, columnOffset: u32, position: u32, rowsBase: u32, cacheBase: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> rows: array<f32>;
@group(0) @binding(2) var<storage, read_write> cache: array<f32>;
${computeEntry(256)}
  let local = group * 256u + lid;
  if (local >= params.batchCount * params.positionCount * params.width) { return; }
  let c = local % params.width;
  let i = params.positionStart + (local / params.width) % params.positionCount;
  let b = params.batchStart + local / (params.width * params.positionCount);
  let source = (b * params.available + i) * params.rowWidth + params.columnOffset + c;
  cache[(b * params.capacity + params.position + i) * params.width + c - params.cacheBase] = rows[source - params.rowsBase];
}
`;

registerKernel({
  kernelName: 'cacheWrite',
  backendName: 'webgpu',
  kernelFunc: ({ cache, rows, batch, count, columnOffset, position }, backend) => {
    const what = 'webgpu cacheWrite';
    const gpu = asWebGpuBackend(backend, what);
    const [, capacity, width] = cache.shape;
    const [, available, rowWidth] = rows.shape;
    if (position + count > capacity || count > available || columnOffset + width > rowWidth) {
      throw new OmninetError(
        'SHAPE_MISMATCH',
        `${what}: cannot copy ${count} positions of rows [${rows.shape.join(', ')}] from column ${columnOffset} into cache [${cache.shape.join(', ')}] at position ${position}`,
      );
    }
    const rowsBuffer = gpu.buffer(rows, what);
    const cacheBuffer = gpu.buffer(cache, what);
    gpu.run(
      {
        pipeline: gpu.pipeline('cacheWrite', () => CACHE_WRITE_WGSL),
        dims: [batch, count],
        ranges: ({ start: [b, i], size: [bCount, iCount] }) => [
          { buffer: rowsBuffer, first: (b * available + i) * rowWidth + columnOffset, end: ((b + bCount - 1) * available + i + iCount - 1) * rowWidth + columnOffset + width },
          { buffer: cacheBuffer, first: (b * capacity + position + i) * width, end: ((b + bCount - 1) * capacity + position + i + iCount) * width },
        ],
        workgroups: ({ size: [bCount, iCount] }) => Math.ceil((bCount * iCount * width) / 256),
        params: ({ start: [b, i], size: [bCount, iCount] }, [rowsBase, cacheBase]) =>
          new ParamsWriter()
            .u32(b)
            .u32(bCount)
            .u32(i)
            .u32(iCount)
            .u32(width)
            .u32(rowWidth)
            .u32(available)
            .u32(capacity)
            .u32(columnOffset)
            .u32(position)
            .u32(rowsBase)
            .u32(cacheBase)
            .finish(),
      },
      what,
    );
    return cache;
  },
});

// attentionDecode: a workgroup per (batch, head, block of LANES value columns) walks the cached
// positions in tiles of LANES. Invocation `lid` scores position s0 + lid of the tile into
// workgroup memory (masked positions and those past `length` score −∞ and are never read), then
// owns value column d and folds the tile into its online softmax: a running max, the sum of
// exp(score − max) and the weighted sum of column d. A query with no visible key returns 0.
const LANES = 64;

const DECODE_WGSL = /* wgsl */ `
struct Params {
  batchStart: u32, batchCount: u32, headStart: u32, headCount: u32, columnStart: u32, columnCount: u32,
  length: u32, capacity: u32, heads: u32, dimHead: u32, queryStride: u32, hasMask: u32, scale: f32,
  queryBase: u32, cacheBase: u32, outBase: u32, minusInfinity: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> cache: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
var<workgroup> scores: array<f32, ${LANES}>;
${WGSL_EXP}
${computeEntry(LANES)}
  let triple = group;
  if (triple >= params.batchCount * params.headCount * params.columnCount) { return; }
  let block = params.columnStart + triple % params.columnCount;
  let h = params.headStart + (triple / params.columnCount) % params.headCount;
  let b = params.batchStart + triple / (params.columnCount * params.headCount);
  let d = block * ${LANES}u + lid;
  let inner = params.heads * params.dimHead;
  let q = b * params.queryStride + h * params.dimHead - params.queryBase;
  // A constant −inf is a WGSL shader-creation error, so it comes from the parameters.
  let minusInfinity = bitcast<f32>(params.minusInfinity);

  var runningMax = minusInfinity;
  var denominator = 0.0;
  var acc = 0.0;
  for (var s0 = 0u; s0 < params.length; s0 += ${LANES}u) {
    let s = s0 + lid;
    var score = minusInfinity;
    var real = s < params.length;
    if (real && params.hasMask != 0u) { real = mask[b * params.length + s] != 0u; }
    if (real) {
      let key = (b * params.capacity + s) * 2u * inner + h * params.dimHead - params.cacheBase;
      var dot = 0.0;
      for (var e = 0u; e < params.dimHead; e++) { dot += qkv[q + e] * cache[key + e]; }
      score = dot * params.scale;
    }
    scores[lid] = score;
    workgroupBarrier();

    let end = min(${LANES}u, params.length - s0);
    var tileMax = minusInfinity;
    for (var i = 0u; i < end; i++) { tileMax = max(tileMax, scores[i]); }
    if (tileMax > runningMax) {
      let factor = expF32(runningMax - tileMax);
      denominator *= factor;
      acc *= factor;
      runningMax = tileMax;
    }
    for (var i = 0u; i < end; i++) {
      let sc = scores[i];
      if (sc > minusInfinity) {
        let weight = expF32(sc - runningMax);
        denominator += weight;
        if (d < params.dimHead) {
          acc += weight * cache[(b * params.capacity + s0 + i) * 2u * inner + inner + h * params.dimHead + d - params.cacheBase];
        }
      }
    }
    workgroupBarrier();
  }

  if (d < params.dimHead) {
    var result = 0.0;
    if (denominator > 0.0) { result = acc / denominator; }
    out[b * inner + h * params.dimHead + d - params.outBase] = result;
  }
}
`;

registerKernel({
  kernelName: 'attentionDecode',
  backendName: 'webgpu',
  kernelFunc: ({ qkv, cache, batch, length, heads, dimHead, scale, mask }, backend) => {
    const what = 'webgpu attentionDecode';
    const gpu = asWebGpuBackend(backend, what);
    const inner = heads * dimHead;
    const capacity = cache.shape[1];
    const queryStride = qkv.size / batch;
    assertSize(cache, batch * capacity * 2 * inner, what, 'cache');
    if (length > capacity || queryStride < inner) {
      throw new OmninetError(
        'SHAPE_MISMATCH',
        `${what}: invalid length ${length} for cache [${cache.shape.join(', ')}], or qkv [${qkv.shape.join(', ')}] has fewer than ${inner} query columns per batch row`,
      );
    }
    const qBuffer = gpu.buffer(qkv, what);
    const cacheBuffer = gpu.buffer(cache, what);
    const maskBuffer = gpu.mask(mask, batch, length, what);
    const out = gpu.empty([batch, inner]);
    const outBuffer = out.storage as GPUBuffer;
    const columnBlocks = Math.ceil(dimHead / LANES);

    gpu.run(
      {
        pipeline: gpu.pipeline('attentionDecode', () => DECODE_WGSL),
        dims: [batch, heads, columnBlocks],
        ranges: ({ start: [b, h], size: [bCount, hCount] }) => [
          { buffer: qBuffer, first: b * queryStride + h * dimHead, end: (b + bCount - 1) * queryStride + (h + hCount) * dimHead },
          { buffer: cacheBuffer, first: b * capacity * 2 * inner, end: (b + bCount - 1) * capacity * 2 * inner + Math.max(1, length) * 2 * inner },
          { buffer: maskBuffer, first: 0, end: mask ? mask.length : 1 },
          { buffer: outBuffer, first: b * inner + h * dimHead, end: (b + bCount - 1) * inner + (h + hCount) * dimHead },
        ],
        workgroups: ({ size: [bCount, hCount, cCount] }) => bCount * hCount * cCount,
        params: ({ start: [b, h, c], size: [bCount, hCount, cCount] }, [queryBase, cacheBase, , outBase]) =>
          new ParamsWriter()
            .u32(b)
            .u32(bCount)
            .u32(h)
            .u32(hCount)
            .u32(c)
            .u32(cCount)
            .u32(length)
            .u32(capacity)
            .u32(heads)
            .u32(dimHead)
            .u32(queryStride)
            .u32(mask ? 1 : 0)
            .f32(scale)
            .u32(queryBase)
            .u32(cacheBase)
            .u32(outBase)
            .u32(0xff800000)
            .finish(),
      },
      what,
    );
    return out;
  },
});
