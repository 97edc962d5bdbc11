import { registerKernel } from '../../../kernels/registry.js';
import { asWebGpuBackend, assertSize } from '../backend.js';
import { ParamsWriter } from '../params.js';
import { computeEntry } from '../wgsl.js';

const WHAT = 'webgpu linearAttention';

// Non-causal linear attention in three steps per (batch, head). Rows of the sums are padded to
// `width` = dimHead + 1 rounded up to 4 floats. Column dimHead contains Σψ and the rest is 0:
//   1. partial [batch, heads, chunks, nbFeatures, width] = Σ over the real tokens s of one chunk
//      of ψ_s·[v_s, 1, 0…]ᵀ;
//   2. context [batch, heads, nbFeatures, width] = Σ of the partials over chunks (skipped with one
//      chunk);
//   3. out_t = φ_t·context[:, :dimHead] / (φ_t·context[:, dimHead]), or 0 when that is not > 0.
// Chunks keep float32 sums short (about 256 tokens, then at most MAX_CHUNKS partial sums, unless
// the binding limit needs shorter chunks) and spread long sequences over more workgroups.
const CHUNK_TOKENS = 256;
const MAX_CHUNKS = 64;

// Steps 1 and 3 are small GEMMs shaped like the linear kernel. A workgroup of LANES invocations
// owns ROWS rows, and invocation c owns columns 4c … 4c + 3. TILE_K steps of the sum at a time
// pass through workgroup memory, where every invocation reads the same value at once.
const LANES = 32;
const ROWS = 16;
const TILE_K = 32;

// Index space: [batch, heads, chunks]. Rows are features j, the sum runs over the tokens of a
// chunk. Masked tokens load as zeros, so non-finite values there never reach a sum.
const PARTIAL_WGSL = /* wgsl */ `
struct Params {
  batchStart: u32, batchCount: u32, headStart: u32, headCount: u32, chunkStart: u32, chunkCount: u32,
  featureBlocks: u32, columnBlocks: u32, tokens: u32, heads: u32, dimHead: u32, nbFeatures: u32, width: u32,
  chunks: u32, chunkTokens: u32, hasMask: u32, keyBase: u32, vBase: u32, partialBase: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> keyFeatures: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read_write> partial: array<f32>;
var<workgroup> keyTile: array<f32, ${ROWS * TILE_K}>; // [ROWS features][TILE_K tokens]
var<workgroup> realTile: array<f32, ${TILE_K}>;       // 1 for a real token, else 0
${computeEntry(LANES)}
  let blocks = params.featureBlocks * params.columnBlocks;
  let boxChunk = group / blocks;
  if (boxChunk >= params.batchCount * params.headCount * params.chunkCount) { return; }
  let c = params.chunkStart + boxChunk % params.chunkCount;
  let h = params.headStart + (boxChunk / params.chunkCount) % params.headCount;
  let b = params.batchStart + boxChunk / (params.chunkCount * params.headCount);
  let j0 = ((group % blocks) / params.columnBlocks) * ${ROWS}u;
  let column0 = ((group % blocks) % params.columnBlocks * ${LANES}u + lid) * 4u;
  let inner = params.heads * params.dimHead;
  let keyRow0 = (b * params.heads + h) * params.tokens;
  let tokenStart = c * params.chunkTokens;
  let tokenEnd = min(tokenStart + params.chunkTokens, params.tokens);

  var acc: array<vec4<f32>, ${ROWS}>;
  for (var s0 = tokenStart; s0 < tokenEnd; s0 += ${TILE_K}u) {
    for (var e = lid; e < ${ROWS * TILE_K}u; e += ${LANES}u) {
      let s = s0 + e % ${TILE_K}u;
      let j = j0 + e / ${TILE_K}u;
      var real = s < tokenEnd;
      if (real && params.hasMask != 0u) { real = mask[b * params.tokens + s] != 0u; }
      var value = 0.0;
      if (real && j < params.nbFeatures) { value = keyFeatures[(keyRow0 + s) * params.nbFeatures + j - params.keyBase]; }
      keyTile[e] = value;
      if (e < ${TILE_K}u) { realTile[e] = select(0.0, 1.0, real); }
    }
    workgroupBarrier();
    let kEnd = min(${TILE_K}u, tokenEnd - s0);
    for (var kk = 0u; kk < kEnd; kk++) {
      let real = realTile[kk];
      let vRow = (b * params.tokens + s0 + kk) * inner + h * params.dimHead - params.vBase;
      var value = vec4<f32>(0.0);
      for (var q = 0u; q < 4u; q++) {
        let d = column0 + q;
        if (d < params.dimHead && real != 0.0) { value[q] = v[vRow + d]; }
        if (d == params.dimHead) { value[q] = real; }
      }
      for (var i = 0u; i < ${ROWS}u; i++) { acc[i] += keyTile[i * ${TILE_K}u + kk] * value; }
    }
    workgroupBarrier();
  }

  if (column0 >= params.width) { return; }
  let base = (((b * params.heads + h) * params.chunks + c) * params.nbFeatures + j0) * params.width + column0 - params.partialBase;
  for (var i = 0u; i < ${ROWS}u; i++) {
    if (j0 + i >= params.nbFeatures) { break; }
    for (var q = 0u; q < 4u; q++) { partial[base + i * params.width + q] = acc[i][q]; }
  }
}
`;

// Index space: [batch·heads, context values, chunks]; one invocation per context value, summing
// the chunks of its box in order. Boxes that split the chunks add to what earlier boxes wrote.
const REDUCE_WGSL = /* wgsl */ `
struct Params {
  pairStart: u32, pairCount: u32, elementStart: u32, elementCount: u32, chunkStart: u32, chunkCount: u32,
  size: u32, chunks: u32, accumulate: u32, partialBase: u32, contextBase: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> context: array<f32>;
${computeEntry(256)}
  let local = group * 256u + lid;
  if (local >= params.pairCount * params.elementCount) { return; }
  let pair = params.pairStart + local / params.elementCount;
  let e = params.elementStart + local % params.elementCount;
  var sum = 0.0;
  for (var c = params.chunkStart; c < params.chunkStart + params.chunkCount; c++) {
    sum += partial[(pair * params.chunks + c) * params.size + e - params.partialBase];
  }
  let index = pair * params.size + e - params.contextBase;
  if (params.accumulate != 0u) { sum += context[index]; }
  context[index] = sum;
}
`;

// Index space: [batch, heads, tokens]. Rows are tokens t, the sum runs over the features. Every
// invocation also sums the denominators of the block's rows: the same reads, one more FMA each.
const OUTPUT_WGSL = /* wgsl */ `
struct Params {
  batchStart: u32, batchCount: u32, headStart: u32, headCount: u32, tokenStart: u32, tokenCount: u32,
  tokenBlocks: u32, columnBlocks: u32, tokens: u32, heads: u32, dimHead: u32, nbFeatures: u32, width: u32,
  queryBase: u32, contextBase: u32, outBase: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> queryFeatures: array<f32>;
@group(0) @binding(2) var<storage, read> context: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
var<workgroup> queryTile: array<f32, ${ROWS * TILE_K}>; // [ROWS tokens][TILE_K features]
${computeEntry(LANES)}
  let blocks = params.tokenBlocks * params.columnBlocks;
  let pair = group / blocks;
  if (pair >= params.batchCount * params.headCount) { return; }
  let h = params.headStart + pair % params.headCount;
  let b = params.batchStart + pair / params.headCount;
  let t0 = params.tokenStart + ((group % blocks) / params.columnBlocks) * ${ROWS}u;
  let column0 = ((group % blocks) % params.columnBlocks * ${LANES}u + lid) * 4u;
  let tokenEnd = params.tokenStart + params.tokenCount;
  let queryRow0 = (b * params.heads + h) * params.tokens;
  // context is bound as vec4s; its window starts at a multiple of 64 floats and rows are width floats.
  let contextRow0 = (b * params.heads + h) * params.nbFeatures * params.width - params.contextBase;
  let vectors = params.width / 4u;

  var acc: array<vec4<f32>, ${ROWS}>;
  var denominators: array<f32, ${ROWS}>;
  for (var j0 = 0u; j0 < params.nbFeatures; j0 += ${TILE_K}u) {
    for (var e = lid; e < ${ROWS * TILE_K}u; e += ${LANES}u) {
      let t = t0 + e / ${TILE_K}u;
      let j = j0 + e % ${TILE_K}u;
      var value = 0.0;
      if (t < tokenEnd && j < params.nbFeatures) { value = queryFeatures[(queryRow0 + t) * params.nbFeatures + j - params.queryBase]; }
      queryTile[e] = value;
    }
    workgroupBarrier();
    let kEnd = min(${TILE_K}u, params.nbFeatures - j0);
    for (var kk = 0u; kk < kEnd; kk++) {
      let row = contextRow0 + (j0 + kk) * params.width;
      let z = context[(row + params.dimHead) / 4u][params.dimHead % 4u];
      var value = vec4<f32>(0.0);
      if (column0 < params.width) { value = context[row / 4u + column0 / 4u]; }
      for (var i = 0u; i < ${ROWS}u; i++) {
        let query = queryTile[i * ${TILE_K}u + kk];
        acc[i] += query * value;
        denominators[i] += query * z;
      }
    }
    workgroupBarrier();
  }

  let inner = params.heads * params.dimHead;
  for (var i = 0u; i < ${ROWS}u; i++) {
    let t = t0 + i;
    if (t >= tokenEnd) { break; }
    for (var q = 0u; q < 4u; q++) {
      let d = column0 + q;
      if (d < params.dimHead) {
        var value = 0.0;
        if (denominators[i] > 0.0) { value = acc[i][q] / denominators[i]; }
        out[(b * params.tokens + t) * inner + h * params.dimHead + d - params.outBase] = value;
      }
    }
  }
}
`;

registerKernel({
  kernelName: 'linearAttention',
  backendName: 'webgpu',
  kernelFunc: ({ queryFeatures, keyFeatures, v, batch, tokens, heads, dimHead, mask }, backend) => {
    const gpu = asWebGpuBackend(backend, WHAT);
    const nbFeatures = queryFeatures.shape[3];
    const inner = heads * dimHead;
    assertSize(queryFeatures, batch * heads * tokens * nbFeatures, WHAT, 'queryFeatures');
    assertSize(keyFeatures, batch * heads * tokens * nbFeatures, WHAT, 'keyFeatures');
    assertSize(v, batch * tokens * inner, WHAT, 'v');
    const phi = gpu.buffer(queryFeatures, WHAT);
    const psi = gpu.buffer(keyFeatures, WHAT);
    const vBuffer = gpu.buffer(v, WHAT);
    const maskBuffer = gpu.mask(mask, batch, tokens, WHAT);
    const out = gpu.empty([batch, tokens, inner]);
    const outBuffer = out.storage as GPUBuffer;

    const width = Math.ceil((dimHead + 1) / 4) * 4;
    const size = nbFeatures * width;
    const columnBlocks = Math.ceil(width / 4 / LANES);
    // One chunk's keys and values must also fit one storage binding.
    const bindingFloats = (gpu.limits.maxStorageBufferBindingSize - gpu.limits.minStorageBufferOffsetAlignment) / 4;
    const chunkTokens = Math.max(1, Math.min(Math.max(CHUNK_TOKENS, Math.ceil(tokens / MAX_CHUNKS)), Math.floor(bindingFloats / Math.max(nbFeatures, inner))));
    const chunks = Math.ceil(tokens / chunkTokens);
    const featureBlocks = Math.ceil(nbFeatures / ROWS);
    const partial = gpu.scratch(batch * heads * chunks * size * 4);

    // Rows (b, h, t) of [batch, heads, tokens, ·] from a box's first index to its last.
    const headRows = (b: number, bCount: number, h: number, hCount: number, t: number, tCount: number) => ({
      first: (b * heads + h) * tokens + t,
      end: ((b + bCount - 1) * heads + h + hCount - 1) * tokens + t + tCount,
    });

    gpu.run(
      {
        pipeline: gpu.pipeline('linearAttentionPartial', () => PARTIAL_WGSL),
        dims: [batch, heads, chunks],
        ranges: ({ start: [b, h, c], size: [bCount, hCount, cCount] }) => {
          const t = c * chunkTokens;
          const tCount = Math.min(tokens, (c + cCount) * chunkTokens) - t;
          const keys = headRows(b, bCount, h, hCount, t, tCount);
          return [
            { buffer: psi, first: keys.first * nbFeatures, end: keys.end * nbFeatures },
            { buffer: vBuffer, first: (b * tokens + t) * inner, end: ((b + bCount - 1) * tokens + t + tCount) * inner },
            { buffer: maskBuffer, first: 0, end: mask ? mask.length : 1 },
            { buffer: partial, first: ((b * heads + h) * chunks + c) * size, end: (((b + bCount - 1) * heads + h + hCount - 1) * chunks + c + cCount) * size },
          ];
        },
        workgroups: ({ size: [bCount, hCount, cCount] }) => bCount * hCount * cCount * featureBlocks * columnBlocks,
        params: ({ start: [b, h, c], size: [bCount, hCount, cCount] }, [keyBase, vBase, , partialBase]) =>
          new ParamsWriter()
            .u32(b)
            .u32(bCount)
            .u32(h)
            .u32(hCount)
            .u32(c)
            .u32(cCount)
            .u32(featureBlocks)
            .u32(columnBlocks)
            .u32(tokens)
            .u32(heads)
            .u32(dimHead)
            .u32(nbFeatures)
            .u32(width)
            .u32(chunks)
            .u32(chunkTokens)
            .u32(mask ? 1 : 0)
            .u32(keyBase)
            .u32(vBase)
            .u32(partialBase)
            .finish(),
      },
      WHAT,
    );

    let context = partial;
    if (chunks > 1) {
      context = gpu.scratch(batch * heads * size * 4);
      gpu.run(
        {
          pipeline: gpu.pipeline('linearAttentionReduce', () => REDUCE_WGSL),
          dims: [batch * heads, size, chunks],
          ranges: ({ start: [pair, e, c], size: [pairCount, eCount, cCount] }) => [
            { buffer: partial, first: (pair * chunks + c) * size + e, end: ((pair + pairCount - 1) * chunks + c + cCount - 1) * size + e + eCount },
            { buffer: context, first: pair * size + e, end: (pair + pairCount - 1) * size + e + eCount },
          ],
          workgroups: ({ size: [pairCount, eCount] }) => Math.ceil((pairCount * eCount) / 256),
          params: ({ start: [pair, e, c], size: [pairCount, eCount, cCount] }, [partialBase, contextBase]) =>
            new ParamsWriter()
              .u32(pair)
              .u32(pairCount)
              .u32(e)
              .u32(eCount)
              .u32(c)
              .u32(cCount)
              .u32(size)
              .u32(chunks)
              .u32(c > 0 ? 1 : 0)
              .u32(partialBase)
              .u32(contextBase)
              .finish(),
        },
        WHAT,
      );
      gpu.releaseScratch(partial);
    }

    const tokenBlocksOf = (tCount: number) => Math.ceil(tCount / ROWS);
    gpu.run(
      {
        pipeline: gpu.pipeline('linearAttentionOutput', () => OUTPUT_WGSL),
        dims: [batch, heads, tokens],
        ranges: ({ start: [b, h, t], size: [bCount, hCount, tCount] }) => {
          const queries = headRows(b, bCount, h, hCount, t, tCount);
          return [
            { buffer: phi, first: queries.first * nbFeatures, end: queries.end * nbFeatures },
            { buffer: context, first: (b * heads + h) * size, end: ((b + bCount - 1) * heads + h + hCount) * size },
            { buffer: outBuffer, first: (b * tokens + t) * inner, end: ((b + bCount - 1) * tokens + t + tCount) * inner },
          ];
        },
        workgroups: ({ size: [bCount, hCount, tCount] }) => bCount * hCount * tokenBlocksOf(tCount) * columnBlocks,
        params: ({ start: [b, h, t], size: [bCount, hCount, tCount] }, [queryBase, contextBase, outBase]) =>
          new ParamsWriter()
            .u32(b)
            .u32(bCount)
            .u32(h)
            .u32(hCount)
            .u32(t)
            .u32(tCount)
            .u32(tokenBlocksOf(tCount))
            .u32(columnBlocks)
            .u32(tokens)
            .u32(heads)
            .u32(dimHead)
            .u32(nbFeatures)
            .u32(width)
            .u32(queryBase)
            .u32(contextBase)
            .u32(outBase)
            .finish(),
      },
      WHAT,
    );
    gpu.releaseScratch(context);
    return out;
  },
});
