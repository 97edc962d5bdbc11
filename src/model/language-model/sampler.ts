import { OmninetError } from '../../errors.js';
import { Random } from '../random-init.js';

export interface SamplingOptions {
  /** Divides the logits before the softmax; 0 picks the most likely token (default 0.8). */
  temperature?: number;
  /** Keeps only the k most likely tokens; 0 keeps all (default 0). */
  topK?: number;
  /** Keeps the fewest most likely tokens whose probabilities add up to at least p; 1 keeps all (default 1). */
  topP?: number;
  /** Seed of the draws: the same seed, model and prompt give the same text. Default: a random seed. */
  seed?: number;
}

export const DEFAULT_TEMPERATURE = 0.8;

/** Draws token ids from logits with temperature, top-k and top-p (nucleus) filtering. */
export class Sampler {
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
  readonly seed: number;
  private readonly random: Random;

  constructor(options: SamplingOptions = {}) {
    this.temperature = options.temperature ?? DEFAULT_TEMPERATURE;
    this.topK = options.topK ?? 0;
    this.topP = options.topP ?? 1;
    this.seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);

    if (!Number.isFinite(this.temperature) || this.temperature < 0) {
      throw new OmninetError('INVALID_ARGUMENT', `temperature must be a finite number ≥ 0 (0 = always the most likely token), got ${this.temperature}`);
    }
    if (!Number.isInteger(this.topK) || this.topK < 0) {
      throw new OmninetError('INVALID_ARGUMENT', `topK must be an integer ≥ 0 (0 = no limit), got ${this.topK}`);
    }
    if (!(this.topP > 0 && this.topP <= 1)) {
      throw new OmninetError('INVALID_ARGUMENT', `topP must be in (0, 1] (1 = no limit), got ${this.topP}`);
    }
    if (!Number.isInteger(this.seed) || this.seed < 0 || this.seed >= 2 ** 32) {
      throw new OmninetError('INVALID_ARGUMENT', `seed must be an integer in [0, 2^32), got ${this.seed}`);
    }
    this.random = new Random(this.seed);
  }

  /** Returns the next token id for logits [vocab]. */
  sample(logits: Float32Array): number {
    if (this.temperature === 0) return argmax(logits);

    // Softmax of logits / temperature in float64, most likely first.
    const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]);
    const top = logits[order[0]];
    const weights = order.map((id) => Math.exp((logits[id] - top) / this.temperature));
    const total = weights.reduce((sum, w) => sum + w, 0);

    let keep = this.topK > 0 ? Math.min(this.topK, order.length) : order.length;
    if (this.topP < 1) {
      let mass = 0;
      for (let i = 0; i < keep; i++) {
        mass += weights[i] / total;
        if (mass >= this.topP) {
          keep = i + 1;
          break;
        }
      }
    }

    let keptWeight = 0;
    for (let i = 0; i < keep; i++) keptWeight += weights[i];
    let draw = this.random.uniform() * keptWeight;
    for (let i = 0; i < keep; i++) {
      draw -= weights[i];
      if (draw < 0) return order[i];
    }
    return order[keep - 1];
  }
}

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}
