// Time per op of a README-model forward, measured around each op the dispatcher runs.
// Usage: npm run build && node bench/profile.mjs [--tokens 1024] [--variant omninet]
//          [--backend wasm] [--repeats 3] [--baseline OTHER_CHECKOUT]
// With --baseline, a second build (another checkout's dist/index.js, built there) runs the same
// forwards in this process, interleaved round by round, and gets its own column.
// Per-op times are exact on js and wasm, whose kernels finish before they return. On WebGPU they
// show when the work was recorded, not when it ran.
import os from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    tokens: { type: 'string', default: '1024' },
    variant: { type: 'string', default: 'omninet' },
    backend: { type: 'string', default: 'wasm' },
    repeats: { type: 'string', default: '3' },
    baseline: { type: 'string' },
  },
});
const tokens = Number(values.tokens);
const repeats = Number(values.repeats);
const options = { dim: 512, depth: 6, heads: 8, dimHead: 64, poolLayerTokensEvery: 3, seed: 1, variant: values.variant, backend: values.backend };

const builds = [{ name: 'this build', url: new URL('../dist/index.js', import.meta.url) }];
if (values.baseline) builds.unshift({ name: 'baseline', url: pathToFileURL(resolve(values.baseline, 'dist/index.js')) });

// Each build gets a model whose dispatcher adds the time of every op to a per-op total.
for (const build of builds) {
  const { Omninet, OmninetCausal } = await import(build.url.href);
  build.model = options.variant === 'omninet' ? new Omninet(options) : new OmninetCausal(options);
  const { dispatcher } = await build.model.init();
  build.opMs = new Map();
  build.forwardMs = [];
  const run = dispatcher.run.bind(dispatcher);
  dispatcher.run = async (op, args) => {
    const start = performance.now();
    const result = await run(op, args);
    if (build.timing) build.opMs.set(op, (build.opMs.get(op) ?? 0) + performance.now() - start);
    return result;
  };
}

const x = new Float32Array(tokens * options.dim);
for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37);
for (const build of builds) await build.model.forward(x, { shape: [tokens, options.dim] }); // warm-up
for (let round = 0; round < repeats; round++) {
  for (const build of builds) {
    build.timing = true;
    const start = performance.now();
    await build.model.forward(x, { shape: [tokens, options.dim] });
    build.forwardMs.push(performance.now() - start);
    build.timing = false;
  }
}

console.log(`machine: ${os.cpus()[0].model}, ${os.cpus().length} cores, node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(`model: ${JSON.stringify(options)}, batch 1, ${tokens} tokens, mean of ${repeats} forwards after one warm-up\n`);
const last = builds[builds.length - 1];
const ops = [...last.opMs.keys()].sort((a, b) => last.opMs.get(b) - last.opMs.get(a));
console.log(`| op | ${builds.map((b) => `${b.name} (ms)`).join(' | ')} |`);
console.log(`|---|${builds.map(() => '---|').join('')}`);
for (const op of ops) console.log(`| ${op} | ${builds.map((b) => ((b.opMs.get(op) ?? 0) / repeats).toFixed(0)).join(' | ')} |`);
console.log(`| whole forward, median | ${builds.map((b) => median(b.forwardMs).toFixed(0)).join(' | ')} |`);
for (const build of builds) build.model.dispose();

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
