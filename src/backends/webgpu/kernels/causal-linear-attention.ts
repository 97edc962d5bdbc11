import { OmninetError } from '../../../errors.js';
import { registerKernel } from '../../../kernels/registry.js';
import { causalFavorStateSize, type OpArgs } from '../../../kernels/ops.js';
import type { Backend } from '../../backend.js';
import type { Tensor } from '../../../tensor.js';
import { asWebGpuBackend, assertSize } from '../backend.js';
import { ParamsWriter } from '../params.js';
import { computeEntry, WGSL_EXP } from '../wgsl.js';

// Causal linear attention as one scan over the tokens per (batch, head, block of value columns).
// A workgroup owns one such triple and walks its tokens in order, so the running sums
//   S[j, d] = Σ exp(e_sj − M)·v_sd and z[j] = Σ exp(e_sj − M), M the running max of e,
// pass from token to token inside the dispatch. Invocation `lid` owns value column d of the block
// and keeps the column S[·, d] and a copy of z in private arrays of nbFeatures floats (the
// pipeline is compiled per nbFeatures). Per token the invocations first share the work of the
// exponents e_j = k'·W_j − |k'|²/2 through workgroup memory, then each one rescales its sums when
// the max grows, adds the token when it is a real key and, for causalLinearAttention, writes
// out_td = φ_t·S[·, d] / (φ_t·z), or 0 when that is not > 0. Masked tokens are never read as keys
// or values, so NaN there cannot reach a sum. causalLinearAttentionState runs the same scan and
// writes the final sums and M instead.
// NOTE: the work per (batch, head) is sequential over the tokens and its whole sequence is bound at
// once, so long sequences run slowly on a real GPU, and a binding over maxStorageBufferBindingSize
// raises LIMIT_EXCEEDED instead of being split over the tokens.
const LANES = 64;

function scanWgsl(nbFeatures: number): string {
  return /* wgsl */ `
struct Params {
  batchStart: u32, batchCount: u32, headStart: u32, headCount: u32, columnStart: u32, columnCount: u32,
  tokens: u32, heads: u32, dimHead: u32, hasMask: u32, hasState: u32, writeState: u32, normalizer: f32,
  queryBase: u32, kBase: u32, vBase: u32, stateBase: u32, outBase: u32, minusInfinity: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> queryFeatures: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> projection: array<f32>;
@group(0) @binding(5) var<storage, read> mask: array<u32>;
@group(0) @binding(6) var<storage, read> stateIn: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
const NF: u32 = ${nbFeatures}u;
var<workgroup> exponents: array<f32, ${nbFeatures}>;
${WGSL_EXP}
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

  var context: array<f32, ${nbFeatures}>;
  var keySum: array<f32, ${nbFeatures}>;
  var runningMax = minusInfinity;
  if (params.hasState != 0u) {
    for (var j = 0u; j < NF; j++) {
      let row = stateOffset + j * (params.dimHead + 1u) - params.stateBase;
      if (hasColumn) { context[j] = stateIn[row + d]; }
      keySum[j] = stateIn[row + params.dimHead];
    }
    runningMax = stateIn[stateOffset + NF * (params.dimHead + 1u) - params.stateBase];
  }

  for (var t = 0u; t < params.tokens; t++) {
    var real = true;
    if (params.hasMask != 0u) { real = mask[b * params.tokens + t] != 0u; }
    let row = (b * params.tokens + t) * inner + h * params.dimHead;
    if (real) {
      var halfNorm = 0.0;
      for (var e = 0u; e < params.dimHead; e++) {
        let x = k[row + e - params.kBase] * params.normalizer;
        halfNorm += x * x / 2.0;
      }
      for (var j = lid; j < NF; j += ${LANES}u) {
        var dot = 0.0;
        for (var e = 0u; e < params.dimHead; e++) {
          dot += k[row + e - params.kBase] * params.normalizer * projection[j * params.dimHead + e];
        }
        exponents[j] = dot - halfNorm;
      }
    }
    workgroupBarrier();

    if (real) {
      var rowMax = minusInfinity;
      for (var j = 0u; j < NF; j++) { rowMax = max(rowMax, exponents[j]); }
      if (rowMax > runningMax) {
        let factor = expF32(runningMax - rowMax);
        for (var j = 0u; j < NF; j++) {
          context[j] *= factor;
          keySum[j] *= factor;
        }
        runningMax = rowMax;
      }
      var value = 0.0;
      if (hasColumn) { value = v[row + d - params.vBase]; }
      for (var j = 0u; j < NF; j++) {
        let psi = expF32(exponents[j] - runningMax);
        keySum[j] += psi;
        context[j] += psi * value;
      }
    }

    if (params.writeState == 0u && hasColumn) {
      let q = ((b * params.heads + h) * params.tokens + t) * NF - params.queryBase;
      var numerator = 0.0;
      var denominator = 0.0;
      for (var j = 0u; j < NF; j++) {
        let phi = queryFeatures[q + j];
        numerator += phi * context[j];
        denominator += phi * keySum[j];
      }
      var result = 0.0;
      if (denominator > 0.0) { result = numerator / denominator; }
      out[row + d - params.outBase] = result;
    }
    workgroupBarrier();
  }

  if (params.writeState != 0u) {
    for (var j = 0u; j < NF; j++) {
      let row = stateOffset + j * (params.dimHead + 1u) - params.outBase;
      if (hasColumn) { out[row + d] = context[j]; }
      if (d == 0u) { out[row + params.dimHead] = keySum[j]; }
    }
    if (d == 0u) { out[stateOffset + NF * (params.dimHead + 1u) - params.outBase] = runningMax; }
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

  const placeholder = gpu.placeholder();
  const phi = queryFeatures ? gpu.buffer(queryFeatures, what) : placeholder;
  const kBuffer = gpu.buffer(k, what);
  const vBuffer = gpu.buffer(v, what);
  const w = gpu.buffer(projection, what);
  const maskBuffer = gpu.mask(mask, batch, tokens, what);
  const stateBuffer = state ? gpu.buffer(state, what) : placeholder;
  const out = writeState ? gpu.empty([batch, heads, stateSize]) : gpu.empty([batch, tokens, inner]);
  const outBuffer = out.storage as GPUBuffer;
  const columnBlocks = Math.ceil(dimHead / LANES);

  gpu.run(
    {
      pipeline: gpu.pipeline(`causalLinearAttentionScan${nbFeatures}`, () => scanWgsl(nbFeatures)),
      dims: [batch, heads, columnBlocks],
      ranges: ({ start: [b, h], size: [bCount, hCount] }) => {
        const tokenRows = { first: b * tokens * inner, end: (b + bCount) * tokens * inner };
        const firstHead = b * heads + h;
        const endHead = (b + bCount - 1) * heads + h + hCount;
        const stateRange = { first: firstHead * stateSize, end: endHead * stateSize };
        return [
          queryFeatures ? { buffer: phi, first: firstHead * tokens * nbFeatures, end: endHead * tokens * nbFeatures } : { buffer: phi, first: 0, end: 1 },
          { buffer: kBuffer, ...tokenRows },
          { buffer: vBuffer, ...tokenRows },
          { buffer: w, first: 0, end: nbFeatures * dimHead },
          { buffer: maskBuffer, first: 0, end: mask ? mask.length : 1 },
          state ? { buffer: stateBuffer, ...stateRange } : { buffer: stateBuffer, first: 0, end: 1 },
          writeState ? { buffer: outBuffer, ...stateRange } : { buffer: outBuffer, ...tokenRows },
        ];
      },
      workgroups: ({ size: [bCount, hCount, cCount] }) => bCount * hCount * cCount,
      params: ({ start: [b, h, c], size: [bCount, hCount, cCount] }, [queryBase, kBase, vBase, , , stateBase, outBase]) =>
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
          .u32(mask ? 1 : 0)
          .u32(state ? 1 : 0)
          .u32(writeState ? 1 : 0)
          .f32(dimHead ** -0.25)
          .u32(queryFeatures ? queryBase : 0)
          .u32(kBase)
          .u32(vBase)
          .u32(state ? stateBase : 0)
          .u32(outBase)
          .u32(0xff800000)
          .finish(),
    },
    what,
  );
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
