// Peer comparison of the README model (dim 512, depth 6, heads 8, dim_head 64,
// pool_layer_tokens_every 3, random weights from seed 1). It runs on omninet's wasm backend and,
// exported to ONNX with the same weights, on onnxruntime-web's WebAssembly backend and
// onnxruntime-node's CPU provider. All are timed in one process run, interleaved round by round.
//
// Usage: npm run build && node bench/peers.mjs [--tokens 512,1024,2048] [--repeats 5]
//          [--threads 1,2] [--json FILE]
//
// Needs Python 3 with PyTorch for the export (tools/onnx/export_onnx.py); set PYTHON to choose the
// interpreter. Writes the checkpoint, the .onnx and the JSON result under bench/results/ (ignored by git).
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { Omninet } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    tokens: { type: 'string', default: '512,1024,2048' },
    repeats: { type: 'string', default: '5' },
    threads: { type: 'string', default: '1,2' },
    json: { type: 'string' },
  },
});
const tokenCounts = values.tokens.split(',').map(Number);
const repeats = Number(values.repeats);
const threadCounts = values.threads.split(',').map(Number);
const MODEL = { dim: 512, depth: 6, heads: 8, dimHead: 64, poolLayerTokensEvery: 3 };

const resultsDir = fileURLToPath(new URL('./results/peers/', import.meta.url));
const safetensorsPath = `${resultsDir}omninet-readme.safetensors`;
const onnxPath = `${resultsDir}omninet-readme.onnx`;
await mkdir(resultsDir, { recursive: true });

// 1. The checkpoint, and its ONNX export from our PyTorch implementation of the same forward.
await writeFile(safetensorsPath, new Omninet({ ...MODEL, seed: 1 }).toSafetensors());
const python = findPython();
const exporter = fileURLToPath(new URL('../tools/onnx/export_onnx.py', import.meta.url));
const exported = spawnSync(python, [exporter, safetensorsPath, onnxPath], { encoding: 'utf8' });
if (exported.status !== 0) {
  console.error(`the ONNX export failed (${python} ${exporter}):\n${exported.stderr}`);
  process.exit(1);
}
console.log(exported.stdout.trim());

// 2. One worker per runtime and thread count.
const configs = [
  ...threadCounts.map((threads) => ({ name: `omninet wasm ${threads}t`, runtime: 'omninet', threads })),
  ...threadCounts.map((threads) => ({ name: `onnxruntime-web ${threads}t`, runtime: 'onnxruntime-web', threads })),
  ...threadCounts.map((threads) => ({ name: `onnxruntime-node ${threads}t`, runtime: 'onnxruntime-node', threads })),
];
const runners = [];
for (const config of configs) {
  const worker = new Worker(new URL('./peer-runner.mjs', import.meta.url), {
    workerData: { ...config, safetensorsPath, onnxPath, dim: MODEL.dim },
  });
  worker.on('error', (error) => {
    console.error(`${config.name}: ${error.stack ?? error}`);
    process.exit(1);
  });
  const ready = await nextMessage(worker);
  runners.push({ ...config, worker, details: ready.details });
}

const machine = {
  cpu: os.cpus()[0].model,
  cores: os.cpus().length,
  node: process.version,
  platform: `${os.platform()} ${os.arch()}`,
  loadAverageAtStart: os.loadavg(),
};
console.log(`machine: ${machine.cpu}, ${machine.cores} cores, node ${machine.node}, load average ${machine.loadAverageAtStart.map((l) => l.toFixed(2)).join(' ')}`);
for (const r of runners) console.log(`${r.name}: ${r.details}`);

// 3. Per sequence length: one verified run each (also the warm-up), then interleaved rounds.
const sizes = [];
for (const tokens of tokenCounts) {
  const x = new Float32Array(tokens * MODEL.dim);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37);

  const outputs = [];
  for (const r of runners) outputs.push((await run(r, x, tokens, true)).output);
  const reference = outputs[0];
  const scale = reference.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const diffs = outputs.map((y) => y.reduce((m, v, i) => Math.max(m, Math.abs(v - reference[i])), 0));

  const times = runners.map(() => []);
  for (let round = 0; round < repeats; round++) {
    // Rotate the starting runner, so that no runtime always follows the same one.
    for (let k = 0; k < runners.length; k++) {
      const index = (round + k) % runners.length;
      times[index].push((await run(runners[index], x, tokens, false)).ms);
    }
  }
  const stats = times.map(summarize);
  sizes.push({
    tokens,
    runtimes: runners.map((r, i) => ({ name: r.name, ...stats[i], ratio: stats[i].medianMs / stats[0].medianMs, maxAbsDiff: diffs[i] })),
    outputMaxAbs: scale,
  });
  console.log(`\n${tokens} tokens (max |y| ${scale.toFixed(3)}):`);
  for (const [i, r] of runners.entries()) {
    const s = stats[i];
    console.log(
      `  ${r.name.padEnd(20)} median ${fmt(s.medianMs)} (min ${fmt(s.minMs)}, max ${fmt(s.maxMs)})  ratio ${(s.medianMs / stats[0].medianMs).toFixed(2)}  max abs diff vs omninet ${diffs[i].toExponential(2)}`,
    );
  }
}
machine.loadAverageAtEnd = os.loadavg();

// 4. The table for bench/README.md, and the JSON record.
console.log(`\nload average at the end: ${machine.loadAverageAtEnd.map((l) => l.toFixed(2)).join(' ')}`);
console.log('\n| tokens | ' + runners.map((r) => r.name).join(' | ') + ' |');
console.log('|---|' + runners.map(() => '---|').join(''));
for (const size of sizes) {
  const cells = size.runtimes.map((t, i) => (i === 0 ? `${fmt(t.medianMs)}` : `${fmt(t.medianMs)} (${t.ratio.toFixed(2)}×)`));
  console.log(`| ${size.tokens} | ${cells.join(' | ')} |`);
}
const jsonPath = values.json ?? `${fileURLToPath(new URL('./results/', import.meta.url))}peers-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
await writeFile(jsonPath, JSON.stringify({ command: `node bench/peers.mjs ${process.argv.slice(2).join(' ')}`.trim(), machine, model: MODEL, repeats, runtimes: runners.map((r) => ({ name: r.name, details: r.details })), sizes }, null, 1));
console.log(`\nwrote ${jsonPath}`);
for (const r of runners) await r.worker.terminate();

function run(runner, x, tokens, withOutput) {
  runner.worker.postMessage({ x, tokens, withOutput });
  return nextMessage(runner.worker).then((message) => {
    if (message.type === 'error') throw new Error(`${runner.name}: ${message.message}`);
    return message;
  });
}

function nextMessage(worker) {
  return new Promise((resolve) => worker.once('message', resolve));
}

function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const medianMs = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { medianMs, minMs: sorted[0], maxMs: sorted[sorted.length - 1], samplesMs: samples };
}

function fmt(ms) {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}

/** Returns the first of $PYTHON, python3 and /usr/bin/python3 that imports torch. */
function findPython() {
  const candidates = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean);
  for (const candidate of candidates) {
    if (spawnSync(candidate, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  console.error(`no Python with PyTorch found (tried ${candidates.join(', ')}); on Debian: apt-get install python3-torch, or set PYTHON`);
  process.exit(1);
}
