import { registerKernel } from '../../../kernels/registry.js';
import { causalFavorStateSize, type OpArgs } from '../../../kernels/ops.js';
import { Tensor } from '../../../tensor.js';
import { jsData } from '../backend.js';

/** Sums of one (batch, head) after some tokens: S = Σ exp(e_s − max)·v_sᵀ and z = Σ exp(e_s − max). */
interface RunningSums {
  context: Float64Array; // S [nbFeatures, dimHead]
  keySum: Float64Array; // z [nbFeatures]
  max: number; // a float32 value, −∞ before the first real key
}

type ScanArgs = OpArgs['causalLinearAttentionState'];

/**
 * Scans the tokens of every (batch, head) in order, in float64. After folding in token t (when it
 * is a real key), it calls `visitToken`; after the last token, `finishHead`. The running max is
 * rounded to float32 so that a state tensor stores exactly the stabiliser the sums are relative to.
 */
function scanCausal(
  { k, v, projection, state, batch, tokens, heads, dimHead, mask }: ScanArgs,
  visitToken: ((b: number, h: number, t: number, sums: RunningSums) => void) | null,
  finishHead: ((b: number, h: number, sums: RunningSums) => void) | null,
): void {
  const nbFeatures = projection.shape[0];
  const inner = heads * dimHead;
  const kData = jsData(k);
  const vData = jsData(v);
  const w = jsData(projection);
  const stateData = state ? jsData(state) : null;
  const stateSize = causalFavorStateSize(nbFeatures, dimHead);
  const normalizer = dimHead ** -0.25;

  const sums: RunningSums = { context: new Float64Array(nbFeatures * dimHead), keySum: new Float64Array(nbFeatures), max: -Infinity };
  const exponents = new Float64Array(nbFeatures);

  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      loadState(stateData, (b * heads + h) * stateSize, nbFeatures, dimHead, sums);

      for (let t = 0; t < tokens; t++) {
        if (!mask || mask[b * tokens + t] !== 0) {
          // e_j = k'·W_j − |k'|²/2 for every feature j.
          const kRow = (b * tokens + t) * inner + h * dimHead;
          let halfNorm = 0;
          for (let d = 0; d < dimHead; d++) halfNorm += (kData[kRow + d] * normalizer) ** 2 / 2;
          let rowMax = -Infinity;
          for (let j = 0; j < nbFeatures; j++) {
            let dot = 0;
            for (let d = 0; d < dimHead; d++) dot += kData[kRow + d] * normalizer * w[j * dimHead + d];
            exponents[j] = dot - halfNorm;
            rowMax = Math.max(rowMax, exponents[j]);
          }

          // A larger max rescales the sums so that they stay relative to it.
          const max = Math.fround(Math.max(sums.max, rowMax));
          if (max > sums.max) {
            const factor = Math.exp(sums.max - max);
            for (let i = 0; i < sums.context.length; i++) sums.context[i] *= factor;
            for (let j = 0; j < nbFeatures; j++) sums.keySum[j] *= factor;
            sums.max = max;
          }

          const vRow = (b * tokens + t) * inner + h * dimHead;
          for (let j = 0; j < nbFeatures; j++) {
            const psi = Math.exp(exponents[j] - sums.max);
            sums.keySum[j] += psi;
            for (let d = 0; d < dimHead; d++) sums.context[j * dimHead + d] += psi * vData[vRow + d];
          }
        }
        visitToken?.(b, h, t, sums);
      }
      finishHead?.(b, h, sums);
    }
  }
}

/** Sets `sums` from one (batch, head) of a state tensor, or to the empty sums. */
function loadState(stateData: Float32Array | null, offset: number, nbFeatures: number, dimHead: number, sums: RunningSums): void {
  if (!stateData) {
    sums.context.fill(0);
    sums.keySum.fill(0);
    sums.max = -Infinity;
    return;
  }
  for (let j = 0; j < nbFeatures; j++) {
    const row = offset + j * (dimHead + 1);
    for (let d = 0; d < dimHead; d++) sums.context[j * dimHead + d] = stateData[row + d];
    sums.keySum[j] = stateData[row + dimHead];
  }
  sums.max = stateData[offset + nbFeatures * (dimHead + 1)];
}

registerKernel({
  kernelName: 'causalLinearAttention',
  backendName: 'js',
  kernelFunc: (args, backend) => {
    const { queryFeatures, batch, tokens, heads, dimHead, projection } = args;
    const nbFeatures = projection.shape[0];
    const inner = heads * dimHead;
    const phi = jsData(queryFeatures);
    const out = new Float32Array(batch * tokens * inner);

    scanCausal(
      args,
      (b, h, t, { context, keySum }) => {
        const q = ((b * heads + h) * tokens + t) * nbFeatures;
        let denominator = 0;
        for (let j = 0; j < nbFeatures; j++) denominator += phi[q + j] * keySum[j];

        const o = (b * tokens + t) * inner + h * dimHead;
        for (let d = 0; d < dimHead; d++) {
          let numerator = 0;
          for (let j = 0; j < nbFeatures; j++) numerator += phi[q + j] * context[j * dimHead + d];
          out[o + d] = denominator > 0 ? numerator / denominator : 0;
        }
      },
      null,
    );

    return new Tensor([batch, tokens, inner], backend, out);
  },
});

registerKernel({
  kernelName: 'causalLinearAttentionState',
  backendName: 'js',
  kernelFunc: (args, backend) => {
    const { batch, heads, dimHead, projection } = args;
    const nbFeatures = projection.shape[0];
    const stateSize = causalFavorStateSize(nbFeatures, dimHead);
    const out = new Float32Array(batch * heads * stateSize);

    scanCausal(args, null, (b, h, { context, keySum, max }) => {
      const offset = (b * heads + h) * stateSize;
      for (let j = 0; j < nbFeatures; j++) {
        const row = offset + j * (dimHead + 1);
        for (let d = 0; d < dimHead; d++) out[row + d] = context[j * dimHead + d];
        out[row + dimHead] = keySum[j];
      }
      out[offset + nbFeatures * (dimHead + 1)] = max;
    });

    return new Tensor([batch, heads, stateSize], backend, out);
  },
});
