import type { Dispatcher } from '../dispatch/dispatcher.js';
import { OmninetError } from '../errors.js';
import type { OpArgs } from '../kernels/ops.js';
import type { Tensor } from '../tensor.js';
import { forwardLayers, type DecodeSteps, type ResidentWeights } from './forward.js';
import { KeyValueCache } from './key-value-cache.js';
import { throwIfAborted } from './op-scope.js';
import type { OmninetModel } from './model.js';

export interface DecoderOptions {
  /** Number of sequences decoded side by side. */
  batch: number;
}

export interface DecodeStepOptions {
  /**
   * [batch], 1 or true = real token, 0 or false = padding. A padded position is never a key for
   * any later position, and its output is 0.
   */
  mask?: Uint8Array | readonly boolean[] | readonly number[] | null;
  /**
   * Signal that aborts the step with an ABORTED error while it waits behind earlier steps or
   * before it starts. The caches then stay as they were. A step that has started runs to its end.
   */
  signal?: AbortSignal;
}

/**
 * Runs a causal OmniNet one position at a time. Its output at each position equals the full
 * forward's output there (up to float32 rounding), because no position depends on later ones and
 * the decoder carries everything earlier positions contribute:
 *   - causal self-attention: the keys and values of every layer (KeyValueCache);
 *   - omninet-causal-axial omni layers: nothing, they only mix the hiddens of one position;
 *   - omninet-causal-omni omni layers: the running causal FAVOR+ state S, z and max per layer,
 *     whose size does not grow with the length (causalLinearAttentionState in ops.ts).
 * Steps run one after another in call order; reset() and dispose() wait for the steps before them.
 */
export class OmninetDecoder {
  readonly batch: number;
  private readonly model: OmninetModel;
  private runtime: { dispatcher: Dispatcher; weights: ResidentWeights } | null = null;
  private caches: KeyValueCache[] = [];
  private favorStates: (Tensor | null)[] = [];

  // keyMask [batch, maskCapacity]: 1 where a decoded position is a key; kept only once a padded position arrives.
  private keyMask: Uint8Array | null = null;
  private maskCapacity = 0;
  private stepKeyMask: Uint8Array | null = null;

  private positions = 0;
  private readonly steps: DecodeSteps = {
    selfAttention: (layer, qkv) => this.attendCache(layer, qkv),
    causalFavor: (omniIndex, args) => this.continueFavor(omniIndex, args),
  };
  private queue: Promise<unknown> = Promise.resolve();
  private failure: unknown = null;
  private disposed = false;

  /** Use `model.createDecoder({ batch })`. */
  constructor(model: OmninetModel, options: DecoderOptions) {
    if (model.config.variant === 'omninet') {
      throw new OmninetError(
        'INVALID_ARGUMENT',
        'createDecoder needs a causal model (omninet-causal-axial or omninet-causal-omni): in variant omninet every position attends to later ones, so outputs change as tokens arrive',
      );
    }
    for (const key of Object.keys(options ?? {})) {
      if (key !== 'batch') throw new OmninetError('INVALID_ARGUMENT', `unknown decoder option "${key}"; known options: batch`);
    }
    const batch = options?.batch;
    if (typeof batch !== 'number' || !Number.isInteger(batch) || batch < 1) {
      throw new OmninetError('INVALID_ARGUMENT', `createDecoder: batch must be a positive integer, got ${JSON.stringify(batch) ?? String(batch)}`);
    }
    this.model = model;
    this.batch = batch;
  }

  /** Number of positions decoded since creation or the last reset. */
  get length(): number {
    return this.positions;
  }

  /**
   * Runs the next position: x [batch, dim] (row-major float32) is its input, and the result
   * [batch, dim] its output. Rows with mask 0 may hold any values, NaN included.
   */
  step(x: Float32Array, options: DecodeStepOptions = {}): Promise<Float32Array> {
    return this.enqueue(() => this.runStep(x, options));
  }

  /** Forgets every position, so that the next step is position 0 again. */
  reset(): Promise<void> {
    return this.enqueue(async () => {
      this.free();
      this.failure = null;
    });
  }

  /** Frees the caches once the steps already issued finish; later calls fail with a DISPOSED error. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.queue = this.queue.then(() => this.free());
  }

  /** Bytes the decoder holds on the model's backend: key/value caches (with their free capacity) and FAVOR+ states. */
  memoryBytes(): number {
    let bytes = 0;
    for (const cache of this.caches) bytes += cache.bytes;
    for (const state of this.favorStates) bytes += state ? state.size * 4 : 0;
    return bytes;
  }

  /** Appends this position's k and v to the layer's cache, then attends over the cache. */
  private async attendCache(layer: number, qkv: Tensor): Promise<Tensor> {
    const { dispatcher } = this.runtime!;
    const { heads, dimHead } = this.model.config;
    const cache = this.caches[layer];
    await cache.append(qkv);
    return dispatcher.run('attentionDecode', {
      qkv,
      cache: cache.tensor,
      batch: this.batch,
      length: cache.length,
      heads,
      dimHead,
      scale: dimHead ** -0.5,
      mask: this.stepKeyMask,
    });
  }

  /** Runs causal FAVOR+ over this position's tokens from the layer's state, then moves the state past them. */
  private async continueFavor(omniIndex: number, args: Omit<OpArgs['causalLinearAttention'], 'state'>): Promise<Tensor> {
    const { dispatcher } = this.runtime!;
    const state = this.favorStates[omniIndex];
    const output = await dispatcher.run('causalLinearAttention', { ...args, state });
    try {
      const { queryFeatures: _queries, ...stateArgs } = args;
      this.favorStates[omniIndex] = await dispatcher.run('causalLinearAttentionState', { ...stateArgs, state });
    } catch (error) {
      output.dispose();
      throw error;
    }
    state?.dispose();
    return output;
  }

  /** Runs `task` after every call before it; calls made before dispose() still run. */
  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(disposedError());
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async runStep(x: Float32Array, options: DecodeStepOptions): Promise<Float32Array> {
    throwIfAborted(options?.signal, 'decoder step');
    if (this.failure !== null) {
      throw new OmninetError('INVALID_ARGUMENT', `a previous step failed (${describeError(this.failure)}), so the caches are incomplete: call reset() before stepping again`);
    }
    const { dim, depth, heads, dimHead, omniLayers } = this.model.config;
    checkStepInput(x, this.batch, dim);
    const mask = normalizeStepMask(options?.mask, this.batch);
    checkFinite(x, mask, dim);

    this.runtime ??= await this.model.init();
    const { dispatcher, weights } = this.runtime;
    if (this.caches.length === 0) {
      this.caches = Array.from({ length: depth }, () => new KeyValueCache(dispatcher, this.batch, heads * dimHead));
      this.favorStates = omniLayers.map(() => null);
    }
    this.recordKeys(mask);

    const input = dispatcher.upload(x, [this.batch, 1, dim]);
    let output: Tensor | null = null;
    let y: Float32Array;
    try {
      // NOTE: unlike model.forward, a step has no device-loss fallback. A lost GPU takes the caches
      // with it, so the step fails and the decoder needs reset().
      output = await forwardLayers({ config: this.model.config, weights, ops: dispatcher, mask, decode: this.steps }, input, this.batch, 1);
      y = await dispatcher.download(output);
    } catch (error) {
      this.failure = error;
      throw error;
    } finally {
      output?.dispose();
    }
    this.positions++;

    if (mask) for (let b = 0; b < this.batch; b++) if (mask[b] === 0) y.fill(0, b * dim, (b + 1) * dim);
    const bad = y.findIndex((value) => !Number.isFinite(value));
    if (bad >= 0) {
      throw new OmninetError(
        'NON_FINITE',
        `decoder output value ${y[bad]} at position ${this.positions - 1}, row ${Math.floor(bad / dim)}, channel ${bad % dim} is not finite: the input or weights overflow float32; scale the input down`,
      );
    }
    return y;
  }

  /** Notes which rows of the new position are keys and sets the [batch, length] mask of this step's attention. */
  private recordKeys(mask: Uint8Array | null): void {
    const position = this.positions;
    if (mask && !this.keyMask) {
      // The first padded position: every earlier one was a key.
      this.maskCapacity = Math.max(16, 2 * position);
      this.keyMask = new Uint8Array(this.batch * this.maskCapacity).fill(1);
    }
    if (!this.keyMask) {
      this.stepKeyMask = null;
      return;
    }

    if (position === this.maskCapacity) {
      const grown = new Uint8Array(this.batch * 2 * this.maskCapacity);
      for (let b = 0; b < this.batch; b++) grown.set(this.keyMask.subarray(b * this.maskCapacity, (b + 1) * this.maskCapacity), b * 2 * this.maskCapacity);
      this.keyMask = grown;
      this.maskCapacity *= 2;
    }
    const length = position + 1;
    this.stepKeyMask = new Uint8Array(this.batch * length);
    for (let b = 0; b < this.batch; b++) {
      this.keyMask[b * this.maskCapacity + position] = mask ? mask[b] : 1;
      this.stepKeyMask.set(this.keyMask.subarray(b * this.maskCapacity, b * this.maskCapacity + length), b * length);
    }
  }

  private free(): void {
    for (const cache of this.caches) cache.dispose();
    for (const state of this.favorStates) state?.dispose();
    this.caches = [];
    this.favorStates = [];
    this.keyMask = null;
    this.maskCapacity = 0;
    this.stepKeyMask = null;
    this.positions = 0;
  }
}

function disposedError(): OmninetError {
  return new OmninetError('DISPOSED', 'this decoder was disposed; create another with model.createDecoder()');
}

function checkStepInput(x: Float32Array, batch: number, dim: number): void {
  if (!(x instanceof Float32Array)) {
    let type: string = typeof x;
    if (x === null) type = 'null';
    else if (typeof x === 'object') type = (x as object).constructor?.name ?? 'object';
    throw new OmninetError('INVALID_ARGUMENT', `decoder step input must be a Float32Array of batch × dim values, got ${type}`);
  }
  if (x.length !== batch * dim) {
    throw new OmninetError('SHAPE_MISMATCH', `decoder step input has ${x.length} values but batch × dim = ${batch} × ${dim} = ${batch * dim}`);
  }
}

/** Returns the step mask as 0/1 bytes, or null when every row is real. */
function normalizeStepMask(mask: DecodeStepOptions['mask'], batch: number): Uint8Array | null {
  if (mask === undefined || mask === null) return null;
  if (!(mask instanceof Uint8Array) && !Array.isArray(mask)) {
    throw new OmninetError('INVALID_ARGUMENT', 'decoder step mask must be a Uint8Array or an array of booleans with one entry per batch row');
  }
  if (mask.length !== batch) {
    throw new OmninetError('SHAPE_MISMATCH', `decoder step mask has ${mask.length} values but the batch is ${batch}`);
  }
  const out = new Uint8Array(batch);
  for (let b = 0; b < batch; b++) {
    const value = mask[b];
    if (value === 1 || value === true) out[b] = 1;
    else if (value !== 0 && value !== false) {
      throw new OmninetError('INVALID_ARGUMENT', `decoder step mask value ${String(value)} at row ${b} is not 0/1 or a boolean`);
    }
  }
  return out.every((v) => v === 1) ? null : out;
}

/** Rejects NaN or infinity in real rows; padded rows may hold anything. */
function checkFinite(x: Float32Array, mask: Uint8Array | null, dim: number): void {
  for (let i = 0; i < x.length; i++) {
    if (Number.isFinite(x[i])) continue;
    const row = Math.floor(i / dim);
    if (mask && mask[row] === 0) continue;
    throw new OmninetError('INVALID_ARGUMENT', `decoder step input value ${x[i]} at row ${row}, channel ${i % dim} is not finite`);
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
