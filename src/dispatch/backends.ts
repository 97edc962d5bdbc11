import type { Backend, BackendName } from '../backends/backend.js';
import { OmninetError } from '../errors.js';

/** Creates a backend by name, importing its kernels on first use. */
export async function createBackend(name: BackendName): Promise<Backend> {
  switch (name) {
    case 'js': {
      const { JsBackend } = await import('../backends/js/index.js');
      return new JsBackend();
    }
    case 'wasm': {
      const { WasmBackend } = await import('../backends/wasm/index.js');
      return WasmBackend.create();
    }
    case 'webgpu':
      // TODO: the WebGPU backend (WGSL kernels) is not written yet.
      throw new OmninetError('BACKEND_UNAVAILABLE', 'backend "webgpu" is not available in this version; use "wasm" or "js"');
    default:
      throw new OmninetError('INVALID_ARGUMENT', `unknown backend "${String(name)}"; expected auto, wasm, js or webgpu`);
  }
}
