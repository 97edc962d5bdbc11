import type * as Comlink from 'comlink';
import { OmninetError } from '../errors.js';
import { currentPlatform } from '../runtime-info.js';

/** A started Worker, whichever kind the runtime has. */
export interface StartedWorker {
  endpoint: Comlink.Endpoint;
  /** Registers the listener called once when the Worker fails to load, throws, or exits by itself. */
  onFailure(listener: (error: OmninetError) => void): void;
  /** Node: lets the process exit while no call is pending. Elsewhere a no-op. */
  setBusy(busy: boolean): void;
  terminate(): Promise<void>;
}

/**
 * Starts the Worker entry: `url`, else worker.js beside this module (dist/runtime/ after tsc,
 * dist/bundle/ or dist/browser/ after Rollup). A module Worker in browsers and Deno,
 * worker_threads in Node.
 */
export async function startWorker(url: URL | string | undefined, name: string): Promise<StartedWorker> {
  const where = String(url ?? new URL('./worker.js', import.meta.url));
  try {
    return currentPlatform() === 'node' ? await startNodeWorker(url, name, where) : startWebWorker(url, name, where);
  } catch (error) {
    throw new OmninetError('WORKER_FAILED', `the omninet worker (${where}) could not start: ${(error as Error).message}`, { cause: error });
  }
}

function startWebWorker(url: URL | string | undefined, name: string, where: string): StartedWorker {
  // The full `new Worker(new URL('./worker.js', import.meta.url), …)` is the form Vite and webpack 5 look for to bundle a Worker.
  const worker = url ? new Worker(url, { type: 'module', name }) : new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name });
  const failure = new FailureSignal(where);

  // Without an error listener, a Worker whose script fails to load takes a Deno process down.
  // NOTE: a browser may end a Worker (out of memory, say) without any event; its pending calls then never settle.
  worker.addEventListener('error', (event: ErrorEvent) => {
    event.preventDefault();
    failure.fail(`failed: ${event.message || 'its script did not load or threw'}`);
  });
  worker.addEventListener('messageerror', () => failure.fail('sent a message that could not be read'));

  return {
    endpoint: worker as unknown as Comlink.Endpoint,
    onFailure: (listener) => failure.listen(listener),
    setBusy: () => undefined,
    terminate: async () => {
      failure.stop();
      worker.terminate();
    },
  };
}

async function startNodeWorker(url: URL | string | undefined, name: string, where: string): Promise<StartedWorker> {
  const [{ Worker: NodeWorker }, { default: nodeEndpoint }] = await Promise.all([import('node:worker_threads'), import('comlink/dist/esm/node-adapter.mjs')]);
  const worker = url ? new NodeWorker(url, { name }) : new NodeWorker(new URL('./worker.js', import.meta.url), { name });
  const failure = new FailureSignal(where);

  worker.on('error', (error: Error) => failure.fail(`failed: ${error.message}`, error));
  worker.on('messageerror', (error: Error) => failure.fail(`sent a message that could not be read: ${error.message}`, error));
  worker.on('exit', (code: number) => failure.fail(`exited with code ${code}`));
  worker.unref();

  return {
    endpoint: nodeEndpoint(worker),
    onFailure: (listener) => failure.listen(listener),
    setBusy: (busy) => (busy ? worker.ref() : worker.unref()),
    terminate: async () => {
      failure.stop();
      await worker.terminate();
    },
  };
}

/** Tells one listener, once, that the Worker failed; a failure before listen() waits for it. */
class FailureSignal {
  private readonly where: string;
  private listener: ((error: OmninetError) => void) | null = null;
  private early: OmninetError | null = null;
  private done = false;

  constructor(where: string) {
    this.where = where;
  }

  listen(listener: (error: OmninetError) => void): void {
    if (this.early) listener(this.early);
    else this.listener = listener;
  }

  fail(reason: string, cause?: unknown): void {
    if (this.done) return;
    this.done = true;
    const error = new OmninetError('WORKER_FAILED', `the omninet worker (${this.where}) ${reason}`, { cause });
    if (this.listener) this.listener(error);
    else this.early = error;
  }

  /** Terminating on purpose: what the Worker does next is no failure. */
  stop(): void {
    this.done = true;
  }
}
