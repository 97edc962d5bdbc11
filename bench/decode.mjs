// Decode time per token of the README configuration (omninet-causal-omni) at growing contexts,
// and the memory the decoder holds. One decoder steps from position 0 up to the largest context.
// At each context C, the steps at positions C − window … C − 1 are timed one by one.
// Usage: npm run build && node bench/decode.mjs [--contexts 128,1024,8192] [--window 32] [--backend wasm] [--json FILE]
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { OmninetCausal } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    contexts: { type: 'string', default: '128,1024,8192' },
    window: { type: 'string', default: '32' },
    backend: { type: 'string', default: 'wasm' },
    json: { type: 'string' },
  },
});
const contexts = values.contexts.split(',').map(Number).sort((a, b) => a - b);
const window = Number(values.window);
const options = { dim: 512, depth: 6, heads: 8, dimHead: 64, poolLayerTokensEvery: 3, variant: 'omninet-causal-omni', seed: 1 };

console.log(`machine: ${os.cpus()[0].model}, ${os.cpus().length} cores, node ${process.version}`);
console.log(`model: OmninetCausal ${JSON.stringify(options)}, batch 1, backend ${values.backend}`);

const model = new OmninetCausal({ ...options, backend: values.backend });
const { dispatcher } = await model.init();
const decoder = model.createDecoder({ batch: 1 });

// The input of position p; any finite values do, the cost does not depend on them.
const x = new Float32Array(options.dim);
const input = (p) => {
  for (let c = 0; c < x.length; c++) x[c] = Math.sin(0.37 * c + 0.11 * p);
  return x;
};

const results = [];
const start = performance.now();
for (const context of contexts) {
  const timed = Math.min(window, context);
  while (decoder.length < context - timed) await decoder.step(input(decoder.length));

  const times = [];
  while (decoder.length < context) {
    const begin = performance.now();
    await decoder.step(input(decoder.length));
    times.push(performance.now() - begin);
  }
  times.sort((a, b) => a - b);
  const heap = dispatcher.primary.memoryStats?.();
  const result = {
    context,
    timedSteps: times.length,
    medianMs: times[Math.floor(times.length / 2)],
    minMs: times[0],
    maxMs: times[times.length - 1],
    decoderBytes: decoder.memoryBytes(),
    heapBytesInUse: heap?.bytesInUse ?? null,
    wasmMemoryBytes: heap?.memoryBytes ?? null,
    elapsedS: (performance.now() - start) / 1000,
  };
  results.push(result);
  const mib = (bytes) => (bytes === null ? 'n/a' : `${(bytes / 2 ** 20).toFixed(1)} MiB`);
  console.log(
    `context ${context}: median ${result.medianMs.toFixed(2)} ms/token over positions ${context - times.length}…${context - 1} ` +
      `(min ${result.minMs.toFixed(2)}, max ${result.maxMs.toFixed(2)}); decoder holds ${result.decoderBytes} bytes (${mib(result.decoderBytes)}), ` +
      `wasm heap in use ${mib(result.heapBytesInUse)}, memory ${mib(result.wasmMemoryBytes)}; ${result.elapsedS.toFixed(0)} s so far`,
  );
}

if (values.json) writeFileSync(values.json, JSON.stringify({ machine: os.cpus()[0].model, node: process.version, options, backend: values.backend, window, results }, null, 2));
decoder.dispose();
model.dispose();
