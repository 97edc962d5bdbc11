// The Worker entry: runs models off the caller's thread and exposes them through comlink.
// Browsers and Deno start it as a module Worker, Node as a worker_threads thread (see start-worker.ts).
import * as Comlink from 'comlink';
import { Dispatcher, type BackendPolicy } from '../dispatch/dispatcher.js';
import { OmninetError } from '../errors.js';
import type { OmninetDecoder } from '../model/decoder.js';
import { loadModel, type LoadProgress } from '../model/load.js';
import type { OmninetModel } from '../model/model.js';
import { currentPlatform, describeRuntime } from '../runtime-info.js';
import type { WireError, WorkerApi } from './protocol.js';
import { transferArray } from './transfer.js';

const models = new Map<number, OmninetModel>();
const decoders = new Map<number, OmninetDecoder>();
const inFlight = new Set<Promise<unknown>>();
// Abort controllers of the forwards and steps in flight, by the caller's call number.
const abortable = new Map<number, AbortController>();
let nextId = 1;
let defaultBackend: BackendPolicy = 'auto';

const api: WorkerApi = {
  start: (backend) =>
    track(async () => {
      defaultBackend = backend;
      const dispatcher = await Dispatcher.create({ backend });
      const name = dispatcher.primary.name;
      dispatcher.dispose();
      return { runtime: describeRuntime(), backend: name };
    }),

  loadModel: (source, options, onProgress) =>
    track(async () => {
      // Calls through a comlink proxy arrive in order, so awaiting the last one awaits them all.
      let lastReport: Promise<void> | undefined;
      const report = onProgress ? (progress: LoadProgress) => void (lastReport = Promise.resolve(onProgress(progress)).catch(() => undefined)) : undefined;
      try {
        const model = await loadModel(source, { ...options, backend: options.backend ?? defaultBackend, onProgress: report });
        const id = nextId++;
        models.set(id, model);
        return { id, config: model.config, backend: await model.backend(), threads: await model.threads() };
      } finally {
        await lastReport;
        (onProgress as Partial<Comlink.ProxyMethods> | undefined)?.[Comlink.releaseProxy]?.();
      }
    }),

  forward: (id, x, options, call) =>
    track(() => withAbort(call, async (signal) => transferArray(await lookup(models, id, 'model').forward(x, { ...options, signal })))),

  disposeModel(id) {
    models.get(id)?.dispose();
    models.delete(id);
  },

  createDecoder: (id, options) =>
    guard(() => {
      const decoder = lookup(models, id, 'model').createDecoder(options);
      const decoderId = nextId++;
      decoders.set(decoderId, decoder);
      return decoderId;
    }),

  step: (id, x, options, call) =>
    track(() => withAbort(call, async (signal) => transferArray(await lookup(decoders, id, 'decoder').step(x, { ...options, signal })))),

  abort(call) {
    abortable.get(call)?.abort();
  },

  resetDecoder: (id) => track(() => lookup(decoders, id, 'decoder').reset()),

  decoderMemoryBytes: (id) => guard(() => lookup(decoders, id, 'decoder').memoryBytes()),

  disposeDecoder(id) {
    decoders.get(id)?.dispose();
    decoders.delete(id);
  },

  async shutdown() {
    for (const decoder of decoders.values()) decoder.dispose();
    for (const model of models.values()) model.dispose();
    decoders.clear();
    models.clear();
    // Disposed models fail their next op, so the calls in flight end soon.
    await Promise.allSettled([...inFlight]);
  },
};

/** Runs an async call, counting it as in flight and turning its error into plain data. */
function track<T>(call: () => Promise<T>): Promise<T> {
  const running = call().catch((error: unknown) => {
    throw toWireError(error);
  });
  inFlight.add(running);
  void running.finally(() => inFlight.delete(running)).catch(() => undefined);
  return running;
}

/** Runs `call` with a signal that `api.abort(id)` fires. */
async function withAbort<T>(id: number, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  abortable.set(id, controller);
  try {
    return await call(controller.signal);
  } finally {
    abortable.delete(id);
  }
}

/** Runs a synchronous call, turning its error into plain data. */
function guard<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw toWireError(error);
  }
}

function lookup<T>(table: Map<number, T>, id: number, kind: string): T {
  const value = table.get(id);
  if (value === undefined) throw new OmninetError('DISPOSED', `this ${kind} was disposed in the worker`);
  return value;
}

// comlink sends a thrown Error as message and name only; plain data keeps the code.
function toWireError(error: unknown): WireError {
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  return { omninetWireError: true, name, code: error instanceof OmninetError ? error.code : null, message };
}

// In browsers and Deno, expose while the module evaluates, so the first message finds a listener.
// Node's parentPort queues messages until a listener is attached.
if (currentPlatform() === 'node') {
  const [{ parentPort }, { default: nodeEndpoint }] = await Promise.all([import('node:worker_threads'), import('comlink/dist/esm/node-adapter.mjs')]);
  if (!parentPort) throw new Error('omninet: the worker entry must run in a worker_threads Worker; use createWorker()');
  Comlink.expose(api, nodeEndpoint(parentPort));
} else {
  Comlink.expose(api, globalThis as unknown as Comlink.Endpoint);
}
