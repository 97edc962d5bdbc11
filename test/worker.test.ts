// createWorker in Node: the fixture through worker_threads, transfers, progress, decoding,
// responsiveness, termination and crashes. Runs against dist/ (`npm run build:ts`), because the
// Worker loads the compiled worker.js.

import { beforeAll, describe, expect, it } from 'vitest';
import { createWorker, describeRuntime, Omninet, OmninetError } from '../dist/index.js';
import { compareToFixture, readFixture } from './helpers/fixtures.js';
import { requireWebGpu, runWebGpuTests } from './helpers/webgpu.js';

const fixture = readFixture('omninet-01.safetensors');

const LARGE = { dim: 256, depth: 6, heads: 8, dimHead: 32, seed: 1 };
let large: { bytes: Uint8Array; x: Float32Array; shape: number[] } | undefined;

/** Returns a model whose forward takes about a second on one core here, as fresh bytes each call, because loadModel transfers them. */
function largeCheckpoint(): { bytes: Uint8Array; x: Float32Array; shape: number[] } {
  const seq = 1024;
  large ??= {
    bytes: new Omninet(LARGE).toSafetensors(),
    x: Float32Array.from({ length: seq * LARGE.dim }, (_, i) => Math.sin(i)),
    shape: [1, seq, LARGE.dim],
  };
  return { ...large, bytes: large.bytes.slice() };
}

/** Calls `run` while a 10 ms interval ticks; returns how many ticks fired and the longest wait between two. */
async function timersDuring(run: () => Promise<unknown>): Promise<{ ticks: number; maxGapMs: number; elapsedMs: number }> {
  const start = performance.now();
  let last = start;
  let ticks = 0;
  let maxGapMs = 0;
  const interval = setInterval(() => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    ticks++;
  }, 10);
  try {
    await run();
  } finally {
    clearInterval(interval);
  }
  const end = performance.now();
  return { ticks, maxGapMs: Math.max(maxGapMs, end - last), elapsedMs: end - start };
}

async function expectOmninetError(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OmninetError);
  expect((error as OmninetError).code).toBe(code);
  expect((error as OmninetError).message).toMatch(message);
}

describe('createWorker in Node', () => {
  it('runs the fixture with transfer and progress', async () => {
    const worker = await createWorker({ backend: 'wasm' });
    try {
      expect(worker.backend).toBe('wasm');
      expect(worker.runtime).toMatchObject({ platform: 'node', inWorker: true, wasmSimd: true });
      expect(describeRuntime()).toMatchObject({ platform: 'node', inWorker: false });

      const progress: { bytesRead: number; tensorsUploaded: number; tensorsTotal: number }[] = [];
      const model = await worker.loadModel(fixture.path, { onProgress: (p) => progress.push(p) });
      expect(progress.at(-1)).toEqual({ bytesRead: fixture.bytes.length, bytesTotal: fixture.bytes.length, tensorsUploaded: 56, tensorsTotal: 56 });
      expect(progress.map((p) => p.tensorsUploaded)).toEqual([...progress.map((p) => p.tensorsUploaded)].sort((a, b) => a - b));

      const x = fixture.input.slice();
      const pending = model.forward(x, { shape: fixture.shape });
      expect(x.byteLength, 'the input is transferred as soon as forward() returns').toBe(0);
      const comparison = compareToFixture(await pending, fixture);
      expect(comparison.failures, `first failure ${comparison.first}`).toBe(0);
    } finally {
      await worker.terminate();
    }
  });

  it("keeps the Worker's error codes", async () => {
    const worker = await createWorker({ backend: 'wasm' });
    try {
      await expectOmninetError(worker.loadModel('/nonexistent/model.safetensors'), 'IO_ERROR', /file not found/);
      const buffer = fixture.bytes.slice().buffer;
      const model = await worker.loadModel(buffer);
      expect(buffer.byteLength, 'checkpoint bytes are transferred').toBe(0);
      await expectOmninetError(model.forward(new Float32Array(5), { shape: [1, 5, 1] }), 'SHAPE_MISMATCH', /dim is 32/);
      model.dispose();
      await expectOmninetError(model.forward(fixture.input.slice(), { shape: fixture.shape }), 'DISPOSED', /disposed/);
    } finally {
      await worker.terminate();
    }
  });

  it('decodes like the full forward', async () => {
    const causal = readFixture('omninet-causal-axial-01.safetensors');
    const [batch, seq, dim] = causal.shape;
    const worker = await createWorker({ backend: 'wasm' });
    try {
      const model = await worker.loadModel(causal.path);
      const decoder = await model.createDecoder({ batch });
      const decoded = new Float32Array(causal.expected.length);
      for (let p = 0; p < seq; p++) {
        const row = new Float32Array(batch * dim);
        for (let b = 0; b < batch; b++) row.set(causal.input.subarray((b * seq + p) * dim, (b * seq + p + 1) * dim), b * dim);
        const y = await decoder.step(row);
        for (let b = 0; b < batch; b++) decoded.set(y.subarray(b * dim, (b + 1) * dim), (b * seq + p) * dim);
      }
      expect(decoder.length).toBe(seq);
      expect(await decoder.memoryBytes()).toBeGreaterThan(0);
      const comparison = compareToFixture(decoded, causal);
      expect(comparison.failures, `first failure ${comparison.first}`).toBe(0);

      await decoder.reset();
      expect(decoder.length).toBe(0);
      decoder.dispose();
      await expect(decoder.step(new Float32Array(batch * dim))).rejects.toThrow(/disposed/);
    } finally {
      await worker.terminate();
    }
  });

  it("keeps the caller's timers firing", async () => {
    const { bytes, x, shape } = largeCheckpoint();
    const worker = await createWorker({ backend: 'wasm' });
    try {
      const model = await worker.loadModel(bytes);
      await model.forward(x.slice(), { shape }); // warm-up: the first forward grows the Worker's memory

      const inWorker = await timersDuring(() => model.forward(x.slice(), { shape }));
      console.log(`forward in the Worker: ${inWorker.elapsedMs.toFixed(0)} ms, ${inWorker.ticks} ticks, longest gap ${inWorker.maxGapMs.toFixed(0)} ms`);
      expect(inWorker.elapsedMs).toBeGreaterThan(300);
      expect(inWorker.maxGapMs).toBeLessThan(Math.max(250, inWorker.elapsedMs / 4));
      expect(inWorker.ticks).toBeGreaterThanOrEqual(inWorker.elapsedMs / 50);

      // The same forward on the caller's thread lets no timer run: the check above can fail.
      const local = new Omninet({ ...LARGE, backend: 'wasm' });
      const inThread = await timersDuring(() => local.forward(x, { shape }));
      local.dispose();
      expect(inThread.maxGapMs).toBeGreaterThan(inThread.elapsedMs / 2);
    } finally {
      await worker.terminate();
    }
  });

  it('rejects pending calls on terminate', async () => {
    const { bytes, x, shape } = largeCheckpoint();
    const worker = await createWorker({ backend: 'wasm' });
    const model = await worker.loadModel(bytes);
    const rejected = expectOmninetError(model.forward(x.slice(), { shape }), 'DISPOSED', /worker was terminated/);
    const start = performance.now();
    await worker.terminate();
    await rejected;
    expect(performance.now() - start, 'a wasm-only Worker stops without waiting for its forward').toBeLessThan(300);
    await expectOmninetError(model.forward(x.slice(), { shape }), 'DISPOSED', /worker was terminated/);
    await expectOmninetError(worker.loadModel(fixture.bytes.slice()), 'DISPOSED', /worker was terminated/);

    const next = await createWorker({ backend: 'wasm' });
    try {
      const again = await next.loadModel(fixture.path);
      const comparison = compareToFixture(await again.forward(fixture.input.slice(), { shape: fixture.shape }), fixture);
      expect(comparison.failures).toBe(0);
    } finally {
      await next.terminate();
    }
  });

  it('rejects pending calls when the thread dies', async () => {
    const { bytes, x, shape } = largeCheckpoint();
    const worker = await createWorker({ backend: 'wasm', url: new URL('./helpers/exiting-worker.mjs', import.meta.url) });
    const model = await worker.loadModel(bytes);
    await expectOmninetError(model.forward(x.slice(), { shape }), 'WORKER_FAILED', /exited with code 3/);
    await expectOmninetError(model.forward(x.slice(), { shape }), 'WORKER_FAILED', /exited with code 3/);
    await worker.terminate();
  });

  it('fails when the script does not load', async () => {
    const url = new URL('./helpers/no-such-worker.mjs', import.meta.url);
    await expectOmninetError(createWorker({ url }), 'WORKER_FAILED', /no-such-worker\.mjs/);
  });
});

describe.skipIf(!runWebGpuTests)('createWorker on WebGPU in Node', () => {
  beforeAll(requireWebGpu);

  // Stopping a worker_threads Worker while Dawn waits on mapAsync aborts the whole process, so
  // terminate() first frees the device. The delays land before and during the forward's readback.
  it.each([0, 50, 100])('terminates mid-forward after %i ms', async (delayMs) => {
    const worker = await createWorker({ backend: 'webgpu' });
    const model = await worker.loadModel(fixture.path);
    expect(await model.backend()).toBe('webgpu');

    const outcome = model.forward(fixture.input.slice(), { shape: fixture.shape }).then(
      () => 'resolved',
      (error: unknown) => (error as OmninetError).code,
    );
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    await worker.terminate();
    // A forward that ended before terminate() resolves; one cut short rejects with DISPOSED.
    expect(['resolved', 'DISPOSED']).toContain(await outcome);
  });
});
