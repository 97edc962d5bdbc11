import { afterEach, describe, expect, it } from 'vitest';

import { OmninetError } from '../src/errors.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { loadModel } from '../src/model/load.js';
import { Omninet } from '../src/model/model.js';

const options = { dim: 8, depth: 2, heads: 2, dimHead: 4, nbFeatures: 4 };

/** Returns a checkpoint of a small random model with one weight value replaced. */
function checkpointWith(name: string, index: number, value: number): Uint8Array {
  const file = readSafetensors(new Omninet(options).toSafetensors());
  const tensors = [...file.tensors.values()].map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape, data: t.data as Float32Array }));
  tensors.find((t) => t.name === name)!.data[index] = value;
  return writeSafetensors(tensors, file.metadata);
}

async function rejection(promise: Promise<unknown>): Promise<OmninetError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(OmninetError);
  return error as OmninetError;
}

const input = new Float32Array(3 * 8).fill(0.25);

describe('numeric guards', () => {
  afterEach(() => {
    delete process.env.OMNINET_DEBUG;
  });

  it('rejects non-finite weights at load', async () => {
    const bytes = checkpointWith('layers.1.1.fn.net.0.weight', 5, Number.NaN);
    const error = await rejection(loadModel(bytes, { backend: 'js' }));
    expect(error.code).toBe('NON_FINITE');
    expect(error.message).toBe(
      'checkpoint: weight "layers.1.1.fn.net.0.weight" [32, 8] holds NaN at flat index 5; fix the checkpoint, or pass allowNonFinite: true to load it anyway',
    );
  });

  it('loads them with allowNonFinite', async () => {
    const model = await loadModel(checkpointWith('layers.1.1.fn.net.3.bias', 1, Number.NaN), { backend: 'js', allowNonFinite: true });
    const error = await rejection(model.forward(input, { shape: [3, 8] }));
    expect(error.code).toBe('NON_FINITE');
    expect(error.message).toMatch(/^output value NaN at flat index 1 \(token 0, channel 1\) is not finite/);
    model.dispose();
  });

  for (const backend of ['js', 'wasm'] as const) {
    it(`names the failing op in debug (${backend})`, async () => {
      const bytes = checkpointWith('layers.0.0.fn.to_qkv.weight', 0, Number.POSITIVE_INFINITY);
      const model = await loadModel(bytes, { backend, allowNonFinite: true, debug: true });
      const error = await rejection(model.forward(input, { shape: [3, 8] }));
      expect(error.code).toBe('NON_FINITE');
      expect(error.message).toMatch(new RegExp(`^debug: op "linear" on the ${backend} backend produced (-?Infinity|NaN) at flat index \\d+ of its output \\[1, 3, 24\\]$`));
      model.dispose();
    });
  }

  it('enables debug with OMNINET_DEBUG', async () => {
    process.env.OMNINET_DEBUG = '1';
    const model = await loadModel(checkpointWith('layers.1.0.norm.bias', 2, Number.NaN), { backend: 'js', allowNonFinite: true });
    const error = await rejection(model.forward(input, { shape: [3, 8] }));
    expect(error.message).toMatch(/^debug: op "layerNorm" on the js backend produced NaN/);
    model.dispose();
  });

  it('keeps finite forwards unchanged in debug', async () => {
    const plain = new Omninet({ ...options, backend: 'js' });
    const debugged = new Omninet({ ...options, backend: 'js', debug: true });
    expect(await debugged.forward(input, { shape: [3, 8] })).toEqual(await plain.forward(input, { shape: [3, 8] }));
  });
});
