import { registerKernel } from '../../../kernels/registry.js';
import { asWasmBackend, assertSize } from '../backend.js';

registerKernel({
  kernelName: 'stackLayers',
  backendName: 'wasm',
  kernelFunc: ({ hiddens, batch, seq, dim }, backend) => {
    const wasm = asWasmBackend(backend, 'wasm stackLayers');
    const layers = hiddens.length;
    const rows = batch * seq;
    for (const hidden of hiddens) {
      assertSize(hidden, rows * dim, 'wasm stackLayers', 'a hidden state');
      wasm.pointer(hidden, 'wasm stackLayers');
    }

    const out = wasm.allocate(rows * layers * dim * 4);
    for (let l = 0; l < layers; l++) {
      wasm.kernels.stackLayer(hiddens[l].storage as number, out, rows, dim, layers, l);
    }
    return wasm.tensorAt(out, [batch, seq * layers, dim]);
  },
});

registerKernel({
  kernelName: 'maxPoolLayers',
  backendName: 'wasm',
  kernelFunc: ({ x, batch, seq, layers, dim }, backend) => {
    const wasm = asWasmBackend(backend, 'wasm maxPoolLayers');
    assertSize(x, batch * seq * layers * dim, 'wasm maxPoolLayers', 'x');

    const out = wasm.allocate(batch * seq * dim * 4);
    wasm.kernels.maxPoolLayers(wasm.pointer(x, 'wasm maxPoolLayers'), out, batch * seq, layers, dim);
    return wasm.tensorAt(out, [batch, seq, dim]);
  },
});
