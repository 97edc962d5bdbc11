import { OmninetError } from '../../../errors.js';
import { registerKernel } from '../../../kernels/registry.js';
import { asWasmBackend } from '../backend.js';

registerKernel({
  kernelName: 'gelu',
  backendName: 'wasm',
  kernelFunc: ({ x }, backend) => {
    const wasm = asWasmBackend(backend, 'wasm gelu');
    const y = wasm.allocate(x.size * 4);
    wasm.kernels.gelu(wasm.pointer(x, 'wasm gelu'), y, x.size);
    return wasm.tensorAt(y, x.shape);
  },
});

registerKernel({
  kernelName: 'add',
  backendName: 'wasm',
  kernelFunc: ({ a, b }, backend) => {
    const wasm = asWasmBackend(backend, 'wasm add');
    const rowSize = a.shape[a.shape.length - 1];
    if (b.size !== a.size && b.size !== rowSize) {
      throw new OmninetError(
        'SHAPE_MISMATCH',
        `wasm add: b [${b.shape.join(', ')}] must have the shape of a [${a.shape.join(', ')}] or be one row of ${rowSize} values`,
      );
    }

    const y = wasm.allocate(a.size * 4);
    wasm.kernels.addBroadcast(wasm.pointer(a, 'wasm add'), wasm.pointer(b, 'wasm add'), y, a.size, b.size);
    return wasm.tensorAt(y, a.shape);
  },
});
