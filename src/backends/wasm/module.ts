import { OmninetError } from '../../errors.js';
import { describeRuntime } from '../../runtime-info.js';

/**
 * Exports of the AssemblyScript module (assembly/index.ts). Pointers are byte offsets into
 * `memory`, sizes count float32 values, and booleans are passed as 0 or 1.
 */
export interface WasmKernels {
  readonly memory: WebAssembly.Memory;
  heapBase(): number;
  packedLinearSize(outFeatures: number, inFeatures: number): number;
  packLinearWeight(weight: number, packed: number, outFeatures: number, inFeatures: number): void;
  linearForward(x: number, packed: number, bias: number, y: number, rows: number, outFeatures: number, inFeatures: number): void;
  /** linearForward, then GELU on y, fused into the GEMM's last pass. */
  linearGeluForward(x: number, packed: number, bias: number, y: number, rows: number, outFeatures: number, inFeatures: number): void;
  gelu(x: number, y: number, size: number): void;
  addBroadcast(a: number, b: number, y: number, size: number, period: number): void;
  layerNorm(x: number, gamma: number, beta: number, y: number, rows: number, dim: number, eps: number): void;
  attentionScratchBytes(dimHead: number): number;
  /** attention on the (batch, head) pairs first … first + count − 1, numbered b·heads + h. */
  attentionHeads(
    qkv: number,
    mask: number,
    out: number,
    scratch: number,
    batch: number,
    seq: number,
    heads: number,
    dimHead: number,
    scale: number,
    causal: number,
    first: number,
    count: number,
  ): void;
  attention(
    qkv: number,
    mask: number,
    out: number,
    scratch: number,
    batch: number,
    seq: number,
    heads: number,
    dimHead: number,
    scale: number,
    causal: number,
  ): void;
  favorFeatures(
    u: number,
    x: number,
    mask: number,
    features: number,
    batch: number,
    tokens: number,
    heads: number,
    dimHead: number,
    nbFeatures: number,
    isKey: number,
  ): void;
  /** favorFeatures on the (batch, head) pairs first … first + count − 1, numbered b·heads + h. */
  favorFeaturesHeads(
    u: number,
    x: number,
    mask: number,
    features: number,
    batch: number,
    tokens: number,
    heads: number,
    dimHead: number,
    nbFeatures: number,
    isKey: number,
    first: number,
    count: number,
  ): void;
  linearAttentionScratchBytes(nbFeatures: number, dimHead: number): number;
  /** linearAttention on the (batch, head) pairs first … first + count − 1, numbered b·heads + h. */
  linearAttentionHeads(
    queryFeatures: number,
    keyFeatures: number,
    v: number,
    mask: number,
    out: number,
    scratch: number,
    batch: number,
    tokens: number,
    heads: number,
    dimHead: number,
    nbFeatures: number,
    first: number,
    count: number,
  ): void;
  linearAttention(
    queryFeatures: number,
    keyFeatures: number,
    v: number,
    mask: number,
    out: number,
    scratch: number,
    batch: number,
    tokens: number,
    heads: number,
    dimHead: number,
    nbFeatures: number,
  ): void;
  stackLayer(src: number, dst: number, rows: number, dim: number, layers: number, layer: number): void;
  maxPoolLayers(x: number, y: number, rows: number, layers: number, dim: number): void;
  causalLinearAttentionScratchBytes(nbFeatures: number, dimHead: number): number;
  causalLinearAttention(
    queryFeatures: number,
    u: number,
    k: number,
    v: number,
    mask: number,
    stateIn: number,
    out: number,
    stateOut: number,
    scratch: number,
    batch: number,
    tokens: number,
    heads: number,
    dimHead: number,
    nbFeatures: number,
  ): void;
  attentionDecodeScratchBytes(heads: number, dimHead: number): number;
  attentionDecode(
    q: number,
    queryStride: number,
    cache: number,
    mask: number,
    out: number,
    scratch: number,
    batch: number,
    capacity: number,
    length: number,
    heads: number,
    dimHead: number,
    scale: number,
  ): void;
}

const KERNEL_NAMES = [
  'heapBase',
  'packedLinearSize',
  'packLinearWeight',
  'linearForward',
  'linearGeluForward',
  'gelu',
  'addBroadcast',
  'layerNorm',
  'attentionScratchBytes',
  'attention',
  'attentionHeads',
  'favorFeatures',
  'favorFeaturesHeads',
  'linearAttentionScratchBytes',
  'linearAttention',
  'linearAttentionHeads',
  'stackLayer',
  'maxPoolLayers',
  'causalLinearAttentionScratchBytes',
  'causalLinearAttention',
  'attentionDecodeScratchBytes',
  'attentionDecode',
] as const;

/** Source of the kernel module: its bytes, a compiled module, or a URL to read. */
export type WasmSource = ArrayBuffer | ArrayBufferView | WebAssembly.Module | URL | string;

/** The two builds of the kernel module: asconfig targets "release" and "release-relaxed". */
export type KernelBuild = 'simd' | 'relaxed-simd';

/** Names of the exported kernel functions, which pool workers look up by index. */
export type KernelName = (typeof KERNEL_NAMES)[number];
export { KERNEL_NAMES };

// Resolve to <package>/build/ from both src/backends/wasm/ and dist/backends/wasm/.
const MODULE_URLS: Record<KernelBuild, URL> = {
  simd: new URL('../../../build/omninet-simd.wasm', import.meta.url),
  'relaxed-simd': new URL('../../../build/omninet-relaxed-simd.wasm', import.meta.url),
};

// The same kernels built with `--enable threads`: they import a shared memory (asconfig targets
// "release-threads" and "release-relaxed-threads"), so that several instances can share it.
const THREADS_MODULE_URLS: Record<KernelBuild, URL> = {
  simd: new URL('../../../build/omninet-simd-threads.wasm', import.meta.url),
  'relaxed-simd': new URL('../../../build/omninet-relaxed-simd-threads.wasm', import.meta.url),
};

/** Initial and maximum pages of the shared memory, as the threads targets in asconfig.json declare them. */
export const SHARED_MEMORY_PAGES = { initial: 16, maximum: 65536 } as const;

// A module with one function `() -> v128` whose body is `i8x16.splat(i32.const 0)`: it validates
// only where the engine supports fixed-width SIMD.
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: () -> v128
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x0a, 0x08, 0x01, 0x06, 0x00, 0x41, 0x00, 0xfd, 0x0f, 0x0b, // code: i32.const 0, i8x16.splat, end
]);

/** Returns whether this engine runs WebAssembly with fixed-width SIMD. */
export function isSimdSupported(): boolean {
  return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
}

/**
 * Returns the build that the default module comes from: relaxed SIMD where the engine validates
 * f32x4.relaxed_madd (Chromium, Deno; Node 20 only with --experimental-wasm-relaxed-simd), plain
 * SIMD otherwise, or when the environment variable OMNINET_WASM_BUILD is "simd". After the
 * relaxed build failed to load, plain SIMD.
 */
export function defaultKernelBuild(): KernelBuild {
  if (loadedBuild) return loadedBuild;
  const runtime = describeRuntime();
  // Node only: in Deno, a package that reads process.env needs --allow-env (or prompts for it).
  const env = runtime.platform === 'node' ? (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env : undefined;
  if (env?.OMNINET_WASM_BUILD === 'simd') return 'simd';
  return runtime.wasmRelaxedSimd ? 'relaxed-simd' : 'simd';
}

let defaultModule: Promise<WebAssembly.Module> | undefined;
let defaultThreadsModule: Promise<WebAssembly.Module> | undefined;
let loadedBuild: KernelBuild | undefined;

/**
 * Compiles the kernel module from `source`, or else the default build (see defaultKernelBuild)
 * from build/, once per process. With `threads`, the default is the build that imports a shared
 * memory, and a `source` must be such a build too.
 */
export async function compileKernelModule(source?: WasmSource, threads = false): Promise<WebAssembly.Module> {
  if (!isSimdSupported()) {
    throw new OmninetError(
      'BACKEND_UNAVAILABLE',
      'the wasm backend needs WebAssembly SIMD, which this engine does not support: use Node 20+, Deno, or a current browser, or pick the js backend',
    );
  }
  if (source instanceof WebAssembly.Module) return source;
  if (source !== undefined && !(source instanceof URL) && typeof source !== 'string') {
    return compileBytes(source, 'the provided bytes');
  }

  if (source !== undefined) {
    const url = new URL(source, import.meta.url);
    return compileBytes(await readModuleBytes(url), url.href);
  }

  if (threads) {
    defaultThreadsModule ??= compileDefaultModule(THREADS_MODULE_URLS);
    try {
      return await defaultThreadsModule;
    } catch (error) {
      defaultThreadsModule = undefined;
      throw error;
    }
  }

  defaultModule ??= compileDefaultModule(MODULE_URLS);
  try {
    return await defaultModule;
  } catch (error) {
    defaultModule = undefined; // let a later call retry, for example after `npm run build:wasm`
    throw error;
  }
}

/**
 * Instantiates a compiled kernel module and checks that it exports every kernel this backend
 * calls. A module from a threads build needs `memory`, a shared WebAssembly.Memory.
 */
export async function instantiateKernels(module: WebAssembly.Module, memory?: WebAssembly.Memory): Promise<WasmKernels> {
  const imports = {
    env: {
      ...(memory ? { memory } : {}),
      abort(): never {
        throw new OmninetError('BACKEND_UNAVAILABLE', 'the WebAssembly kernel module aborted');
      },
    },
  };
  const instance = await WebAssembly.instantiate(module, imports);
  const exports = instance.exports as Record<string, unknown>;

  if (!(exports.memory instanceof WebAssembly.Memory)) {
    throw new OmninetError('BACKEND_UNAVAILABLE', 'the WebAssembly kernel module does not export its memory: rebuild it with `npm run build:wasm`');
  }
  for (const name of KERNEL_NAMES) {
    if (typeof exports[name] !== 'function') {
      throw new OmninetError('BACKEND_UNAVAILABLE', `the WebAssembly kernel module lacks the export "${name}": rebuild it with \`npm run build:wasm\``);
    }
  }
  return exports as unknown as WasmKernels;
}

/** Compiles the default build, falling back to plain SIMD when the relaxed build cannot be read or compiled. */
async function compileDefaultModule(urls: Record<KernelBuild, URL>): Promise<WebAssembly.Module> {
  const build = defaultKernelBuild();
  if (build === 'relaxed-simd') {
    const url = urls['relaxed-simd'];
    try {
      const module = await compileBytes(await readModuleBytes(url), url.href);
      loadedBuild = 'relaxed-simd';
      return module;
    } catch {
      // For example a bundle that ships only build/omninet-simd.wasm.
    }
  }
  const url = urls.simd;
  const module = await compileBytes(await readModuleBytes(url), url.href);
  loadedBuild = 'simd';
  return module;
}

async function readModuleBytes(url: URL): Promise<ArrayBuffer | Uint8Array> {
  try {
    if (url.protocol === 'file:') {
      const { readFile } = await import('node:fs/promises');
      return await readFile(url);
    }
    const response = await fetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`);
    return await response.arrayBuffer();
  } catch (error) {
    throw new OmninetError(
      'IO_ERROR',
      `failed to read the WebAssembly kernels at ${url.href} (${String(error)}): build them with \`npm run build:wasm\` or pass the module to WasmBackend.create({ module })`,
      { cause: error },
    );
  }
}

async function compileBytes(bytes: ArrayBuffer | ArrayBufferView, origin: string): Promise<WebAssembly.Module> {
  try {
    return await WebAssembly.compile(bytes as BufferSource);
  } catch (error) {
    throw new OmninetError('BACKEND_UNAVAILABLE', `failed to compile the WebAssembly kernels from ${origin}: ${String(error)}`, { cause: error });
  }
}
