import { registerKernel } from '../../../kernels/registry.js';
import { asWasmBackend, assertSize } from '../backend.js';
import { parallelHeads, parallelLinear } from '../parallel.js';

const WHAT = 'wasm favorFeatures';

registerKernel({
  kernelName: 'favorFeatures',
  backendName: 'wasm',
  kernelFunc: ({ x, projection, batch, tokens, heads, dimHead, kind, mask }, backend) => {
    const wasm = asWasmBackend(backend, WHAT);
    const nbFeatures = projection.shape[0];
    assertSize(projection, nbFeatures * dimHead, WHAT, 'projection');
    assertSize(x, batch * tokens * heads * dimHead, WHAT, 'x');

    // u = x·Wᵀ through the GEMM: x [batch, tokens, heads·dimHead] is, in memory, exactly
    // [batch·tokens·heads, dimHead], so u comes out as [batch, tokens, heads, nbFeatures].
    const xPointer = wasm.pointer(x, WHAT);
    const rows = batch * tokens * heads;
    let maskPointer = 0;
    let packed = 0;
    let u = 0;
    try {
      maskPointer = wasm.uploadMask(mask, batch, tokens, WHAT);
      packed = wasm.packedWeight(projection, WHAT);
      u = wasm.allocate(rows * nbFeatures * 4);
      parallelLinear(wasm, false, xPointer, packed, 0, u, rows, nbFeatures, dimHead);
      const features = wasm.allocate(rows * nbFeatures * 4);
      parallelHeads(wasm, 'favorFeaturesHeads', batch * heads, 0, (first, count) => [
        u, xPointer, maskPointer, features, batch, tokens, heads, dimHead, nbFeatures, kind === 'key' ? 1 : 0, first, count,
      ]);
      return wasm.tensorAt(features, [batch, heads, tokens, nbFeatures]);
    } finally {
      wasm.release(u);
      wasm.release(maskPointer);
      if (!projection.persistent) wasm.release(packed);
    }
  },
});
