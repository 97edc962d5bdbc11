import { OmninetError } from '../../../errors.js';
import { registerKernel } from '../../../kernels/registry.js';
import { asWebGpuBackend, assertSize } from '../backend.js';
import { ParamsWriter } from '../params.js';
import { computeEntry, WGSL_EXP } from '../wgsl.js';

const WHAT = 'webgpu attention';
const MAX_QUERY_BLOCK = 64;
const MIN_QUERY_BLOCK = 8;
const MAX_KEY_TILE = 32;

/**
 * Flash-style attention, specialised for dimHead, the query block (one invocation per query) and
 * the key tile. Each workgroup keeps its queries, output accumulators, running max and running
 * sum in registers and streams tiles of keys and values through workgroup memory with an online
 * softmax, so no seq × seq buffer exists. Masked keys load as zeros and are skipped, so values at
 * masked positions never reach an output.
 *
 * Index space: [batch, queries, keys]. When the qkv rows of a sequence exceed the storage-binding
 * limit, the keys are split too. Each part then continues from the running max and sum saved in
 * `state` [batch, seq, heads, 2] and from the unnormalised output saved in `out`. The part that
 * ends at the last key (`last`) normalises.
 */
function attentionWgsl(dimHead: number, queryBlock: number, keyTile: number): string {
  return /* wgsl */ `
const DIM_HEAD: u32 = ${dimHead}u;
const QUERY_BLOCK: u32 = ${queryBlock}u;
const KEY_TILE: u32 = ${keyTile}u;
struct Params {
  batchStart: u32, batchCount: u32, queryStart: u32, queryCount: u32, keyStart: u32, keyCount: u32,
  queryBlocks: u32, seq: u32, heads: u32, scale: f32, causal: u32, hasMask: u32, first: u32, last: u32,
  queryBase: u32, keyBase: u32, outBase: u32, stateBase: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> qkvQueries: array<f32>;
@group(0) @binding(2) var<storage, read> qkvKeys: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> state: array<f32>;
var<workgroup> keyTile: array<f32, ${keyTile * dimHead}>;
var<workgroup> valueTile: array<f32, ${keyTile * dimHead}>;
var<workgroup> keyIsReal: array<u32, ${keyTile}>;
${WGSL_EXP}

fn isRealKey(b: u32, key: u32, keyEnd: u32) -> bool {
  return key < keyEnd && (params.hasMask == 0u || mask[b * params.seq + key] != 0u);
}

${computeEntry(queryBlock)}
  let heads = params.heads;
  if (group >= params.batchCount * heads * params.queryBlocks) { return; }
  let block = group % params.queryBlocks;
  let h = (group / params.queryBlocks) % heads;
  let b = params.batchStart + group / (params.queryBlocks * heads);
  let inner = heads * DIM_HEAD;
  let rowStride = 3u * inner;
  let blockStart = params.queryStart + block * QUERY_BLOCK;
  let blockEnd = min(blockStart + QUERY_BLOCK, params.queryStart + params.queryCount);
  let i = blockStart + lid;
  let isQuery = i < blockEnd;

  var query: array<f32, DIM_HEAD>;
  var acc: array<f32, DIM_HEAD>;
  var runningMax = 0.0;
  var runningSum = 0.0;
  var seen = false;
  let outRow = (b * params.seq + i) * inner + h * DIM_HEAD - params.outBase;
  let stateRow = ((b * params.seq + i) * heads + h) * 2u - params.stateBase;
  if (isQuery) {
    let queryRow = (b * params.seq + i) * rowStride + h * DIM_HEAD - params.queryBase;
    for (var d = 0u; d < DIM_HEAD; d++) {
      query[d] = qkvQueries[queryRow + d] * params.scale;
      acc[d] = 0.0;
    }
    if (params.first == 0u) {
      runningMax = state[stateRow];
      runningSum = state[stateRow + 1u];
      seen = runningSum > 0.0;
      for (var d = 0u; d < DIM_HEAD; d++) { acc[d] = out[outRow + d]; }
    }
  }

  // With causal, keys at or after blockEnd are hidden from every query of the block.
  var keyEnd = params.keyStart + params.keyCount;
  if (params.causal != 0u) { keyEnd = min(keyEnd, blockEnd); }
  for (var k0 = params.keyStart; k0 < keyEnd; k0 += KEY_TILE) {
    for (var e = lid; e < KEY_TILE * DIM_HEAD; e += QUERY_BLOCK) {
      let key = k0 + e / DIM_HEAD;
      var keyValue = 0.0;
      var value = 0.0;
      if (isRealKey(b, key, keyEnd)) {
        let row = (b * params.seq + key) * rowStride + h * DIM_HEAD + e % DIM_HEAD - params.keyBase;
        keyValue = qkvKeys[row + inner];
        value = qkvKeys[row + 2u * inner];
      }
      keyTile[e] = keyValue;
      valueTile[e] = value;
    }
    for (var kk = lid; kk < KEY_TILE; kk += QUERY_BLOCK) { keyIsReal[kk] = select(0u, 1u, isRealKey(b, k0 + kk, keyEnd)); }
    workgroupBarrier();

    if (isQuery) {
      // Scores of the tile, with the keys innermost so each query value is read once.
      var scores: array<f32, KEY_TILE>;
      for (var kk = 0u; kk < KEY_TILE; kk++) { scores[kk] = 0.0; }
      for (var d = 0u; d < DIM_HEAD; d++) {
        let q = query[d];
        for (var kk = 0u; kk < KEY_TILE; kk++) { scores[kk] += q * keyTile[kk * DIM_HEAD + d]; }
      }

      var visible: array<bool, KEY_TILE>;
      var tileMax = bitcast<f32>(0xff7fffffu); // the lowest float32
      var anyVisible = false;
      for (var kk = 0u; kk < KEY_TILE; kk++) {
        visible[kk] = keyIsReal[kk] != 0u && (params.causal == 0u || k0 + kk <= i);
        if (visible[kk]) {
          tileMax = max(tileMax, scores[kk]);
          anyVisible = true;
        }
      }

      if (anyVisible) {
        let newMax = select(tileMax, max(runningMax, tileMax), seen);
        let rescale = select(0.0, expF32(runningMax - newMax), seen);
        // Hidden keys get weight 0; their values were loaded as 0, so nothing non-finite enters.
        var weights: array<f32, KEY_TILE>;
        var weightSum = 0.0;
        for (var kk = 0u; kk < KEY_TILE; kk++) {
          weights[kk] = select(0.0, expF32(scores[kk] - newMax), visible[kk]);
          weightSum += weights[kk];
        }
        runningSum = runningSum * rescale + weightSum;
        for (var d = 0u; d < DIM_HEAD; d++) {
          var sum = acc[d] * rescale;
          for (var kk = 0u; kk < KEY_TILE; kk++) { sum += weights[kk] * valueTile[kk * DIM_HEAD + d]; }
          acc[d] = sum;
        }
        runningMax = newMax;
        seen = true;
      }
    }
    workgroupBarrier();
  }

  if (isQuery) {
    if (params.last != 0u) {
      for (var d = 0u; d < DIM_HEAD; d++) { out[outRow + d] = select(0.0, acc[d] / runningSum, runningSum > 0.0); }
    } else {
      state[stateRow] = runningMax;
      state[stateRow + 1u] = runningSum;
      for (var d = 0u; d < DIM_HEAD; d++) { out[outRow + d] = acc[d]; }
    }
  }
}
`;
}

/** Returns the largest power-of-two key tile (at most 32) whose keys and values fit workgroup memory. */
function keyTileFor(dimHead: number, workgroupBytes: number): number {
  for (let tile = MAX_KEY_TILE; tile >= 1; tile /= 2) {
    if ((2 * tile * dimHead + tile) * 4 <= workgroupBytes) return tile;
  }
  throw new OmninetError('LIMIT_EXCEEDED', `${WHAT}: dimHead ${dimHead} needs more than the device's ${workgroupBytes} bytes of workgroup memory for one key`);
}

registerKernel({
  kernelName: 'attention',
  backendName: 'webgpu',
  kernelFunc: ({ qkv, batch, seq, heads, dimHead, scale, causal, mask }, backend) => {
    const gpu = asWebGpuBackend(backend, WHAT);
    const inner = heads * dimHead;
    assertSize(qkv, batch * seq * 3 * inner, WHAT, 'qkv');
    const qkvBuffer = gpu.buffer(qkv, WHAT);
    const maskBuffer = gpu.mask(mask, batch, seq, WHAT);
    const out = gpu.empty([batch, seq, inner]);
    const outBuffer = out.storage as GPUBuffer;
    const state = gpu.scratch(batch * seq * heads * 2 * 4);

    const queryBlock = Math.min(MAX_QUERY_BLOCK, Math.max(MIN_QUERY_BLOCK, 2 ** Math.ceil(Math.log2(seq))));
    const keyTile = keyTileFor(dimHead, gpu.limits.maxComputeWorkgroupStorageSize);
    const rowStride = 3 * inner;
    // Rows b·seq + position of a box, from its first to its last.
    const rows = (b: number, bCount: number, position: number, count: number) => ({ first: b * seq + position, end: (b + bCount - 1) * seq + position + count });

    gpu.run(
      {
        pipeline: gpu.pipeline(`attention/${dimHead}/${queryBlock}/${keyTile}`, () => attentionWgsl(dimHead, queryBlock, keyTile)),
        dims: [batch, seq, seq],
        ranges: ({ start: [b, q, k], size: [bCount, qCount, kCount] }) => {
          const queries = rows(b, bCount, q, qCount);
          const keys = rows(b, bCount, k, kCount);
          return [
            { buffer: qkvBuffer, first: queries.first * rowStride, end: queries.end * rowStride },
            { buffer: qkvBuffer, first: keys.first * rowStride, end: keys.end * rowStride },
            { buffer: maskBuffer, first: 0, end: mask ? mask.length : 1 },
            { buffer: outBuffer, first: queries.first * inner, end: queries.end * inner },
            { buffer: state, first: queries.first * heads * 2, end: queries.end * heads * 2 },
          ];
        },
        workgroups: ({ size: [bCount, qCount] }) => bCount * heads * Math.ceil(qCount / queryBlock),
        params: ({ start: [b, q, k], size: [bCount, qCount, kCount] }, [queryBase, keyBase, , outBase, stateBase]) =>
          new ParamsWriter()
            .u32(b)
            .u32(bCount)
            .u32(q)
            .u32(qCount)
            .u32(k)
            .u32(kCount)
            .u32(Math.ceil(qCount / queryBlock))
            .u32(seq)
            .u32(heads)
            .f32(scale)
            .u32(causal ? 1 : 0)
            .u32(mask ? 1 : 0)
            .u32(k === 0 ? 1 : 0)
            .u32(k + kCount === seq ? 1 : 0)
            .u32(queryBase)
            .u32(keyBase)
            .u32(outBase)
            .u32(stateBase)
            .finish(),
      },
      WHAT,
    );
    gpu.releaseScratch(state);
    return out;
  },
});
