// The language model with its OmniNet layers in a Worker. Runs against dist/ (`npm run build:ts`),
// because the Worker loads the compiled worker.js.

import { describe, expect, it } from 'vitest';
import { createWorker, loadLanguageModel } from '../dist/index.js';

describe('the language model in a Worker', () => {
  it('generates what the same seed generates in this thread', async () => {
    const worker = await createWorker({ backend: 'wasm' });
    try {
      const remote = await worker.loadLanguageModel();
      const local = await loadLanguageModel(undefined, { backend: 'wasm' });
      const inWorker = await remote.generateText({ prompt: 'Blessed are', maxTokens: 60, seed: 11 });
      const inThread = await local.generateText({ prompt: 'Blessed are', maxTokens: 60, seed: 11 });
      expect(inWorker.text).toBe(inThread.text);
      expect(inWorker.backend).toBe('wasm');
      remote.dispose();
      local.dispose();
    } finally {
      await worker.terminate();
    }
  });
});

