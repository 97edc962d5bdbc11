import { OmninetError } from '../../errors.js';
import { Tensor, shapeSize } from '../../tensor.js';
import type { Backend } from '../backend.js';
import { HeapAllocator, type HeapStats } from './allocator.js';
import { compileKernelModule, instantiateKernels, SHARED_MEMORY_PAGES, type WasmKernels, type WasmSource } from './module.js';
import { ThreadPool } from './threads/thread-pool.js';
import { defaultThreadCount, MAX_THREADS, threadsUnavailableReason } from './threads/thread-count.js';

export interface WasmBackendOptions {
  /**
   * The kernel module: its bytes, a compiled WebAssembly.Module, or a URL (a string is resolved
   * against this file). Defaults to the build that `defaultKernelBuild()` names, from build/
   * next to the package.
   */
  module?: WasmSource;
  /**
   * Threads that run the GEMM, attention, FAVOR+ features and linear attention: 1 runs everything
   * on the calling thread. Defaults to `defaultThreadCount()`. Where shared WebAssembly memory or
   * blocking waits are unavailable (a browser page without cross-origin isolation, or a page's main
   * thread), the backend runs one thread whatever the value, and `threadsNote` gives the reason. With
   * threads > 1, `module` must be a threads build (asconfig targets "release-threads" and
   * "release-relaxed-threads"). `dispose()` terminates the pool's workers. Before that they keep
   * a Deno process alive, but never a Node process.
   */
  threads?: number;
}

/**
 * Tensors in the linear memory of one instance of the AssemblyScript module. A tensor's
 * `storage` is the byte offset (a number) of its block; kernels receive these offsets.
 */
export class WasmBackend implements Backend {
  readonly name = 'wasm' as const;
  readonly kernels: WasmKernels;
  private readonly allocator: HeapAllocator;
  private floatView: Float32Array;
  private byteView: Uint8Array;
  private disposed = false;

  /** Workers that share this backend's memory, or null when it runs on one thread. */
  readonly pool: ThreadPool | null;

  /** Reason the backend runs one thread although more were requested, or null. */
  readonly threadsNote: string | null;

  // Packed copies of persistent weights (see `packedWeight`), dropped with the weight.
  private packedWeights = new WeakMap<Tensor, number>();

  private constructor(kernels: WasmKernels, pool: ThreadPool | null, threadsNote: string | null) {
    this.kernels = kernels;
    this.pool = pool;
    this.threadsNote = threadsNote;
    this.floatView = new Float32Array(kernels.memory.buffer);
    this.byteView = new Uint8Array(kernels.memory.buffer);
    this.allocator = new HeapAllocator(kernels.memory, kernels.heapBase(), () => this.refreshViews());
  }

  /** Loads the kernel module and returns a backend with its own memory. */
  static async create(options: WasmBackendOptions = {}): Promise<WasmBackend> {
    // A caller's own module is a single-thread build unless the caller requests threads.
    const requested = options.threads ?? (options.module !== undefined ? 1 : await defaultThreadCount());
    if (!Number.isInteger(requested) || requested < 1 || requested > MAX_THREADS) {
      throw new OmninetError('INVALID_ARGUMENT', `wasm backend: threads must be an integer from 1 to ${MAX_THREADS}, got ${String(requested)}`);
    }

    const unavailable = requested > 1 ? threadsUnavailableReason() : null;
    if (requested === 1 || unavailable !== null) return WasmBackend.createSingleThread(options.module, unavailable);

    // A missing threads build, a refused shared memory or a worker that fails to start leaves the
    // backend on one thread, with the reason in threadsNote.
    let pool: ThreadPool;
    let kernels: WasmKernels;
    try {
      const module = await compileKernelModule(options.module, true);
      const memory = new WebAssembly.Memory({ ...SHARED_MEMORY_PAGES, shared: true });
      kernels = await instantiateKernels(module, memory);
      pool = await ThreadPool.create(module, memory, kernels, requested - 1);
    } catch (error) {
      if (options.module !== undefined) throw error;
      return WasmBackend.createSingleThread(undefined, `starting ${requested} threads failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    return new WasmBackend(kernels, pool, null);
  }

  /** Creates a backend on one thread from the single-thread build. */
  private static async createSingleThread(source: WasmSource | undefined, threadsNote: string | null): Promise<WasmBackend> {
    return new WasmBackend(await instantiateKernels(await compileKernelModule(source)), null, threadsNote);
  }

  /** Threads that run the heavy kernels: 1, or the pool's workers plus the calling thread. */
  get threads(): number {
    return this.pool?.threads ?? 1;
  }

  upload(data: Float32Array, shape: readonly number[], persistent = false): Tensor {
    const size = shapeSize(shape);
    if (data.length !== size) {
      throw new OmninetError('SHAPE_MISMATCH', `wasm upload: ${data.length} values do not fill shape [${shape.join(', ')}] (${size} values)`);
    }
    const pointer = this.allocate(size * 4);
    this.floatView.set(data, pointer >>> 2);
    return new Tensor(shape, this, pointer, persistent);
  }

  empty(shape: readonly number[]): Tensor {
    return new Tensor(shape, this, this.allocate(shapeSize(shape) * 4));
  }

  async download(tensor: Tensor): Promise<Float32Array> {
    return this.downloadSync(tensor);
  }

  downloadSync(tensor: Tensor): Float32Array {
    const start = this.pointer(tensor, 'wasm download') >>> 2;
    return this.floatView.slice(start, start + tensor.size);
  }

  free(tensor: Tensor): void {
    if (this.disposed) return;
    const packed = this.packedWeights.get(tensor);
    if (packed !== undefined) {
      this.packedWeights.delete(tensor);
      this.allocator.free(packed);
    }
    this.allocator.free(tensor.storage as number);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.pool?.dispose();
    this.allocator.reset();
    this.packedWeights = new WeakMap();
  }

  /** Byte counts of the heap: live bytes, their peak and the size of the linear memory. */
  memoryStats(): HeapStats {
    return this.allocator.stats();
  }

  /** Returns the byte offset of a tensor of this backend, after checking that it is usable. */
  pointer(tensor: Tensor, what: string): number {
    this.assertUsable(what);
    tensor.assertAlive(what);
    if (tensor.backend !== this) {
      throw new OmninetError('INVALID_ARGUMENT', `${what}: the tensor of shape [${tensor.shape.join(', ')}] lives on the ${tensor.backend.name} backend, not on this wasm backend`);
    }
    return tensor.storage as number;
  }

  /** Allocates scratch or result bytes; the caller frees them with `release` or wraps them in a tensor. */
  allocate(bytes: number): number {
    this.assertUsable('wasm allocation');
    return this.allocator.allocate(bytes);
  }

  release(pointer: number): void {
    this.allocator.free(pointer);
  }

  /** Wraps a block from `allocate` as a tensor of this backend. */
  tensorAt(pointer: number, shape: readonly number[]): Tensor {
    return new Tensor(shape, this, pointer);
  }

  /**
   * Copies a host mask [batch, seq] into a new block and returns its pointer, or 0 for no mask.
   * Free the block with `release`.
   */
  uploadMask(mask: Uint8Array | null, batch: number, seq: number, what: string): number {
    if (mask === null) return 0;
    if (mask.length !== batch * seq) {
      throw new OmninetError('SHAPE_MISMATCH', `${what}: the mask has ${mask.length} entries, expected batch·seq = ${batch}·${seq}`);
    }
    const pointer = this.allocate(mask.length);
    this.byteView.set(mask, pointer);
    return pointer;
  }

  /**
   * Returns the pointer to `weight` [outFeatures, inFeatures] packed for `linearForward`. A
   * persistent weight is packed once, and its packed block lives until the weight is disposed.
   * For any other weight, the caller releases the block after use.
   */
  packedWeight(weight: Tensor, what: string): number {
    const cached = this.packedWeights.get(weight);
    if (cached !== undefined) return cached;

    const [outFeatures, inFeatures] = weight.shape;
    const source = this.pointer(weight, what);
    const packed = this.allocate(this.kernels.packedLinearSize(outFeatures, inFeatures) * 4);
    this.kernels.packLinearWeight(source, packed, outFeatures, inFeatures);
    if (weight.persistent) this.packedWeights.set(weight, packed);
    return packed;
  }

  private assertUsable(what: string): void {
    if (this.disposed) throw new OmninetError('DISPOSED', `${what}: this wasm backend was already disposed`);
  }

  private refreshViews(): void {
    this.floatView = new Float32Array(this.kernels.memory.buffer);
    this.byteView = new Uint8Array(this.kernels.memory.buffer);
  }
}

/** Returns `backend` as a WasmBackend, or raises when a kernel got another backend. */
export function asWasmBackend(backend: Backend, what: string): WasmBackend {
  if (!(backend instanceof WasmBackend)) {
    throw new OmninetError('INVALID_ARGUMENT', `${what}: expected the wasm backend, got ${backend.name}`);
  }
  return backend;
}

export { assertSize } from '../backend.js';
