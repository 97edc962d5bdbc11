import { describe, expect, it } from 'vitest';

import type { WasmBackend } from '../src/backends/wasm/backend.js';
import { OmninetError } from '../src/errors.js';
import { Omninet, OmninetCausal } from '../src/model/model.js';

const options = { dim: 64, depth: 6, heads: 4, dimHead: 16, seed: 3 };
const seq = 512;
const x = Float32Array.from({ length: seq * options.dim }, (_, i) => Math.sin(i / 7));

async function rejection(promise: Promise<unknown>): Promise<OmninetError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(OmninetError);
  return error as OmninetError;
}

describe('AbortSignal', () => {
  it('aborts a forward between ops', async () => {
    const model = new Omninet({ ...options, backend: 'wasm' });
    const expected = await model.forward(x, { shape: [seq, options.dim] });
    const { dispatcher } = await model.init();
    const heap = dispatcher.primary as WasmBackend;
    const baseline = heap.memoryStats().bytesInUse;

    const controller = new AbortController();
    const started = performance.now();
    const pending = model.forward(x, { shape: [seq, options.dim], signal: controller.signal });
    setTimeout(() => controller.abort(new Error('user pressed stop')), 5);
    const error = await rejection(pending);
    expect(error.code).toBe('ABORTED');
    expect(error.message).toBe('forward was aborted: user pressed stop');
    expect(performance.now() - started).toBeLessThan(1_000);

    expect(heap.memoryStats().bytesInUse).toBe(baseline);
    expect(await model.forward(x, { shape: [seq, options.dim] })).toEqual(expected);
    model.dispose();
  });

  it('rejects an already aborted signal', async () => {
    const model = new Omninet({ ...options, backend: 'js' });
    const error = await rejection(model.forward(x, { shape: [seq, options.dim], signal: AbortSignal.abort() }));
    expect(error.code).toBe('ABORTED');
  });

  it('aborts a queued decoder step', async () => {
    const model = new OmninetCausal({ ...options, backend: 'wasm' });
    const row = x.subarray(0, options.dim);
    const reference = model.createDecoder({ batch: 1 });
    const expected = [await reference.step(row), await reference.step(row)];

    const decoder = model.createDecoder({ batch: 1 });
    const controller = new AbortController();
    const first = decoder.step(row);
    const queued = decoder.step(row, { signal: controller.signal });
    controller.abort();
    expect(await first).toEqual(expected[0]);
    expect((await rejection(queued)).code).toBe('ABORTED');

    // The aborted step never ran, so the next one is position 1.
    expect(decoder.length).toBe(1);
    expect(await decoder.step(row)).toEqual(expected[1]);
    model.dispose();
  });
});
