// The causal and decoding kernels of `wasm` against the `js` oracle (float64), and the oracle
// against the definition.
//
// Tolerances, |wasm − js| ≤ atol + rtol·|js|:
//   op                          atol   rtol   why
//   causalLinearAttention       1e-5   1e-5   float32 sums per chunk of 64 keys, float64 across chunks;
//                                             exponents e = u·dimHead^-0.25 − |k'|²/2 rounded to float32
//                                             (relative error about 2^-24·|e| in each ψ, so wide-range
//                                             cases use dyadic keys whose exponents are exact)
//   causalLinearAttentionState  1e-5   1e-5   after rescaling to the oracle's max; atol is relative to max z
//   attentionDecode             1e-5   1e-5   float32 scores, tiles of 64 keys summed into float64
//   cacheWrite                  0      0      copies

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsBackend } from '../src/backends/js/index.js';
import { WasmBackend } from '../src/backends/wasm/index.js';
import { OmninetError } from '../src/errors.js';
import { causalFavorStateSize, type OpArgs, type OpName } from '../src/kernels/ops.js';
import { getKernel } from '../src/kernels/registry.js';
import type { Backend } from '../src/backends/backend.js';
import type { Tensor } from '../src/tensor.js';

/** Seeded xorshift32 generator, so that every failing case reproduces. */
class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  /** Returns a uniform number in [0, 1). */
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 2 ** 32;
  }

  uniform(size: number, low = -1, high = 1): Float32Array {
    return Float32Array.from({ length: size }, () => low + (high - low) * this.next());
  }

  normal(size: number, std = 1): Float32Array {
    return Float32Array.from({ length: size }, () => std * Math.sqrt(-2 * Math.log(1 - this.next())) * Math.cos(2 * Math.PI * this.next()));
  }

  integer(below: number): number {
    return Math.floor(this.next() * below);
  }
}

const TOLERANCE = { atol: 1e-5, rtol: 1e-5 };

interface Shape {
  batch: number;
  tokens: number;
  heads: number;
  dimHead: number;
  nbFeatures: number;
}

/** Host data of one causal FAVOR+ case: φ [batch, heads, tokens, m], k and v [batch, tokens, heads·d], W [m, d]. */
interface CausalCase extends Shape {
  phi: Float32Array;
  k: Float32Array;
  v: Float32Array;
  projection: Float32Array;
  mask: Uint8Array | null;
}

type MaskKind = 'none' | 'mixed';

/**
 * Returns a mask [batch, tokens], or null for 'none'. Rows cycle through right padding (the first
 * 60% real), random holes, no real token, and every token real.
 */
function makeMask(kind: MaskKind, batch: number, tokens: number, random: Random): Uint8Array | null {
  if (kind === 'none') return null;
  const mask = new Uint8Array(batch * tokens);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < tokens; t++) {
      const pattern = b % 4;
      const real = pattern === 0 ? t < Math.max(1, Math.ceil(tokens * 0.6)) : pattern === 1 ? random.next() > 0.3 : pattern === 3;
      mask[b * tokens + t] = real ? 1 : 0;
    }
  }
  return mask;
}

/** Writes NaN into the rows of masked tokens of a [batch, tokens, width] array: kernels must never read them. */
function poisonMasked(data: Float32Array, mask: Uint8Array | null, width: number): void {
  if (!mask) return;
  for (let token = 0; token < mask.length; token++) if (mask[token] === 0) data.fill(NaN, token * width, (token + 1) * width);
}

/** Query features as favorFeatures makes them: m^-0.5·(exp(u − |q'|²/2 − max_j u_j) + 1e-4), here from random u. */
function queryFeatures(size: number, nbFeatures: number, random: Random, spread: number): Float32Array {
  const phi = new Float32Array(size);
  for (let row = 0; row < size / nbFeatures; row++) {
    const u = random.uniform(nbFeatures, -spread, 0);
    u[random.integer(nbFeatures)] = 0;
    for (let j = 0; j < nbFeatures; j++) phi[row * nbFeatures + j] = nbFeatures ** -0.5 * (Math.exp(u[j]) + 1e-4);
  }
  return phi;
}

function randomCase(shape: Shape, seed: number, maskKind: MaskKind, keyStd = 1): CausalCase {
  const random = new Random(seed);
  const { batch, tokens, heads, dimHead, nbFeatures } = shape;
  const inner = heads * dimHead;
  const mask = makeMask(maskKind, batch, tokens, random);
  const k = random.normal(batch * tokens * inner, keyStd);
  const v = random.uniform(batch * tokens * inner);
  poisonMasked(k, mask, inner);
  poisonMasked(v, mask, inner);
  return {
    ...shape,
    phi: queryFeatures(batch * heads * tokens * nbFeatures, nbFeatures, random, 8),
    k,
    v,
    projection: random.normal(nbFeatures * dimHead),
    mask,
  };
}

/** Returns e = k'·Wᵀ − |k'|²/2 (k' = k·dimHead^-0.25) of one key, in float64. */
function keyExponents(key: Float32Array, projection: Float32Array, nbFeatures: number): Float64Array {
  const dimHead = key.length;
  const normalizer = dimHead ** -0.25;
  let halfNorm = 0;
  for (const value of key) halfNorm += (value * normalizer) ** 2 / 2;
  return Float64Array.from({ length: nbFeatures }, (_, j) => {
    let dot = 0;
    for (let d = 0; d < dimHead; d++) dot += key[d] * normalizer * projection[j * dimHead + d];
    return dot - halfNorm;
  });
}

/**
 * Returns a case whose key exponents e span several hundred and are exact in float32. dimHead 16 makes
 * k' = k/2, W has entries ±1/2, ±1 and ±2, and every key is c·(±1, …, ±1) with c a multiple of
 * 1/8, so every sum involved has few significant bits. A third of the keys point along a row of W
 * (e up to about +30); the rest have random signs and c up to 5 (e down to about −250), and
 * u = k'·Wᵀ reaches about ±90. `order` arranges each (batch, head): `rising` and `falling` sort by
 * the key's max exponent, and `random` shuffles but moves each chunk's largest key to its last 8 tokens.
 */
function wideRangeCase(tokens: number, seed: number, order: 'rising' | 'falling' | 'random', maskKind: MaskKind = 'none'): CausalCase {
  const random = new Random(seed);
  const batch = 2;
  const heads = 2;
  const dimHead = 16;
  const nbFeatures = 12;
  const inner = heads * dimHead;
  const projection = Float32Array.from({ length: nbFeatures * dimHead }, () => (random.next() < 0.5 ? -1 : 1) * 2 ** (random.integer(3) - 1));

  const k = new Float32Array(batch * tokens * inner);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const keys: { key: Float32Array; max: number }[] = [];
      for (let t = 0; t < tokens; t++) {
        const key = new Float32Array(dimHead);
        if (random.next() < 1 / 3) {
          const row = random.integer(nbFeatures);
          const c = (4 + random.integer(17)) / 8;
          for (let d = 0; d < dimHead; d++) key[d] = 2 * c * Math.sign(projection[row * dimHead + d]);
        } else {
          const c = (1 + random.integer(40)) / 8;
          for (let d = 0; d < dimHead; d++) key[d] = 2 * c * (random.next() < 0.5 ? -1 : 1);
        }
        keys.push({ key, max: Math.max(...keyExponents(key, projection, nbFeatures)) });
      }

      if (order === 'rising') keys.sort((x, y) => x.max - y.max);
      else if (order === 'falling') keys.sort((x, y) => y.max - x.max);
      else {
        for (let chunk = 0; chunk < tokens; chunk += 64) {
          const end = Math.min(tokens, chunk + 64);
          let largest = chunk;
          for (let t = chunk; t < end; t++) if (keys[t].max > keys[largest].max) largest = t;
          const late = Math.max(chunk, end - 1 - random.integer(8));
          [keys[largest], keys[late]] = [keys[late], keys[largest]];
        }
      }
      keys.forEach(({ key }, t) => k.set(key, (b * tokens + t) * inner + h * dimHead));
    }
  }

  const mask = makeMask(maskKind, batch, tokens, random);
  const v = random.uniform(batch * tokens * inner);
  poisonMasked(k, mask, inner);
  poisonMasked(v, mask, inner);
  return { batch, tokens, heads, dimHead, nbFeatures, phi: queryFeatures(batch * heads * tokens * nbFeatures, nbFeatures, random, 20), k, v, projection, mask };
}

/** Returns the smallest and largest u = k'·Wᵀ and e over the real keys of a case. */
function exponentRange(c: CausalCase): { u: [number, number]; e: [number, number] } {
  const inner = c.heads * c.dimHead;
  const range = { u: [Infinity, -Infinity] as [number, number], e: [Infinity, -Infinity] as [number, number] };
  for (let token = 0; token < c.batch * c.tokens; token++) {
    if (c.mask && c.mask[token] === 0) continue;
    for (let h = 0; h < c.heads; h++) {
      const key = c.k.subarray(token * inner + h * c.dimHead, token * inner + (h + 1) * c.dimHead);
      const e = keyExponents(key, c.projection, c.nbFeatures);
      let halfNorm = 0;
      for (const value of key) halfNorm += (value * c.dimHead ** -0.25) ** 2 / 2;
      for (const x of e) {
        range.e = [Math.min(range.e[0], x), Math.max(range.e[1], x)];
        range.u = [Math.min(range.u[0], x + halfNorm), Math.max(range.u[1], x + halfNorm)];
      }
    }
  }
  return range;
}

let js: JsBackend;
let wasm: WasmBackend;

beforeAll(async () => {
  js = new JsBackend();
  wasm = await WasmBackend.create();
});

afterAll(() => wasm?.dispose());

/** Runs one kernel on `backend` with tensors uploaded there, downloads its output and frees everything it made. */
function run<K extends OpName>(op: K, backend: Backend, build: (upload: (data: Float32Array, shape: readonly number[], persistent?: boolean) => Tensor) => OpArgs[K]): Float32Array {
  const kernel = getKernel(op, backend.name);
  if (!kernel) throw new Error(`${op}: no ${backend.name} kernel`);
  const tensors: Tensor[] = [];
  const args = build((data, shape, persistent) => {
    const tensor = backend.upload(data, shape, persistent);
    tensors.push(tensor);
    return tensor;
  });
  const result = kernel(args, backend);
  const output = backend.downloadSync!(result);
  result.dispose();
  for (const tensor of tensors) tensor.dispose();
  return output;
}

function causalArgs(c: CausalCase, state: Float32Array | null, upload: (data: Float32Array, shape: readonly number[], persistent?: boolean) => Tensor): OpArgs['causalLinearAttention'] {
  const { batch, tokens, heads, dimHead, nbFeatures } = c;
  return {
    queryFeatures: upload(c.phi, [batch, heads, tokens, nbFeatures]),
    k: upload(c.k, [batch, tokens, heads * dimHead]),
    v: upload(c.v, [batch, tokens, heads * dimHead]),
    projection: upload(c.projection, [nbFeatures, dimHead], true),
    state: state ? upload(state, [batch, heads, causalFavorStateSize(nbFeatures, dimHead)]) : null,
    batch,
    tokens,
    heads,
    dimHead,
    mask: c.mask,
  };
}

function attend(c: CausalCase, backend: Backend, state: Float32Array | null = null): Float32Array {
  return run('causalLinearAttention', backend, (upload) => causalArgs(c, state, upload));
}

function scanState(c: CausalCase, backend: Backend, state: Float32Array | null = null): Float32Array {
  return run('causalLinearAttentionState', backend, (upload) => {
    const { queryFeatures: _unused, ...args } = causalArgs(c, state, upload);
    return args;
  });
}

/** Returns the first element outside atol + rtol·|expected|, or undefined; NaN only matches NaN. */
function findMismatch(actual: Float32Array, expected: Float32Array, { atol, rtol } = TOLERANCE): string | undefined {
  if (actual.length !== expected.length) return `length ${actual.length} ≠ ${expected.length}`;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const b = expected[i];
    if (Number.isNaN(a) || Number.isNaN(b)) {
      if (!(Number.isNaN(a) && Number.isNaN(b))) return `index ${i}: ${a} vs ${b}`;
      continue;
    }
    const error = Math.abs(a - b);
    if (!(error <= atol + rtol * Math.abs(b))) return `index ${i}: ${a} vs ${b}, error ${error.toExponential(3)}`;
  }
  return undefined;
}

/** Compares two states after rescaling `actual` to the max of `expected`, per (batch, head). */
function findStateMismatch(actual: Float32Array, expected: Float32Array, nbFeatures: number, dimHead: number): string | undefined {
  const size = causalFavorStateSize(nbFeatures, dimHead);
  if (actual.length !== expected.length) return `length ${actual.length} ≠ ${expected.length}`;
  for (let offset = 0; offset < expected.length; offset += size) {
    const maxActual = actual[offset + size - 1];
    const maxExpected = expected[offset + size - 1];
    if (maxExpected === -Infinity || maxActual === -Infinity) {
      if (maxActual !== maxExpected) return `head at ${offset}: max ${maxActual} vs ${maxExpected}`;
      if (actual.subarray(offset, offset + size - 1).some((x) => x !== 0)) return `head at ${offset}: empty state with nonzero sums`;
      continue;
    }
    const factor = Math.exp(maxActual - maxExpected);
    let largestZ = 0;
    for (let j = 0; j < nbFeatures; j++) largestZ = Math.max(largestZ, expected[offset + j * (dimHead + 1) + dimHead]);
    for (let i = 0; i < size - 1; i++) {
      const error = Math.abs(actual[offset + i] * factor - expected[offset + i]);
      if (!(error <= 1e-5 * largestZ + 1e-5 * Math.abs(expected[offset + i]))) {
        return `head at ${offset}, value ${i}: ${actual[offset + i] * factor} vs ${expected[offset + i]}, error ${error.toExponential(3)}`;
      }
    }
  }
  return undefined;
}

/** Returns the tokens [from, to) of a case, with its φ, k, v and mask cut to match. */
function sliceCase(c: CausalCase, from: number, to: number): CausalCase {
  const { batch, tokens, heads, dimHead, nbFeatures } = c;
  const inner = heads * dimHead;
  const n = to - from;
  const phi = new Float32Array(batch * heads * n * nbFeatures);
  const k = new Float32Array(batch * n * inner);
  const v = new Float32Array(batch * n * inner);
  const mask = c.mask ? new Uint8Array(batch * n) : null;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      phi.set(c.phi.subarray(((b * heads + h) * tokens + from) * nbFeatures, ((b * heads + h) * tokens + to) * nbFeatures), (b * heads + h) * n * nbFeatures);
    }
    k.set(c.k.subarray((b * tokens + from) * inner, (b * tokens + to) * inner), b * n * inner);
    v.set(c.v.subarray((b * tokens + from) * inner, (b * tokens + to) * inner), b * n * inner);
    mask?.set(c.mask!.subarray(b * tokens + from, b * tokens + to), b * n);
  }
  return { ...c, tokens: n, phi, k, v, mask };
}

/**
 * Computes the definition in float64, quadratic in the tokens: for each query t, ψ_s = exp(e_s − max over
 * real s ≤ t) and out_t = Σ (φ_t·ψ_s) v_s / Σ (φ_t·ψ_s).
 */
function definition(c: CausalCase): Float64Array {
  const { batch, tokens, heads, dimHead, nbFeatures } = c;
  const inner = heads * dimHead;
  const normalizer = dimHead ** -0.25;
  const out = new Float64Array(batch * tokens * inner);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const exponents: Float64Array[] = [];
      for (let s = 0; s < tokens; s++) {
        const e = new Float64Array(nbFeatures);
        const row = (b * tokens + s) * inner + h * dimHead;
        let halfNorm = 0;
        for (let d = 0; d < dimHead; d++) halfNorm += (c.k[row + d] * normalizer) ** 2 / 2;
        for (let j = 0; j < nbFeatures; j++) {
          let dot = 0;
          for (let d = 0; d < dimHead; d++) dot += c.k[row + d] * normalizer * c.projection[j * dimHead + d];
          e[j] = dot - halfNorm;
        }
        exponents.push(e);
      }
      for (let t = 0; t < tokens; t++) {
        const real = (s: number) => !c.mask || c.mask[b * tokens + s] === 1;
        let max = -Infinity;
        for (let s = 0; s <= t; s++) if (real(s)) for (const e of exponents[s]) max = Math.max(max, e);
        const phi = c.phi.subarray(((b * heads + h) * tokens + t) * nbFeatures, ((b * heads + h) * tokens + t + 1) * nbFeatures);
        const numerator = new Float64Array(dimHead);
        let denominator = 0;
        for (let s = 0; s <= t; s++) {
          if (!real(s)) continue;
          let weight = 0;
          for (let j = 0; j < nbFeatures; j++) weight += phi[j] * Math.exp(exponents[s][j] - max);
          denominator += weight;
          for (let d = 0; d < dimHead; d++) numerator[d] += weight * c.v[(b * tokens + s) * inner + h * dimHead + d];
        }
        for (let d = 0; d < dimHead; d++) out[(b * tokens + t) * inner + h * dimHead + d] = denominator > 0 ? numerator[d] / denominator : 0;
      }
    }
  }
  return out;
}

describe('causalLinearAttention oracle', () => {
  it.each([
    ['random keys', randomCase({ batch: 4, tokens: 37, heads: 2, dimHead: 5, nbFeatures: 7 }, 1, 'mixed')],
    ['wide-range keys', wideRangeCase(70, 2, 'random')],
    ['rising keys', wideRangeCase(40, 3, 'rising')],
  ])('matches the definition on %s', (_label, c) => {
    const actual = attend(c, js);
    const expected = Float32Array.from(definition(c));
    expect(findMismatch(actual, expected, { atol: 1e-6, rtol: 1e-6 })).toBeUndefined();
  });

  it('gives 0 before the first real key and for rows without one', () => {
    const c = randomCase({ batch: 4, tokens: 9, heads: 1, dimHead: 4, nbFeatures: 3 }, 4, 'mixed');
    c.mask!.set([0, 0, 1, 1, 0, 1, 1, 1, 1], 0);
    const out = attend(c, js);
    expect(Array.from(out.subarray(0, 8))).toEqual(new Array(8).fill(0));
    expect(out.subarray(2 * 9 * 4, 3 * 9 * 4).every((x) => x === 0), 'row 2 has no real token').toBe(true);
  });

  it('is causal bit for bit', () => {
    const c = randomCase({ batch: 2, tokens: 50, heads: 2, dimHead: 8, nbFeatures: 16 }, 5, 'none');
    const before = attend(c, js);
    // A key with a much larger exponent after token 29 must not move tokens ≤ 29.
    const changed = { ...c, k: Float32Array.from(c.k), v: Float32Array.from(c.v) };
    for (let i = 30 * 16; i < 50 * 16; i++) changed.k[i] *= 6;
    changed.v.fill(7, 30 * 16, 31 * 16);
    const after = attend(changed, js);
    expect(after.subarray(0, 30 * 16)).toEqual(before.subarray(0, 30 * 16));
  });
});

describe('causalLinearAttention on wasm', () => {
  const shapes: Shape[] = [
    { batch: 1, tokens: 1, heads: 1, dimHead: 1, nbFeatures: 1 },
    { batch: 2, tokens: 3, heads: 2, dimHead: 5, nbFeatures: 7 },
    { batch: 4, tokens: 63, heads: 2, dimHead: 8, nbFeatures: 16 },
    { batch: 4, tokens: 64, heads: 1, dimHead: 12, nbFeatures: 9 },
    { batch: 4, tokens: 65, heads: 3, dimHead: 16, nbFeatures: 33 },
    { batch: 4, tokens: 200, heads: 2, dimHead: 7, nbFeatures: 4 },
    { batch: 1, tokens: 700, heads: 1, dimHead: 64, nbFeatures: 266 },
    { batch: 1, tokens: 16384, heads: 2, dimHead: 8, nbFeatures: 16 },
  ];

  for (const shape of shapes) {
    for (const maskKind of ['none', 'mixed'] as const) {
      if (maskKind === 'mixed' && shape.batch < 4) continue;
      it(`matches js: ${JSON.stringify(shape)} mask ${maskKind}`, () => {
        const c = randomCase(shape, shape.tokens * 31 + shape.nbFeatures, maskKind);
        expect(findMismatch(attend(c, wasm), attend(c, js))).toBeUndefined();
        expect(findStateMismatch(scanState(c, wasm), scanState(c, js), shape.nbFeatures, shape.dimHead)).toBeUndefined();
      });
    }
  }

  it.each([
    ['rising', 300],
    ['falling', 300],
    ['random', 1000],
    ['random', 16384],
  ] as const)('matches js on wide-range keys, %s order, %i tokens', (order, tokens) => {
    for (const maskKind of ['none', 'mixed'] as const) {
      const c = wideRangeCase(tokens, tokens + order.length, order, maskKind);
      const { u, e } = exponentRange(c);
      expect(u[0], `smallest u`).toBeLessThan(-70);
      expect(u[1], `largest u`).toBeGreaterThan(70);
      expect(e[1] - e[0], `e spans [${e}]`).toBeGreaterThan(200);
      const expected = attend(c, js);
      expect(expected.every(Number.isFinite), 'oracle outputs are finite').toBe(true);
      expect(findMismatch(attend(c, wasm), expected), `mask ${maskKind}`).toBeUndefined();
      expect(findStateMismatch(scanState(c, wasm), scanState(c, js), c.nbFeatures, c.dimHead), `state, mask ${maskKind}`).toBeUndefined();
    }
  });

  it('ignores a huge later key of the same chunk', () => {
    // Every key is ±10 with random signs (k' = ±5, exponent about −200 ± 25) except token 40, which
    // points along W's first row (exponent about +11). Against that key's exponent every other ψ
    // underflows, so a stabiliser taken over the whole chunk would make tokens 0 … 39 divide 0 by 0.
    const c = wideRangeCase(64, 6, 'random');
    const random = new Random(7);
    for (let i = 0; i < c.k.length; i++) c.k[i] = random.next() < 0.5 ? -10 : 10;
    const inner = c.heads * c.dimHead;
    for (let b = 0; b < c.batch; b++) {
      for (let d = 0; d < inner; d++) c.k[(b * c.tokens + 40) * inner + d] = 2.5 * Math.sign(c.projection[d % c.dimHead]);
    }
    const { e } = exponentRange(c);
    expect(e[1] - e[0], `e spans [${e}]`).toBeGreaterThan(150);
    const expected = attend(c, js);
    const actual = attend(c, wasm);
    expect(actual.every(Number.isFinite)).toBe(true);
    expect(findMismatch(actual, expected)).toBeUndefined();
  });

  it('continues from a state as if the tokens were one sequence', () => {
    for (const [split, tokens] of [[1, 2], [30, 100], [64, 130], [129, 131]]) {
      const c = randomCase({ batch: 4, tokens, heads: 2, dimHead: 6, nbFeatures: 10 }, split, 'mixed');
      const head = sliceCase(c, 0, split);
      const tail = sliceCase(c, split, tokens);
      for (const backend of [js, wasm]) {
        const whole = attend(c, backend);
        const state = scanState(head, backend);
        const continued = attend(tail, backend, state);
        const inner = c.heads * c.dimHead;
        for (let b = 0; b < c.batch; b++) {
          const label = `${backend.name}, split ${split} of ${tokens}, row ${b}`;
          expect(findMismatch(continued.subarray(b * (tokens - split) * inner, (b + 1) * (tokens - split) * inner), whole.subarray((b * tokens + split) * inner, (b + 1) * tokens * inner)), label).toBeUndefined();
        }
        expect(findStateMismatch(scanState(tail, backend, state), scanState(c, backend), c.nbFeatures, c.dimHead), `${backend.name} state after ${split} + ${tokens - split}`).toBeUndefined();
      }
    }
  });

  it('continues from a state of wide-range keys', () => {
    const c = wideRangeCase(300, 8, 'rising', 'mixed');
    const state = scanState(sliceCase(c, 0, 150), js);
    const tail = sliceCase(c, 150, 300);
    expect(findMismatch(attend(tail, wasm, state), attend(tail, js, state))).toBeUndefined();
    expect(findStateMismatch(scanState(tail, wasm, state), scanState(tail, js, state), c.nbFeatures, c.dimHead)).toBeUndefined();
  });

  it('leaves a state unchanged by masked tokens', () => {
    const c = randomCase({ batch: 4, tokens: 20, heads: 1, dimHead: 4, nbFeatures: 5 }, 9, 'mixed');
    const state = scanState(c, js);
    const masked = { ...randomCase({ batch: 4, tokens: 3, heads: 1, dimHead: 4, nbFeatures: 5 }, 10, 'none'), projection: c.projection, mask: new Uint8Array(12) };
    for (const backend of [js, wasm]) expect(scanState(masked, backend, state), backend.name).toEqual(state);
  });
});

/** Returns a qkv row [batch, 3·inner] and a cache [batch, capacity, 2·inner] with NaN at masked positions. */
function decodeCase(batch: number, length: number, capacity: number, heads: number, dimHead: number, seed: number, maskKind: MaskKind) {
  const random = new Random(seed);
  const inner = heads * dimHead;
  const mask = makeMask(maskKind, batch, length, random);
  const cache = random.normal(batch * capacity * 2 * inner, 1.5);
  for (let b = 0; b < batch; b++) {
    for (let s = 0; s < capacity; s++) {
      if (s >= length || (mask && mask[b * length + s] === 0)) cache.fill(NaN, (b * capacity + s) * 2 * inner, (b * capacity + s + 1) * 2 * inner);
    }
  }
  return { qkv: random.normal(batch * 3 * inner, 1.5), cache, mask, batch, length, capacity, heads, dimHead };
}

function decodeAttention(c: ReturnType<typeof decodeCase>, backend: Backend): Float32Array {
  return run('attentionDecode', backend, (upload) => ({
    qkv: upload(c.qkv, [c.batch, 1, 3 * c.heads * c.dimHead]),
    cache: upload(c.cache, [c.batch, c.capacity, 2 * c.heads * c.dimHead]),
    batch: c.batch,
    length: c.length,
    heads: c.heads,
    dimHead: c.dimHead,
    scale: c.dimHead ** -0.5,
    mask: c.mask,
  }));
}

describe('attentionDecode', () => {
  it('equals the last row of causal attention (js)', () => {
    const c = decodeCase(4, 9, 9, 2, 5, 1, 'mixed');
    const inner = c.heads * c.dimHead;
    // Put the cache into a qkv [batch, length, 3·inner] whose last row's q is the decoded query.
    const qkv = new Float32Array(c.batch * c.length * 3 * inner);
    for (let b = 0; b < c.batch; b++) {
      for (let s = 0; s < c.length; s++) {
        const row = (b * c.length + s) * 3 * inner;
        qkv.set(c.cache.subarray((b * c.capacity + s) * 2 * inner, (b * c.capacity + s + 1) * 2 * inner), row + inner);
        if (s === c.length - 1) qkv.set(c.qkv.subarray(b * 3 * inner, b * 3 * inner + inner), row);
      }
    }
    const full = run('attention', js, (upload) => ({ qkv: upload(qkv, [c.batch, c.length, 3 * inner]), batch: c.batch, seq: c.length, heads: c.heads, dimHead: c.dimHead, scale: c.dimHead ** -0.5, causal: true, mask: c.mask }));
    const decoded = decodeAttention(c, js);
    for (let b = 0; b < c.batch; b++) {
      expect(decoded.subarray(b * inner, (b + 1) * inner), `row ${b}`).toEqual(full.subarray(((b + 1) * c.length - 1) * inner, (b + 1) * c.length * inner));
    }
  });

  const cases = [
    { batch: 1, length: 1, capacity: 1, heads: 1, dimHead: 1 },
    { batch: 4, length: 5, capacity: 16, heads: 2, dimHead: 5 },
    { batch: 4, length: 64, capacity: 64, heads: 3, dimHead: 8 },
    { batch: 4, length: 65, capacity: 128, heads: 1, dimHead: 12 },
    { batch: 4, length: 300, capacity: 512, heads: 2, dimHead: 64 },
    { batch: 1, length: 16384, capacity: 16384, heads: 2, dimHead: 16 },
  ];
  for (const { batch, length, capacity, heads, dimHead } of cases) {
    for (const maskKind of ['none', 'mixed'] as const) {
      it(`matches js: ${JSON.stringify({ batch, length, capacity, heads, dimHead })} mask ${maskKind}`, () => {
        const c = decodeCase(batch, length, capacity, heads, dimHead, length + dimHead, maskKind);
        const expected = decodeAttention(c, js);
        expect(expected.every(Number.isFinite)).toBe(true);
        expect(findMismatch(decodeAttention(c, wasm), expected)).toBeUndefined();
      });
    }
  }
});

describe('cacheWrite', () => {
  for (const backend of ['js', 'wasm'] as const) {
    it(`copies columns into place and returns the cache on ${backend}`, () => {
      const b = backend === 'js' ? js : wasm;
      const kernel = getKernel('cacheWrite', backend)!;
      const random = new Random(3);
      const cacheData = random.uniform(2 * 5 * 4);
      const rowsData = random.uniform(2 * 3 * 6);
      const cache = b.upload(cacheData, [2, 5, 4]);
      const rows = b.upload(rowsData, [2, 3, 6]);

      expect(kernel({ cache, rows, batch: 2, count: 2, columnOffset: 1, position: 3 }, b)).toBe(cache);
      const expected = Float32Array.from(cacheData);
      for (let row = 0; row < 2; row++) {
        for (let i = 0; i < 2; i++) expected.set(rowsData.subarray((row * 3 + i) * 6 + 1, (row * 3 + i) * 6 + 5), (row * 5 + 3 + i) * 4);
      }
      expect(b.downloadSync!(cache)).toEqual(expected);

      expect(() => kernel({ cache, rows, batch: 2, count: 3, columnOffset: 0, position: 3 }, b)).toThrow(OmninetError);
      expect(() => kernel({ cache, rows, batch: 2, count: 1, columnOffset: 3, position: 0 }, b)).toThrow(/cannot copy 1 positions/);
      cache.dispose();
      rows.dispose();
    });
  }
});
