import { registerKernel } from '../../../kernels/registry.js';
import { Tensor } from '../../../tensor.js';
import { jsData } from '../backend.js';

registerKernel({
  kernelName: 'layerNorm',
  backendName: 'js',
  kernelFunc: ({ x, gamma, beta, eps }, backend) => {
    const dim = x.shape[x.shape.length - 1];
    const rows = x.size / dim;
    const xData = jsData(x);
    const g = jsData(gamma);
    const b = jsData(beta);
    const y = new Float32Array(x.size);

    for (let r = 0; r < rows; r++) {
      const row = r * dim;
      let mean = 0;
      for (let i = 0; i < dim; i++) mean += xData[row + i];
      mean /= dim;

      let variance = 0;
      for (let i = 0; i < dim; i++) variance += (xData[row + i] - mean) ** 2;
      variance /= dim;

      const invStd = 1 / Math.sqrt(variance + eps);
      for (let i = 0; i < dim; i++) y[row + i] = (xData[row + i] - mean) * invStd * g[i] + b[i];
    }

    return new Tensor(x.shape, backend, y);
  },
});
