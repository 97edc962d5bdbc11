import { OmninetError } from '../../../errors.js';
import { currentPlatform } from '../../../runtime-info.js';
import { KERNEL_NAMES, type KernelName, type WasmKernels } from '../module.js';
import { ARGUMENT_COUNT, ARGUMENT_SLOTS, DONE, FAILED, KERNEL, REQUEST, WORDS_PER_WORKER, controlBytes, controlOffsets } from './control.js';
import { NODE_WORKER_SOURCE, WEB_WORKER_SOURCE } from './worker-source.js';

/** One started worker: how to stop it. */
interface PoolWorker {
  terminate(): void;
}

/**
 * Workers that run kernels of the threads build on the calling thread's shared memory. A call to
 * `run` hands one part to each worker through a shared control buffer, runs the first part on the
 * calling thread, and blocks in Atomics.wait until every worker is done, so no message crosses per
 * op. The calling thread must be allowed to block: Node's and Deno's main threads and every Worker
 * are, a browser page's main thread is not (WasmBackend runs one thread there).
 */
export class ThreadPool {
  private readonly kernels: WasmKernels;
  private readonly workers: PoolWorker[];
  private readonly words: Int32Array;
  private readonly argumentViews: Float64Array[];
  private disposed = false;

  private constructor(kernels: WasmKernels, workers: PoolWorker[], control: SharedArrayBuffer) {
    this.kernels = kernels;
    this.workers = workers;
    this.words = new Int32Array(control, 0, workers.length * WORDS_PER_WORKER);
    this.argumentViews = workers.map((_, worker) => new Float64Array(control, controlOffsets(workers.length, worker).argumentOffset, ARGUMENT_SLOTS));
  }

  /**
   * Starts `workerCount` workers, each with its own instance of `module` (a threads build) on
   * `memory`, and returns once all of them are ready. `kernels` is the calling thread's instance.
   */
  static async create(module: WebAssembly.Module, memory: WebAssembly.Memory, kernels: WasmKernels, workerCount: number): Promise<ThreadPool> {
    const control = new SharedArrayBuffer(controlBytes(workerCount));
    const started: PoolWorker[] = [];
    try {
      for (let worker = 0; worker < workerCount; worker++) {
        const message = { module, memory, control, ...controlOffsets(workerCount, worker), argumentSlots: ARGUMENT_SLOTS, kernelNames: KERNEL_NAMES };
        started.push(await startWorker(message, `omninet-wasm-${worker + 1}`));
      }
    } catch (error) {
      for (const worker of started) worker.terminate();
      throw error;
    }
    return new ThreadPool(kernels, started, control);
  }

  /** Threads that run parts: the workers plus the calling thread. */
  get threads(): number {
    return this.workers.length + 1;
  }

  /**
   * Runs `kernel` once per argument list in `parts` (at most `threads` of them) at the same time:
   * the first on the calling thread, the others on workers. The parts must write disjoint memory.
   */
  run(kernel: KernelName, parts: readonly (readonly number[])[]): void {
    if (this.disposed) throw new OmninetError('DISPOSED', 'the wasm thread pool was already disposed');
    if (parts.length > this.threads) throw new OmninetError('INVALID_ARGUMENT', `the wasm thread pool got ${parts.length} parts for ${this.threads} threads`);

    const kernelIndex = KERNEL_NAMES.indexOf(kernel);
    const requests: number[] = [];
    for (let part = 1; part < parts.length; part++) {
      const args = parts[part];
      const base = (part - 1) * WORDS_PER_WORKER;
      this.argumentViews[part - 1].set(args);
      this.words[base + KERNEL] = kernelIndex;
      this.words[base + ARGUMENT_COUNT] = args.length;
      const request = (this.words[base + REQUEST] % 0x3fffffff) + 1;
      requests.push(request);
      Atomics.store(this.words, base + REQUEST, request);
      Atomics.notify(this.words, base + REQUEST);
    }

    let localError: unknown = null;
    try {
      (this.kernels[kernel] as (...args: number[]) => void)(...parts[0]);
    } catch (error) {
      localError = error;
    }

    // NOTE: a worker whose thread dies in the middle of a part leaves this wait blocked for good.
    // Kernel exceptions do not: the worker catches them and reports them through FAILED.
    let failed = false;
    for (let part = 1; part < parts.length; part++) {
      const base = (part - 1) * WORDS_PER_WORKER;
      const request = requests[part - 1];
      for (let done = Atomics.load(this.words, base + DONE); done !== request; done = Atomics.load(this.words, base + DONE)) {
        Atomics.wait(this.words, base + DONE, done);
      }
      if (this.words[base + FAILED] !== 0) failed = true;
    }

    if (localError !== null) throw localError;
    if (failed) throw new OmninetError('BACKEND_UNAVAILABLE', `the WebAssembly kernel ${kernel} aborted on a pool worker`);
  }

  /** Stops and terminates every worker. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (let worker = 0; worker < this.workers.length; worker++) {
      Atomics.store(this.words, worker * WORDS_PER_WORKER + REQUEST, -1);
      Atomics.notify(this.words, worker * WORDS_PER_WORKER + REQUEST);
      this.workers[worker].terminate();
    }
  }
}

/** Starts one worker with `message` and resolves when it has instantiated the module. */
async function startWorker(message: Record<string, unknown>, name: string): Promise<PoolWorker> {
  if (currentPlatform() === 'node') return startNodeWorker(message, name);
  return startWebWorker(message, name);
}

async function startNodeWorker(message: Record<string, unknown>, name: string): Promise<PoolWorker> {
  const { Worker } = await import('node:worker_threads');
  const worker = new Worker(NODE_WORKER_SOURCE, { eval: true, name });
  try {
    await new Promise<void>((resolve, reject) => {
      worker.once('message', (reply: { ready?: boolean; error?: string }) => (reply.ready ? resolve() : reject(new Error(reply.error))));
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`exited with code ${code}`)));
      worker.postMessage(message);
    });
  } catch (error) {
    void worker.terminate();
    throw new OmninetError('BACKEND_UNAVAILABLE', `the wasm thread pool worker ${name} failed to start: ${String(error)}`, { cause: error });
  }

  // unref() stops an idle worker, blocked in Atomics.wait, from keeping the process alive. The
  // worker catches kernel errors itself, and the empty listener keeps any other late error from
  // crashing the process.
  worker.removeAllListeners();
  worker.on('error', () => {});
  worker.unref();
  return { terminate: () => void worker.terminate() };
}

async function startWebWorker(message: Record<string, unknown>, name: string): Promise<PoolWorker> {
  const url = URL.createObjectURL(new Blob([WEB_WORKER_SOURCE], { type: 'text/javascript' }));
  const worker = new Worker(url, { type: 'module', name });
  try {
    await new Promise<void>((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<{ ready?: boolean; error?: string }>) => (event.data.ready ? resolve() : reject(new Error(event.data.error)));
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        reject(new Error(event.message || 'the worker script failed to load'));
      };
      worker.postMessage(message);
    });
  } catch (error) {
    worker.terminate();
    throw new OmninetError('BACKEND_UNAVAILABLE', `the wasm thread pool worker ${name} failed to start: ${String(error)}`, { cause: error });
  } finally {
    URL.revokeObjectURL(url);
  }
  worker.onmessage = null;
  worker.onerror = (event: ErrorEvent) => event.preventDefault();
  return { terminate: () => worker.terminate() };
}
