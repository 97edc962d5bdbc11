import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';

import type { WasmBackend } from '../src/backends/wasm/backend.js';
import { OmninetError } from '../src/errors.js';
import { Omninet, OmninetCausal, type OmninetModel } from '../src/model/model.js';
import { testedBackends } from './helpers/webgpu.js';

// A real collection before each memory sample, so the comparison is not noise from garbage.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

function memoryInUse(): number {
  collectGarbage();
  collectGarbage();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external + usage.arrayBuffers;
}

const options = { dim: 8, depth: 2, heads: 2, dimHead: 4, nbFeatures: 4 };
const input = new Float32Array(4 * 8).fill(0.3);

/** 200 cycles on the CPU backends; a software WebGPU adapter needs about half a second per cycle, so it runs fewer. */
function cycles(backend: string): number {
  return backend === 'webgpu' ? 40 : 200;
}

async function wasmBytesInUse(model: OmninetModel): Promise<number> {
  const { dispatcher } = await model.init();
  return (dispatcher.primary as WasmBackend).memoryStats().bytesInUse;
}

/** Creates a model and a decoder, runs a forward and a few steps, then disposes both. */
async function createUseDispose(backend: 'js' | 'wasm' | 'webgpu', seed: number): Promise<void> {
  const model = new OmninetCausal({ ...options, variant: 'omninet-causal-omni', backend, seed });
  await model.forward(input, { shape: [4, 8] });
  const decoder = model.createDecoder({ batch: 1 });
  for (let i = 0; i < 3; i++) await decoder.step(input.subarray(0, 8));
  decoder.dispose();
  model.dispose();
}

describe('lifetime', () => {
  it('returns the wasm heap to baseline', async () => {
    const model = new OmninetCausal({ ...options, variant: 'omninet-causal-omni', backend: 'wasm' });
    const weightsOnly = await wasmBytesInUse(model);
    expect(weightsOnly).toBeGreaterThan(0);

    await model.forward(input, { shape: [4, 8] });
    // The first forward packs each weight for the gemm kernel once; later forwards add nothing.
    const baseline = await wasmBytesInUse(model);
    await model.forward(input, { shape: [4, 8] });
    expect(await wasmBytesInUse(model)).toBe(baseline);

    const decoder = model.createDecoder({ batch: 1 });
    for (let i = 0; i < 5; i++) await decoder.step(input.subarray(0, 8));
    expect(await wasmBytesInUse(model)).toBeGreaterThan(baseline);
    decoder.dispose();
    // dispose() frees the caches once the queued steps finish, a task later.
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(await wasmBytesInUse(model)).toBe(baseline);
    model.dispose();
  });

  for (const backend of testedBackends(['js', 'wasm', 'webgpu'] as const)) {
    it(`disposes ${cycles(backend)} models and decoders (${backend})`, async () => {
      for (let i = 0; i < 10; i++) await createUseDispose(backend, i);
      const baseline = memoryInUse();

      for (let i = 0; i < cycles(backend); i++) await createUseDispose(backend, i);
      const growth = memoryInUse() - baseline;

      // A leaked wasm memory alone is over 1 MiB per model, so 200 of them would pass this bound.
      expect(growth).toBeLessThan(32 * 2 ** 20);
    });
  }

  it('rejects calls after dispose', async () => {
    const model = new Omninet({ ...options, backend: 'wasm' });
    model.dispose();
    await expect(model.forward(input, { shape: [4, 8] })).rejects.toMatchObject({ code: 'DISPOSED' });
    expect(() => model.init()).toThrow(OmninetError);

    const causal = new OmninetCausal({ ...options, backend: 'js' });
    const decoder = causal.createDecoder({ batch: 1 });
    decoder.dispose();
    await expect(decoder.step(input.subarray(0, 8))).rejects.toMatchObject({ code: 'DISPOSED', message: expect.stringMatching(/decoder was disposed/) });
    causal.dispose();
    expect(() => causal.createDecoder({ batch: 1 })).toThrow(/this model was disposed/);
  });
});
