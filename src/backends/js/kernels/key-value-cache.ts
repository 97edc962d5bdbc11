import { OmninetError } from '../../../errors.js';
import { registerKernel } from '../../../kernels/registry.js';
import { Tensor } from '../../../tensor.js';
import { jsData } from '../backend.js';

registerKernel({
  kernelName: 'cacheWrite',
  backendName: 'js',
  kernelFunc: ({ cache, rows, batch, count, columnOffset, position }) => {
    const [, capacity, width] = cache.shape;
    const [, available, rowWidth] = rows.shape;
    if (position + count > capacity || count > available || columnOffset + width > rowWidth) {
      throw new OmninetError(
        'SHAPE_MISMATCH',
        `js cacheWrite: cannot copy ${count} positions of rows [${rows.shape.join(', ')}] from column ${columnOffset} into cache [${cache.shape.join(', ')}] at position ${position}`,
      );
    }
    const target = jsData(cache);
    const source = jsData(rows);

    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < count; i++) {
        const from = (b * available + i) * rowWidth + columnOffset;
        target.set(source.subarray(from, from + width), (b * capacity + position + i) * width);
      }
    }
    return cache;
  },
});

registerKernel({
  kernelName: 'attentionDecode',
  backendName: 'js',
  kernelFunc: ({ qkv, cache, batch, length, heads, dimHead, scale, mask }, backend) => {
    const inner = heads * dimHead;
    const capacity = cache.shape[1];
    const queryStride = qkv.size / batch;
    const qData = jsData(qkv);
    const cacheData = jsData(cache);
    const out = new Float32Array(batch * inner);
    const scores = new Float64Array(length);
    const acc = new Float64Array(dimHead);

    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < heads; h++) {
        const q = b * queryStride + h * dimHead;

        let maxScore = -Infinity;
        for (let s = 0; s < length; s++) {
          if (mask && mask[b * length + s] === 0) continue;
          const k = (b * capacity + s) * 2 * inner + h * dimHead;
          let dot = 0;
          for (let d = 0; d < dimHead; d++) dot += qData[q + d] * cacheData[k + d];
          scores[s] = dot * scale;
          maxScore = Math.max(maxScore, scores[s]);
        }

        acc.fill(0);
        let denominator = 0;
        for (let s = 0; s < length; s++) {
          if (mask && mask[b * length + s] === 0) continue;
          const weight = Math.exp(scores[s] - maxScore);
          denominator += weight;
          const v = (b * capacity + s) * 2 * inner + inner + h * dimHead;
          for (let d = 0; d < dimHead; d++) acc[d] += weight * cacheData[v + d];
        }

        const o = b * inner + h * dimHead;
        for (let d = 0; d < dimHead; d++) out[o + d] = denominator > 0 ? acc[d] / denominator : 0;
      }
    }

    return new Tensor([batch, inner], backend, out);
  },
});
