// The two builds of the kernel module (asconfig targets "release" and "release-relaxed") and the
// GEMM with fused GELU. Needs `npm run build:wasm`. Node 20 runs the relaxed-SIMD build only with
// --experimental-wasm-relaxed-simd, so its checks run in a child process with that flag.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { defaultKernelBuild } from '../src/backends/wasm/module.js';

const SIMD_PATH = fileURLToPath(new URL('../build/omninet-simd.wasm', import.meta.url));
const RELAXED_PATH = fileURLToPath(new URL('../build/omninet-relaxed-simd.wasm', import.meta.url));

interface Kernels {
  memory: WebAssembly.Memory;
  heapBase(): number;
  packedLinearSize(outFeatures: number, inFeatures: number): number;
  packLinearWeight(w: number, packed: number, outFeatures: number, inFeatures: number): void;
  linearForward(x: number, packed: number, bias: number, y: number, rows: number, outFeatures: number, inFeatures: number): void;
  linearGeluForward(x: number, packed: number, bias: number, y: number, rows: number, outFeatures: number, inFeatures: number): void;
  gelu(x: number, y: number, size: number): void;
}

async function instantiate(path: string): Promise<Kernels> {
  const { instance } = await WebAssembly.instantiate(readFileSync(path), { env: { abort: () => { throw new Error('wasm abort'); } } });
  return instance.exports as unknown as Kernels;
}

describe('linearGeluForward', () => {
  // Row counts hit the 4-row tiles and the 1-, 2- and 3-row tails; 1100 inputs span three K blocks.
  const shapes = [
    [1, 3, 7],
    [2, 512, 24],
    [3, 17, 37],
    [5, 1100, 9],
    [97, 64, 40],
    [130, 520, 16],
  ];

  it('equals linearForward followed by gelu, bit for bit', async () => {
    const k = await instantiate(SIMD_PATH);
    for (const [rows, inFeatures, outFeatures] of shapes) {
      for (const withBias of [false, true]) {
        let top = k.heapBase();
        const alloc = (floats: number): number => {
          const pointer = top;
          top += Math.ceil((floats * 4) / 16) * 16;
          const missing = top - k.memory.buffer.byteLength;
          if (missing > 0) k.memory.grow(Math.ceil(missing / 65536));
          return pointer;
        };
        const w = alloc(outFeatures * inFeatures);
        const packed = alloc(k.packedLinearSize(outFeatures, inFeatures));
        const bias = alloc(outFeatures);
        const x = alloc(rows * inFeatures);
        const fused = alloc(rows * outFeatures);
        const separate = alloc(rows * outFeatures);
        const f = new Float32Array(k.memory.buffer);
        for (let i = 0; i < outFeatures * inFeatures; i++) f[w / 4 + i] = Math.sin(i * 1.3) / Math.sqrt(inFeatures);
        for (let i = 0; i < rows * inFeatures; i++) f[x / 4 + i] = 3 * Math.cos(i * 0.7);
        for (let i = 0; i < outFeatures; i++) f[bias / 4 + i] = Math.sin(i);
        k.packLinearWeight(w, packed, outFeatures, inFeatures);

        k.linearGeluForward(x, packed, withBias ? bias : 0, fused, rows, outFeatures, inFeatures);
        k.linearForward(x, packed, withBias ? bias : 0, separate, rows, outFeatures, inFeatures);
        k.gelu(separate, separate, rows * outFeatures);
        const view = new Float32Array(k.memory.buffer);
        const a = view.slice(fused / 4, fused / 4 + rows * outFeatures);
        const b = view.slice(separate / 4, separate / 4 + rows * outFeatures);
        expect(a, `${rows}×${inFeatures}×${outFeatures} bias=${withBias}`).toEqual(b);
      }
    }
  });
});

describe('kernel builds', () => {
  // Node 20 validates the relaxed build only with --experimental-wasm-relaxed-simd, which
  // `npm run test:relaxed` passes to the test processes.
  it('picks the relaxed-SIMD build exactly where the engine validates it', () => {
    const validates = WebAssembly.validate(readFileSync(RELAXED_PATH));
    const expected = validates && process.env.OMNINET_WASM_BUILD !== 'simd' ? 'relaxed-simd' : 'simd';
    expect(defaultKernelBuild()).toBe(expected);
  });

  it('agree to float32 rounding, the relaxed build run with the flag', () => {
    // The child runs the GEMM (with and without GELU) and attention on both builds and prints
    // the largest difference relative to the largest magnitude.
    const script = `
      import { readFileSync } from 'node:fs';
      const load = async (path) => (await WebAssembly.instantiate(readFileSync(path), { env: { abort() { throw new Error('abort'); } } })).instance.exports;
      const builds = [await load(${JSON.stringify(SIMD_PATH)}), await load(${JSON.stringify(RELAXED_PATH)})];
      const outputs = builds.map((k) => {
        let top = k.heapBase();
        const alloc = (floats) => { const p = top; top += Math.ceil(floats * 4 / 16) * 16; const m = top - k.memory.buffer.byteLength; if (m > 0) k.memory.grow(Math.ceil(m / 65536)); return p; };
        const fill = (p, n, s) => { const f = new Float32Array(k.memory.buffer, p, n); for (let i = 0; i < n; i++) f[i] = Math.sin(i * s); };
        const [rows, inF, outF] = [37, 600, 29];
        const w = alloc(outF * inF), packed = alloc(k.packedLinearSize(outF, inF)), bias = alloc(outF), x = alloc(rows * inF);
        const y = alloc(rows * outF), yGelu = alloc(rows * outF);
        fill(w, outF * inF, 0.37); fill(bias, outF, 1.1); fill(x, rows * inF, 0.71);
        k.packLinearWeight(w, packed, outF, inF);
        k.linearForward(x, packed, bias, y, rows, outF, inF);
        k.linearGeluForward(x, packed, bias, yGelu, rows, outF, inF);
        const [seq, heads, d] = [70, 2, 16];
        const qkv = alloc(seq * 3 * heads * d), out = alloc(seq * heads * d), scratch = alloc(k.attentionScratchBytes(d) / 4);
        fill(qkv, seq * 3 * heads * d, 0.13);
        k.attention(qkv, 0, out, scratch, 1, seq, heads, d, 0.25, 1);
        const read = (p, n) => Array.from(new Float32Array(k.memory.buffer, p, n));
        return [read(y, rows * outF), read(yGelu, rows * outF), read(out, seq * heads * d)];
      });
      const errors = outputs[0].map((a, i) => {
        const b = outputs[1][i];
        const scale = Math.max(...a.map(Math.abs));
        return Math.max(...a.map((v, j) => Math.abs(v - b[j]))) / scale;
      });
      console.log(JSON.stringify({ relaxedValidates: WebAssembly.validate(readFileSync(${JSON.stringify(RELAXED_PATH)})), errors }));
    `;
    const output = execFileSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--input-type=module', '-e', script], { encoding: 'utf8' });
    const { relaxedValidates, errors } = JSON.parse(output) as { relaxedValidates: boolean; errors: number[] };
    expect(relaxedValidates).toBe(true);
    for (const error of errors) expect(error).toBeLessThan(1e-5);
  });
});
