import { OmninetError } from './errors.js';
import type { Backend } from './backends/backend.js';

/**
 * A float32 array that lives on one backend (host memory for `js`, the module's linear
 * memory for `wasm`, a GPU buffer for `webgpu`). `storage` is opaque outside that backend.
 * Persistent tensors hold weights: pools never recycle them and a forward never disposes them.
 */
export class Tensor {
  readonly shape: readonly number[];
  readonly size: number;
  readonly backend: Backend;
  readonly storage: unknown;
  readonly persistent: boolean;
  private disposed = false;

  constructor(shape: readonly number[], backend: Backend, storage: unknown, persistent = false) {
    this.shape = Object.freeze([...shape]);
    this.size = shapeSize(shape);
    this.backend = backend;
    this.storage = storage;
    this.persistent = persistent;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Returns the storage to the backend's pool; using the tensor afterwards is an error. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.backend.free(this);
  }

  assertAlive(what: string): void {
    if (this.disposed) {
      throw new OmninetError('DISPOSED', `${what}: tensor of shape [${this.shape.join(', ')}] was already disposed`);
    }
  }
}

export function shapeSize(shape: readonly number[]): number {
  let size = 1;
  for (const d of shape) size *= d;
  return size;
}
