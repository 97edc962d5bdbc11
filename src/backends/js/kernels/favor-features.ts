import { registerKernel } from '../../../kernels/registry.js';
import { Tensor } from '../../../tensor.js';
import { jsData } from '../backend.js';

const FAVOR_EPS = 1e-4;

registerKernel({
  kernelName: 'favorFeatures',
  backendName: 'js',
  kernelFunc: ({ x, projection, batch, tokens, heads, dimHead, kind, mask }, backend) => {
    const nbFeatures = projection.shape[0];
    const inner = heads * dimHead;
    const xData = jsData(x);
    const w = jsData(projection);
    const normalizer = dimHead ** -0.25;
    const ratio = nbFeatures ** -0.5;
    const features = new Float32Array(batch * heads * tokens * nbFeatures);

    // u = x'·Wᵀ and |x'|²/2 for every token of one (batch, head), kept in float64.
    const u = new Float64Array(tokens * nbFeatures);
    const halfNorm = new Float64Array(tokens);

    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < heads; h++) {
        let keyMax = -Infinity;
        for (let t = 0; t < tokens; t++) {
          const xRow = (b * tokens + t) * inner + h * dimHead;
          let norm = 0;
          for (let d = 0; d < dimHead; d++) norm += (xData[xRow + d] * normalizer) ** 2;
          halfNorm[t] = norm / 2;

          const real = !mask || mask[b * tokens + t] !== 0;
          for (let j = 0; j < nbFeatures; j++) {
            let dot = 0;
            for (let d = 0; d < dimHead; d++) dot += xData[xRow + d] * normalizer * w[j * dimHead + d];
            u[t * nbFeatures + j] = dot;
            if (real && dot > keyMax) keyMax = dot;
          }
        }

        for (let t = 0; t < tokens; t++) {
          const out = ((b * heads + h) * tokens + t) * nbFeatures;
          const real = !mask || mask[b * tokens + t] !== 0;
          if (kind === 'key' && !real) continue; // stays exactly 0

          let stabiliser = keyMax;
          if (kind === 'query') {
            stabiliser = -Infinity;
            for (let j = 0; j < nbFeatures; j++) stabiliser = Math.max(stabiliser, u[t * nbFeatures + j]);
          }
          for (let j = 0; j < nbFeatures; j++) {
            features[out + j] = ratio * (Math.exp(u[t * nbFeatures + j] - halfNorm[t] - stabiliser) + FAVOR_EPS);
          }
        }
      }
    }

    return new Tensor([batch, heads, tokens, nbFeatures], backend, features);
  },
});
