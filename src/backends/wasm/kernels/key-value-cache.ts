import { OmninetError } from '../../../errors.js';
import { registerKernel } from '../../../kernels/registry.js';
import { asWasmBackend, assertSize } from '../backend.js';

registerKernel({
  kernelName: 'cacheWrite',
  backendName: 'wasm',
  kernelFunc: ({ cache, rows, batch, count, columnOffset, position }, backend) => {
    const what = 'wasm cacheWrite';
    const wasm = asWasmBackend(backend, what);
    const [, capacity, width] = cache.shape;
    const [, available, rowWidth] = rows.shape;
    if (position + count > capacity || count > available || columnOffset + width > rowWidth) {
      throw new OmninetError(
        'SHAPE_MISMATCH',
        `${what}: cannot copy ${count} positions of rows [${rows.shape.join(', ')}] from column ${columnOffset} into cache [${cache.shape.join(', ')}] at position ${position}`,
      );
    }
    const target = wasm.pointer(cache, what);
    const source = wasm.pointer(rows, what);

    // A native memmove per row; the views are made here because growing the memory detaches old ones.
    const bytes = new Uint8Array(wasm.kernels.memory.buffer);
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < count; i++) {
        const from = source + ((b * available + i) * rowWidth + columnOffset) * 4;
        bytes.copyWithin(target + (b * capacity + position + i) * width * 4, from, from + width * 4);
      }
    }
    return cache;
  },
});

registerKernel({
  kernelName: 'attentionDecode',
  backendName: 'wasm',
  kernelFunc: ({ qkv, cache, batch, length, heads, dimHead, scale, mask }, backend) => {
    const what = 'wasm attentionDecode';
    const wasm = asWasmBackend(backend, what);
    const inner = heads * dimHead;
    const capacity = cache.shape[1];
    assertSize(cache, batch * capacity * 2 * inner, what, 'cache');
    if (qkv.size % batch !== 0 || qkv.size / batch < inner) {
      throw new OmninetError('SHAPE_MISMATCH', `${what}: qkv has shape [${qkv.shape.join(', ')}], expected ${batch} rows of at least heads·dimHead = ${inner} values`);
    }
    if (length > capacity) {
      throw new OmninetError('SHAPE_MISMATCH', `${what}: length ${length} exceeds the cache capacity ${capacity}`);
    }

    const qPointer = wasm.pointer(qkv, what);
    const cachePointer = wasm.pointer(cache, what);
    const maskPointer = wasm.uploadMask(mask, batch, length, what);
    let scratch = 0;
    try {
      const out = wasm.allocate(batch * inner * 4);
      scratch = wasm.allocate(wasm.kernels.attentionDecodeScratchBytes(heads, dimHead));
      wasm.kernels.attentionDecode(qPointer, qkv.size / batch, cachePointer, maskPointer, out, scratch, batch, capacity, length, heads, dimHead, scale);
      return wasm.tensorAt(out, [batch, inner]);
    } finally {
      wasm.release(scratch);
      wasm.release(maskPointer);
    }
  },
});
