import { OmninetError } from '../../../errors.js';
import { registerKernel } from '../../../kernels/registry.js';
import { asWasmBackend, assertSize } from '../backend.js';
import { parallelLinear } from '../parallel.js';

const WHAT = 'wasm linear';

registerKernel({
  kernelName: 'linear',
  backendName: 'wasm',
  kernelFunc: ({ x, weight, bias, activation }, backend) => {
    const wasm = asWasmBackend(backend, WHAT);
    const [outFeatures, inFeatures] = weight.shape;
    if (weight.shape.length !== 2 || x.shape[x.shape.length - 1] !== inFeatures) {
      throw new OmninetError('SHAPE_MISMATCH', `${WHAT}: x [${x.shape.join(', ')}] does not match weight [${weight.shape.join(', ')}]`);
    }
    if (bias) assertSize(bias, outFeatures, WHAT, 'bias');
    const rows = x.size / inFeatures;

    const xPointer = wasm.pointer(x, WHAT);
    const biasPointer = bias ? wasm.pointer(bias, WHAT) : 0;
    const packed = wasm.packedWeight(weight, WHAT);
    let y: number;
    try {
      y = wasm.allocate(rows * outFeatures * 4);
      parallelLinear(wasm, activation === 'gelu', xPointer, packed, biasPointer, y, rows, outFeatures, inFeatures);
    } finally {
      if (!weight.persistent) wasm.release(packed);
    }
    return wasm.tensorAt(y, [...x.shape.slice(0, -1), outFeatures]);
  },
});
