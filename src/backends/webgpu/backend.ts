import { OmninetError } from '../../errors.js';
import { Tensor, shapeSize } from '../../tensor.js';
import type { Backend } from '../backend.js';
import { BufferPool, BufferUsage, MAP_MODE_READ } from './buffer-pool.js';
import { acquireDevice, type AdapterSummary, type DeviceLimits } from './device.js';
import { MaskCache } from './mask-cache.js';
import { CommandRecorder } from './recorder.js';
import { bindRange, splitBox, wholeBox, type Box, type ElementRange } from './split.js';

export interface WebGpuBackendOptions {
  /**
   * Caps below the device's own limits. Kernels split their work by these limits, so tests can
   * reach the split paths with small tensors.
   */
  limits?: Partial<Pick<DeviceLimits, 'maxStorageBufferBindingSize' | 'maxComputeWorkgroupsPerDimension'>>;
}

/** One kernel launch that the backend splits into boxes (dispatches) that fit the device limits. */
export interface SplitDispatch {
  pipeline: GPUComputePipeline;
  /** Extents of the kernel's index space, outermost first. */
  dims: readonly number[];
  /** Element ranges of the storage bindings that a box touches, in binding order (@binding(1), …). */
  ranges(box: Box): ElementRange[];
  /** Workgroups that a box needs. */
  workgroups(box: Box): number;
  /** Uniform parameters of a box; `bases[i]` is the first element of binding i + 1's window. */
  params(box: Box, bases: number[]): ArrayBuffer;
}

// Idle pooled buffers beyond this many bytes are destroyed instead of kept.
const MAX_IDLE_BYTES = 256 * 2 ** 20;
const STORAGE_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;

/**
 * Tensors in GPU buffers of one WebGPU device; a tensor's `storage` is its GPUBuffer, which may be
 * larger than the tensor. Kernels record dispatches into one command encoder, and nothing is
 * submitted until a download (or an upload into a reused buffer) needs it, so a forward on this
 * backend is one submit and one readback.
 *
 * When the device is lost or runs out of memory, kernels and downloads raise DEVICE_LOST or
 * OUT_OF_MEMORY; the dispatcher then moves the work to the CPU.
 */
export class WebGpuBackend implements Backend {
  readonly name = 'webgpu' as const;
  readonly adapter: AdapterSummary;
  readonly device: GPUDevice;
  /** The limits kernels split their work by: the device's, lowered by `options.limits`. */
  readonly limits: DeviceLimits;
  readonly recorder: CommandRecorder;
  /** Readbacks from GPU buffers to the host, for tests and benchmarks. */
  readonly counts = { readbacks: 0 };

  // Dawn for Node segfaults when this object is collected while its device lives.
  private readonly gpu: GPU;
  private readonly storagePool: BufferPool;
  private readonly readbackPool: BufferPool;
  private readonly masks: MaskCache;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  // Buffers derived from persistent tensors (packed weights), freed with the tensor.
  private derived = new WeakMap<Tensor, Map<string, GPUBuffer>>();
  private lostInfo: GPUDeviceLostInfo | null = null;
  private disposed = false;

  private constructor(gpu: GPU, device: GPUDevice, adapter: AdapterSummary, options: WebGpuBackendOptions) {
    this.gpu = gpu;
    this.device = device;
    this.adapter = adapter;
    this.limits = { ...adapter.limits };
    for (const name of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'minStorageBufferOffsetAlignment'] as const) {
      this.limits[name] = device.limits[name];
    }
    for (const [name, cap] of Object.entries(options.limits ?? {}) as [keyof DeviceLimits, number][]) {
      this.limits[name] = Math.min(this.limits[name], cap);
    }

    this.storagePool = new BufferPool(device, STORAGE_USAGE, this.limits.maxBufferSize, MAX_IDLE_BYTES, 'omninet tensor');
    this.readbackPool = new BufferPool(device, BufferUsage.MAP_READ | BufferUsage.COPY_DST, this.limits.maxBufferSize, MAX_IDLE_BYTES, 'omninet readback');
    this.recorder = new CommandRecorder(device, () => this.storagePool.destroyRetired());
    this.masks = new MaskCache(device, (buffer) => this.retire(buffer));

    void device.lost.then((info) => {
      if (!this.disposed) this.lostInfo = info;
    });
  }

  /** Requests an adapter and a device; raises BACKEND_UNAVAILABLE when there is none. */
  static async create(options: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
    const { gpu, device, summary } = await acquireDevice();
    return new WebGpuBackend(gpu, device, summary, options);
  }

  upload(data: Float32Array, shape: readonly number[], persistent = false): Tensor {
    const size = shapeSize(shape);
    if (data.length !== size) {
      throw new OmninetError('SHAPE_MISMATCH', `webgpu upload: ${data.length} values do not fill shape [${shape.join(', ')}] (${size} values)`);
    }
    this.assertUsable('webgpu upload');
    this.recorder.ensureErrorScopes();

    if (persistent) {
      // Weights get their own buffer, filled while mapped at creation.
      const buffer = this.device.createBuffer({ size: this.checkedBytes(size, shape), usage: STORAGE_USAGE, mappedAtCreation: true, label: 'omninet weight' });
      new Float32Array(buffer.getMappedRange(), 0, size).set(data);
      buffer.unmap();
      return new Tensor(shape, this, buffer, true);
    }

    // A pooled buffer may still be read by recorded commands, which must run before the write.
    const buffer = this.storagePool.acquire(this.checkedBytes(size, shape));
    if (this.recorder.hasPendingCommands) this.recorder.submit();
    this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, size * 4);
    return new Tensor(shape, this, buffer);
  }

  empty(shape: readonly number[]): Tensor {
    this.assertUsable('webgpu allocation');
    this.recorder.ensureErrorScopes();
    return new Tensor(shape, this, this.storagePool.acquire(this.checkedBytes(shapeSize(shape), shape)));
  }

  /** Submits what is recorded, copies the tensor into a mappable buffer and reads it. */
  async download(tensor: Tensor): Promise<Float32Array> {
    const source = this.buffer(tensor, 'webgpu download');
    const bytes = tensor.size * 4;
    const staging = this.readbackPool.acquire(bytes);
    this.recorder.copy(source, 0, staging, 0, bytes);
    this.recorder.flush();

    try {
      // `staging` stays referenced until the map settles: Dawn aborts maps of collected buffers.
      await staging.mapAsync(MAP_MODE_READ, 0, bytes);
    } catch (error) {
      // Settle the popped error scopes before giving up (see CommandRecorder); a lost device
      // resolves them, and the timeout covers one that never does.
      await Promise.race([this.recorder.takeErrors(), delay(1000)]);
      throw await this.mapFailure(error);
    }
    await this.throwCapturedErrors();
    const data = new Float32Array(staging.getMappedRange(0, bytes).slice(0));
    staging.unmap();
    this.readbackPool.release(staging);
    this.counts.readbacks++;
    return data;
  }

  free(tensor: Tensor): void {
    if (this.disposed || this.lostInfo) return;
    const buffer = tensor.storage as GPUBuffer;
    if (tensor.persistent) {
      this.retire(buffer);
      for (const derived of this.derived.get(tensor)?.values() ?? []) this.retire(derived);
      this.derived.delete(tensor);
    } else {
      this.storagePool.release(buffer);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    // Nothing recorded matters any more, and popping the error scopes here would leave promises
    // pending while a worker thread may be ending.
    this.recorder.destroy();
    this.storagePool.destroyAll();
    this.readbackPool.destroyAll();
    this.masks.destroy();
    this.pipelines.clear();
    this.device.destroy();
  }

  /** Returns the buffer of a tensor of this backend, after checking that both are usable. */
  buffer(tensor: Tensor, what: string): GPUBuffer {
    this.assertUsable(what);
    tensor.assertAlive(what);
    if (tensor.backend !== this) {
      throw new OmninetError('INVALID_ARGUMENT', `${what}: the tensor of shape [${tensor.shape.join(', ')}] lives on the ${tensor.backend.name} backend, not on this webgpu backend`);
    }
    return tensor.storage as GPUBuffer;
  }

  /** Returns a scratch buffer of at least `bytes` bytes; hand it back with `releaseScratch` once recorded. */
  scratch(bytes: number): GPUBuffer {
    this.assertUsable('webgpu scratch');
    this.recorder.ensureErrorScopes();
    return this.storagePool.acquire(Math.max(4, Math.ceil(bytes / 4) * 4));
  }

  releaseScratch(buffer: GPUBuffer): void {
    if (!this.disposed && !this.lostInfo) this.storagePool.release(buffer);
  }

  /**
   * Returns the buffer that `build` derives from a persistent tensor, such as a packed weight.
   * It is built on first use and lives until the tensor is freed.
   */
  derivedBuffer(tensor: Tensor, key: string, build: () => GPUBuffer): GPUBuffer {
    let perTensor = this.derived.get(tensor);
    let buffer = perTensor?.get(key);
    if (!buffer) {
      buffer = build();
      perTensor ??= new Map();
      perTensor.set(key, buffer);
      this.derived.set(tensor, perTensor);
    }
    return buffer;
  }

  /** Returns the mask [batch, seq] as one u32 per token (1 = real), or a placeholder for no mask. */
  mask(mask: Uint8Array | null, batch: number, seq: number, what: string): GPUBuffer {
    if (mask && mask.length !== batch * seq) {
      throw new OmninetError('SHAPE_MISMATCH', `${what}: the mask has ${mask.length} entries, expected batch·seq = ${batch}·${seq}`);
    }
    if (mask && mask.length * 4 > this.limits.maxStorageBufferBindingSize) {
      // NOTE: masks are bound whole; past 2^25 tokens on a 128 MiB binding limit this raises.
      throw new OmninetError('LIMIT_EXCEEDED', `${what}: a mask of ${mask.length} tokens exceeds the device's maxStorageBufferBindingSize`);
    }
    this.recorder.ensureErrorScopes();
    return this.masks.get(mask);
  }

  /** Returns a 16-byte buffer to bind where a kernel's optional input (bias, mask) is absent. */
  placeholder(): GPUBuffer {
    return this.masks.get(null);
  }

  /** Returns the compute pipeline of `key`, compiling `build()` the first time. */
  pipeline(key: string, build: () => string): GPUComputePipeline {
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      this.recorder.ensureErrorScopes();
      const module = this.device.createShaderModule({ code: build(), label: key });
      pipeline = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key });
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  /**
   * Records a kernel launch as one dispatch, or as several when a binding would exceed
   * maxStorageBufferBindingSize or the grid would exceed maxComputeWorkgroupsPerDimension².
   */
  run(dispatch: SplitDispatch, what: string): void {
    this.assertUsable(what);
    const alignment = this.limits.minStorageBufferOffsetAlignment;
    const maxGroups = this.limits.maxComputeWorkgroupsPerDimension;
    const cost = (box: Box): number =>
      Math.max(
        dispatch.workgroups(box) / (maxGroups * maxGroups),
        ...dispatch.ranges(box).map((range) => bindRange(range, alignment).size / this.limits.maxStorageBufferBindingSize),
      );

    for (const box of splitBox(wholeBox(dispatch.dims), cost, what)) {
      const windows = dispatch.ranges(box).map((range) => bindRange(range, alignment));
      const groups = dispatch.workgroups(box);
      if (groups === 0) continue;
      const x = Math.min(groups, maxGroups);
      this.recorder.dispatch(dispatch.pipeline, dispatch.params(box, windows.map((w) => w.base)), windows, [x, Math.ceil(groups / x), 1]);
    }
  }

  private retire(buffer: GPUBuffer): void {
    if (this.disposed || this.lostInfo) return;
    if (this.recorder.hasPendingCommands) this.storagePool.retire(buffer);
    else buffer.destroy();
  }

  private checkedBytes(size: number, shape: readonly number[]): number {
    const bytes = Math.max(4, size * 4);
    if (bytes > this.limits.maxBufferSize) {
      throw new OmninetError('LIMIT_EXCEEDED', `webgpu: a tensor of shape [${shape.join(', ')}] needs ${bytes} bytes, more than the device's maxBufferSize of ${this.limits.maxBufferSize}`);
    }
    return bytes;
  }

  private assertUsable(what: string): void {
    if (this.disposed) throw new OmninetError('DISPOSED', `${what}: this webgpu backend was already disposed`);
    if (this.lostInfo) throw lostError(this.lostInfo);
  }

  private async throwCapturedErrors(): Promise<void> {
    const errors = await this.recorder.takeErrors();
    const outOfMemory = errors.find((error) => error.constructor.name === 'GPUOutOfMemoryError' || /out of memory/i.test(error.message));
    if (outOfMemory) throw new OmninetError('OUT_OF_MEMORY', `webgpu: the device ran out of memory: ${outOfMemory.message}`);
    if (errors.length > 0) throw new Error(`webgpu: validation error: ${errors[0].message}`);
  }

  private async mapFailure(error: unknown): Promise<Error> {
    // The lost promise may settle just after the failed map.
    const info = this.lostInfo ?? (await Promise.race([this.device.lost, delay(100)]));
    if (info && !this.disposed) this.lostInfo = info;
    if (this.disposed) return new OmninetError('DISPOSED', 'webgpu download: this webgpu backend was disposed during the readback');
    return info ? lostError(info) : new OmninetError('DEVICE_LOST', `webgpu: reading a buffer back failed: ${(error as Error).message}`, { cause: error });
  }
}

function delay(ms: number): Promise<null> {
  return new Promise((resolve) => setTimeout(resolve, ms, null));
}

function lostError(info: GPUDeviceLostInfo): OmninetError {
  return new OmninetError('DEVICE_LOST', `webgpu: the device was lost (${info.reason}${info.message ? `: ${info.message}` : ''})`);
}

/** Returns `backend` as a WebGpuBackend, or raises when a kernel got another backend. */
export function asWebGpuBackend(backend: Backend, what: string): WebGpuBackend {
  if (!(backend instanceof WebGpuBackend)) {
    throw new OmninetError('INVALID_ARGUMENT', `${what}: expected the webgpu backend, got ${backend.name}`);
  }
  return backend;
}

export { assertSize } from '../backend.js';
