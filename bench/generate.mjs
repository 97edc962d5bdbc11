// Generation speed of the embedded language model (kjv-char): tokens per second on each backend,
// in the calling thread and with the layers in a Worker. Each run generates --tokens characters
// after the prompt "And God said" with seed 1; the table gives the median of --runs runs after one
// warm-up run.
// Usage: npm run build && node bench/generate.mjs [--tokens 500] [--runs 3] [--backends wasm,js,webgpu]
import os from 'node:os';
import { parseArgs } from 'node:util';
import { createWorker, loadLanguageModel } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    tokens: { type: 'string', default: '500' },
    runs: { type: 'string', default: '3' },
    backends: { type: 'string', default: 'wasm,js,webgpu' },
  },
});
const maxTokens = Number(values.tokens);
const runs = Number(values.runs);
const options = { prompt: 'And God said', maxTokens, seed: 1 };

console.log(`machine: ${os.cpus()[0].model}, ${os.cpus().length} cores, node ${process.version}`);
console.log(`${maxTokens} tokens per run, median of ${runs} runs after one warm-up\n`);
console.log('| backend | place | tokens/s (median) | min – max | ms per token |');
console.log('|---|---|---|---|---|');

/** Generates `runs` + 1 times and returns the speeds of all but the first run. */
async function measure(model) {
  const speeds = [];
  for (let run = 0; run <= runs; run++) {
    const result = await model.generateText(options);
    if (run > 0) speeds.push(result.tokensPerSecond);
  }
  return speeds.sort((a, b) => a - b);
}

for (const backend of values.backends.split(',')) {
  for (const place of ['thread', 'worker']) {
    let worker = null;
    try {
      worker = place === 'worker' ? await createWorker({ backend }) : null;
      const model = worker ? await worker.loadLanguageModel() : await loadLanguageModel(undefined, { backend });
      const speeds = await measure(model);
      const median = speeds[Math.floor(speeds.length / 2)];
      console.log(`| ${backend} | ${place} | ${median.toFixed(0)} | ${speeds[0].toFixed(0)} – ${speeds.at(-1).toFixed(0)} | ${(1000 / median).toFixed(2)} |`);
      model.dispose();
    } catch (error) {
      console.log(`| ${backend} | ${place} | unavailable: ${error.message} | | |`);
    } finally {
      await worker?.terminate();
    }
  }
}
