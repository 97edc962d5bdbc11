import type { Backend, BackendName } from '../backends/backend.js';
import type { Tensor } from '../tensor.js';
import type { OpArgs, OpName } from './ops.js';

/** Runs one op on one backend. All tensor arguments already live on `backend`. */
export type KernelFunc<K extends OpName> = (args: OpArgs[K], backend: Backend) => Tensor;

export interface KernelConfig<K extends OpName> {
  kernelName: K;
  backendName: BackendName;
  kernelFunc: KernelFunc<K>;
}

const kernels = new Map<string, KernelFunc<OpName>>();

/** Makes `kernelFunc` the implementation of `kernelName` on `backendName`. */
export function registerKernel<K extends OpName>(config: KernelConfig<K>): void {
  kernels.set(`${config.backendName}/${config.kernelName}`, config.kernelFunc as unknown as KernelFunc<OpName>);
}

/** Returns the kernel of an op on a backend, or undefined when that backend lacks it. */
export function getKernel<K extends OpName>(kernelName: K, backendName: BackendName): KernelFunc<K> | undefined {
  return kernels.get(`${backendName}/${kernelName}`) as unknown as KernelFunc<K> | undefined;
}
