import { registerKernel } from '../../../kernels/registry.js';
import { asWasmBackend, assertSize } from '../backend.js';

const WHAT = 'wasm attention';

registerKernel({
  kernelName: 'attention',
  backendName: 'wasm',
  kernelFunc: ({ qkv, batch, seq, heads, dimHead, scale, causal, mask }, backend) => {
    const wasm = asWasmBackend(backend, WHAT);
    const inner = heads * dimHead;
    assertSize(qkv, batch * seq * 3 * inner, WHAT, 'qkv');

    const qkvPointer = wasm.pointer(qkv, WHAT);
    const maskPointer = wasm.uploadMask(mask, batch, seq, WHAT);
    let scratch = 0;
    try {
      const out = wasm.allocate(batch * seq * inner * 4);
      scratch = wasm.allocate(wasm.kernels.attentionScratchBytes(dimHead));
      wasm.kernels.attention(qkvPointer, maskPointer, out, scratch, batch, seq, heads, dimHead, scale, causal ? 1 : 0);
      return wasm.tensorAt(out, [batch, seq, inner]);
    } finally {
      wasm.release(scratch);
      wasm.release(maskPointer);
    }
  },
});
