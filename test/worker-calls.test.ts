// Worker calls under stress: cancellation, several callers at once, and a crash with calls pending.
// Runs against dist/ (`npm run build:ts`), because the Worker loads the compiled worker.js.

import { describe, expect, it } from 'vitest';
import { createWorker, Omninet, OmninetCausal, OmninetError } from '../dist/index.js';

const options = { dim: 64, depth: 6, heads: 4, dimHead: 16 };
const seq = 512;

function input(seed: number): Float32Array {
  return Float32Array.from({ length: seq * options.dim }, (_, i) => Math.sin(i / 7 + seed));
}

async function rejection(promise: Promise<unknown>): Promise<OmninetError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(OmninetError);
  return error as OmninetError;
}

describe('worker calls', () => {
  it('aborts a forward in the worker', async () => {
    const local = new Omninet({ ...options, seed: 1, backend: 'wasm' });
    const expected = await local.forward(input(0), { shape: [seq, options.dim] });
    const worker = await createWorker({ backend: 'wasm' });
    try {
      const model = await worker.loadModel(local.toSafetensors());
      const timed = performance.now();
      await model.forward(input(0), { shape: [seq, options.dim] });
      const forwardMs = performance.now() - timed;

      const controller = new AbortController();
      const started = performance.now();
      const pending = model.forward(input(0), { shape: [seq, options.dim], signal: controller.signal });
      setTimeout(() => controller.abort(), 5);
      const error = await rejection(pending);
      expect(error.code).toBe('ABORTED');
      expect(performance.now() - started, `a full forward takes ${forwardMs.toFixed(0)} ms`).toBeLessThan(Math.max(forwardMs, 50));

      expect(await model.forward(input(0), { shape: [seq, options.dim] })).toEqual(expected);
      await expect(rejection(model.forward(input(0), { shape: [seq, options.dim], signal: AbortSignal.abort() }))).resolves.toMatchObject({ code: 'ABORTED' });
    } finally {
      await worker.terminate();
      local.dispose();
    }
  });

  it('aborts a remote decoder step', async () => {
    const local = new OmninetCausal({ ...options, seed: 1, backend: 'wasm' });
    const row = input(0).subarray(0, options.dim);
    const expected = await local.createDecoder({ batch: 1 }).step(row.slice());
    const worker = await createWorker({ backend: 'wasm' });
    try {
      const decoder = await (await worker.loadModel(local.toSafetensors())).createDecoder({ batch: 1 });
      const error = await rejection(decoder.step(row.slice(), { signal: AbortSignal.abort() }));
      expect(error.code).toBe('ABORTED');

      // The aborted step never reached the decoder, so the next step is position 0.
      expect(await decoder.step(row.slice())).toEqual(expected);
      expect(decoder.length).toBe(1);
    } finally {
      await worker.terminate();
      local.dispose();
    }
  });

  it('answers concurrent callers separately', async () => {
    const locals = [new Omninet({ ...options, seed: 1, backend: 'wasm' }), new Omninet({ ...options, seed: 2, backend: 'wasm' })];
    const worker = await createWorker({ backend: 'wasm' });
    try {
      const remotes = await Promise.all(locals.map((local) => worker.loadModel(local.toSafetensors())));
      const calls = Array.from({ length: 6 }, (_, i) => ({ model: i % 2, seed: i }));

      const results = await Promise.all(calls.map(({ model, seed }) => remotes[model]!.forward(input(seed), { shape: [seq, options.dim] })));
      for (const [i, { model, seed }] of calls.entries()) {
        expect(results[i], `call ${i}`).toEqual(await locals[model]!.forward(input(seed), { shape: [seq, options.dim] }));
      }
    } finally {
      await worker.terminate();
      for (const local of locals) local.dispose();
    }
  });

  it('rejects pending calls on a crash', async () => {
    const worker = await createWorker({ backend: 'wasm', url: new URL('./helpers/exiting-worker.mjs', import.meta.url) });
    const local = new Omninet({ ...options, seed: 1, backend: 'js' });
    const model = await worker.loadModel(local.toSafetensors());
    const pending = [0, 1, 2].map((seed) => rejection(model.forward(input(seed), { shape: [seq, options.dim] })));
    for (const error of await Promise.all(pending)) {
      expect(error.code).toBe('WORKER_FAILED');
      expect(error.message).toMatch(/exited with code 3/);
    }
    await worker.terminate();
  });
});
