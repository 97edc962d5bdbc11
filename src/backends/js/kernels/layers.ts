import { registerKernel } from '../../../kernels/registry.js';
import { Tensor } from '../../../tensor.js';
import { jsData } from '../backend.js';

registerKernel({
  kernelName: 'stackLayers',
  backendName: 'js',
  kernelFunc: ({ hiddens, batch, seq, dim }, backend) => {
    const layers = hiddens.length;
    const out = new Float32Array(batch * seq * layers * dim);

    hiddens.forEach((hidden, l) => {
      const data = jsData(hidden);
      for (let row = 0; row < batch * seq; row++) {
        out.set(data.subarray(row * dim, (row + 1) * dim), (row * layers + l) * dim);
      }
    });

    return new Tensor([batch, seq * layers, dim], backend, out);
  },
});

registerKernel({
  kernelName: 'maxPoolLayers',
  backendName: 'js',
  kernelFunc: ({ x, batch, seq, layers, dim }, backend) => {
    const data = jsData(x);
    const out = new Float32Array(batch * seq * dim);

    for (let row = 0; row < batch * seq; row++) {
      for (let c = 0; c < dim; c++) {
        let max = -Infinity;
        for (let l = 0; l < layers; l++) max = Math.max(max, data[(row * layers + l) * dim + c]);
        out[row * dim + c] = max;
      }
    }

    return new Tensor([batch, seq, dim], backend, out);
  },
});
