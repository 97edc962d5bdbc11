// wasm threads for models in a Worker: createWorker's default, the per-model option and what the
// models report. Runs against dist/ (`npm run build:ts`), because the Worker loads the compiled worker.js.

import { describe, expect, it } from 'vitest';
import { createWorker, Omninet } from '../dist/index.js';

const checkpoint = new Omninet({ dim: 32, depth: 2, heads: 2, dimHead: 16, seed: 1 }).toSafetensors();

describe('wasm threads in a Worker', () => {
  it('applies createWorker threads to its models', async () => {
    const worker = await createWorker({ backend: 'wasm', threads: 2 });
    try {
      const inherited = await worker.loadModel(checkpoint.slice());
      const own = await worker.loadModel(checkpoint.slice(), { threads: 1 });
      expect(await inherited.threads()).toEqual({ threads: 2, note: null });
      expect(await own.threads()).toEqual({ threads: 1, note: null });
    } finally {
      await worker.terminate();
    }
  });

  it('rejects bad createWorker options before starting', async () => {
    await expect(createWorker({ threads: 'two' as unknown as number })).rejects.toThrow(/createWorker: threads must be an integer from 1 to 64, got two/);
    await expect(createWorker({ thread: 2 } as never)).rejects.toThrow(/unknown createWorker option "thread"/);
  });
});
