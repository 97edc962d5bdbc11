import { Tensor } from '../../tensor.js';
import type { Backend } from '../backend.js';

/** Tensors as plain host Float32Arrays; the reference backend that runs everywhere. */
export class JsBackend implements Backend {
  readonly name = 'js' as const;

  upload(data: Float32Array, shape: readonly number[], persistent = false): Tensor {
    return new Tensor(shape, this, Float32Array.from(data), persistent);
  }

  empty(shape: readonly number[]): Tensor {
    const size = shape.reduce((a, b) => a * b, 1);
    return new Tensor(shape, this, new Float32Array(size));
  }

  async download(tensor: Tensor): Promise<Float32Array> {
    return this.downloadSync(tensor);
  }

  downloadSync(tensor: Tensor): Float32Array {
    tensor.assertAlive('js download');
    return Float32Array.from(jsData(tensor));
  }

  free(): void {
    // Host arrays are reclaimed by the garbage collector.
  }

  dispose(): void {}
}

/** Returns the host array behind a `js` tensor. */
export function jsData(tensor: Tensor): Float32Array {
  return tensor.storage as Float32Array;
}
