import type { OmninetConfig } from './config.js';

/** Returns every state-dict tensor the config needs, with its shape, in omninet-pytorch's names. */
export function expectedParameters(config: OmninetConfig): Map<string, number[]> {
  const { dim, depth, heads, dimHead, ffMult } = config;
  const inner = heads * dimHead;
  const hidden = ffMult * dim;
  const shapes = new Map<string, number[]>();

  if (config.variant === 'omninet-causal-axial') shapes.set('layer_pos_emb', [depth + 1, dim]);

  for (let i = 0; i < depth; i++) {
    const p = `layers.${i}`;
    shapes.set(`${p}.0.norm.weight`, [dim]);
    shapes.set(`${p}.0.norm.bias`, [dim]);
    shapes.set(`${p}.0.fn.to_qkv.weight`, [3 * inner, dim]);
    shapes.set(`${p}.0.fn.to_out.0.weight`, [dim, inner]);
    shapes.set(`${p}.0.fn.to_out.0.bias`, [dim]);
    shapes.set(`${p}.1.norm.weight`, [dim]);
    shapes.set(`${p}.1.norm.bias`, [dim]);
    shapes.set(`${p}.1.fn.net.0.weight`, [hidden, dim]);
    shapes.set(`${p}.1.fn.net.0.bias`, [hidden]);
    shapes.set(`${p}.1.fn.net.3.weight`, [dim, hidden]);
    shapes.set(`${p}.1.fn.net.3.bias`, [dim]);

    if (!config.omniLayers.includes(i)) continue;
    if (config.variant === 'omninet-causal-axial') {
      shapes.set(`${p}.2.to_qkv.weight`, [3 * inner, dim]);
      shapes.set(`${p}.2.to_out.0.weight`, [dim, inner]);
      shapes.set(`${p}.2.to_out.0.bias`, [dim]);
    } else {
      shapes.set(`${p}.2.fast_attention.projection_matrix`, [config.nbFeatures!, dimHead]);
      shapes.set(`${p}.2.to_q.weight`, [inner, dim]);
      shapes.set(`${p}.2.to_k.weight`, [inner, dim]);
      shapes.set(`${p}.2.to_v.weight`, [inner, dim]);
      shapes.set(`${p}.2.to_out.weight`, [dim, inner]);
      shapes.set(`${p}.2.to_out.bias`, [dim]);
    }
  }
  return shapes;
}
