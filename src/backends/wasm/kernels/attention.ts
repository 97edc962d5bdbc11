import { registerKernel } from '../../../kernels/registry.js';
import { asWasmBackend, assertSize } from '../backend.js';
import { parallelHeads } from '../parallel.js';

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
    try {
      const out = wasm.allocate(batch * seq * inner * 4);
      const scratchBytes = wasm.kernels.attentionScratchBytes(dimHead);
      parallelHeads(wasm, 'attentionHeads', batch * heads, scratchBytes, (first, count, scratch) => [
        qkvPointer, maskPointer, out, scratch, batch, seq, heads, dimHead, scale, causal ? 1 : 0, first, count,
      ]);
      return wasm.tensorAt(out, [batch, seq, inner]);
    } finally {
      wasm.release(maskPointer);
    }
  },
});
