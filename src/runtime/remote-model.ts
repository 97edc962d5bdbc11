import { OmninetError } from '../errors.js';
import type { OmninetConfig } from '../model/config.js';
import type { DecodeStepOptions, DecoderOptions } from '../model/decoder.js';
import type { ForwardOptions } from '../model/model.js';
import type { WorkerConnection } from './connection.js';
import { transferArray } from './transfer.js';

/**
 * A model that lives in a Worker, with OmninetModel's methods. forward() transfers x to the
 * Worker: x is empty (detached) afterwards, so pass `x.slice()` to keep it. Masks are copied.
 */
export class RemoteModel {
  readonly config: OmninetConfig;
  private readonly connection: WorkerConnection;
  private readonly id: number;
  private readonly backendName: string;
  private readonly threadInfo: { threads: number; note: string | null };
  private disposed = false;

  /** Use `worker.loadModel()`. */
  constructor(connection: WorkerConnection, id: number, config: OmninetConfig, backend: string, threads: { threads: number; note: string | null }) {
    this.connection = connection;
    this.id = id;
    this.config = config;
    this.backendName = backend;
    this.threadInfo = threads;
  }

  /** Name of the backend the model runs on in the Worker. */
  async backend(): Promise<string> {
    return this.backendName;
  }

  /** As OmninetModel.threads(), measured in the Worker when the model loaded. */
  async threads(): Promise<{ threads: number; note: string | null }> {
    return { ...this.threadInfo };
  }

  /** `options.signal` aborts the forward in the Worker at its next op, with an ABORTED error. */
  forward(x: Float32Array, options: ForwardOptions): Promise<Float32Array> {
    if (this.disposed) return Promise.reject(disposedError('model', 'load it again'));
    const { signal, ...rest } = options ?? {};
    return this.connection.callAbortable(signal, (api, call) => api.forward(this.id, transferArray(x), rest as ForwardOptions, call));
  }

  /** Like OmninetModel.createDecoder, but resolves once the Worker has made the decoder. */
  async createDecoder(options: DecoderOptions): Promise<RemoteDecoder> {
    if (this.disposed) throw disposedError('model', 'load it again');
    const id = await this.connection.call((api) => api.createDecoder(this.id, options));
    return new RemoteDecoder(this.connection, id, options.batch);
  }

  /** Frees the model in the Worker; later calls fail with a DISPOSED error. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.connection.post((api) => api.disposeModel(this.id));
  }
}

/** A decoder that lives in a Worker, with OmninetDecoder's methods; step() transfers x like forward(). */
export class RemoteDecoder {
  readonly batch: number;
  private readonly connection: WorkerConnection;
  private readonly id: number;
  // The Worker runs steps in call order and resolves them in that order, so this count matches the decoder's length there.
  private positions = 0;
  private disposed = false;

  /** Use `model.createDecoder()`. */
  constructor(connection: WorkerConnection, id: number, batch: number) {
    this.connection = connection;
    this.id = id;
    this.batch = batch;
  }

  /** Number of positions decoded since creation or the last reset. */
  get length(): number {
    return this.positions;
  }

  async step(x: Float32Array, options: DecodeStepOptions = {}): Promise<Float32Array> {
    if (this.disposed) throw disposedError('decoder', 'create another with model.createDecoder()');
    const { signal, ...rest } = options ?? {};
    const y = await this.connection.callAbortable(signal, (api, call) => api.step(this.id, transferArray(x), rest, call));
    this.positions++;
    return y;
  }

  async reset(): Promise<void> {
    if (this.disposed) throw disposedError('decoder', 'create another with model.createDecoder()');
    await this.connection.call((api) => api.resetDecoder(this.id));
    this.positions = 0;
  }

  /** Bytes the decoder holds on the model's backend. */
  memoryBytes(): Promise<number> {
    return this.connection.call((api) => api.decoderMemoryBytes(this.id));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.connection.post((api) => api.disposeDecoder(this.id));
  }
}

function disposedError(kind: string, fix: string): OmninetError {
  return new OmninetError('DISPOSED', `this ${kind} was disposed; ${fix}`);
}
