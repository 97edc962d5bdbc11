import { registerKernel } from '../../../kernels/registry.js';
import { asWasmBackend, assertSize } from '../backend.js';

const WHAT = 'wasm layerNorm';

registerKernel({
  kernelName: 'layerNorm',
  backendName: 'wasm',
  kernelFunc: ({ x, gamma, beta, eps }, backend) => {
    const wasm = asWasmBackend(backend, WHAT);
    const dim = x.shape[x.shape.length - 1];
    assertSize(gamma, dim, WHAT, 'gamma');
    assertSize(beta, dim, WHAT, 'beta');

    const y = wasm.allocate(x.size * 4);
    wasm.kernels.layerNorm(wasm.pointer(x, WHAT), wasm.pointer(gamma, WHAT), wasm.pointer(beta, WHAT), y, x.size / dim, dim, eps);
    return wasm.tensorAt(y, x.shape);
  },
});
