import { OmninetError } from '../../../errors.js';
import { registerKernel } from '../../../kernels/registry.js';
import { causalFavorStateSize, type OpArgs } from '../../../kernels/ops.js';
import type { Backend } from '../../backend.js';
import type { Tensor } from '../../../tensor.js';
import { asWebGpuBackend, assertSize } from '../backend.js';
import { ParamsWriter } from '../params.js';
import { computeEntry, WGSL_EXP } from '../wgsl.js';

// Causal linear attention as a chunked scan. A workgroup owns one (batch, head, block of LANES
// value columns) and walks the tokens in chunks of CHUNK tokens, carrying the state
//   S[j, d] = Σ_s exp(e_sj − M)·v_sd and z[j] = Σ_s exp(e_sj − M),   e_s = k_s'·Wᵀ − |k_s'|²/2,
// over the real keys of all earlier chunks, with M the max of e over those keys and features.
// Invocation `lid` owns value column d and keeps the column S[·, d] in a private array, and z
// lives in workgroup memory. Per chunk, with P_s the running max of e up to and including key s (starting
// from M), and ψ̃_s = exp(e_s − P_s):
//   1. the invocations share the key exponents to find every P_s;
//   2. over tiles of TILE_FEATURES features they build ψ̃ and φ in workgroup memory. Per tile they
//      add to the scores φ_t·ψ̃_s of the chunk (a masked quadratic form) and to φ_t·S and φ_t·z for
//      each query t. Then they fold the tile's rows of the chunk into S and z, rescaled to the
//      chunk's max;
//   3. query t gets out_td = (exp(M − P_t)·φ_t·S[·, d] + Σ_{real s ≤ t} w_ts·v_sd) / (exp(M − P_t)·φ_t·z
//      + Σ_{real s ≤ t} w_ts) with w_ts = (φ_t·ψ̃_s)·exp(P_s − P_t), or 0 when the denominator is not > 0.
// Every exponent is at most 0, so nothing overflows. A term that underflows is negligible next to
// the key that set its max, and that key is also in the query's sums. Masked tokens are never
// read as keys or values, so NaN there cannot reach a sum, but they still get an output.
//
// Sequences whose bindings would exceed maxStorageBufferBindingSize run as several dispatches over
// consecutive segments of tokens. Each writes its final S, z and M in the layout of
// causalLinearAttentionState to a carry buffer that the next segment reads as its incoming state,
// alternating between two buffers so that no dispatch reads what it writes.
// causalLinearAttentionState runs the same scan, writes no outputs and writes the last carry into
// the returned tensor.
// NOTE: chunks within one (batch, head) still run one after another inside one workgroup, so a
// long sequence with few heads keeps few workgroups busy on a large GPU.
const LANES = 64;

// 32 tokens per chunk, because the chunk's scores [CHUNK, CHUNK] and the ψ̃ and φ tiles [CHUNK,
// TILE_FEATURES] then take 8 KiB of the 16 KiB of workgroup memory that WebGPU guarantees. That
// leaves room for z, and each of the 64 invocations owns 16 of the scores. Chunks of 64 would need
// 16 KiB for the scores alone.
const CHUNK = 32;
const TILE_FEATURES = 16;
const SCORES_PER_LANE = (CHUNK * CHUNK) / LANES;

/** Returns the bytes of workgroup memory that the scan of `nbFeatures` features declares. */
function workgroupBytes(nbFeatures: number): number {
  return 4 * (2 * CHUNK * TILE_FEATURES + CHUNK * CHUNK + nbFeatures + 5 * CHUNK + LANES + 2);
}

function scanWgsl(nbFeatures: number): string {
  return /* wgsl */ `
struct Params {
  batchStart: u32, batchCount: u32, headStart: u32, headCount: u32, columnStart: u32, columnCount: u32,
  tokens: u32, heads: u32, dimHead: u32, tokenStart: u32, tokenCount: u32, hasMask: u32, hasState: u32,
  writeOutput: u32, writeState: u32, normalizer: f32, minusInfinity: u32, scoresPerLane: u32,
  queryBase: u32, kBase: u32, vBase: u32, stateInBase: u32, outBase: u32, stateOutBase: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> queryFeatures: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> projection: array<f32>;
@group(0) @binding(5) var<storage, read> mask: array<u32>;
@group(0) @binding(6) var<storage, read> stateIn: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
@group(0) @binding(8) var<storage, read_write> stateOut: array<f32>;
const NF: u32 = ${nbFeatures}u;
const C: u32 = ${CHUNK}u;
const F: u32 = ${TILE_FEATURES}u;

var<workgroup> keySum: array<f32, ${nbFeatures}>;              // z, relative to the state max
var<workgroup> keyTile: array<f32, ${CHUNK * TILE_FEATURES}>;   // ψ̃ [C keys, F features]
var<workgroup> queryTile: array<f32, ${CHUNK * TILE_FEATURES}>; // φ [C queries, F features]
var<workgroup> scores: array<f32, ${CHUNK * CHUNK}>;            // w [C queries, C keys]
var<workgroup> halfNorms: array<f32, ${CHUNK}>;                  // |k_s'|²/2
var<workgroup> realKeys: array<u32, ${CHUNK}>;
var<workgroup> prefixMax: array<f32, ${CHUNK}>;                  // P_s
var<workgroup> keyScale: array<f32, ${CHUNK}>;                   // exp(P_s − chunk max), 0 for a masked key
var<workgroup> denominators: array<f32, ${CHUNK}>;
var<workgroup> partialMax: array<f32, ${LANES}>;
var<workgroup> maxes: array<f32, 2>;                             // the state max M, then the chunk max
${WGSL_EXP}

// e_sj = k_s'·W_j − |k_s'|²/2 of the key whose row starts at k[row].
fn keyExponent(row: u32, j: u32, halfNorm: f32) -> f32 {
  var dot = 0.0;
  for (var e = 0u; e < params.dimHead; e++) {
    dot += k[row + e] * params.normalizer * projection[j * params.dimHead + e];
  }
  return dot - halfNorm;
}

${computeEntry(LANES)}
  let triple = group;
  if (triple >= params.batchCount * params.headCount * params.columnCount) { return; }
  let block = params.columnStart + triple % params.columnCount;
  let h = params.headStart + (triple / params.columnCount) % params.headCount;
  let b = params.batchStart + triple / (params.columnCount * params.headCount);
  let d = block * ${LANES}u + lid;
  let hasColumn = d < params.dimHead;
  let inner = params.heads * params.dimHead;
  let stateSize = NF * (params.dimHead + 1u) + 1u;
  let stateOffset = (b * params.heads + h) * stateSize;
  // A constant −inf is a WGSL shader-creation error, so it comes from the parameters.
  let minusInfinity = bitcast<f32>(params.minusInfinity);

  // The incoming state, or empty sums and M = −∞.
  var context: array<f32, ${nbFeatures}>;
  for (var j = 0u; j < NF; j++) {
    var value = 0.0;
    if (params.hasState != 0u && hasColumn) { value = stateIn[stateOffset + j * (params.dimHead + 1u) + d - params.stateInBase]; }
    context[j] = value;
  }
  for (var j = lid; j < NF; j += ${LANES}u) {
    var value = 0.0;
    if (params.hasState != 0u) { value = stateIn[stateOffset + j * (params.dimHead + 1u) + params.dimHead - params.stateInBase]; }
    keySum[j] = value;
  }
  if (lid == 0u) {
    var stateMax = minusInfinity;
    if (params.hasState != 0u) { stateMax = stateIn[stateOffset + NF * (params.dimHead + 1u) - params.stateInBase]; }
    maxes[0] = stateMax;
  }
  workgroupBarrier();

  let tokenEnd = params.tokenStart + params.tokenCount;
  for (var chunkStart = params.tokenStart; chunkStart < tokenEnd; chunkStart += C) {
    let n = min(C, tokenEnd - chunkStart);

    // Which tokens of the chunk are real keys, and their |k'|²/2.
    if (lid < C) {
      var real = lid < n;
      if (real && params.hasMask != 0u) { real = mask[b * params.tokens + chunkStart + lid] != 0u; }
      var halfNorm = 0.0;
      if (real) {
        let row = (b * params.tokens + chunkStart + lid) * inner + h * params.dimHead - params.kBase;
        for (var e = 0u; e < params.dimHead; e++) {
          let x = k[row + e] * params.normalizer;
          halfNorm += x * x / 2.0;
        }
      }
      halfNorms[lid] = halfNorm;
      realKeys[lid] = select(0u, 1u, real);
    }
    workgroupBarrier();

    // The max exponent of each key, over LANES / C partial maxes, then the running max P.
    let key = lid % C;
    var keyMax = minusInfinity;
    if (realKeys[key] != 0u) {
      let row = (b * params.tokens + chunkStart + key) * inner + h * params.dimHead - params.kBase;
      for (var j = lid / C; j < NF; j += ${LANES / CHUNK}u) { keyMax = max(keyMax, keyExponent(row, j, halfNorms[key])); }
    }
    partialMax[lid] = keyMax;
    workgroupBarrier();
    if (lid == 0u) {
      var running = maxes[0];
      for (var s = 0u; s < n; s++) {
        if (realKeys[s] != 0u) {
          for (var part = 0u; part < ${LANES / CHUNK}u; part++) { running = max(running, partialMax[s + part * C]); }
        }
        prefixMax[s] = running;
      }
      maxes[1] = running;
    }
    workgroupBarrier();

    let stateMax = maxes[0];
    let chunkMax = maxes[1];
    if (lid < C) { keyScale[lid] = select(0.0, expF32(prefixMax[lid] - chunkMax), realKeys[lid] != 0u); }
    // S and z are relative to the state max. The chunk's keys join them relative to the chunk max.
    let stateScale = select(expF32(stateMax - chunkMax), 0.0, stateMax == minusInfinity);

    var values: array<f32, ${CHUNK}>;
    var numerators: array<f32, ${CHUNK}>;
    var scoreSums: array<f32, ${SCORES_PER_LANE}>;
    var stateDenominator = 0.0;
    for (var s = 0u; s < n; s++) {
      var value = 0.0;
      if (hasColumn && realKeys[s] != 0u) { value = v[(b * params.tokens + chunkStart + s) * inner + h * params.dimHead + d - params.vBase]; }
      values[s] = value;
      numerators[s] = 0.0;
    }
    for (var i = 0u; i < params.scoresPerLane; i++) { scoreSums[i] = 0.0; }
    workgroupBarrier();

    for (var j0 = 0u; j0 < NF; j0 += F) {
      // ψ̃ and φ of the tile's features, or 0 past nbFeatures, for masked keys and past the chunk.
      for (var index = lid; index < C * F; index += ${LANES}u) {
        let s = index / F;
        let j = j0 + index % F;
        var psi = 0.0;
        var phi = 0.0;
        if (j < NF && realKeys[s] != 0u) {
          let row = (b * params.tokens + chunkStart + s) * inner + h * params.dimHead - params.kBase;
          psi = expF32(keyExponent(row, j, halfNorms[s]) - prefixMax[s]);
        }
        if (j < NF && s < n && params.writeOutput != 0u) {
          phi = queryFeatures[((b * params.heads + h) * params.tokens + chunkStart + s) * NF + j - params.queryBase];
        }
        keyTile[index] = psi;
        queryTile[index] = phi;
      }
      workgroupBarrier();

      // Scores φ_t·ψ̃_s of pairs s ≤ t, φ_t·S[·, d] and φ_t·z, before the tile joins the state.
      let features = min(F, NF - j0);
      if (params.writeOutput != 0u) {
        for (var i = 0u; i < params.scoresPerLane; i++) {
          let pair = lid + i * ${LANES}u;
          let t = pair / C;
          let s = pair % C;
          if (s <= t) {
            var sum = 0.0;
            for (var jj = 0u; jj < features; jj++) { sum += queryTile[t * F + jj] * keyTile[s * F + jj]; }
            scoreSums[i] += sum;
          }
        }
        if (hasColumn) {
          for (var t = 0u; t < n; t++) {
            var sum = 0.0;
            for (var jj = 0u; jj < features; jj++) { sum += queryTile[t * F + jj] * context[j0 + jj]; }
            numerators[t] += sum;
          }
        }
        if (lid < C) {
          for (var jj = 0u; jj < features; jj++) { stateDenominator += queryTile[lid * F + jj] * keySum[j0 + jj]; }
        }
      }
      workgroupBarrier();

      // The tile's rows of S and z: rescaled to the chunk max, plus the chunk's keys.
      if (lid < features) {
        var sum = keySum[j0 + lid] * stateScale;
        for (var s = 0u; s < n; s++) { sum += keyTile[s * F + lid] * keyScale[s]; }
        keySum[j0 + lid] = sum;
      }
      if (hasColumn) {
        for (var jj = 0u; jj < features; jj++) {
          var sum = context[j0 + jj] * stateScale;
          for (var s = 0u; s < n; s++) { sum += keyTile[s * F + jj] * keyScale[s] * values[s]; }
          context[j0 + jj] = sum;
        }
      }
      workgroupBarrier();
    }

    if (params.writeOutput != 0u) {
      // w_ts = (φ_t·ψ̃_s)·exp(P_s − P_t) for real keys s ≤ t, else 0.
      for (var i = 0u; i < params.scoresPerLane; i++) {
        let pair = lid + i * ${LANES}u;
        let t = pair / C;
        let s = pair % C;
        let visible = s <= t && realKeys[s] != 0u;
        scores[pair] = select(0.0, scoreSums[i] * expF32(prefixMax[s] - prefixMax[t]), visible);
      }
      workgroupBarrier();

      if (lid < C) {
        var sum = stateDenominator * select(expF32(stateMax - prefixMax[lid]), 0.0, stateMax == minusInfinity);
        for (var s = 0u; s <= lid; s++) { sum += scores[lid * C + s]; }
        denominators[lid] = sum;
      }
      workgroupBarrier();

      if (hasColumn) {
        for (var t = 0u; t < n; t++) {
          var numerator = numerators[t] * select(expF32(stateMax - prefixMax[t]), 0.0, stateMax == minusInfinity);
          for (var s = 0u; s <= t; s++) { numerator += scores[t * C + s] * values[s]; }
          let denominator = denominators[t];
          var result = 0.0;
          if (denominator > 0.0) { result = numerator / denominator; }
          out[(b * params.tokens + chunkStart + t) * inner + h * params.dimHead + d - params.outBase] = result;
        }
      }
    }

    if (lid == 0u) { maxes[0] = chunkMax; }
    workgroupBarrier();
  }

  // The final S, z and M in the layout of causalLinearAttentionState. Block 0 writes z and M.
  if (params.writeState != 0u) {
    let base = stateOffset - params.stateOutBase;
    if (hasColumn) {
      for (var j = 0u; j < NF; j++) { stateOut[base + j * (params.dimHead + 1u) + d] = context[j]; }
    }
    if (block == 0u) {
      for (var j = lid; j < NF; j += ${LANES}u) { stateOut[base + j * (params.dimHead + 1u) + params.dimHead] = keySum[j]; }
      if (lid == 0u) { stateOut[base + NF * (params.dimHead + 1u)] = maxes[0]; }
    }
  }
}
`;
}

type ScanArgs = OpArgs['causalLinearAttentionState'] & { queryFeatures: Tensor | null };

function scan(args: ScanArgs, backend: Backend, what: string): Tensor {
  const { queryFeatures, k, v, projection, state, batch, tokens, heads, dimHead, mask } = args;
  const gpu = asWebGpuBackend(backend, what);
  const nbFeatures = projection.shape[0];
  const inner = heads * dimHead;
  const stateSize = causalFavorStateSize(nbFeatures, dimHead);
  const writeState = queryFeatures === null;
  if (queryFeatures) assertSize(queryFeatures, batch * heads * tokens * nbFeatures, what, 'queryFeatures');
  assertSize(k, batch * tokens * inner, what, 'k');
  assertSize(v, batch * tokens * inner, what, 'v');
  assertSize(projection, nbFeatures * dimHead, what, 'projection');
  if (state) assertSize(state, batch * heads * stateSize, what, 'state');
  if (nbFeatures < 1) throw new OmninetError('SHAPE_MISMATCH', `${what}: invalid projection [${projection.shape.join(', ')}]: expected at least one feature row`);
  if (workgroupBytes(nbFeatures) > gpu.limits.maxComputeWorkgroupStorageSize) {
    throw new OmninetError(
      'LIMIT_EXCEEDED',
      `${what}: ${nbFeatures} features need ${workgroupBytes(nbFeatures)} bytes of workgroup memory, more than the device's maxComputeWorkgroupStorageSize of ${gpu.limits.maxComputeWorkgroupStorageSize}`,
    );
  }

  const placeholder = gpu.placeholder();
  const phi = queryFeatures ? gpu.buffer(queryFeatures, what) : placeholder;
  const kBuffer = gpu.buffer(k, what);
  const vBuffer = gpu.buffer(v, what);
  const w = gpu.buffer(projection, what);
  const maskBuffer = gpu.mask(mask, batch, tokens, what);
  const out = writeState ? gpu.empty([batch, heads, stateSize]) : gpu.empty([batch, tokens, inner]);
  const outBuffer = out.storage as GPUBuffer;
  const columnBlocks = Math.ceil(dimHead / LANES);

  // Segments of tokens whose windows of k, v, φ and out fit one binding, in whole chunks when
  // they can be. One (batch, head) of a segment binds segmentTokens rows of k, v and out and
  // segmentTokens·nbFeatures values of φ.
  const bindingFloats = (gpu.limits.maxStorageBufferBindingSize - gpu.limits.minStorageBufferOffsetAlignment) / 4;
  let segmentTokens = Math.max(1, Math.floor(bindingFloats / Math.max(inner, nbFeatures)));
  if (segmentTokens >= CHUNK) segmentTokens -= segmentTokens % CHUNK;
  const segments = Math.max(1, Math.ceil(tokens / segmentTokens));

  // Bindings that a dispatch does not write still need a buffer of their own, because two
  // writable bindings of one buffer would alias.
  const unusedOut = writeState ? gpu.scratch(16) : null;
  const unusedState = writeState ? null : gpu.scratch(16);
  const carries = segments > 1 ? [gpu.scratch(batch * heads * stateSize * 4), gpu.scratch(batch * heads * stateSize * 4)] : [];
  const pipeline = gpu.pipeline(`causalLinearAttentionChunkedScan${nbFeatures}`, () => scanWgsl(nbFeatures));

  for (let segment = 0; segment < segments; segment++) {
    const tokenStart = segment * segmentTokens;
    const tokenCount = Math.min(segmentTokens, tokens - tokenStart);
    const last = segment === segments - 1;
    // The incoming state of the first segment is `state`, and the last segment writes only the
    // state that causalLinearAttentionState returns.
    let stateSource: GPUBuffer | null = state ? gpu.buffer(state, what) : null;
    if (segment > 0) stateSource = carries[(segment - 1) % 2];
    let stateTarget: GPUBuffer | null = writeState ? outBuffer : null;
    if (!last) stateTarget = carries[segment % 2];
    const outTarget = writeState ? unusedOut! : outBuffer;

    gpu.run(
      {
        pipeline,
        dims: [batch, heads, columnBlocks],
        ranges: ({ start: [b, h], size: [bCount, hCount] }) => {
          const tokenRows = { first: (b * tokens + tokenStart) * inner, end: ((b + bCount - 1) * tokens + tokenStart + tokenCount) * inner };
          const firstHead = b * heads + h;
          const lastHead = (b + bCount - 1) * heads + h + hCount - 1;
          const stateRange = { first: firstHead * stateSize, end: (lastHead + 1) * stateSize };
          const queryRange = { first: (firstHead * tokens + tokenStart) * nbFeatures, end: (lastHead * tokens + tokenStart + tokenCount) * nbFeatures };
          return [
            queryFeatures ? { buffer: phi, ...queryRange } : { buffer: phi, first: 0, end: 1 },
            { buffer: kBuffer, ...tokenRows },
            { buffer: vBuffer, ...tokenRows },
            { buffer: w, first: 0, end: nbFeatures * dimHead },
            { buffer: maskBuffer, first: 0, end: mask ? mask.length : 1 },
            stateSource ? { buffer: stateSource, ...stateRange } : { buffer: placeholder, first: 0, end: 1 },
            writeState ? { buffer: outTarget, first: 0, end: 1 } : { buffer: outTarget, ...tokenRows },
            stateTarget ? { buffer: stateTarget, ...stateRange } : { buffer: unusedState!, first: 0, end: 1 },
          ];
        },
        workgroups: ({ size: [bCount, hCount, cCount] }) => bCount * hCount * cCount,
        params: ({ start: [b, h, c], size: [bCount, hCount, cCount] }, [queryBase, kBase, vBase, , , stateInBase, outBase, stateOutBase]) =>
          new ParamsWriter()
            .u32(b)
            .u32(bCount)
            .u32(h)
            .u32(hCount)
            .u32(c)
            .u32(cCount)
            .u32(tokens)
            .u32(heads)
            .u32(dimHead)
            .u32(tokenStart)
            .u32(tokenCount)
            .u32(mask ? 1 : 0)
            .u32(stateSource ? 1 : 0)
            .u32(writeState ? 0 : 1)
            .u32(stateTarget ? 1 : 0)
            .f32(dimHead ** -0.25)
            .u32(0xff800000)
            // A uniform instead of a WGSL constant, and loops over the n tokens of a chunk instead of
            // CHUNK, keep compilers from unrolling them: unrolled, one pipeline took about 50 s to
            // compile on Mesa lavapipe 25.0.
            .u32(SCORES_PER_LANE)
            .u32(queryFeatures ? queryBase : 0)
            .u32(kBase)
            .u32(vBase)
            .u32(stateSource ? stateInBase : 0)
            .u32(writeState ? 0 : outBase)
            .u32(stateTarget ? stateOutBase : 0)
            .finish(),
      },
      what,
    );
  }

  for (const buffer of [unusedOut, unusedState, ...carries]) if (buffer) gpu.releaseScratch(buffer);
  return out;
}

registerKernel({
  kernelName: 'causalLinearAttention',
  backendName: 'webgpu',
  kernelFunc: (args, backend) => scan(args, backend, 'webgpu causalLinearAttention'),
});

registerKernel({
  kernelName: 'causalLinearAttentionState',
  backendName: 'webgpu',
  kernelFunc: (args, backend) => scan({ ...args, queryFeatures: null }, backend, 'webgpu causalLinearAttentionState'),
});
