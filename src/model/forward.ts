import type { Dispatcher } from '../dispatch/dispatcher.js';
import { OmninetError } from '../errors.js';
import type { OpArgs } from '../kernels/ops.js';
import type { Tensor } from '../tensor.js';
import type { OmninetConfig } from './config.js';

/** Weights already on the dispatcher's primary backend, by state-dict name. */
export type ResidentWeights = ReadonlyMap<string, Tensor>;

/**
 * The two steps that mix positions, as a decoder runs them for one new position (seq = 1) from its
 * caches: each returns what the full-sequence op returns for the last position. See decoder.ts.
 */
export interface DecodeSteps {
  /** Causal self-attention of layer `layer`: qkv [batch, 1, 3·heads·dimHead] → [batch, 1, heads·dimHead]. */
  selfAttention(layer: number, qkv: Tensor): Promise<Tensor>;

  /** Causal FAVOR+ (omninet-causal-omni) of omni layer `omniIndex` over this position's L tokens, continuing its running state. */
  causalFavor(omniIndex: number, args: Omit<OpArgs['causalLinearAttention'], 'state'>): Promise<Tensor>;
}

interface ForwardContext {
  config: OmninetConfig;
  weights: ResidentWeights;
  /** The dispatcher, or an OpScope over it for one call. */
  ops: Pick<Dispatcher, 'run'>;
  batch: number;
  seq: number;
  /** [batch, seq], 1 = real token; null when every token is real. */
  mask: Uint8Array | null;
  /** Set when a decoder runs one position (seq = 1) against its caches. */
  decode?: DecodeSteps;
}

/**
 * Runs the layer stack on x [batch, seq, dim] and returns the output [batch, seq, dim].
 * Takes ownership of `x` and disposes every intermediate. Per layer (pre-norm, no final norm):
 *
 *   x = x + Attn(LN0(x));  x = x + FF(LN1(x));  (axial: x = x + layer_pos_emb[i+1])
 *   at an omni layer: x = x + maxpool_L(Omni(last L hiddens, this x included))
 *   hiddens.push(x)       — the stored hidden includes the omni addition
 */
export async function forwardLayers(ctx: Omit<ForwardContext, 'seq' | 'batch'>, x: Tensor, batch: number, seq: number): Promise<Tensor> {
  const c: ForwardContext = { ...ctx, batch, seq };
  const { config, weights, ops } = c;
  const causal = config.variant !== 'omninet';
  const maxPool = Math.max(1, ...config.omniPoolSizes);

  if (config.variant === 'omninet-causal-axial') x = replace(x, await ops.run('add', { a: x, b: positionRow(c, 0) }));
  const hiddens: Tensor[] = [x];

  for (let i = 0; i < config.depth; i++) {
    const p = `layers.${i}`;

    // x is hiddens[last] here, so the first step must keep it.
    x = await selfAttentionBlock(c, x, i, causal);
    x = replace(x, await feedForwardBlock(c, x, p));
    if (config.variant === 'omninet-causal-axial') x = replace(x, await ops.run('add', { a: x, b: positionRow(c, i + 1) }));

    const omniIndex = config.omniLayers.indexOf(i);
    if (omniIndex >= 0) {
      const layers = config.omniPoolSizes[omniIndex];
      const pooled = await omniAttention(c, [...hiddens.slice(hiddens.length - (layers - 1)), x], p, layers, omniIndex);
      x = replace(x, await ops.run('add', { a: x, b: pooled }), pooled);
    }
    hiddens.push(x);

    // The next omni layer pools at most P - 1 stored hiddens besides its own output.
    while (hiddens.length > Math.max(1, maxPool - 1)) hiddens.shift()!.dispose();
  }

  for (const h of hiddens) if (h !== x) h.dispose();
  return x;
}

/** Returns x + to_out(Attn(to_qkv(LN0(x)))); self-attention is causal in both causal variants. */
async function selfAttentionBlock(c: ForwardContext, x: Tensor, layer: number, causal: boolean): Promise<Tensor> {
  const { config, ops } = c;
  const p = `layers.${layer}`;
  const normed = await ops.run('layerNorm', { x, gamma: w(c, `${p}.0.norm.weight`), beta: w(c, `${p}.0.norm.bias`), eps: config.layernormEps });

  const qkv = await ops.run('linear', { x: normed, weight: w(c, `${p}.0.fn.to_qkv.weight`), bias: null, activation: 'none' });
  normed.dispose();

  const attended = c.decode
    ? await c.decode.selfAttention(layer, qkv)
    : await ops.run('attention', {
        qkv,
        batch: c.batch,
        seq: c.seq,
        heads: config.heads,
        dimHead: config.dimHead,
        scale: config.dimHead ** -0.5,
        causal,
        mask: c.mask,
      });
  qkv.dispose();

  const projected = await ops.run('linear', { x: attended, weight: w(c, `${p}.0.fn.to_out.0.weight`), bias: w(c, `${p}.0.fn.to_out.0.bias`), activation: 'none' });
  attended.dispose();

  const sum = await ops.run('add', { a: x, b: projected });
  projected.dispose();
  return sum;
}

/** Returns x + net.3(GELU(net.0(LN1(x)))). */
async function feedForwardBlock(c: ForwardContext, x: Tensor, p: string): Promise<Tensor> {
  const { config, ops } = c;
  const normed = await ops.run('layerNorm', { x, gamma: w(c, `${p}.1.norm.weight`), beta: w(c, `${p}.1.norm.bias`), eps: config.layernormEps });

  const hidden = await ops.run('linear', { x: normed, weight: w(c, `${p}.1.fn.net.0.weight`), bias: w(c, `${p}.1.fn.net.0.bias`), activation: 'gelu' });
  normed.dispose();

  const projected = await ops.run('linear', { x: hidden, weight: w(c, `${p}.1.fn.net.3.weight`), bias: w(c, `${p}.1.fn.net.3.bias`), activation: 'none' });
  hidden.dispose();

  const sum = await ops.run('add', { a: x, b: projected });
  projected.dispose();
  return sum;
}

/**
 * Omni attention over L hiddens flattened position-major (token p of hiddens[l] at index p·L + l),
 * max-pooled back to [batch, seq, dim]. No LayerNorm and no inner residual.
 */
async function omniAttention(c: ForwardContext, hiddens: Tensor[], p: string, layers: number, omniIndex: number): Promise<Tensor> {
  const { config, ops, batch, seq } = c;
  const tokens = seq * layers;
  const stacked = await ops.run('stackLayers', { hiddens, batch, seq, dim: config.dim }); // [batch, seq·L, dim]

  let attended: Tensor; // [batch, seq·L, heads·dimHead]
  let outWeight: string;
  let outBias: string;
  if (config.variant === 'omninet-causal-axial') {
    // Softmax attention among the L tokens of each position: a batch of batch·seq sequences of length L.
    const qkv = await ops.run('linear', { x: stacked, weight: w(c, `${p}.2.to_qkv.weight`), bias: null, activation: 'none' });
    attended = await ops.run('attention', {
      qkv,
      batch: batch * seq,
      seq: layers,
      heads: config.heads,
      dimHead: config.dimHead,
      scale: config.dimHead ** -0.5,
      causal: false,
      mask: null,
    });
    qkv.dispose();
    outWeight = `${p}.2.to_out.0.weight`;
    outBias = `${p}.2.to_out.0.bias`;
  } else {
    // FAVOR+; masked tokens are never keys.
    const tokenMask = c.mask ? repeatMask(c.mask, batch, seq, layers) : null;
    const projection = w(c, `${p}.2.fast_attention.projection_matrix`);
    const common = { batch, tokens, heads: config.heads, dimHead: config.dimHead, mask: tokenMask };

    const q = await ops.run('linear', { x: stacked, weight: w(c, `${p}.2.to_q.weight`), bias: null, activation: 'none' });
    const queryFeatures = await ops.run('favorFeatures', { x: q, projection, kind: 'query', ...common });
    q.dispose();
    const k = await ops.run('linear', { x: stacked, weight: w(c, `${p}.2.to_k.weight`), bias: null, activation: 'none' });
    if (config.variant === 'omninet-causal-omni') {
      // Causal over the flattened index p·L + l: the op keeps the key stabiliser as a running max.
      const v = await ops.run('linear', { x: stacked, weight: w(c, `${p}.2.to_v.weight`), bias: null, activation: 'none' });
      const args = { queryFeatures, k, v, projection, ...common };
      attended = c.decode ? await c.decode.causalFavor(omniIndex, args) : await ops.run('causalLinearAttention', { ...args, state: null });
      k.dispose();
      v.dispose();
    } else {
      const keyFeatures = await ops.run('favorFeatures', { x: k, projection, kind: 'key', ...common });
      k.dispose();
      const v = await ops.run('linear', { x: stacked, weight: w(c, `${p}.2.to_v.weight`), bias: null, activation: 'none' });
      attended = await ops.run('linearAttention', { queryFeatures, keyFeatures, v, ...common });
      keyFeatures.dispose();
      v.dispose();
    }
    queryFeatures.dispose();
    outWeight = `${p}.2.to_out.weight`;
    outBias = `${p}.2.to_out.bias`;
  }
  stacked.dispose();

  const projected = await ops.run('linear', { x: attended, weight: w(c, outWeight), bias: w(c, outBias), activation: 'none' });
  attended.dispose();

  const pooled = await ops.run('maxPoolLayers', { x: projected, batch, seq, layers, dim: config.dim });
  projected.dispose();
  return pooled;
}

/** Repeats a [batch, seq] mask L times per position → [batch, seq·L]. */
function repeatMask(mask: Uint8Array, batch: number, seq: number, layers: number): Uint8Array {
  const out = new Uint8Array(batch * seq * layers);
  for (let i = 0; i < batch * seq; i++) out.fill(mask[i], i * layers, (i + 1) * layers);
  return out;
}

function w(c: ForwardContext, name: string): Tensor {
  const tensor = c.weights.get(name);
  if (!tensor) throw new OmninetError('SHAPE_MISMATCH', `weight "${name}" is missing from the loaded model`);
  return tensor;
}

function positionRow(c: ForwardContext, index: number): Tensor {
  return w(c, `layer_pos_emb.${index}`);
}

/** Disposes the old tensors and returns the new one (keeps the step functions linear). */
function replace(old: Tensor, next: Tensor, ...alsoDispose: Tensor[]): Tensor {
  old.dispose();
  for (const t of alsoDispose) t.dispose();
  return next;
}
