import type { Dispatcher } from '../dispatch/dispatcher.js';
import { OmninetError } from '../errors.js';
import type { OpArgs, OpName } from '../kernels/ops.js';
import type { Tensor } from '../tensor.js';

// With a signal, the ops yield to the event loop this often, so that an abort sent by message (a Worker's) can land.
const YIELD_EVERY_MS = 10;

/** @throws OmninetError `ABORTED` when `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) {
    const reason = signal.reason instanceof Error ? `: ${signal.reason.message}` : '';
    throw new OmninetError('ABORTED', `${what} was aborted${reason}`);
  }
}

/**
 * The ops of one forward: checks an AbortSignal before each op, and keeps every tensor the ops
 * made so that a forward which fails or is aborted midway can free them all (`disposeAll`).
 */
export class OpScope {
  private readonly dispatcher: Dispatcher;
  private readonly signal: AbortSignal | undefined;
  private readonly what: string;
  private made: Tensor[] = [];
  private pruneAt = 64;
  private lastYield = performance.now();

  constructor(dispatcher: Dispatcher, signal: AbortSignal | undefined, what: string) {
    this.dispatcher = dispatcher;
    this.signal = signal;
    this.what = what;
  }

  async run<K extends OpName>(op: K, args: OpArgs[K]): Promise<Tensor> {
    if (this.signal) {
      if (performance.now() - this.lastYield > YIELD_EVERY_MS) {
        await nextTask();
        this.lastYield = performance.now();
      }
      throwIfAborted(this.signal, this.what);
    }
    const result = await this.dispatcher.run(op, args);
    this.made.push(result);

    // Disposed tensors leave the list, so that their host arrays (js backend) are not kept alive.
    if (this.made.length >= this.pruneAt) {
      this.made = this.made.filter((tensor) => !tensor.isDisposed);
      this.pruneAt = Math.max(64, 2 * this.made.length);
    }
    return result;
  }

  /** Frees every tensor the ops made; those already freed are skipped. */
  disposeAll(): void {
    for (const tensor of this.made) tensor.dispose();
    this.made.length = 0;
  }
}

/** Waits for the next turn of the event loop, after messages already queued. */
function nextTask(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;
  return new Promise((resolve) => (immediate ? immediate(resolve) : setTimeout(resolve, 0)));
}
