import { registerKernel } from '../../../kernels/registry.js';
import { asWasmBackend, assertSize } from '../backend.js';
import { parallelHeads } from '../parallel.js';

const WHAT = 'wasm linearAttention';

registerKernel({
  kernelName: 'linearAttention',
  backendName: 'wasm',
  kernelFunc: ({ queryFeatures, keyFeatures, v, batch, tokens, heads, dimHead, mask }, backend) => {
    const wasm = asWasmBackend(backend, WHAT);
    const nbFeatures = queryFeatures.shape[3];
    const inner = heads * dimHead;
    assertSize(queryFeatures, batch * heads * tokens * nbFeatures, WHAT, 'queryFeatures');
    assertSize(keyFeatures, batch * heads * tokens * nbFeatures, WHAT, 'keyFeatures');
    assertSize(v, batch * tokens * inner, WHAT, 'v');

    const phi = wasm.pointer(queryFeatures, WHAT);
    const psi = wasm.pointer(keyFeatures, WHAT);
    const vPointer = wasm.pointer(v, WHAT);
    const maskPointer = wasm.uploadMask(mask, batch, tokens, WHAT);
    try {
      const out = wasm.allocate(batch * tokens * inner * 4);
      const scratchBytes = wasm.kernels.linearAttentionScratchBytes(nbFeatures, dimHead);
      parallelHeads(wasm, 'linearAttentionHeads', batch * heads, scratchBytes, (first, count, scratch) => [
        phi, psi, vPointer, maskPointer, out, scratch, batch, tokens, heads, dimHead, nbFeatures, first, count,
      ]);
      return wasm.tensorAt(out, [batch, tokens, inner]);
    } finally {
      wasm.release(maskPointer);
    }
  },
});
