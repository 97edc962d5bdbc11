import { registerKernel } from '../../../kernels/registry.js';
import { Tensor } from '../../../tensor.js';
import { jsData } from '../backend.js';

registerKernel({
  kernelName: 'attention',
  backendName: 'js',
  kernelFunc: ({ qkv, batch, seq, heads, dimHead, scale, causal, mask }, backend) => {
    const inner = heads * dimHead;
    const rowStride = 3 * inner;
    const qkvData = jsData(qkv);
    const out = new Float32Array(batch * seq * inner);
    const scores = new Float64Array(seq);
    const acc = new Float64Array(dimHead);

    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < heads; h++) {
        for (let i = 0; i < seq; i++) {
          const q = (b * seq + i) * rowStride + h * dimHead;
          const lastKey = causal ? i : seq - 1;

          // Scores of the visible keys, then a softmax with the max subtracted.
          let maxScore = -Infinity;
          for (let j = 0; j <= lastKey; j++) {
            if (mask && mask[b * seq + j] === 0) continue;
            const k = (b * seq + j) * rowStride + inner + h * dimHead;
            let dot = 0;
            for (let d = 0; d < dimHead; d++) dot += qkvData[q + d] * qkvData[k + d];
            scores[j] = dot * scale;
            if (scores[j] > maxScore) maxScore = scores[j];
          }

          acc.fill(0);
          let denominator = 0;
          for (let j = 0; j <= lastKey; j++) {
            if (mask && mask[b * seq + j] === 0) continue;
            const weight = Math.exp(scores[j] - maxScore);
            denominator += weight;
            const v = (b * seq + j) * rowStride + 2 * inner + h * dimHead;
            for (let d = 0; d < dimHead; d++) acc[d] += weight * qkvData[v + d];
          }

          const o = (b * seq + i) * inner + h * dimHead;
          for (let d = 0; d < dimHead; d++) out[o + d] = denominator > 0 ? acc[d] / denominator : 0;
        }
      }
    }

    return new Tensor([batch, seq, inner], backend, out);
  },
});
