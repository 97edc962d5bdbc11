// The benchmark suite's FLOP formulas and the shape of its JSON result, at tiny sizes. No timing
// assertions: speed targets live in bench/README.md, not in tests.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  attentionFlops,
  causalLinearAttentionFlops,
  favorFeaturesFlops,
  forwardFlops,
  layerNormFlops,
  linearAttentionFlops,
  linearFlops,
  maxPoolFlops,
  opCallFlops,
  totalFlops,
} from '../src/bench/flops.js';
import { quantile, summarize } from '../src/bench/measure.js';
import { renderReport } from '../src/bench/report.js';
import { RESULT_SCHEMA } from '../src/bench/result.js';
import { runBenchmarks } from '../src/bench/suite.js';
import { OmninetError } from '../src/errors.js';
import type { Variant } from '../src/model/config.js';
import { Omninet, OmninetCausal } from '../src/model/model.js';

describe('FLOP formulas', () => {
  it('count each op by hand on tiny sizes', () => {
    // 2 rows × 3 in × 4 out: 24 multiply-adds, plus 8 bias adds.
    expect(linearFlops(2, 3, 4, true)).toBe(2 * 24 + 8);
    expect(linearFlops(2, 3, 4, false)).toBe(48);
    // 3 rows of 5: 8 per element.
    expect(layerNormFlops(3, 5)).toBe(120);
    // 2 heads, 4 tokens, d = 8: 16 pairs per head non-causal, 10 causal; 4·d per pair.
    expect(attentionFlops(1, 2, 4, 8, false)).toBe(4 * 8 * 2 * 16);
    expect(attentionFlops(1, 2, 4, 8, true)).toBe(4 * 8 * 2 * 10);
    // One token, d = 2, m = 3: projection 12, scaling 2, |x'|²/2 4, exponent and eps 15.
    expect(favorFeaturesFlops(1, 1, 1, 2, 3)).toBe(12 + 2 + 4 + 15);
    // Per token, d = 2, m = 3: context 12, key sum 3, numerator 12, denominator 6, division 2.
    expect(linearAttentionFlops(1, 1, 2, 2, 3)).toBe(2 * (12 + 3 + 12 + 6 + 2));
    // Per token, d = 2, m = 3: key features 12 + 6 + 3, state 2·3·3, output 2·3·3, division 2.
    expect(causalLinearAttentionFlops(1, 1, 1, 2, 3)).toBe(21 + 18 + 18 + 2);
    expect(maxPoolFlops(4, 3, 5)).toBe(4 * 2 * 5);
  });

  // forwardFlops mirrors src/model/forward.ts; this checks it against the ops a forward really dispatches.
  for (const variant of ['omninet', 'omninet-causal-axial', 'omninet-causal-omni'] as Variant[]) {
    it(`match the ops that a ${variant} forward dispatches`, async () => {
      const options = { dim: 16, depth: 4, heads: 2, dimHead: 8, poolLayerTokensEvery: 3, variant, backend: 'js' as const, seed: 3 };
      const model = variant === 'omninet' ? new Omninet(options) : new OmninetCausal(options);
      const { dispatcher } = await model.init();
      const dispatched: Record<string, number> = {};
      const run = dispatcher.run.bind(dispatcher);
      dispatcher.run = ((op: string, args: Record<string, unknown>) => {
        const flops = opCallFlops(op, args);
        if (flops > 0) dispatched[op] = (dispatched[op] ?? 0) + flops;
        return run(op as never, args as never);
      }) as typeof dispatcher.run;

      const batch = 2;
      const seq = 5;
      try {
        await model.forward(new Float32Array(batch * seq * 16).map((_, i) => Math.sin(i)), { shape: [batch, seq, 16] });
      } catch (error) {
        // omninet-causal-omni needs the causal linear-attention kernels; without them there is nothing to compare.
        if (variant === 'omninet-causal-omni' && error instanceof OmninetError && error.code === 'BACKEND_UNAVAILABLE') return;
        throw error;
      } finally {
        model.dispose();
      }
      const expected = forwardFlops(model.config, batch, seq);
      expect(dispatched).toEqual(expected);
      expect(totalFlops(expected)).toBeGreaterThan(0);
    });
  }
});

describe('timing summary', () => {
  it('takes the median, extremes and interpolated quartiles', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([1, 2, 3, 4, 5], 0.25)).toBe(2);
    const timing = summarize([5, 1, 3], 2);
    expect(timing).toMatchObject({ repetitions: 3, warmupRuns: 2, medianMs: 3, minMs: 1, maxMs: 5, q1Ms: 2, q3Ms: 4, samplesMs: [5, 1, 3] });
  });
});

describe('runBenchmarks', () => {
  it('returns the JSON result layout at a tiny size', async () => {
    const result = await runBenchmarks({
      backends: ['js', 'wasm'],
      plan: {
        model: { dim: 16, depth: 2, heads: 2, dimHead: 8, poolLayerTokensEvery: 2, ffMult: 2 },
        gemmTokens: [4],
        gemmDecode: true,
        sequenceTokens: [8],
        forwardTokens: [4, 8],
        variants: ['omninet', 'omninet-causal-axial'],
        jsMaxTokens: 4,
        softwareGpuMaxTokens: 4,
      },
      measure: { warmupSeconds: 0, minRepetitions: 2, minSeconds: 0, maxRepetitions: 2 },
      command: 'test',
    });

    // The result survives JSON unchanged: no undefined, NaN or Infinity inside.
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
    expect(result.schema).toBe(RESULT_SCHEMA);
    expect(result.command).toBe('test');
    expect(typeof result.machine.cpu).toBe('string');
    expect(result.machine.cores).toBeGreaterThan(0);
    expect(result.machine.runtime).toMatch(/^node /);
    expect(result.settings.jsMaxTokens).toBe(4);

    const wasm = result.backends.find((b) => b.name === 'wasm')!;
    expect(wasm.available).toBe(true);
    expect(wasm.wasm).toMatchObject({ simd: true });
    expect(['simd', 'relaxed-simd']).toContain(wasm.wasm!.build);
    expect(result.backends.find((b) => b.name === 'js')!.available).toBe(true);

    for (const record of [...result.ops, ...result.forwards]) {
      expect(record.timing.repetitions).toBe(2);
      expect(record.timing.samplesMs).toHaveLength(2);
      expect(record.timing.minMs).toBeLessThanOrEqual(record.timing.medianMs);
      expect(record.timing.medianMs).toBeLessThanOrEqual(record.timing.maxMs);
      expect(record.flops).toBeGreaterThan(0);
      expect(record.gflops).toBeCloseTo(record.flops / (record.timing.medianMs * 1e6), 9);
    }

    // Every op family ran on wasm. js ran only cases up to 4 tokens and records why it skipped the rest.
    const families = new Set(result.ops.filter((o) => o.backend === 'wasm').map((o) => o.family));
    for (const family of ['gemm', 'attention', 'causal attention', 'favorFeatures query', 'favorFeatures key', 'linearAttention', 'layerNorm']) {
      expect(families).toContain(family);
    }
    expect(result.ops.filter((o) => o.backend === 'js').every((o) => o.tokens <= 4)).toBe(true);
    const attention = result.ops.find((o) => o.family === 'attention' && o.backend === 'wasm')!;
    expect(attention.flops).toBe(attentionFlops(1, 2, 8, 8, false));
    expect(result.skipped.some((s) => s.backend === 'js' && s.kind === 'op' && /float64 oracle/.test(s.reason))).toBe(true);

    expect(result.forwards.map((f) => `${f.variant} ${f.backend} ${f.tokens}`)).toEqual([
      'omninet js 4',
      'omninet wasm 4',
      'omninet wasm 8',
      'omninet-causal-axial js 4',
      'omninet-causal-axial wasm 4',
      'omninet-causal-axial wasm 8',
    ]);
    const forward = result.forwards[1];
    expect(totalFlops(forward.flopsByOp)).toBe(forward.flops);
    expect(forward.opsByBackend.wasm).toBeGreaterThan(0);
    expect(result.skipped.filter((s) => s.kind === 'forward').map((s) => `${s.label} ${s.backend}`)).toEqual([
      'omninet 8 tokens js',
      'omninet-causal-axial 8 tokens js',
    ]);

    const html = renderReport(result);
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<svg');
    expect(html).toContain('float64 oracle');
  });
});

describe('omninet bench', () => {
  const BIN = fileURLToPath(new URL('../bin/omninet.js', import.meta.url));

  for (const [args, pattern] of [
    [['--backend', 'cuda'], /--backend cuda is not one of js, wasm, webgpu/],
    [['--tokens', '512,0'], /--tokens 512,0: "0" is not a positive integer/],
    [['model.safetensors'], /bench takes no positional arguments/],
    [['--repeat', '3'], /unknown option --repeat/],
  ] as const) {
    it(`rejects ${args.join(' ')} with exit code 2 before running anything`, () => {
      const result = spawnSync(process.execPath, [BIN, 'bench', ...args], { encoding: 'utf8', timeout: 60_000 });
      expect(result.status, result.stderr).toBe(2);
      expect(result.stderr.trim()).toMatch(pattern);
      expect(result.stdout).toBe('');
    });
  }
});
