import type { Backend, BackendName } from '../backends/backend.js';
import { OmninetError } from '../errors.js';
import { getKernel } from '../kernels/registry.js';
import { OP_NAMES, type OpArgs, type OpName } from '../kernels/ops.js';
import { Tensor } from '../tensor.js';
import { createBackend } from './backends.js';

export type BackendPolicy = 'auto' | BackendName;

/** How to place ops: one backend for everything, with optional per-op overrides. */
export interface DispatchOptions {
  backend?: BackendPolicy;
  ops?: Partial<Record<OpName, BackendName>>;
}

/** Counters of what the dispatcher did, for tests and benchmarks. */
export interface DispatchStats {
  /** Tensors copied from one backend to another. */
  moves: number;
  movedBytes: number;
  /** Ops run on each backend. */
  ops: Record<string, number>;
}

/**
 * Picks a backend for every op and moves tensor arguments there when needed.
 * Moving a tensor between backends is an explicit, counted step; moved weights (persistent
 * tensors) are cached so they cross once.
 */
export class Dispatcher {
  readonly primary: Backend;
  readonly stats: DispatchStats = { moves: 0, movedBytes: 0, ops: {} };
  private readonly backends: Map<BackendName, Backend>;
  private readonly opBackends: Map<OpName, BackendName>;
  private readonly movedWeights = new WeakMap<Tensor, Map<BackendName, Tensor>>();
  private readonly movedWeightList: Tensor[] = [];
  private disposed = false;

  private constructor(primary: Backend, backends: Map<BackendName, Backend>, opBackends: Map<OpName, BackendName>) {
    this.primary = primary;
    this.backends = backends;
    this.opBackends = opBackends;
  }

  /** Creates the backends the options need; 'auto' prefers `wasm` and falls back to `js`. */
  static async create(options: DispatchOptions = {}): Promise<Dispatcher> {
    const policy = options.backend ?? 'auto';
    const backends = new Map<BackendName, Backend>();

    let primary: Backend;
    if (policy === 'auto') {
      primary = (await createBackend('wasm').catch(() => null)) ?? (await createBackend('js'));
    } else {
      primary = await createBackend(policy);
    }
    backends.set(primary.name, primary);

    const opBackends = new Map<OpName, BackendName>();
    for (const [op, name] of Object.entries(options.ops ?? {}) as [OpName, BackendName][]) {
      if (!OP_NAMES.includes(op)) {
        throw new OmninetError('INVALID_ARGUMENT', `unknown op "${op}" in ops overrides; known ops: ${OP_NAMES.join(', ')}`);
      }
      if (!backends.has(name)) backends.set(name, await createBackend(name));
      opBackends.set(op, name);
    }

    return new Dispatcher(primary, backends, opBackends);
  }

  /** Returns the backend that runs `op`. */
  backendFor(op: OpName): Backend {
    const name = this.opBackends.get(op) ?? this.primary.name;
    return this.backends.get(name)!;
  }

  /**
   * Runs one op on its backend, moving tensor arguments there first. Async because a move out of
   * a GPU needs a readback; kernels themselves only record or run work and return at once.
   */
  async run<K extends OpName>(op: K, args: OpArgs[K]): Promise<Tensor> {
    this.assertAlive();
    const backend = this.backendFor(op);
    const kernel = getKernel(op, backend.name);
    if (!kernel) {
      throw new OmninetError('BACKEND_UNAVAILABLE', `backend "${backend.name}" has no kernel for op "${op}"; choose another backend for it in ops overrides`);
    }

    const temporaries: Tensor[] = [];
    const placedArgs = await this.placeArgs(args, backend, temporaries);
    try {
      const result = kernel(placedArgs, backend);
      this.stats.ops[backend.name] = (this.stats.ops[backend.name] ?? 0) + 1;
      return result;
    } finally {
      for (const t of temporaries) t.dispose();
    }
  }

  /** Uploads host data to the primary backend. */
  upload(data: Float32Array, shape: readonly number[], persistent = false): Tensor {
    this.assertAlive();
    return this.primary.upload(data, shape, persistent);
  }

  /** Copies a tensor back to the host. */
  download(tensor: Tensor): Promise<Float32Array> {
    tensor.assertAlive('download');
    return tensor.backend.download(tensor);
  }

  /** Frees cached weight copies and every backend. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.movedWeightList) t.dispose();
    for (const backend of this.backends.values()) backend.dispose();
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

    const source = tensor.backend;
    const data = source.downloadSync ? source.downloadSync(tensor) : await source.download(tensor);
    const moved = backend.upload(data, tensor.shape, tensor.persistent);
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

  private assertAlive(): void {
    if (this.disposed) throw new OmninetError('DISPOSED', 'this model was disposed; load or create it again');
  }
}
