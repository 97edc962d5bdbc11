import * as Comlink from 'comlink';
import { OmninetError } from '../errors.js';
import { isWireError, type WorkerApi } from './protocol.js';
import type { StartedWorker } from './start-worker.js';

// How long terminate() waits for the Worker to free its models before it stops the thread.
const SHUTDOWN_TIMEOUT_MS = 5_000;

/**
 * The caller's side of a Worker: comlink calls that reject, instead of hanging, once the Worker
 * fails or is terminated.
 */
export class WorkerConnection {
  private readonly api: Comlink.Remote<WorkerApi>;
  private readonly worker: StartedWorker;
  private readonly pending = new Set<(error: OmninetError) => void>();
  private failure: OmninetError | null = null;
  private stopping: Promise<void> | null = null;
  private usesGpu = false;
  private lastCall = 0;

  constructor(worker: StartedWorker) {
    this.worker = worker;
    this.api = Comlink.wrap<WorkerApi>(worker.endpoint);
    worker.onFailure((error) => {
      this.fail(error);
      void worker.terminate();
    });
  }

  /**
   * Sends one call. `send` must post synchronously (no await before the comlink call), so that
   * transferred buffers are detached when call() returns.
   */
  call<T>(send: (api: Comlink.Remote<WorkerApi>) => Promise<T>): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      this.pending.add(reject);
      this.worker.setBusy(true);
      send(this.api)
        .then(resolve, (error: unknown) => reject(fromWireError(error)))
        .finally(() => {
          this.pending.delete(reject);
          if (this.pending.size === 0 && !this.stopping) this.worker.setBusy(false);
        });
    });
  }

  /**
   * Sends a call that `signal` can abort: the call gets a number, and an abort sends that number
   * to the Worker, which stops the call at its next op. An abort before the call rejects at once.
   */
  callAbortable<T>(signal: AbortSignal | undefined, send: (api: Comlink.Remote<WorkerApi>, call: number) => Promise<T>): Promise<T> {
    const call = ++this.lastCall;
    if (signal?.aborted) return Promise.reject(new OmninetError('ABORTED', 'the call was aborted before it was sent'));
    const onAbort = (): void => this.post((api) => api.abort(call));
    signal?.addEventListener('abort', onAbort, { once: true });
    return this.call((api) => send(api, call)).finally(() => signal?.removeEventListener('abort', onAbort));
  }

  /** Sends a call without waiting for its result (a dispose). After a failure it sends nothing. */
  post(send: (api: Comlink.Remote<WorkerApi>) => Promise<unknown>): void {
    if (!this.failure) send(this.api).catch(() => undefined);
  }

  /** Notes that the Worker may run ops on WebGPU, so that terminate() frees the device first. */
  markGpuUse(): void {
    this.usesGpu = true;
  }

  /**
   * Rejects the pending calls and stops the Worker. Where a model uses WebGPU, the Worker first
   * frees its models and waits for its calls to end: terminating a Node Worker during a GPU
   * readback (mapAsync) aborts the whole process.
   */
  terminate(): Promise<void> {
    this.stopping ??= (async () => {
      const alive = this.failure === null;
      this.fail(new OmninetError('DISPOSED', 'the omninet worker was terminated; start another with createWorker()'));
      if (alive && this.usesGpu) {
        this.worker.setBusy(true);
        await withTimeout(this.api.shutdown().catch(() => undefined), SHUTDOWN_TIMEOUT_MS);
      }
      await this.worker.terminate();
    })();
    return this.stopping;
  }

  private fail(error: OmninetError): void {
    if (this.failure) return;
    this.failure = error;
    for (const reject of this.pending) reject(error);
    this.pending.clear();
    this.worker.setBusy(false);
  }
}

/** Turns an error from the Worker back into an OmninetError with its code. */
function fromWireError(error: unknown): unknown {
  if (!isWireError(error)) return error;
  if (error.code) return new OmninetError(error.code, error.message);
  return Object.assign(new Error(error.message), { name: error.name });
}

async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
