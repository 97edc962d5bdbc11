// End-to-end forward time of the README configuration on each backend.
// Usage: npm run build && node bench/forward.mjs [--tokens 1024] [--backends wasm,js] [--repeats 5]
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Omninet } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    tokens: { type: 'string', default: '1024' },
    backends: { type: 'string', default: 'wasm,js' },
    repeats: { type: 'string', default: '5' },
  },
});
const seq = Number(values.tokens);
const repeats = Number(values.repeats);
const options = { dim: 512, depth: 6, heads: 8, dimHead: 64, poolLayerTokensEvery: 3, seed: 1 };

console.log(`machine: ${os.cpus()[0].model}, ${os.cpus().length} cores, node ${process.version}`);
console.log(`model: Omninet ${JSON.stringify(options)}, batch 1, seq ${seq}`);

const x = new Float32Array(seq * options.dim);
for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37);

for (const backend of values.backends.split(',')) {
  const model = new Omninet({ ...options, backend });
  await model.init();

  // The js oracle is slow at this size, so it gets one timed run after its warm-up.
  const runs = backend === 'js' ? 1 : repeats;
  await model.forward(x, { shape: [seq, options.dim] });
  const times = [];
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    await model.forward(x, { shape: [seq, options.dim] });
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(`${backend}: median ${median.toFixed(0)} ms over ${runs} runs (min ${times[0].toFixed(0)}, max ${times[times.length - 1].toFixed(0)})`);
  model.dispose();
}
