import type { Dispatcher } from '../dispatch/dispatcher.js';
import { OP_NAMES } from '../kernels/ops.js';
import { defaultNbFeatures } from '../model/config.js';
import type { Tensor } from '../tensor.js';
import {
  attentionFlops,
  causalLinearAttentionFlops,
  favorFeaturesFlops,
  layerNormFlops,
  linearAttentionFlops,
  linearFlops,
} from './flops.js';
import type { BenchPlan } from './plan.js';

/** One op benchmark: sizes, FLOPs, and how to set up its inputs on a backend. */
export interface OpCase {
  family: string;
  op: string;
  label: string;
  tokens: number;
  params: Record<string, number | string | boolean>;
  flops: number;
  /** Uploads the inputs and returns the op call; the caller disposes what it returns. */
  prepare(ops: Dispatcher): Promise<PreparedOp>;
}

export interface PreparedOp {
  /** Runs the op once and returns its result, which the caller disposes. */
  run(): Promise<Tensor>;
  /** Frees the inputs. */
  dispose(): void;
}

// Ops that only some versions of src/kernels/ops.ts declare are called through this loose
// signature, so the suite compiles and runs whether or not they exist.
type LooseRun = (op: string, args: Record<string, unknown>) => Promise<Tensor>;

/** Returns every op case of the plan, in the order they run. */
export function opCases(plan: BenchPlan): OpCase[] {
  const { dim, heads, dimHead, poolLayerTokensEvery: layers, ffMult } = plan.model;
  const inner = heads * dimHead;
  const nbFeatures = defaultNbFeatures(dimHead);
  const cases: OpCase[] = [];

  // GEMM at the shapes of one forward: M = rows, K = inFeatures, N = outFeatures.
  const gemmShapes: { name: string; rows: number; tokens: number; inFeatures: number; outFeatures: number; bias: boolean; gelu: boolean }[] = [];
  for (const n of plan.gemmTokens) {
    gemmShapes.push(
      { name: 'to_qkv', rows: n, tokens: n, inFeatures: dim, outFeatures: 3 * inner, bias: false, gelu: false },
      { name: 'to_out', rows: n, tokens: n, inFeatures: inner, outFeatures: dim, bias: true, gelu: false },
      { name: 'ff net.0 + GELU', rows: n, tokens: n, inFeatures: dim, outFeatures: ffMult * dim, bias: true, gelu: true },
      { name: 'ff net.3', rows: n, tokens: n, inFeatures: ffMult * dim, outFeatures: dim, bias: true, gelu: false },
      { name: 'omni to_q', rows: n * layers, tokens: n, inFeatures: dim, outFeatures: inner, bias: false, gelu: false },
      { name: 'FAVOR+ projection', rows: n * layers * heads, tokens: n, inFeatures: dimHead, outFeatures: nbFeatures, bias: false, gelu: false },
    );
  }
  if (plan.gemmDecode) {
    gemmShapes.push({ name: 'decoding ff net.0 + GELU', rows: 1, tokens: 1, inFeatures: dim, outFeatures: ffMult * dim, bias: true, gelu: true });
  }
  for (const s of gemmShapes) {
    cases.push({
      family: 'gemm',
      op: 'linear',
      label: `${s.rows}×${s.inFeatures}×${s.outFeatures} ${s.name}`,
      tokens: s.rows,
      params: { rows: s.rows, inFeatures: s.inFeatures, outFeatures: s.outFeatures, bias: s.bias, activation: s.gelu ? 'gelu' : 'none', sequence: s.tokens },
      flops: linearFlops(s.rows, s.inFeatures, s.outFeatures, s.bias),
      async prepare(ops) {
        const x = ops.upload(randomData(s.rows * s.inFeatures, 1), [s.rows, s.inFeatures]);
        // Persistent, as model weights are: the wasm backend packs them once.
        const weight = ops.upload(randomData(s.outFeatures * s.inFeatures, 2, 1 / Math.sqrt(s.inFeatures)), [s.outFeatures, s.inFeatures], true);
        const bias = s.bias ? ops.upload(randomData(s.outFeatures, 3), [s.outFeatures], true) : null;
        return {
          run: () => ops.run('linear', { x, weight, bias, activation: s.gelu ? 'gelu' : 'none' }),
          dispose: () => disposeAll(x, weight, bias),
        };
      },
    });
  }

  for (const seq of plan.sequenceTokens) {
    for (const causal of [false, true]) {
      cases.push({
        family: causal ? 'causal attention' : 'attention',
        op: 'attention',
        label: `seq ${seq}${causal ? ' causal' : ''}`,
        tokens: seq,
        params: { batch: 1, seq, heads, dimHead, causal },
        flops: attentionFlops(1, heads, seq, dimHead, causal),
        async prepare(ops) {
          const qkv = ops.upload(randomData(seq * 3 * inner, 4), [1, seq, 3 * inner]);
          return {
            run: () => ops.run('attention', { qkv, batch: 1, seq, heads, dimHead, scale: dimHead ** -0.5, causal, mask: null }),
            dispose: () => disposeAll(qkv),
          };
        },
      });
    }
  }

  const common = (tokens: number) => ({ batch: 1, tokens, heads, dimHead, mask: null });
  for (const tokens of plan.sequenceTokens) {
    for (const kind of ['query', 'key'] as const) {
      cases.push({
        family: `favorFeatures ${kind}`,
        op: 'favorFeatures',
        label: `tokens ${tokens}`,
        tokens,
        params: { batch: 1, tokens, heads, dimHead, nbFeatures, kind },
        flops: favorFeaturesFlops(1, heads, tokens, dimHead, nbFeatures),
        async prepare(ops) {
          const x = ops.upload(randomData(tokens * inner, 5), [1, tokens, inner]);
          const projection = ops.upload(randomData(nbFeatures * dimHead, 6), [nbFeatures, dimHead], true);
          return {
            run: () => ops.run('favorFeatures', { x, projection, kind, ...common(tokens) }),
            dispose: () => disposeAll(x, projection),
          };
        },
      });
    }
  }

  for (const tokens of plan.sequenceTokens) {
    cases.push({
      family: 'linearAttention',
      op: 'linearAttention',
      label: `tokens ${tokens}`,
      tokens,
      params: { batch: 1, tokens, heads, dimHead, nbFeatures },
      flops: linearAttentionFlops(1, heads, tokens, dimHead, nbFeatures),
      async prepare(ops) {
        const { queryFeatures, keyFeatures, v, projection } = await favorInputs(ops, tokens, heads, dimHead, nbFeatures);
        return {
          run: () => ops.run('linearAttention', { queryFeatures, keyFeatures: keyFeatures!, v, ...common(tokens) }),
          dispose: () => disposeAll(queryFeatures, keyFeatures, v, projection),
        };
      },
    });
  }

  if ((OP_NAMES as readonly string[]).includes('causalLinearAttention')) {
    for (const tokens of plan.sequenceTokens) {
      cases.push({
        family: 'causalLinearAttention',
        op: 'causalLinearAttention',
        label: `tokens ${tokens}`,
        tokens,
        params: { batch: 1, tokens, heads, dimHead, nbFeatures },
        flops: causalLinearAttentionFlops(1, heads, tokens, dimHead, nbFeatures),
        async prepare(ops) {
          const { queryFeatures, k, v, projection } = await favorInputs(ops, tokens, heads, dimHead, nbFeatures, false);
          const run = ops.run.bind(ops) as unknown as LooseRun;
          return {
            run: () => run('causalLinearAttention', { queryFeatures, k, v, projection, state: null, ...common(tokens) }),
            dispose: () => disposeAll(queryFeatures, k, v, projection),
          };
        },
      });
    }
  }

  for (const tokens of plan.sequenceTokens) {
    cases.push({
      family: 'layerNorm',
      op: 'layerNorm',
      label: `${tokens}×${dim}`,
      tokens,
      params: { rows: tokens, dim },
      flops: layerNormFlops(tokens, dim),
      async prepare(ops) {
        const x = ops.upload(randomData(tokens * dim, 7), [tokens, dim]);
        const gamma = ops.upload(randomData(dim, 8), [dim], true);
        const beta = ops.upload(randomData(dim, 9), [dim], true);
        return {
          run: () => ops.run('layerNorm', { x, gamma, beta, eps: 1e-5 }),
          dispose: () => disposeAll(x, gamma, beta),
        };
      },
    });
  }
  return cases;
}

/** Query features, key features (unless only raw keys are needed), k and v of FAVOR+ over `tokens` tokens. */
async function favorInputs(ops: Dispatcher, tokens: number, heads: number, dimHead: number, nbFeatures: number, withKeyFeatures = true) {
  const inner = heads * dimHead;
  const common = { batch: 1, tokens, heads, dimHead, mask: null };
  const projection = ops.upload(randomData(nbFeatures * dimHead, 6), [nbFeatures, dimHead], true);
  const q = ops.upload(randomData(tokens * inner, 10), [1, tokens, inner]);
  const k = ops.upload(randomData(tokens * inner, 11), [1, tokens, inner]);
  const v = ops.upload(randomData(tokens * inner, 12), [1, tokens, inner]);
  const queryFeatures = await ops.run('favorFeatures', { x: q, projection, kind: 'query', ...common });
  q.dispose();
  let keyFeatures: Tensor | null = null;
  if (withKeyFeatures) {
    keyFeatures = await ops.run('favorFeatures', { x: k, projection, kind: 'key', ...common });
    k.dispose();
  }
  return { queryFeatures, keyFeatures, k, v, projection };
}

function disposeAll(...tensors: (Tensor | null)[]): void {
  for (const t of tensors) if (t && !t.isDisposed) t.dispose();
}

/** Returns `size` values uniform in [−scale, scale) from a seeded linear congruential generator. */
export function randomData(size: number, seed: number, scale = 1): Float32Array {
  const data = new Float32Array(size);
  let state = (seed * 2654435761) >>> 0;
  for (let i = 0; i < size; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    data[i] = (state / 2 ** 32) * 2 * scale - scale;
  }
  return data;
}
