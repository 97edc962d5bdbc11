import { registerKernel } from '../../../kernels/registry.js';
import { Tensor } from '../../../tensor.js';
import { gelu } from '../erf.js';
import { jsData } from '../backend.js';

registerKernel({
  kernelName: 'gelu',
  backendName: 'js',
  kernelFunc: ({ x }, backend) => {
    const xData = jsData(x);
    const y = new Float32Array(x.size);
    for (let i = 0; i < y.length; i++) y[i] = gelu(xData[i]);
    return new Tensor(x.shape, backend, y);
  },
});

registerKernel({
  kernelName: 'add',
  backendName: 'js',
  kernelFunc: ({ a, b }, backend) => {
    const aData = jsData(a);
    const bData = jsData(b);
    const y = new Float32Array(a.size);
    const period = b.size;
    for (let i = 0; i < y.length; i++) y[i] = aData[i] + bData[i % period];
    return new Tensor(a.shape, backend, y);
  },
});
