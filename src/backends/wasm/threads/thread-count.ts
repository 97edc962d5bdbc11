import { currentPlatform, describeRuntime } from '../../../runtime-info.js';

/**
 * Most threads a wasm backend accepts. Each is an OS thread with its own instance of the module,
 * and beyond the cores they only add switching, so a larger request is a mistake worth an error.
 */
export const MAX_THREADS = 64;

/** Upper bound of the default thread count: a guess, because GEMMs of a few hundred rows stop scaling well past a handful of cores. */
const MAX_DEFAULT_THREADS = 8;

/**
 * Returns the default number of wasm threads: the logical processors this runtime reports
 * (`os.availableParallelism()` in Node, `navigator.hardwareConcurrency` elsewhere), at most 8,
 * or 1 where threads are unavailable and in Deno.
 */
export async function defaultThreadCount(): Promise<number> {
  if (threadsUnavailableReason() !== null) return 1;

  // NOTE: Deno runs one thread unless the `threads` option requests more. Deno 2.9.6 has no
  // Worker.unref(), so pool workers keep the process alive until the model is disposed, and a
  // Worker started inside a Worker took about 1 s to start (2-core AMD EPYC).
  if (currentPlatform() === 'deno') return 1;

  let processors = 1;
  if (currentPlatform() === 'node') {
    const os = await import('node:os');
    processors = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  } else {
    processors = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  }
  return Math.max(1, Math.min(MAX_DEFAULT_THREADS, processors));
}

/** Returns why the wasm backend cannot run several threads here, or null when it can. */
export function threadsUnavailableReason(): string | null {
  const runtime = describeRuntime();
  if (!runtime.sharedArrayBuffer) return 'SharedArrayBuffer is missing (browsers need COOP same-origin and COEP require-corp)';
  if (!runtime.crossOriginIsolated) return 'the page is not cross-origin isolated (serve it with COOP same-origin and COEP require-corp)';
  if (runtime.platform === 'browser' && !runtime.inWorker) return "a browser page's main thread may not block in Atomics.wait: run the model in a Worker (createWorker) for several threads";
  if (typeof Worker === 'undefined' && runtime.platform !== 'node') return 'this runtime has no Worker';
  return null;
}
