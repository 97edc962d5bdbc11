import type { BackendPolicy } from '../dispatch/dispatcher.js';
import type { OmninetErrorCode } from '../errors.js';
import type { DecodeStepOptions, DecoderOptions } from '../model/decoder.js';
import type { OmninetConfig } from '../model/config.js';
import type { LoadOptions, LoadProgress, ModelSource } from '../model/load.js';
import type { ForwardOptions } from '../model/model.js';
import type { RuntimeInfo } from '../runtime-info.js';

/** loadModel's options as they cross to the Worker: the progress callback travels separately. */
export type WorkerLoadOptions = Omit<LoadOptions, 'onProgress'>;

/**
 * The API of the Worker entry, exposed through comlink. Models and decoders stay in the Worker
 * under numeric ids, and typed arrays cross as transfers.
 */
export interface WorkerApi {
  /** Creates the backends once, so that a missing one fails here, and describes the Worker's runtime. */
  start(backend: BackendPolicy): Promise<{ runtime: RuntimeInfo; backend: string }>;
  loadModel(
    source: ModelSource,
    options: WorkerLoadOptions,
    onProgress?: (progress: LoadProgress) => void,
  ): Promise<{ id: number; config: OmninetConfig; backend: string; threads: { threads: number; note: string | null } }>;
  /** `call` names the call for `abort`; options cross without their signal. */
  forward(model: number, x: Float32Array, options: Omit<ForwardOptions, 'signal'>, call: number): Promise<Float32Array>;
  disposeModel(model: number): void;
  createDecoder(model: number, options: DecoderOptions): number;
  step(decoder: number, x: Float32Array, options: Omit<DecodeStepOptions, 'signal'>, call: number): Promise<Float32Array>;
  /** Aborts the forward or step sent with this call number, if it has not ended. */
  abort(call: number): void;
  resetDecoder(decoder: number): Promise<void>;
  decoderMemoryBytes(decoder: number): number;
  disposeDecoder(decoder: number): void;
  /** Frees every model and waits for the calls in flight, so that terminating cannot cut a GPU readback. */
  shutdown(): Promise<void>;
}

/** An error as it crosses from the Worker: plain data that the client turns back into an OmninetError. */
export interface WireError {
  omninetWireError: true;
  name: string;
  code: OmninetErrorCode | null;
  message: string;
}

export function isWireError(value: unknown): value is WireError {
  return typeof value === 'object' && value !== null && (value as WireError).omninetWireError === true;
}
