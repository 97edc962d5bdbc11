import { registerKernel } from '../../../kernels/registry.js';
import { asWasmBackend, assertSize } from '../backend.js';

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
    let scratch = 0;
    try {
      const out = wasm.allocate(batch * tokens * inner * 4);
      scratch = wasm.allocate(wasm.kernels.linearAttentionScratchBytes(nbFeatures, dimHead));
      wasm.kernels.linearAttention(phi, psi, vPointer, maskPointer, out, scratch, batch, tokens, heads, dimHead, nbFeatures);
      return wasm.tensorAt(out, [batch, tokens, inner]);
    } finally {
      wasm.release(scratch);
      wasm.release(maskPointer);
    }
  },
});
