// Peak memory of one forward of the README configuration on the wasm backend as the sequence
// grows. Each length gets a fresh model, so the heap's peak counter starts from the weights alone.
// "Forward peak" is the heap's peak bytes in use minus the bytes in use after the weights were
// uploaded: the activations and scratch space of the forward, which should grow linearly.
// Usage: npm run build && node bench/memory.mjs [--tokens 4096,8192,16384] [--threads N]
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Omninet } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    tokens: { type: 'string', default: '4096,8192,16384' },
    threads: { type: 'string' },
  },
});
const lengths = values.tokens.split(',').map(Number);
const threads = values.threads === undefined ? undefined : Number(values.threads);
const options = { dim: 512, depth: 6, heads: 8, dimHead: 64, poolLayerTokensEvery: 3, seed: 1 };
const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

console.log(`machine: ${os.cpus()[0].model}, ${os.cpus().length} cores, node ${process.version}`);
console.log(`model: Omninet ${JSON.stringify(options)}, batch 1, backend wasm, threads ${threads ?? 'default'}\n`);
console.log('| tokens | forward time | forward peak | per token | weights and packed copies | wasm memory |');
console.log('|---|---|---|---|---|---|');

for (const tokens of lengths) {
  const model = new Omninet({ ...options, backend: 'wasm', threads });
  const { dispatcher } = await model.init();
  const weights = dispatcher.primary.memoryStats().bytesInUse;

  const x = new Float32Array(tokens * options.dim);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37);
  const start = performance.now();
  await model.forward(x, { shape: [1, tokens, options.dim] });
  const seconds = (performance.now() - start) / 1000;

  const heap = dispatcher.primary.memoryStats();
  const forwardPeak = heap.peakBytesInUse - weights;
  const perToken = `${(forwardPeak / tokens / 1024).toFixed(1)} KiB`;
  console.log(`| ${tokens} | ${seconds.toFixed(1)} s | ${mib(forwardPeak)} | ${perToken} | ${mib(weights)} | ${mib(heap.memoryBytes)} |`);
  model.dispose();
}
