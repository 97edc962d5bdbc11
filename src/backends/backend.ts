import { OmninetError } from '../errors.js';
import type { Tensor } from '../tensor.js';

export type BackendName = 'js' | 'wasm' | 'webgpu';

/**
 * Storage side of a backend: where tensors live and how they get in and out.
 * The compute side is the list of kernels the backend registers (see `kernels/registry.ts`).
 */
export interface Backend {
  readonly name: BackendName;

  /** Copies host data into a new tensor on this backend. */
  upload(data: Float32Array, shape: readonly number[], persistent?: boolean): Tensor;

  /** Allocates a tensor whose contents are undefined; kernels write all of it. */
  empty(shape: readonly number[]): Tensor;

  /** Copies a tensor back to a new host array. */
  download(tensor: Tensor): Promise<Float32Array>;

  /** Same as `download` for backends that can read synchronously (`js`, `wasm`). */
  downloadSync?(tensor: Tensor): Float32Array;

  /** Called by `Tensor.dispose`: returns the storage to the backend. */
  free(tensor: Tensor): void;

  /** Frees every tensor and cache the backend holds; the backend is unusable afterwards. */
  dispose(): void;
}

/** Raises SHAPE_MISMATCH unless `tensor` contains exactly `size` values. */
export function assertSize(tensor: Tensor, size: number, what: string, name: string): void {
  if (tensor.size !== size) {
    throw new OmninetError('SHAPE_MISMATCH', `${what}: ${name} has shape [${tensor.shape.join(', ')}] (${tensor.size} values), expected ${size} values`);
  }
}
