// Benchmarks linearForward of build/omninet-simd.wasm, single-threaded, on the GEMM shapes of
// OmniNet models, against the core's measured SIMD peak. Run `npm run build:wasm` first, then
// `node bench/gemm.mjs [path/to/module.wasm]`.
// Shapes are M×K×N: M rows of x, K input features, N output features. FLOPs = 2·M·N·K.
// The peak comes from simdPeak (assembly/simd-peak.ts): independent f32x4 multiply-adds in
// registers, the instruction mix of one k step of the GEMM micro-kernel without its packing.

import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const wasmPath = process.argv[2] ?? fileURLToPath(new URL('../build/omninet-simd.wasm', import.meta.url));
const shapes = [
  [512, 512, 2048],
  [1024, 512, 1536],
  [1024, 512, 2048],
  [1024, 2048, 512],
  [1, 512, 2048],
];
const minRepetitions = 5;
const minSeconds = 1;

const { instance } = await WebAssembly.instantiate(await readFile(wasmPath), {
  env: {
    abort() {
      throw new Error('wasm abort');
    },
  },
});
const { memory, heapBase, packedLinearSize, packLinearWeight, linearForward, simdPeak } = instance.exports;
const PEAK_FLOPS_PER_ITERATION = 64; // 8 multiply-adds of 4 lanes, 2 FLOPs each

/** Returns the median GFLOP/s of simdPeak over 9 runs of 50 million rounds, after a warm-up. */
function measurePeak() {
  const iterations = 50_000_000;
  const scratch = heapBase();
  simdPeak(1_000_000, scratch);
  const rates = [];
  for (let run = 0; run < 9; run++) {
    const t0 = performance.now();
    simdPeak(iterations, scratch);
    rates.push((iterations * PEAK_FLOPS_PER_ITERATION) / ((performance.now() - t0) * 1e6));
  }
  return median(rates);
}

// Bump allocator over linear memory above heapBase(); every buffer is 16-byte aligned.
let top = heapBase();
function allocFloats(count) {
  const ptr = top;
  top += Math.ceil((count * 4) / 16) * 16;
  const missing = top - memory.buffer.byteLength;
  if (missing > 0) memory.grow(Math.ceil(missing / 65536));
  return ptr;
}

function fillUniform(ptr, count) {
  const view = new Float32Array(memory.buffer, ptr, count);
  for (let i = 0; i < count; i++) view[i] = Math.random() * 2 - 1;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

console.log(`CPU: ${os.cpus()[0].model}, Node ${process.version}, module ${wasmPath}`);
const peak = measurePeak();
console.log(`SIMD peak (simdPeak, one thread): ${peak.toFixed(1)} GFLOP/s`);
console.log('    M     K     N   median ms   GFLOP/s   runs   of peak');

for (const [m, k, n] of shapes) {
  top = heapBase();
  const w = allocFloats(n * k);
  const packed = allocFloats(packedLinearSize(n, k));
  const bias = allocFloats(n);
  const x = allocFloats(m * k);
  const y = allocFloats(m * n);
  fillUniform(w, n * k);
  fillUniform(bias, n);
  fillUniform(x, m * k);
  packLinearWeight(w, packed, n, k);

  const flops = 2 * m * n * k;
  // Warm-up: lets V8 tier up to the optimizing compiler and brings the weights into cache.
  const warmupEnd = performance.now() + 200;
  do linearForward(x, packed, bias, y, m, n, k);
  while (performance.now() < warmupEnd);

  const times = [];
  const start = performance.now();
  while (times.length < minRepetitions || performance.now() - start < minSeconds * 1000) {
    const t0 = performance.now();
    linearForward(x, packed, bias, y, m, n, k);
    times.push(performance.now() - t0);
  }
  const ms = median(times);
  const gflops = flops / (ms * 1e6);
  console.log(
    `${String(m).padStart(5)} ${String(k).padStart(5)} ${String(n).padStart(5)} ` +
      `${ms.toFixed(3).padStart(11)} ${gflops.toFixed(2).padStart(9)} ${String(times.length).padStart(6)} ${((gflops / peak) * 100).toFixed(0).padStart(8)}%`,
  );
}
