import { causalFavorStateSize, type OpArgs } from '../../../kernels/ops.js';
import { registerKernel } from '../../../kernels/registry.js';
import type { Backend } from '../../backend.js';
import type { Tensor } from '../../../tensor.js';
import { asWasmBackend, assertSize } from '../backend.js';

type ScanArgs = OpArgs['causalLinearAttentionState'];

/**
 * Runs the chunked causal scan (assembly/causal-linear-attention.ts) once and returns the
 * outputs [batch, tokens, heads·dimHead] (when queryFeatures is given) or the final state.
 */
function runScan(args: ScanArgs, queryFeatures: Tensor | null, backend: Backend, what: string): Tensor {
  const { k, v, projection, state, batch, tokens, heads, dimHead, mask } = args;
  const wasm = asWasmBackend(backend, what);
  const nbFeatures = projection.shape[0];
  const inner = heads * dimHead;
  const stateSize = causalFavorStateSize(nbFeatures, dimHead);
  assertSize(projection, nbFeatures * dimHead, what, 'projection');
  assertSize(k, batch * tokens * inner, what, 'k');
  assertSize(v, batch * tokens * inner, what, 'v');
  if (queryFeatures) assertSize(queryFeatures, batch * heads * tokens * nbFeatures, what, 'queryFeatures');
  if (state) assertSize(state, batch * heads * stateSize, what, 'state');

  const kPointer = wasm.pointer(k, what);
  const vPointer = wasm.pointer(v, what);
  const phi = queryFeatures ? wasm.pointer(queryFeatures, what) : 0;
  const stateIn = state ? wasm.pointer(state, what) : 0;
  let maskPointer = 0;
  let packed = 0;
  let u = 0;
  let scratch = 0;
  try {
    // u = k·Wᵀ through the GEMM: k [batch, tokens, heads·dimHead] is [batch·tokens·heads, dimHead]
    // in memory, so u comes out as [batch, tokens, heads, nbFeatures].
    const rows = batch * tokens * heads;
    maskPointer = wasm.uploadMask(mask, batch, tokens, what);
    packed = wasm.packedWeight(projection, what);
    u = wasm.allocate(rows * nbFeatures * 4);
    wasm.kernels.linearForward(kPointer, packed, 0, u, rows, nbFeatures, dimHead);
    scratch = wasm.allocate(wasm.kernels.causalLinearAttentionScratchBytes(nbFeatures, dimHead));

    if (queryFeatures) {
      const out = wasm.allocate(batch * tokens * inner * 4);
      wasm.kernels.causalLinearAttention(phi, u, kPointer, vPointer, maskPointer, stateIn, out, 0, scratch, batch, tokens, heads, dimHead, nbFeatures);
      return wasm.tensorAt(out, [batch, tokens, inner]);
    }
    const stateOut = wasm.allocate(batch * heads * stateSize * 4);
    wasm.kernels.causalLinearAttention(0, u, kPointer, vPointer, maskPointer, stateIn, 0, stateOut, scratch, batch, tokens, heads, dimHead, nbFeatures);
    return wasm.tensorAt(stateOut, [batch, heads, stateSize]);
  } finally {
    wasm.release(scratch);
    wasm.release(u);
    wasm.release(maskPointer);
    if (!projection.persistent) wasm.release(packed);
  }
}

registerKernel({
  kernelName: 'causalLinearAttention',
  backendName: 'wasm',
  kernelFunc: ({ queryFeatures, ...args }, backend) => runScan(args, queryFeatures, backend, 'wasm causalLinearAttention'),
});

registerKernel({
  kernelName: 'causalLinearAttentionState',
  backendName: 'wasm',
  kernelFunc: (args, backend) => runScan(args, null, backend, 'wasm causalLinearAttentionState'),
});
