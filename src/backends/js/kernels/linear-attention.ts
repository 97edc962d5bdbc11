import { registerKernel } from '../../../kernels/registry.js';
import { Tensor } from '../../../tensor.js';
import { jsData } from '../backend.js';

registerKernel({
  kernelName: 'linearAttention',
  backendName: 'js',
  kernelFunc: ({ queryFeatures, keyFeatures, v, batch, tokens, heads, dimHead, mask }, backend) => {
    const nbFeatures = queryFeatures.shape[3];
    const inner = heads * dimHead;
    const phi = jsData(queryFeatures);
    const psi = jsData(keyFeatures);
    const vData = jsData(v);
    const out = new Float32Array(batch * tokens * inner);
    const context = new Float64Array(nbFeatures * dimHead); // Σ ψ(k_s) v_sᵀ
    const keySum = new Float64Array(nbFeatures); // Σ ψ(k_s)

    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < heads; h++) {
        const headBase = (b * heads + h) * tokens;
        context.fill(0);
        keySum.fill(0);

        for (let s = 0; s < tokens; s++) {
          if (mask && mask[b * tokens + s] === 0) continue;
          const k = (headBase + s) * nbFeatures;
          const vRow = (b * tokens + s) * inner + h * dimHead;
          for (let j = 0; j < nbFeatures; j++) {
            keySum[j] += psi[k + j];
            for (let d = 0; d < dimHead; d++) context[j * dimHead + d] += psi[k + j] * vData[vRow + d];
          }
        }

        for (let t = 0; t < tokens; t++) {
          const q = (headBase + t) * nbFeatures;
          let denominator = 0;
          for (let j = 0; j < nbFeatures; j++) denominator += phi[q + j] * keySum[j];

          const o = (b * tokens + t) * inner + h * dimHead;
          for (let d = 0; d < dimHead; d++) {
            let numerator = 0;
            for (let j = 0; j < nbFeatures; j++) numerator += phi[q + j] * context[j * dimHead + d];
            out[o + d] = denominator > 0 ? numerator / denominator : 0;
          }
        }
      }
    }

    return new Tensor([batch, tokens, inner], backend, out);
  },
});
