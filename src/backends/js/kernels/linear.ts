import { registerKernel } from '../../../kernels/registry.js';
import { Tensor } from '../../../tensor.js';
import { gelu } from '../erf.js';
import { jsData } from '../backend.js';

registerKernel({
  kernelName: 'linear',
  backendName: 'js',
  kernelFunc: ({ x, weight, bias, activation }, backend) => {
    const [outFeatures, inFeatures] = weight.shape;
    const rows = x.size / inFeatures;
    const xData = jsData(x);
    const wData = jsData(weight);
    const bData = bias ? jsData(bias) : null;
    const y = new Float32Array(rows * outFeatures);

    for (let r = 0; r < rows; r++) {
      const xRow = r * inFeatures;
      for (let o = 0; o < outFeatures; o++) {
        const wRow = o * inFeatures;
        let acc = bData ? bData[o] : 0;
        for (let k = 0; k < inFeatures; k++) acc += xData[xRow + k] * wData[wRow + k];
        y[r * outFeatures + o] = activation === 'gelu' ? gelu(acc) : acc;
      }
    }

    return new Tensor([...x.shape.slice(0, -1), outFeatures], backend, y);
  },
});
