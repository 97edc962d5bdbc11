// End-to-end forward time of the README configuration on each backend, as a table with one
// column per backend and one row per sequence length.
// Usage: npm run build && node bench/forward.mjs [--tokens 1024] [--backends wasm,webgpu,js] [--repeats 5] [--threads 1,2]
// --threads lists thread counts of the wasm backend, one column each; without it, the library's default.
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Omninet } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    tokens: { type: 'string', default: '1024' },
    backends: { type: 'string', default: 'wasm,webgpu,js' },
    repeats: { type: 'string', default: '5' },
    threads: { type: 'string' },
  },
});
const lengths = values.tokens.split(',').map(Number);
// One column per backend, and per thread count for wasm: 'wasm' or 'wasm ×2'.
const threadCounts = values.threads?.split(',').map(Number);
const badThreads = values.threads?.split(',').find((text) => !/^\d+$/.test(text.trim()) || Number(text) < 1);
if (badThreads !== undefined) {
  console.error(`--threads ${values.threads}: "${badThreads}" is not a thread count; give whole numbers ≥ 1, e.g. --threads 1,2`);
  process.exit(2);
}
const backends = values.backends.split(',').flatMap((backend) => (backend === 'wasm' && threadCounts ? threadCounts.map((threads) => `wasm ×${threads}`) : [backend]));
const repeats = Number(values.repeats);
const options = { dim: 512, depth: 6, heads: 8, dimHead: 64, poolLayerTokensEvery: 3, seed: 1 };

console.log(`machine: ${os.cpus()[0].model}, ${os.cpus().length} cores, node ${process.version}`);
console.log(`model: Omninet ${JSON.stringify(options)}, batch 1`);

const headers = new Map(backends.map((backend) => [backend, backend]));
const rows = [];
for (const seq of lengths) {
  const x = new Float32Array(seq * options.dim);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37);
  const row = { seq, cells: new Map() };
  rows.push(row);

  for (const column of backends) {
    const [backend, threadsLabel] = column.split(' ×');
    const threads = threadsLabel === undefined ? undefined : Number(threadsLabel);
    let model;
    try {
      model = new Omninet({ ...options, backend, threads });
      await model.init();
    } catch (error) {
      console.error(`${column}: unavailable (${error.message})`);
      row.cells.set(column, 'unavailable');
      continue;
    }
    const gpu = backend === 'webgpu' ? (await model.init()).dispatcher.primary.adapter : null;
    // A software adapter runs WGSL on the CPU, so its timings reflect the CPU, not a GPU.
    if (gpu) headers.set(column, `webgpu (${gpu.software ? 'software: ' : ''}${gpu.vendor} ${gpu.description || gpu.device})`);

    // The js oracle and software adapters are slow at this size: one timed run after the warm-up.
    const runs = backend === 'js' || gpu?.software ? 1 : repeats;
    await model.forward(x, { shape: [seq, options.dim] });
    const readbacksBefore = (await model.stats()).readbacks;
    const times = [];
    for (let r = 0; r < runs; r++) {
      const start = performance.now();
      await model.forward(x, { shape: [seq, options.dim] });
      times.push(performance.now() - start);
    }
    const readbacks = ((await model.stats()).readbacks - readbacksBefore) / runs;
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)];
    const spread = runs > 1 ? ` (${formatTime(times[0])} – ${formatTime(times[times.length - 1])})` : '';
    row.cells.set(column, `${formatTime(median)}${spread}, ${runs} run${runs > 1 ? 's' : ''}`);
    console.error(`${column} seq ${seq}: median ${median.toFixed(0)} ms over ${runs} runs, ${readbacks} readback${readbacks === 1 ? '' : 's'} per forward`);
    model.dispose();
  }
}

console.log(`\n| tokens | ${backends.map((backend) => headers.get(backend)).join(' | ')} |`);
console.log(`|---|${backends.map(() => '---').join('|')}|`);
for (const { seq, cells } of rows) console.log(`| ${seq} | ${backends.map((backend) => cells.get(backend)).join(' | ')} |`);

function formatTime(ms) {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}
