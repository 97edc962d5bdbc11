import { describe, expect, it } from 'vitest';

import { OmninetError } from '../src/errors.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { MAX_DEPTH, resolveConfig } from '../src/model/config.js';
import { forwardBytes, WASM_MEMORY_LIMIT_BYTES } from '../src/model/memory-budget.js';
import { Omninet } from '../src/model/model.js';

/** Runs `action` and returns the OmninetError it throws, failing the test on anything else. */
async function omninetError(action: () => unknown): Promise<OmninetError> {
  try {
    await action();
  } catch (error) {
    expect(error).toBeInstanceOf(OmninetError);
    return error as OmninetError;
  }
  throw new Error('expected an OmninetError, but the call succeeded');
}

const smallFile = writeSafetensors(
  [
    { name: 'a', dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) },
    { name: 'b', dtype: 'F32', shape: [1], data: new Float32Array([3]) },
  ],
  { note: 'x' },
);

describe('limits', () => {
  it('rejects a large safetensors header', async () => {
    const error = await omninetError(() => readSafetensors(smallFile, { source: 'big.safetensors', maxHeaderBytes: 16 }));
    expect(error.code).toBe('LIMIT_EXCEEDED');
    expect(error.message).toMatch(/^big\.safetensors: header length \d+ exceeds maxHeaderBytes 16; raise options\.maxHeaderBytes/);
  });

  it('rejects too many safetensors entries', async () => {
    const error = await omninetError(() => readSafetensors(smallFile, { source: 'many.safetensors', maxTensors: 2 }));
    expect(error.code).toBe('LIMIT_EXCEEDED');
    expect(error.message).toBe('many.safetensors: header has 3 entries, over maxTensors 2; raise options.maxTensors if the file is trusted');
    expect(readSafetensors(smallFile, { maxTensors: 3 }).tensors.size).toBe(2);
  });

  it('rejects tensors past the file end', async () => {
    const header = JSON.stringify({ w: { dtype: 'F32', shape: [2 ** 40], data_offsets: [0, 2 ** 42] } });
    const bytes = new Uint8Array(8 + header.length + 16);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
    bytes.set(new TextEncoder().encode(header), 8);
    const error = await omninetError(() => readSafetensors(bytes, { source: 'huge.safetensors' }));
    expect(error.code).toBe('INVALID_CHECKPOINT');
    expect(error.message).toMatch(/data_offsets \[0, 4398046511104\] but the data section is only 16 bytes/);
  });

  it('rejects a large .npy header', async () => {
    const bytes = writeNpy({ dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) });
    const error = await omninetError(() => readNpy(bytes, { source: 'x.npy', maxHeaderBytes: 32 }));
    expect(error.code).toBe('LIMIT_EXCEEDED');
    expect(error.message).toMatch(/^x\.npy: header length 118 exceeds maxHeaderBytes 32/);

    const truncated = await omninetError(() => readNpy(bytes.subarray(0, bytes.length - 4), { source: 'x.npy' }));
    expect(truncated.code).toBe('INVALID_NPY');
    expect(truncated.message).toMatch(/data section is 4 bytes but shape \(2,\) of float32 needs 8 bytes/);
  });

  it('rejects oversized model configs', async () => {
    const deep = await omninetError(() => resolveConfig({ dim: 4, depth: MAX_DEPTH + 1 }));
    expect(deep.code).toBe('LIMIT_EXCEEDED');
    expect(deep.message).toBe(`depth ${MAX_DEPTH + 1} exceeds the limit of ${MAX_DEPTH} layers`);

    const wide = await omninetError(() => resolveConfig({ dim: 65536, depth: 2 }));
    expect(wide.code).toBe('LIMIT_EXCEEDED');
    expect(wide.message).toMatch(/over the limit of 1073741824 \(4 GiB of float32\)/);
  });

  it('estimates forward memory', () => {
    const config = resolveConfig({ dim: 8, depth: 2, heads: 2, dimHead: 4, nbFeatures: 16, ffMult: 4 });
    const one = forwardBytes(config, 1, 100);
    const two = forwardBytes(config, 2, 100);
    expect(two.weights).toBe(one.weights);
    expect(two.hiddens).toBe(2 * one.hiddens);
    expect(two.block).toBe(2 * one.block);
    expect(one.total).toBe(one.weights + one.hiddens + one.block);
  });

  it('rejects a wasm forward over 4 GiB', async () => {
    // FAVOR+ features of 16384 tokens × 2 layers × 8 heads × 4096 features need about 8 GiB. The input is 512 KiB.
    const model = new Omninet({ dim: 8, depth: 2, heads: 8, dimHead: 64, nbFeatures: 4096, backend: 'wasm' });
    const seq = 16384;
    expect(forwardBytes(model.config, 1, seq).total).toBeGreaterThan(WASM_MEMORY_LIMIT_BYTES);

    const error = await omninetError(() => model.forward(new Float32Array(seq * 8), { shape: [1, seq, 8] }));
    expect(error.code).toBe('LIMIT_EXCEEDED');
    expect(error.message).toMatch(/^a forward of batch 1 × seq 16384 needs about \d+ MiB \(weights \d+ MiB, hiddens \d+ MiB, largest block \d+ MiB\), over the 4096 MiB limit of the wasm backend/);

    // A small forward of the same model still runs.
    const y = await model.forward(new Float32Array(4 * 8).fill(0.5), { shape: [1, 4, 8] });
    expect(y).toHaveLength(32);
    model.dispose();
  });
});
