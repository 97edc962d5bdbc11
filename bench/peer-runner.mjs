// Worker of bench/peers.mjs: loads one runtime (omninet's wasm backend, onnxruntime-web's
// WebAssembly backend or onnxruntime-node's CPU provider) with one model, then runs a forward for
// each { tokens } message and replies with its time in ms and, when asked, the output.
//
// Each runtime gets its own worker because onnxruntime-web fixes its thread count when its
// WebAssembly module first loads, once per thread.
import { readFile } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';

const { runtime, threads, safetensorsPath, onnxPath, dim } = workerData;

/** Returns { run(x, tokens) → Float32Array, details }. */
async function load() {
  if (runtime === 'omninet') {
    const { loadModel } = await import('../dist/index.js');
    const { defaultKernelBuild } = await import('../dist/backends/wasm/module.js');
    const model = await loadModel(safetensorsPath, { backend: 'wasm', threads });
    await model.init();
    return {
      run: (x, tokens) => model.forward(x, { shape: [1, tokens, dim] }),
      details: `omninet wasm backend, ${defaultKernelBuild()} build, ${threads} thread${threads === 1 ? '' : 's'}`,
    };
  }

  const onnx = await readFile(onnxPath);
  if (runtime === 'onnxruntime-web') {
    const ort = await import('onnxruntime-web');
    ort.env.wasm.numThreads = threads;
    const session = await ort.InferenceSession.create(onnx, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    return {
      run: async (x, tokens) => (await session.run({ x: new ort.Tensor('float32', x, [1, tokens, dim]) })).y.data,
      details: `onnxruntime-web ${ort.env.versions.web}, wasm execution provider (SIMD), numThreads ${threads}`,
    };
  }

  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(onnx, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  return {
    run: async (x, tokens) => (await session.run({ x: new ort.Tensor('float32', x, [1, tokens, dim]) })).y.data,
    details: `onnxruntime-node ${ort.env.versions.node}, cpu execution provider, intraOpNumThreads ${threads}`,
  };
}

const subject = await load();
parentPort.postMessage({ type: 'ready', details: subject.details });
parentPort.on('message', async ({ x, tokens, withOutput }) => {
  try {
    const start = performance.now();
    const y = await subject.run(x, tokens);
    const ms = performance.now() - start;
    parentPort.postMessage({ type: 'result', ms, output: withOutput ? Float32Array.from(y) : null });
  } catch (error) {
    parentPort.postMessage({ type: 'error', message: String(error?.stack ?? error) });
  }
});
