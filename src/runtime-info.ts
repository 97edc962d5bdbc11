export type Platform = 'node' | 'deno' | 'browser';

/** Features of the current JavaScript runtime that the backends use. */
export interface RuntimeInfo {
  /** Name and version, e.g. "node 20.20.2", "deno 2.9.6", or "browser". */
  runtime: string;
  platform: Platform;
  /** Runs inside a Worker (a browser or Deno Worker, or a Node worker_threads thread). */
  inWorker: boolean;
  wasmSimd: boolean;
  wasmRelaxedSimd: boolean;
  /** SharedArrayBuffer exists: browsers hide it from pages that are not cross-origin isolated. */
  sharedArrayBuffer: boolean;
  /** Browsers: served with COOP same-origin and COEP require-corp. Node and Deno: always true. */
  crossOriginIsolated: boolean;
  /** Shared WebAssembly memory is usable, so kernels could run on several threads. */
  wasmThreads: boolean;
  /** A WebGPU entry point exists. Whether it has an adapter is known only once a backend requests one. */
  webgpu: boolean;
  /** Source of WebGPU: `navigator.gpu`, the optional npm package `webgpu` (Dawn, Node), or none. */
  webgpuSource: 'navigator.gpu' | 'webgpu package' | null;
}

// (module (func (result v128) v128.const i32x4 0 0 0 0))
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 11,
]);

// (module (func (param v128 v128 v128) (result v128) local.get 0 local.get 1 local.get 2 f32x4.relaxed_madd))
const RELAXED_SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 133, 2,
  11,
]);

/** Returns what the current JavaScript runtime offers; cheap and synchronous. */
export function describeRuntime(): RuntimeInfo {
  const platform = currentPlatform();
  const g = globalThis as Record<string, unknown>;
  let runtime = 'browser';
  if (platform === 'deno') runtime = `deno ${(g.Deno as DenoGlobal).version.deno}`;
  else if (platform === 'node') runtime = `node ${(g.process as NodeProcess).versions.node}`;

  const sharedArrayBuffer = typeof SharedArrayBuffer === 'function';
  const crossOriginIsolated = platform === 'browser' ? g.crossOriginIsolated === true : true;
  const webgpuSource = hasNavigatorGpu() ? 'navigator.gpu' : platform === 'node' && canResolveDawn() ? 'webgpu package' : null;

  return {
    runtime,
    platform,
    inWorker: isInWorker(platform),
    wasmSimd: validates(SIMD_PROBE),
    wasmRelaxedSimd: validates(RELAXED_SIMD_PROBE),
    sharedArrayBuffer,
    crossOriginIsolated,
    wasmThreads: sharedArrayBuffer && crossOriginIsolated,
    webgpu: webgpuSource !== null,
    webgpuSource,
  };
}

/** Deno first: it also sets `process.versions.node` for npm packages. */
export function currentPlatform(): Platform {
  const g = globalThis as Record<string, unknown>;
  if ((g.Deno as DenoGlobal | undefined)?.version?.deno) return 'deno';
  if ((g.process as NodeProcess | undefined)?.versions?.node) return 'node';
  return 'browser';
}

interface DenoGlobal {
  version: { deno: string };
}

interface NodeProcess {
  versions: { node: string };
  getBuiltinModule?(id: string): unknown;
}

function hasNavigatorGpu(): boolean {
  return Boolean((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu);
}

/** Returns whether the optional package `webgpu` is installed. Resolving it loads nothing. */
function canResolveDawn(): boolean {
  // NOTE: process.getBuiltinModule arrived in Node 20.16; older versions report no binding.
  const getBuiltinModule = (globalThis as { process?: NodeProcess }).process?.getBuiltinModule;
  const nodeModule = getBuiltinModule?.('node:module') as { createRequire(from: string): { resolve(id: string): string } } | undefined;
  try {
    return Boolean(nodeModule?.createRequire(import.meta.url).resolve('webgpu'));
  } catch {
    return false;
  }
}

function isInWorker(platform: Platform): boolean {
  if (platform === 'node') {
    const getBuiltinModule = (globalThis as { process?: NodeProcess }).process?.getBuiltinModule;
    const workerThreads = getBuiltinModule?.('node:worker_threads') as { isMainThread: boolean } | undefined;
    return workerThreads ? !workerThreads.isMainThread : false;
  }
  const scope = (globalThis as { WorkerGlobalScope?: abstract new () => unknown }).WorkerGlobalScope;
  return typeof scope === 'function' && globalThis instanceof scope;
}

function validates(bytes: Uint8Array<ArrayBuffer>): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(bytes);
  } catch {
    return false;
  }
}
