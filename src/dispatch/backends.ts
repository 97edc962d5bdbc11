import type { Backend, BackendName } from '../backends/backend.js';
import type { WebGpuBackendOptions } from '../backends/webgpu/backend.js';
import { OmninetError } from '../errors.js';

/** Creates a backend by name, importing its kernels on first use. */
export async function createBackend(name: BackendName, options: { webgpu?: WebGpuBackendOptions; threads?: number } = {}): Promise<Backend> {
  switch (name) {
    case 'js': {
      const { JsBackend } = await import('../backends/js/index.js');
      return new JsBackend();
    }
    case 'wasm': {
      const { WasmBackend } = await import('../backends/wasm/index.js');
      return WasmBackend.create({ threads: options.threads });
    }
    case 'webgpu': {
      const { WebGpuBackend } = await import('../backends/webgpu/index.js');
      return WebGpuBackend.create(options.webgpu);
    }
    default:
      throw new OmninetError('INVALID_ARGUMENT', `unknown backend "${String(name)}"; expected auto, webgpu, wasm or js`);
  }
}

/** Creates the CPU backend: `wasm` where WebAssembly SIMD runs, else `js`. */
export async function createCpuBackend(options: { threads?: number } = {}): Promise<Backend> {
  return (await createBackend('wasm', options).catch(() => null)) ?? (await createBackend('js'));
}
