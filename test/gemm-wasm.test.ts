// Checks the WebAssembly GEMM (assembly/gemm.ts) against a float64 reference. Needs the built
// module: run `npm run build:wasm` first. Shapes are written M×K×N (rows × inFeatures × outFeatures).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it, expect } from 'vitest';

interface GemmExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  packedLinearSize(outFeatures: number, inFeatures: number): number;
  packLinearWeight(w: number, packed: number, outFeatures: number, inFeatures: number): void;
  linearForward(x: number, packed: number, bias: number, y: number, rows: number, outFeatures: number, inFeatures: number): void;
}

const wasmPath = fileURLToPath(new URL('../build/omninet-simd.wasm', import.meta.url));
const { instance } = await WebAssembly.instantiate(readFileSync(wasmPath), {
  env: {
    abort() {
      throw new Error('wasm abort');
    },
  },
});
const gemm = instance.exports as unknown as GemmExports;

const PAGE_BYTES = 65536;
/** Floats written around each output buffer to catch stores outside it. */
const GUARD_FLOATS = 16;
const GUARD_VALUE = 12345.5;

/** Bump allocator over the module memory above heapBase(); buffers are 16-byte aligned. */
class Arena {
  private top = gemm.heapBase();

  alloc(floats: number): number {
    const ptr = this.top;
    this.top += Math.ceil((floats * 4) / 16) * 16;
    this.ensure(this.top);
    return ptr;
  }

  /** Allocates `floats` so that the buffer ends exactly at the end of linear memory. */
  allocAtEnd(floats: number): number {
    const bytes = floats * 4;
    this.ensure(this.top + bytes);
    const end = gemm.memory.buffer.byteLength;
    const ptr = end - bytes;
    this.top = end;
    return ptr;
  }

  private ensure(end: number): void {
    const missing = end - gemm.memory.buffer.byteLength;
    if (missing > 0) gemm.memory.grow(Math.ceil(missing / PAGE_BYTES));
  }
}

function floats(ptr: number, count: number): Float32Array {
  return new Float32Array(gemm.memory.buffer, ptr, count);
}

/** Deterministic uniform values in [-1, 1) (mulberry32), so a failure reproduces. */
function makeRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

function fill(view: Float32Array, random: () => number): void {
  for (let i = 0; i < view.length; i++) view[i] = random();
}

/**
 * Reference y = x·Wᵀ + bias in float64 from the float32 inputs, with the sum of the absolute
 * values of its terms (|bias| + Σ|x·w|) per output, which scales the rounding error.
 */
function referenceLinear(x: Float32Array, w: Float32Array, bias: Float32Array | null, rows: number, outFeatures: number, inFeatures: number): { y: Float64Array; absSum: Float64Array } {
  const y = new Float64Array(rows * outFeatures);
  const absSum = new Float64Array(rows * outFeatures);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outFeatures; o++) {
      let sum = bias ? bias[o] : 0;
      let magnitude = Math.abs(sum);
      for (let k = 0; k < inFeatures; k++) {
        const term = x[r * inFeatures + k] * w[o * inFeatures + k];
        sum += term;
        magnitude += Math.abs(term);
      }
      y[r * outFeatures + o] = sum;
      absSum[r * outFeatures + o] = magnitude;
    }
  }
  return { y, absSum };
}

interface CheckOptions {
  withBias: boolean;
  /** Place y at the very end of linear memory, so any read or write past it traps. */
  yAtMemoryEnd?: boolean;
}

/** Unit roundoff of float32, 2⁻²⁴. */
const FLOAT32_UNIT_ROUNDOFF = 2 ** -24;

/**
 * Runs packLinearWeight + linearForward on random data and compares every output with the float64
 * reference. The tolerance is 2·u·√n·(|bias| + Σ|x·w|) for a sum of n = K + 1 terms, because the
 * rounding error of a float32 sum grows like √n·u times the sum of absolute terms (n·u at worst).
 * The kernel stayed below 0.12·u·√n·Σ on all 1M outputs at 512×512×2048 with uniform inputs.
 * A relative bound such as 1e-5·(1 + |expected|) failed there, even for a sequential float32
 * loop, because outputs near 0 are sums of many large terms.
 * Also checks that nothing outside y and the packed weight was written.
 */
function checkLinear(rows: number, inFeatures: number, outFeatures: number, options: CheckOptions): void {
  const shape = `${rows}×${inFeatures}×${outFeatures} ${options.withBias ? 'with bias' : 'without bias'}`;
  const random = makeRandom(rows * 1_000_003 + inFeatures * 1009 + outFeatures);
  const arena = new Arena();

  const packedSize = gemm.packedLinearSize(outFeatures, inFeatures);
  expect(packedSize, `${shape}: packedLinearSize`).toBeGreaterThanOrEqual(outFeatures * inFeatures);

  const wPtr = arena.alloc(outFeatures * inFeatures);
  const packedPtr = arena.alloc(packedSize + GUARD_FLOATS);
  const biasPtr = options.withBias ? arena.alloc(outFeatures) : 0;
  const xPtr = arena.alloc(rows * inFeatures);
  const outputFloats = rows * outFeatures;
  const yPtr = options.yAtMemoryEnd
    ? arena.allocAtEnd(GUARD_FLOATS + outputFloats) + GUARD_FLOATS * 4
    : arena.alloc(GUARD_FLOATS + outputFloats + GUARD_FLOATS) + GUARD_FLOATS * 4;
  const guardAfter = options.yAtMemoryEnd ? 0 : GUARD_FLOATS;

  fill(floats(wPtr, outFeatures * inFeatures), random);
  fill(floats(xPtr, rows * inFeatures), random);
  if (biasPtr) fill(floats(biasPtr, outFeatures), random);
  floats(packedPtr + packedSize * 4, GUARD_FLOATS).fill(GUARD_VALUE);
  floats(yPtr - GUARD_FLOATS * 4, GUARD_FLOATS + outputFloats + guardAfter).fill(GUARD_VALUE);

  gemm.packLinearWeight(wPtr, packedPtr, outFeatures, inFeatures);
  gemm.linearForward(xPtr, packedPtr, biasPtr, yPtr, rows, outFeatures, inFeatures);

  const { y: expected, absSum } = referenceLinear(
    floats(xPtr, rows * inFeatures),
    floats(wPtr, outFeatures * inFeatures),
    biasPtr ? floats(biasPtr, outFeatures) : null,
    rows,
    outFeatures,
    inFeatures,
  );
  const actual = floats(yPtr, outputFloats);
  const errorScale = 2 * FLOAT32_UNIT_ROUNDOFF * Math.sqrt(inFeatures + 1);
  let worst = 0;
  let worstIndex = -1;
  for (let i = 0; i < outputFloats; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    // An exact result passes even where the tolerance is 0 (no terms), and NaN counts as ∞.
    const ratio = error === 0 ? 0 : Number.isNaN(error) ? Infinity : error / (errorScale * absSum[i]);
    if (ratio > worst) {
      worst = ratio;
      worstIndex = i;
    }
  }
  const where = worstIndex < 0 ? '' : ` at y[${Math.floor(worstIndex / outFeatures)}, ${worstIndex % outFeatures}]: got ${actual[worstIndex]}, expected ${expected[worstIndex]}`;
  expect(worst, `${shape}: error / tolerance${where}`).toBeLessThanOrEqual(1);

  const before = floats(yPtr - GUARD_FLOATS * 4, GUARD_FLOATS);
  const after = floats(yPtr + outputFloats * 4, guardAfter);
  const packedGuard = floats(packedPtr + packedSize * 4, GUARD_FLOATS);
  expect([...before].every((v) => v === GUARD_VALUE), `${shape}: wrote before y`).toBe(true);
  expect([...after].every((v) => v === GUARD_VALUE), `${shape}: wrote past y`).toBe(true);
  expect([...packedGuard].every((v) => v === GUARD_VALUE), `${shape}: wrote past packedLinearSize`).toBe(true);
}

describe('wasm linearForward against a float64 reference', () => {
  // [rows, inFeatures, outFeatures]
  const shapes: Array<[number, number, number]> = [
    [1, 1, 1],
    [1, 7, 3],
    [5, 13, 17],
    [3, 64, 33],
    [17, 129, 65],
    [64, 512, 100],
    // rows = 1 as in decoding: the one-row kernel over groups of 3 panels, a partial last panel
    [1, 512, 2048],
    [1, 300, 23],
    [1, 40, 41],
    // 2- and 3-row tails, and more rows than one row block (96)
    [6, 33, 16],
    [7, 20, 9],
    [101, 70, 50],
    // several K blocks (KC = 512 in assembly/gemm.ts) with a short last block
    [9, 2048, 37],
    [4, 513, 8],
    [13, 600, 31],
    [1, 1100, 30],
  ];

  for (const [rows, inFeatures, outFeatures] of shapes) {
    for (const withBias of [true, false]) {
      it(`${rows}×${inFeatures}×${outFeatures} ${withBias ? 'with bias' : 'with bias pointer 0'}`, () => {
        checkLinear(rows, inFeatures, outFeatures, { withBias });
      });
    }
  }

  // Any read or write past y would trap, because y ends where linear memory ends.
  it('y at the end of memory', () => {
    for (const [rows, inFeatures, outFeatures] of [[1, 5, 3], [3, 9, 13], [5, 300, 23], [4, 16, 7]] as const) {
      for (const withBias of [true, false]) checkLinear(rows, inFeatures, outFeatures, { withBias, yAtMemoryEnd: true });
    }
  });

  it('inFeatures = 0 stores the bias', () => {
    checkLinear(2, 0, 5, { withBias: true });
    checkLinear(2, 0, 5, { withBias: false });
  });
});
