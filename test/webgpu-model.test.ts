// Whole forwards on WebGPU: one readback per forward, placement under 'auto' and per-op
// overrides, and the fallback to wasm when the device is lost.

import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { WebGpuBackend } from '../src/backends/webgpu/index.js';
import { Omninet, OmninetCausal, OmninetError } from '../src/index.js';
import { Random } from '../src/model/random-init.js';
import { requireWebGpu, runWebGpuTests } from './helpers/webgpu.js';

function randomInput(size: number, seed: number): Float32Array {
  const random = new Random(seed);
  return Float32Array.from({ length: size }, () => random.normal());
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

const dims = { dim: 24, depth: 4, heads: 3, dimHead: 8, poolLayerTokensEvery: 3, seed: 7 };

describe.runIf(runWebGpuTests)('forward on webgpu', () => {
  beforeAll(requireWebGpu);

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('reads back once for the README configuration', async () => {
    // dim 512, depth 6, heads 8, dimHead 64, pool every 3, at 1024 tokens.
    const options = { dim: 512, depth: 6, heads: 8, dimHead: 64, poolLayerTokensEvery: 3, seed: 1 };
    const model = new Omninet({ ...options, backend: 'webgpu' });
    const seq = 1024;
    const x = randomInput(seq * options.dim, 3);

    const output = await model.forward(x, { shape: [seq, options.dim] });
    const stats = await model.stats();
    expect(stats.readbacks, 'readbacks of one forward').toBe(1);
    expect(stats.moves, 'tensors moved between backends').toBe(0);
    expect(Object.keys(stats.ops), 'backends that ran ops').toEqual(['webgpu']);
    const gpu = (await model.init()).dispatcher.primary as WebGpuBackend;
    expect(gpu.recorder.counts.submits, 'command buffers submitted').toBe(1);
    expect(output.every(Number.isFinite), 'outputs are finite').toBe(true);
    model.dispose();
  }, 300_000);

  it.each([
    ['omninet', () => new Omninet({ ...dims, backend: 'webgpu' }), () => new Omninet({ ...dims, backend: 'wasm' })],
    ['omninet-causal-axial', () => new OmninetCausal({ ...dims, backend: 'webgpu' }), () => new OmninetCausal({ ...dims, backend: 'wasm' })],
  ])('%s matches wasm with a padding mask', async (_name, createGpu, createWasm) => {
    const seq = 13;
    const x = randomInput(3 * seq * dims.dim, 1);
    const mask = new Uint8Array(3 * seq);
    [13, 6, 1].forEach((n, b) => mask.fill(1, b * seq, b * seq + n));

    const gpuModel = createGpu();
    const wasmModel = createWasm();
    const onGpu = await gpuModel.forward(x, { shape: [3, seq, dims.dim], mask });
    const onWasm = await wasmModel.forward(x, { shape: [3, seq, dims.dim], mask });
    expect(maxDifference(onGpu, onWasm), 'max |webgpu − wasm|').toBeLessThan(2e-5);
    gpuModel.dispose();
    wasmModel.dispose();
  });

  it('moves tensors for a per-op override', async () => {
    const model = new Omninet({ ...dims, backend: 'webgpu', ops: { attention: 'wasm' } });
    const reference = new Omninet({ ...dims, backend: 'wasm' });
    const x = randomInput(2 * 9 * dims.dim, 4);

    const output = await model.forward(x, { shape: [2, 9, dims.dim] });
    expect(maxDifference(output, await reference.forward(x, { shape: [2, 9, dims.dim] })), 'max |override − wasm|').toBeLessThan(2e-5);
    const stats = await model.stats();
    // Each of the 4 attentions reads qkv back and sends its output to the GPU.
    expect(stats.ops.wasm, 'ops on wasm').toBe(dims.depth);
    expect(stats.moves, 'moves').toBe(2 * dims.depth);
    expect(stats.readbacks, 'readbacks: 4 moves out of the GPU and the output').toBe(dims.depth + 1);
    model.dispose();
    reference.dispose();
  });

  it('keeps small ops on wasm under auto', async () => {
    const model = new Omninet({ ...dims, backend: 'auto', allowSoftwareGpu: true });
    await model.forward(randomInput(5 * dims.dim, 5), { shape: [5, dims.dim] });
    expect(Object.keys((await model.stats()).ops), 'backends that ran ops').toEqual(['wasm']);
    model.dispose();
  });

  it('moves to the GPU once under auto', async () => {
    const model = new Omninet({ ...dims, backend: 'auto', allowSoftwareGpu: true, gpuMinWork: 0 });
    const reference = new Omninet({ ...dims, backend: 'wasm' });
    const x = randomInput(5 * dims.dim, 5);

    const output = await model.forward(x, { shape: [5, dims.dim] });
    expect(maxDifference(output, await reference.forward(x, { shape: [5, dims.dim] })), 'max |auto − wasm|').toBeLessThan(2e-5);
    const stats = await model.stats();
    expect(Object.keys(stats.ops), 'backends that ran ops').toEqual(['webgpu']);
    expect(stats.readbacks, 'readbacks').toBe(1);
    model.dispose();
    reference.dispose();
  });

  it('declines a software adapter under auto', async () => {
    const model = new Omninet({ ...dims, backend: 'auto', gpuMinWork: 0 });
    await model.forward(randomInput(5 * dims.dim, 6), { shape: [5, dims.dim] });
    const gpu = (await import('./helpers/webgpu.js')).webgpuAdapter!;
    expect(Object.keys((await model.stats()).ops), 'backends that ran ops').toEqual([gpu.software ? 'wasm' : 'webgpu']);
    model.dispose();
  });

  it('decodes on webgpu alone', async () => {
    // webgpu has kernels for the key/value cache ops and the causal FAVOR+ state, so nothing moves.
    const model = new OmninetCausal({ ...dims, backend: 'webgpu', variant: 'omninet-causal-omni' });
    const seq = 6;
    const x = randomInput(seq * dims.dim, 10);
    const full = await model.forward(x, { shape: [seq, dims.dim] });

    const decoder = model.createDecoder({ batch: 1 });
    const stepped = new Float32Array(seq * dims.dim);
    for (let p = 0; p < seq; p++) stepped.set(await decoder.step(x.subarray(p * dims.dim, (p + 1) * dims.dim)), p * dims.dim);
    decoder.dispose();

    expect(maxDifference(stepped, full), 'max |decoded − forward|').toBeLessThan(2e-5);
    const stats = await model.stats();
    expect(stats.moves, 'tensors moved between backends').toBe(0);
    expect(Object.keys(stats.ops), 'backends that ran ops').toEqual(['webgpu']);
    model.dispose();
  });

  describe('after a device loss', () => {
    it('runs the next forward on wasm', async () => {
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
      const model = new Omninet({ ...dims, backend: 'webgpu' });
      const reference = new Omninet({ ...dims, backend: 'wasm' });
      const x = randomInput(2 * 11 * dims.dim, 8);
      const shape = [2, 11, dims.dim];

      const beforeLoss = await model.forward(x, { shape });
      ((await model.init()).dispatcher.primary as WebGpuBackend).device.destroy();
      const afterLoss = await model.forward(x, { shape });
      const onWasm = await reference.forward(x, { shape });

      expect(afterLoss, 'output after the loss equals the wasm output').toEqual(onWasm);
      expect(maxDifference(afterLoss, beforeLoss), 'max |after − before the loss|').toBeLessThan(2e-5);
      expect(await model.backend(), 'backend after the loss').toBe('wasm');
      expect(warn, 'warnings').toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toMatch(/device was lost.*continuing on the wasm backend/);

      await model.forward(x, { shape });
      expect(warn, 'warnings after one more forward').toHaveBeenCalledTimes(1);
      expect((await model.stats()).fallbacks, 'fallbacks').toBe(1);
      model.dispose();
      reference.dispose();
    });

    it('falls back after an out-of-memory error', async () => {
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
      const model = new Omninet({ ...dims, backend: 'webgpu' });
      const reference = new Omninet({ ...dims, backend: 'wasm' });
      const x = randomInput(4 * dims.dim, 11);
      const gpu = (await model.init()).dispatcher.primary as WebGpuBackend;
      // The readback reports what an 'out-of-memory' error scope caught.
      vi.spyOn(gpu, 'download').mockRejectedValueOnce(new OmninetError('OUT_OF_MEMORY', 'webgpu: the device ran out of memory: test'));

      const output = await model.forward(x, { shape: [4, dims.dim] });
      expect(output, 'output equals the wasm output').toEqual(await reference.forward(x, { shape: [4, dims.dim] }));
      expect(warn, 'warnings').toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toMatch(/ran out of memory.*continuing on the wasm backend/);
      model.dispose();
      reference.dispose();
    });

    it('completes a forward in progress on wasm', async () => {
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
      const model = new OmninetCausal({ ...dims, backend: 'webgpu' });
      const reference = new OmninetCausal({ ...dims, backend: 'wasm' });
      const x = randomInput(7 * dims.dim, 9);
      const { dispatcher } = await model.init();
      const gpu = dispatcher.primary as WebGpuBackend;

      // Lose the device after the tenth op of the forward.
      const run = dispatcher.run.bind(dispatcher);
      let ops = 0;
      vi.spyOn(dispatcher, 'run').mockImplementation(async (op, args) => {
        if (++ops === 10) gpu.device.destroy();
        return run(op, args);
      });

      const output = await model.forward(x, { shape: [7, dims.dim] });
      expect(output, 'output equals the wasm output').toEqual(await reference.forward(x, { shape: [7, dims.dim] }));
      expect(warn, 'warnings').toHaveBeenCalledTimes(1);
      expect(ops, 'ops run: the lost attempt, then the whole forward again').toBeGreaterThan(10);
      model.dispose();
      reference.dispose();
    });
  });
});
