import type { Backend, BackendName } from '../backends/backend.js';
import type { WebGpuBackend, WebGpuBackendOptions } from '../backends/webgpu/backend.js';
import { OmninetError } from '../errors.js';
import { getKernel } from '../kernels/registry.js';
import { OP_NAMES, type OpArgs, type OpName } from '../kernels/ops.js';
import { Tensor } from '../tensor.js';
import { createBackend, createCpuBackend } from './backends.js';
import { checkOpOutput, debugFromEnvironment } from './op-check.js';
import { opWork, tensorArguments } from './op-work.js';

export type BackendPolicy = 'auto' | BackendName;

/** Under 'auto', ops estimated below this many multiply-adds stay on the CPU (see `opWork`). */
export const DEFAULT_GPU_MIN_WORK = 2 ** 20;

/** How to place ops: one backend for everything, with optional per-op overrides. */
export interface DispatchOptions {
  backend?: BackendPolicy;
  ops?: Partial<Record<OpName, BackendName>>;
  /**
   * Under 'auto': an op runs on WebGPU when its estimated multiply-adds reach this, or when one of
   * its inputs already lives on the GPU (a move back would cost a readback). Default 2^20: below
   * about a million multiply-adds, a GPU dispatch costs more than the CPU needs for the op.
   */
  gpuMinWork?: number;
  /**
   * Under 'auto': also use a software WebGPU adapter (Mesa lavapipe, SwiftShader, WARP), which runs
   * on the CPU and is slower there than the wasm backend. Default false; `backend: 'webgpu'`
   * always accepts one.
   */
  allowSoftwareGpu?: boolean;
  /** Options of the WebGPU backend, such as lowered limits for tests. */
  webgpu?: WebGpuBackendOptions;
  /**
   * Threads of the wasm backend (1 = the calling thread only). Default: the logical processors,
   * at most 8, or 1 in Deno and where shared WebAssembly memory is unavailable.
   */
  threads?: number;
  /** Checks every op's output for NaN and infinity and names the op that made one (slow). Default: `OMNINET_DEBUG=1`. */
  debug?: boolean;
}

/** The keys of DispatchOptions, for the option checks of the model constructors. */
export const DISPATCH_OPTION_KEYS = ['backend', 'ops', 'gpuMinWork', 'allowSoftwareGpu', 'webgpu', 'debug', 'threads'] as const;

/** Returns the DispatchOptions among a larger options object. */
export function pickDispatchOptions(options: DispatchOptions): DispatchOptions {
  const picked: Record<string, unknown> = {};
  for (const key of DISPATCH_OPTION_KEYS) if (options[key] !== undefined) picked[key] = options[key];
  return picked as DispatchOptions;
}

/** Counters of what the dispatcher did, for tests and benchmarks. */
export interface DispatchStats {
  /** Tensors copied from one backend to another. */
  moves: number;
  movedBytes: number;
  /** Tensors read back from a GPU to the host: downloads and moves out of the GPU. */
  readbacks: number;
  /** Times a failing GPU (device lost, out of memory) was replaced by a CPU backend. */
  fallbacks: number;
  /** Ops run on each backend. */
  ops: Record<string, number>;
}

/** The state of WebGPU under 'auto': not tried yet, in use, or not used (with the reason). */
type AutoGpuState = { state: 'untried' } | { state: 'ready'; backend: Backend } | { state: 'unused'; reason: string };

/**
 * Picks a backend for every op and moves tensor arguments there when needed.
 * Moving a tensor between backends is an explicit, counted step; moved weights (persistent
 * tensors) are cached so they cross once.
 *
 * Under 'auto' the CPU backend is primary, and WebGPU is created on the first op with enough
 * work. From then on ops run where their inputs are, so a large forward moves to the GPU once and
 * reads back once. When a GPU fails (device lost, out of memory), `withFallback` warns once,
 * moves every op to the CPU and runs the work again.
 */
export class Dispatcher {
  readonly stats: DispatchStats = { moves: 0, movedBytes: 0, readbacks: 0, fallbacks: 0, ops: {} };
  private primaryBackend: Backend;
  private readonly policy: BackendPolicy;
  private readonly options: DispatchOptions;
  private readonly backends: Map<BackendName, Backend>;
  private readonly opBackends: Map<OpName, BackendName>;
  private autoGpu: AutoGpuState = { state: 'untried' };
  private autoGpuStart: Promise<void> | null = null;
  private readonly movedWeights = new WeakMap<Tensor, Map<BackendName, Tensor>>();
  private readonly movedWeightList: Tensor[] = [];
  // Host data of weights uploaded to a GPU, to upload them again if that GPU fails.
  private readonly hostCopies = new WeakMap<Tensor, Float32Array>();
  private readonly failedBackends = new Set<Backend>();
  private disposed = false;
  private readonly debug: boolean;

  private constructor(policy: BackendPolicy, options: DispatchOptions, primary: Backend, backends: Map<BackendName, Backend>, opBackends: Map<OpName, BackendName>) {
    this.policy = policy;
    this.options = options;
    this.primaryBackend = primary;
    this.backends = backends;
    this.opBackends = opBackends;
    this.debug = options.debug ?? debugFromEnvironment();
  }

  /** Creates the backends the options need; 'auto' starts on `wasm` (else `js`) and adds WebGPU on demand. */
  static async create(options: DispatchOptions = {}): Promise<Dispatcher> {
    const policy = options.backend ?? 'auto';
    const backends = new Map<BackendName, Backend>();

    const primary = policy === 'auto' ? await createCpuBackend(options) : await createBackend(policy, options);
    backends.set(primary.name, primary);
    // A GPU primary needs the CPU backend for ops it has no kernel for, and to fall back to.
    if (!primary.downloadSync) {
      const cpu = await createCpuBackend(options);
      backends.set(cpu.name, cpu);
    }

    const opBackends = new Map<OpName, BackendName>();
    for (const [op, name] of Object.entries(options.ops ?? {}) as [OpName, BackendName][]) {
      if (!OP_NAMES.includes(op)) {
        throw new OmninetError('INVALID_ARGUMENT', `unknown op "${op}" in ops overrides; known ops: ${OP_NAMES.join(', ')}`);
      }
      if (!backends.has(name)) backends.set(name, await createBackend(name, options));
      opBackends.set(op, name);
    }

    return new Dispatcher(policy, options, primary, backends, opBackends);
  }

  /** The backend that inputs are uploaded to, and the default of every op. */
  get primary(): Backend {
    return this.primaryBackend;
  }

  /**
   * Returns the backend that runs `op` by policy and overrides, before 'auto' sizes it up. A GPU
   * without a kernel for `op` hands it to the CPU backend.
   */
  backendFor(op: OpName): Backend {
    const name = this.opBackends.get(op) ?? this.primaryBackend.name;
    const backend = this.backends.get(name)!;
    if (backend.downloadSync || getKernel(op, backend.name)) return backend;
    return this.backends.get('wasm') ?? this.backends.get('js') ?? backend;
  }

  /**
   * Runs one op on its backend, moving tensor arguments there first. Async because a move out of
   * a GPU needs a readback; kernels themselves only record or run work and return at once.
   */
  async run<K extends OpName>(op: K, args: OpArgs[K]): Promise<Tensor> {
    this.assertAlive();
    const backend = await this.chooseBackend(op, args);
    const kernel = getKernel(op, backend.name)!;

    const temporaries: Tensor[] = [];
    const placedArgs = await this.placeArgs(args, backend, temporaries);
    try {
      const result = kernel(placedArgs, backend);
      this.stats.ops[backend.name] = (this.stats.ops[backend.name] ?? 0) + 1;
      if (this.debug) await checkOpOutput(op, result).catch((error: unknown) => {
        result.dispose();
        throw error;
      });
      return result;
    } finally {
      for (const t of temporaries) t.dispose();
    }
  }

  /**
   * Runs `work`. When a GPU fails during it (DEVICE_LOST or OUT_OF_MEMORY), warns once, moves
   * every op and upload to the CPU backend and runs `work` again from the start. `work` must
   * upload its inputs through this dispatcher, so that the second run starts from host data.
   */
  async withFallback<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      const gpu = this.backends.get('webgpu');
      if (!gpu || !isDeviceFailure(error)) throw error;
      // NOTE: intermediates that the failed run left on a CPU backend (moved tensors, and under
      // 'auto' its input) are not freed. They stay allocated until that backend is disposed.
      await this.abandon(gpu, error as OmninetError);
      return await work();
    }
  }

  /** Uploads host data to the primary backend. A weight's `data` must stay unchanged while the model lives. */
  upload(data: Float32Array, shape: readonly number[], persistent = false): Tensor {
    this.assertAlive();
    const tensor = this.primaryBackend.upload(data, shape, persistent);
    if (persistent && !this.primaryBackend.downloadSync) this.hostCopies.set(tensor, data);
    return tensor;
  }

  /** Copies a tensor back to the host. */
  download(tensor: Tensor): Promise<Float32Array> {
    tensor.assertAlive('download');
    if (!tensor.backend.downloadSync) this.stats.readbacks++;
    return tensor.backend.download(tensor);
  }

  /** Frees cached weight copies and every backend. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.movedWeightList) t.dispose();
    for (const backend of this.backends.values()) backend.dispose();
  }

  private async chooseBackend<K extends OpName>(op: K, args: OpArgs[K]): Promise<Backend> {
    let backend = this.backendFor(op);
    if (this.policy === 'auto' && !this.opBackends.has(op)) backend = (await this.autoGpuFor(op, args)) ?? backend;
    if (getKernel(op, backend.name)) return backend;
    throw new OmninetError('BACKEND_UNAVAILABLE', `backend "${backend.name}" has no kernel for op "${op}"; choose another backend for it in ops overrides`);
  }

  /** Returns the WebGPU backend when 'auto' should run this op there, else null. */
  private async autoGpuFor<K extends OpName>(op: K, args: OpArgs[K]): Promise<Backend | null> {
    if (this.autoGpu.state === 'unused') return null;
    const inputOnGpu = tensorArguments(args).some((t) => !t.persistent && !t.backend.downloadSync && !this.failedBackends.has(t.backend));
    if (!inputOnGpu && opWork(op, args) < (this.options.gpuMinWork ?? DEFAULT_GPU_MIN_WORK)) return null;

    this.autoGpuStart ??= this.startAutoGpu();
    await this.autoGpuStart;
    // The webgpu kernels register when the backend module loads, so check only now.
    return this.autoGpu.state === 'ready' && getKernel(op, 'webgpu') ? this.autoGpu.backend : null;
  }

  private async startAutoGpu(): Promise<void> {
    let gpu: WebGpuBackend;
    try {
      gpu = (await createBackend('webgpu', this.options)) as WebGpuBackend;
    } catch (error) {
      this.autoGpu = { state: 'unused', reason: (error as Error).message };
      return;
    }
    if (gpu.adapter.software && !this.options.allowSoftwareGpu) {
      gpu.dispose();
      this.autoGpu = { state: 'unused', reason: `the adapter (${gpu.adapter.vendor} ${gpu.adapter.architecture}) is software; pass allowSoftwareGpu or backend 'webgpu' to use it` };
      return;
    }
    this.backends.set('webgpu', gpu);
    this.autoGpu = { state: 'ready', backend: gpu };
  }

  /** Replaces a failed GPU by the CPU backend, with one warning, and frees the GPU. */
  private async abandon(gpu: Backend, error: OmninetError): Promise<void> {
    const cpu = await this.cpuBackend();
    this.backends.delete(gpu.name);
    this.failedBackends.add(gpu);
    if (this.primaryBackend === gpu) this.primaryBackend = cpu;
    for (const [op, name] of this.opBackends) if (name === gpu.name) this.opBackends.set(op, cpu.name);
    this.autoGpu = { state: 'unused', reason: error.message };
    this.stats.fallbacks++;
    console.warn(`omninet: ${error.message}; continuing on the ${cpu.name} backend`);
    try {
      gpu.dispose();
    } catch {
      // A lost device may refuse to be released; it holds no memory any more.
    }
  }

  /** Returns the CPU backend (`wasm`, else `js`), creating it on first use. */
  private async cpuBackend(): Promise<Backend> {
    const existing = this.backends.get('wasm') ?? this.backends.get('js');
    if (existing) return existing;
    const cpu = await createCpuBackend(this.options);
    this.backends.set(cpu.name, cpu);
    return cpu;
  }

  private async placeArgs<T extends object>(args: T, backend: Backend, temporaries: Tensor[]): Promise<T> {
    let placed: Record<string, unknown> | null = null;
    for (const [key, value] of Object.entries(args)) {
      let moved: unknown = value;
      if (value instanceof Tensor) {
        moved = await this.place(value, backend, temporaries);
      } else if (Array.isArray(value) && value[0] instanceof Tensor) {
        moved = await Promise.all((value as Tensor[]).map((t) => this.place(t, backend, temporaries)));
      }
      if (moved !== value) {
        placed ??= { ...(args as Record<string, unknown>) };
        placed[key] = moved;
      }
    }
    return (placed ?? args) as T;
  }

  private async place(tensor: Tensor, backend: Backend, temporaries: Tensor[]): Promise<Tensor> {
    tensor.assertAlive('op argument');
    if (tensor.backend === backend) return tensor;

    const cached = tensor.persistent ? this.movedWeights.get(tensor)?.get(backend.name) : undefined;
    if (cached) return cached;

    const moved = backend.upload(await this.readForMove(tensor), tensor.shape, tensor.persistent);
    this.stats.moves++;
    this.stats.movedBytes += tensor.size * 4;

    if (tensor.persistent) {
      const perBackend = this.movedWeights.get(tensor) ?? new Map<BackendName, Tensor>();
      perBackend.set(backend.name, moved);
      this.movedWeights.set(tensor, perBackend);
      this.movedWeightList.push(moved);
    } else {
      temporaries.push(moved);
    }
    return moved;
  }

  /** Returns a tensor's values for a move; weights of a failed GPU come from their host data. */
  private async readForMove(tensor: Tensor): Promise<Float32Array> {
    const source = tensor.backend;
    if (this.failedBackends.has(source)) {
      const host = this.hostCopies.get(tensor);
      if (!host) throw new OmninetError('DEVICE_LOST', `a tensor of shape [${tensor.shape.join(', ')}] lived on the failed ${source.name} backend and has no host copy`);
      return host;
    }
    if (source.downloadSync) return source.downloadSync(tensor);
    this.stats.readbacks++;
    return source.download(tensor);
  }

  private assertAlive(): void {
    if (this.disposed) throw new OmninetError('DISPOSED', 'this model was disposed; load or create it again');
  }
}

function isDeviceFailure(error: unknown): boolean {
  return error instanceof OmninetError && (error.code === 'DEVICE_LOST' || error.code === 'OUT_OF_MEMORY');
}
