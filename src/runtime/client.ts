import * as Comlink from 'comlink';
import { MAX_THREADS } from '../backends/wasm/threads/thread-count.js';
import { OmninetError } from '../errors.js';
import type { BackendPolicy } from '../dispatch/dispatcher.js';
import { DEFAULT_LANGUAGE_MODEL } from '../model/language-model/default-model.js';
import { LanguageModel, readLanguageModelFile } from '../model/language-model/language-model.js';
import { readSource, type LoadOptions, type ModelSource } from '../model/load.js';
import { currentPlatform, type RuntimeInfo } from '../runtime-info.js';
import { WorkerConnection } from './connection.js';
import { RemoteModel } from './remote-model.js';
import { startWorker } from './start-worker.js';
import { transferArray } from './transfer.js';

export interface CreateWorkerOptions {
  /** Backend of the models this Worker loads, unless loadModel names another (default 'auto'). */
  backend?: BackendPolicy;
  /**
   * The Worker script, by default worker.js beside this module. A bundle made by a tool that does
   * not follow `new Worker(new URL(…, import.meta.url))` needs that file copied beside it, or its URL here.
   */
  url?: URL | string;
  /** Shown in debuggers (default "omninet"). */
  name?: string;
  /** wasm threads of the models this Worker loads, unless loadModel sets its own (see LoadOptions). */
  threads?: number;
}

/**
 * Starts a Worker (a module Worker in browsers and Deno, worker_threads in Node) that runs
 * models off the caller's thread, and resolves once its backend is ready.
 */
export async function createWorker(options: CreateWorkerOptions = {}): Promise<OmninetWorker> {
  for (const key of Object.keys(options ?? {})) {
    if (!['backend', 'url', 'name', 'threads'].includes(key)) {
      throw new OmninetError('INVALID_ARGUMENT', `unknown createWorker option "${key}"; known options: backend, url, name, threads`);
    }
  }
  const { threads } = options;
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS)) {
    throw new OmninetError('INVALID_ARGUMENT', `createWorker: threads must be an integer from 1 to ${MAX_THREADS}, got ${String(threads)}`);
  }
  const connection = new WorkerConnection(await startWorker(options.url, options.name ?? 'omninet'));
  try {
    const policy = options.backend ?? 'auto';
    const { runtime, backend } = await connection.call((api) => api.start(policy));
    if (backend === 'webgpu') connection.markGpuUse();
    return new OmninetWorker(connection, runtime, backend, policy, options.threads);
  } catch (error) {
    await connection.terminate();
    throw error;
  }
}

/** A running Worker: loadModel() as in the caller's thread, and terminate(). */
export class OmninetWorker {
  /** The Worker's own runtime, from describeRuntime() there. */
  readonly runtime: RuntimeInfo;
  /** The backend the Worker created at start: 'webgpu', 'wasm' or 'js'. */
  readonly backend: string;
  private readonly connection: WorkerConnection;
  private readonly policy: BackendPolicy;
  private readonly threads: number | undefined;

  /** Use createWorker(). */
  constructor(connection: WorkerConnection, runtime: RuntimeInfo, backend: string, policy: BackendPolicy, threads?: number) {
    this.connection = connection;
    this.runtime = runtime;
    this.backend = backend;
    this.policy = policy;
    this.threads = threads;
  }

  /**
   * Loads a checkpoint in the Worker. A path or URL is read there; bytes are transferred (the
   * caller's array is empty afterwards). `onProgress` is called back across the boundary.
   */
  async loadModel(source: ModelSource, options: LoadOptions = {}): Promise<RemoteModel> {
    const { onProgress, ...rest } = options;

    // Under 'auto' the dispatcher moves large ops to WebGPU when the Worker has an adapter.
    const policy = rest.backend ?? this.policy;
    if (policy === 'webgpu' || (policy === 'auto' && this.runtime.webgpu) || Object.values(rest.ops ?? {}).includes('webgpu')) {
      this.connection.markGpuUse();
    }

    const progress = onProgress ? Comlink.proxy(onProgress) : undefined;
    const { id, config, backend, threads } = await this.connection.call((api) => api.loadModel(sendableSource(source), { ...rest, threads: rest.threads ?? this.threads }, progress));
    return new RemoteModel(this.connection, id, config, backend, threads);
  }

  /**
   * Loads a language model (by default the embedded one) whose OmniNet layers run in the Worker.
   * The file is read here: the embeddings, head, tokenizer and sampling stay in this thread, and
   * each generated token costs one message to the Worker and back.
   */
  async loadLanguageModel(source: ModelSource = DEFAULT_LANGUAGE_MODEL, options: LoadOptions = {}): Promise<LanguageModel> {
    const { onProgress, ...rest } = options;
    const { bytes, name } = await readSource(source, (bytesRead, bytesTotal) => onProgress?.({ bytesRead, bytesTotal, tensorsUploaded: 0, tensorsTotal: 0 }));
    const { head } = readLanguageModelFile(bytes, name, rest);
    // The Worker gets its own copy: loadModel transfers the bytes it is given.
    const body = await this.loadModel(bytes.slice(), rest);
    return new LanguageModel(body, head);
  }

  /**
   * Rejects pending calls with a DISPOSED error, frees the Worker's models and stops it. Node keeps
   * no process alive for an idle Worker, but terminate it to free its memory.
   */
  terminate(): Promise<void> {
    return this.connection.terminate();
  }
}

/** URL objects do not survive structured cloning, and a relative URL means the page's, not the Worker script's. */
function sendableSource(source: ModelSource): ModelSource {
  if (source instanceof ArrayBuffer) return Comlink.transfer(source, [source]);
  if (source instanceof URL) return source.href;
  if (typeof source === 'string' && currentPlatform() === 'browser') {
    return new URL(source, (globalThis as { location?: { href: string } }).location?.href).href;
  }
  return transferArray(source);
}
