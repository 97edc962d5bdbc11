import { Dispatcher, DISPATCH_OPTION_KEYS, pickDispatchOptions, type DispatchOptions, type DispatchStats } from '../dispatch/dispatcher.js';
import { OmninetError } from '../errors.js';
import { writeSafetensors } from '../io/safetensors.js';
import type { Backend } from '../backends/backend.js';
import type { Tensor } from '../tensor.js';
import type { ParameterMap } from './checkpoint.js';
import { checkOptionKeys, configToMetadata, resolveConfig, type OmninetConfig, type OmninetOptions } from './config.js';
import { OmninetDecoder, type DecoderOptions } from './decoder.js';
import { forwardLayers } from './forward.js';
import { checkWasmForward } from './memory-budget.js';
import { OpScope, throwIfAborted } from './op-scope.js';
import { randomParameters } from './random-init.js';

export interface ForwardOptions {
  /** [batch, seq, dim] or [seq, dim]. */
  shape: readonly number[];
  /** [batch, seq] (or [seq]), 1 or true = real token, 0 or false = padding. */
  mask?: Uint8Array | readonly boolean[] | readonly number[] | null;
  /** Aborts the forward between two ops with an ABORTED error; the model stays usable. */
  signal?: AbortSignal;
}

/** A loaded OmniNet: host parameters plus their resident copies on the chosen backend. */
export class OmninetModel {
  readonly config: OmninetConfig;
  private readonly parameters: ParameterMap;
  private readonly dispatchOptions: DispatchOptions;
  private ready: Promise<{ dispatcher: Dispatcher; weights: Map<string, Tensor> }> | null = null;
  private disposed = false;

  constructor(config: OmninetConfig, parameters: ParameterMap, dispatchOptions: DispatchOptions = {}) {
    this.config = config;
    this.parameters = parameters;
    this.dispatchOptions = dispatchOptions;
  }

  /**
   * Creates the backends and uploads the weights once; later calls return the same promise.
   * `onUpload` is called after each parameter tensor is uploaded, for the call that starts the upload only.
   */
  init(onUpload?: (uploaded: number, total: number) => void): Promise<{ dispatcher: Dispatcher; weights: Map<string, Tensor> }> {
    this.assertAlive();
    this.ready ??= (async () => {
      const dispatcher = await Dispatcher.create(this.dispatchOptions);
      const weights = new Map<string, Tensor>();
      let uploaded = 0;
      for (const [name, { shape, data }] of this.parameters) {
        if (name === 'layer_pos_emb') {
          // One row per layer, each added to every token.
          for (let i = 0; i < shape[0]; i++) {
            weights.set(`${name}.${i}`, dispatcher.upload(data.subarray(i * shape[1], (i + 1) * shape[1]), [shape[1]], true));
          }
        } else {
          weights.set(name, dispatcher.upload(data, shape, true));
        }
        onUpload?.(++uploaded, this.parameters.size);
      }
      return { dispatcher, weights };
    })();
    return this.ready;
  }

  /** Name of the backend the model runs on (after the first forward or `init()`). */
  async backend(): Promise<string> {
    return (await this.init()).dispatcher.primary.name;
  }

  /**
   * Threads the model's wasm kernels run on, and why that is one when more were requested or are
   * available (null otherwise). On a webgpu or js primary backend: 1, with a note naming it.
   */
  async threads(): Promise<{ threads: number; note: string | null }> {
    const primary = (await this.init()).dispatcher.primary as Backend & { threads?: number; threadsNote?: string | null };
    if (primary.threads === undefined) return { threads: 1, note: `the model runs on the ${primary.name} backend, which does not use wasm threads` };
    return { threads: primary.threads, note: primary.threadsNote ?? null };
  }

  /** Counters of ops per backend and tensor moves between backends. */
  async stats(): Promise<DispatchStats> {
    return (await this.init()).dispatcher.stats;
  }

  /**
   * Runs the model on x (row-major float32 of `options.shape`) and returns the output of the same
   * shape. Masked (padded) positions never influence real ones, and their outputs are 0.
   */
  async forward(x: Float32Array, options: ForwardOptions): Promise<Float32Array> {
    this.assertAlive();
    throwIfAborted(options?.signal, 'forward');
    const { batch, seq } = checkInput(x, options, this.config.dim);
    const mask = normalizeMask(options.mask, batch, seq);
    checkFinite(x, mask, this.config.dim);

    const { dispatcher, weights } = await this.init();
    // NOTE: only an explicit wasm backend is checked up front, because under 'auto' a large forward
    // may move to WebGPU. Elsewhere the wasm allocator raises LIMIT_EXCEEDED past 4 GiB.
    if (this.dispatchOptions.backend === 'wasm') checkWasmForward(this.config, batch, seq);

    // When a GPU fails mid-forward, the forward runs again from x on the CPU backend.
    return dispatcher.withFallback(async () => {
      const scope = new OpScope(dispatcher, options.signal, 'forward');
      const input = dispatcher.upload(x, [batch, seq, this.config.dim]);
      let output: Tensor;
      try {
        output = await forwardLayers({ config: this.config, weights, ops: scope, mask }, input, batch, seq);
      } catch (error) {
        // An abort or a failure midway leaves intermediates that forwardLayers never got to free.
        input.dispose();
        scope.disposeAll();
        throw error;
      }
      try {
        const y = await dispatcher.download(output);
        if (mask) zeroPadded(y, mask, this.config.dim);
        checkOutputFinite(y, this.config.dim);
        return y;
      } finally {
        output.dispose();
      }
    });
  }

  /**
   * Returns a decoder that runs this causal model one position at a time, carrying key/value
   * caches and (omninet-causal-omni) running FAVOR+ states. Raises for variant omninet.
   */
  createDecoder(options: DecoderOptions): OmninetDecoder {
    this.assertAlive();
    return new OmninetDecoder(this, options);
  }

  /** Returns the checkpoint as safetensors bytes with `__metadata__.config`. */
  toSafetensors(): Uint8Array {
    const tensors = [...this.parameters].map(([name, { shape, data }]) => ({ name, dtype: 'F32' as const, shape, data }));
    return writeSafetensors(tensors, { config: configToMetadata(this.config) });
  }

  /** Frees the backend memory; later calls fail with a DISPOSED error. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    void this.ready?.then(({ dispatcher }) => dispatcher.dispose()).catch(() => undefined);
  }

  private assertAlive(): void {
    if (this.disposed) throw new OmninetError('DISPOSED', 'this model was disposed; load or create it again');
  }
}

/** Options of the random-initialised models: the reference's options plus placement and a seed. */
export type RandomModelOptions = OmninetOptions & DispatchOptions & { seed?: number };

/** omninet-pytorch's `Omninet` with freshly initialised weights. */
export class Omninet extends OmninetModel {
  constructor(options: RandomModelOptions) {
    checkRandomModelOptions(options);
    if (options.variant !== undefined && options.variant !== 'omninet') {
      throw new OmninetError('INVALID_ARGUMENT', `Omninet takes variant omninet, got "${options.variant}"; use OmninetCausal for the causal variants`);
    }
    const config = resolveConfig({ ...options, variant: 'omninet' });
    super(config, randomParameters(config, options.seed ?? 0), pickDispatchOptions(options));
  }
}

/**
 * A causal OmniNet with freshly initialised weights: omninet-pytorch's `OmninetCausal`
 * (`omninet-causal-axial`, the default) or the layer schedule of the OmniNet paper, Tay et al. 2021 (`omninet-causal-omni`).
 */
export class OmninetCausal extends OmninetModel {
  constructor(options: RandomModelOptions) {
    checkRandomModelOptions(options);
    const variant = options.variant ?? 'omninet-causal-axial';
    if (variant === 'omninet') {
      throw new OmninetError('INVALID_ARGUMENT', 'OmninetCausal takes variant omninet-causal-axial or omninet-causal-omni; use Omninet for omninet');
    }
    const config = resolveConfig({ ...options, variant });
    super(config, randomParameters(config, options.seed ?? 0), pickDispatchOptions(options));
  }
}

function checkRandomModelOptions(options: RandomModelOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new OmninetError('INVALID_ARGUMENT', `model options must be an object like { dim: 512, depth: 6 }, got ${String(options)}`);
  }
  checkOptionKeys(options, [...DISPATCH_OPTION_KEYS, 'seed']);
  if (options.seed !== undefined && !(Number.isInteger(options.seed) && options.seed >= 0)) {
    throw new OmninetError('INVALID_ARGUMENT', `seed must be a non-negative integer, got ${String(options.seed)}`);
  }
  const backends = ['auto', 'webgpu', 'wasm', 'js'];
  if (options.backend !== undefined && !backends.includes(options.backend)) {
    throw new OmninetError('INVALID_ARGUMENT', `backend "${String(options.backend)}" is not one of ${backends.join(', ')}`);
  }
}

function checkInput(x: Float32Array, options: ForwardOptions, dim: number): { batch: number; seq: number } {
  if (!(x instanceof Float32Array)) {
    throw new OmninetError('INVALID_ARGUMENT', `input must be a Float32Array, got ${describeValue(x)}`);
  }
  const shape = options?.shape;
  if (!Array.isArray(shape) || (shape.length !== 2 && shape.length !== 3) || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new OmninetError('INVALID_ARGUMENT', `shape must be [batch, seq, dim] or [seq, dim] of positive integers, got ${JSON.stringify(shape)}`);
  }
  const [batch, seq, inputDim] = shape.length === 3 ? shape : [1, ...shape];
  if (inputDim !== dim) {
    throw new OmninetError('SHAPE_MISMATCH', `input shape [${shape.join(', ')}] has last dimension ${inputDim} but the model's dim is ${dim}`);
  }
  if (x.length !== batch * seq * dim) {
    throw new OmninetError('SHAPE_MISMATCH', `input has ${x.length} values but shape [${shape.join(', ')}] needs ${batch * seq * dim}`);
  }
  return { batch, seq };
}

function normalizeMask(mask: ForwardOptions['mask'], batch: number, seq: number): Uint8Array | null {
  if (mask === undefined || mask === null) return null;
  if (!(mask instanceof Uint8Array) && !Array.isArray(mask)) {
    throw new OmninetError('INVALID_ARGUMENT', `mask must be a Uint8Array or an array of booleans, got ${describeValue(mask)}`);
  }
  if (mask.length !== batch * seq) {
    throw new OmninetError('SHAPE_MISMATCH', `mask has ${mask.length} values but the input needs batch × seq = ${batch} × ${seq} = ${batch * seq}`);
  }
  const out = new Uint8Array(batch * seq);
  for (let i = 0; i < out.length; i++) {
    const value = mask[i];
    if (value === 1 || value === true) out[i] = 1;
    else if (value !== 0 && value !== false) {
      throw new OmninetError('INVALID_ARGUMENT', `mask value ${String(value)} at index ${i} is not 0/1 or a boolean`);
    }
  }
  return out.every((v) => v === 1) ? null : out;
}

/** Rejects NaN or infinity at real positions; padded positions may hold anything. */
function checkFinite(x: Float32Array, mask: Uint8Array | null, dim: number): void {
  for (let i = 0; i < x.length; i++) {
    if (Number.isFinite(x[i])) continue;
    const position = Math.floor(i / dim);
    if (mask && mask[position] === 0) continue;
    throw new OmninetError('INVALID_ARGUMENT', `input value ${x[i]} at flat index ${i} (token ${position}, channel ${i % dim}) is not finite`);
  }
}

/** Rejects outputs that overflowed float32 rather than returning them. */
function checkOutputFinite(y: Float32Array, dim: number): void {
  for (let i = 0; i < y.length; i++) {
    if (Number.isFinite(y[i])) continue;
    throw new OmninetError(
      'NON_FINITE',
      `output value ${y[i]} at flat index ${i} (token ${Math.floor(i / dim)}, channel ${i % dim}) is not finite: the input or weights overflow float32; scale the input down`,
    );
  }
}

function zeroPadded(y: Float32Array, mask: Uint8Array, dim: number): void {
  for (let position = 0; position < mask.length; position++) {
    if (mask[position] === 0) y.fill(0, position * dim, (position + 1) * dim);
  }
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}
