import type { BackendName } from '../backends/backend.js';
import { OmninetError } from '../errors.js';
import { Omninet, OmninetCausal, type OmninetModel } from '../model/model.js';
import type { Variant } from '../model/config.js';
import { forwardFlops } from './flops.js';
import type { BenchModel } from './plan.js';

/** A random model of one variant on one backend, ready to time forwards of it. */
export interface ForwardSubject {
  model: OmninetModel;
  /** The options the model was built with. */
  options: Record<string, number | string>;
  /** Runs one forward of batch 1 × `tokens` tokens and waits for its output. */
  forward(tokens: number): Promise<void>;
  /** FLOPs of that forward, by op. */
  flops(tokens: number): Record<string, number>;
  /** Ops of one forward by the backend that ran them: a GPU hands ops it has no kernel for to the CPU. */
  opsByBackend: Record<string, number>;
}

/**
 * Builds the model and runs one forward of pool_layer_tokens_every tokens, which also warms up
 * the kernels. Raises what the model raises when it cannot run the variant on the backend.
 */
export async function createForwardSubject(model: BenchModel, variant: Variant, backend: BackendName): Promise<ForwardSubject> {
  const options = { ...model, variant, backend, seed: 1 };
  const instance = variant === 'omninet' ? new Omninet(options) : new OmninetCausal(options);
  const inputs = new Map<number, Float32Array>();
  const input = (tokens: number): Float32Array => {
    let x = inputs.get(tokens);
    if (!x) {
      x = new Float32Array(tokens * model.dim);
      for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37);
      inputs.set(tokens, x);
    }
    return x;
  };

  try {
    await instance.forward(input(model.poolLayerTokensEvery), { shape: [model.poolLayerTokensEvery, model.dim] });
  } catch (error) {
    instance.dispose();
    throw error;
  }

  // The warm-up was the model's first forward, so the counters contain one forward's ops.
  const opsByBackend = { ...(await instance.stats()).ops };
  return {
    model: instance,
    options: { variant, ...model },
    opsByBackend,
    async forward(tokens) {
      await instance.forward(input(tokens), { shape: [1, tokens, model.dim] });
    },
    flops: (tokens) => forwardFlops(instance.config, 1, tokens),
  };
}

/** Returns why a forward failed, in one line, for the skipped list. */
export function describeFailure(error: unknown): string {
  if (error instanceof OmninetError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message.split('\n')[0] : String(error);
}
