import { pickDispatchOptions, type DispatchOptions } from '../dispatch/dispatcher.js';
import { OmninetError } from '../errors.js';
import { currentPlatform } from '../runtime-info.js';
import { readCheckpoint, type CheckpointConfigOptions } from './checkpoint.js';
import { OmninetModel } from './model.js';

/** Bytes, a URL, or a file path (Node, Deno); in browsers a string is a URL relative to the page. */
export type ModelSource = Uint8Array | ArrayBuffer | URL | string;

/** How far loadModel got: checkpoint bytes read, then weight tensors uploaded to the backend. */
export interface LoadProgress {
  bytesRead: number;
  /** The file size or Content-Length; null when the server sends none. */
  bytesTotal: number | null;
  tensorsUploaded: number;
  /** 0 until the checkpoint has been parsed. */
  tensorsTotal: number;
}

export interface LoadOptions extends DispatchOptions {
  /** Config values for checkpoints without `__metadata__.config` (the tensors fix the rest). */
  config?: CheckpointConfigOptions;
  /** Called as bytes arrive and as each weight tensor reaches the backend. */
  onProgress?: (progress: LoadProgress) => void;
  /** Load weights that hold NaN or infinity; by default they raise NON_FINITE. */
  allowNonFinite?: boolean;
}

// Files are read in pieces of this size, so that progress moves during a large read.
const READ_CHUNK_BYTES = 4 << 20;

/** Loads a safetensors checkpoint from bytes, a URL or a file path. */
export async function loadModel(source: ModelSource, options: LoadOptions = {}): Promise<OmninetModel> {
  const progress: LoadProgress = { bytesRead: 0, bytesTotal: null, tensorsUploaded: 0, tensorsTotal: 0 };
  const report = (): void => options.onProgress?.({ ...progress });

  const { bytes, name } = await readSource(source, (read, total) => {
    progress.bytesRead = read;
    progress.bytesTotal = total;
    report();
  });
  const { config, parameters } = readCheckpoint(bytes, name, options.config, { allowNonFinite: options.allowNonFinite });
  const model = new OmninetModel(config, parameters, pickDispatchOptions(options));
  await model.init((uploaded, total) => {
    progress.tensorsUploaded = uploaded;
    progress.tensorsTotal = total;
    report();
  });
  return model;
}

type BytesRead = (read: number, total: number | null) => void;

/** Reads a model source to bytes; `name` is what error messages call it. */
export async function readSource(source: ModelSource, onBytes: BytesRead): Promise<{ bytes: Uint8Array; name: string }> {
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) {
    const bytes = source instanceof Uint8Array ? source : new Uint8Array(source);
    onBytes(bytes.length, bytes.length);
    return { bytes, name: 'checkpoint' };
  }

  let url: URL | null = null;
  if (source instanceof URL) url = source;
  else if (typeof source === 'string' && /^(https?|file|data|blob):/i.test(source)) url = new URL(source);
  else if (typeof source === 'string' && currentPlatform() === 'browser') url = new URL(source, (globalThis as { location?: { href: string } }).location?.href);
  else if (typeof source !== 'string') {
    throw new OmninetError('INVALID_ARGUMENT', `model source must be bytes, a URL or a file path, got ${typeof source}`);
  }

  if (url && url.protocol !== 'file:') {
    const response = await fetch(url).catch((error: unknown) => {
      const reason = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
      throw new OmninetError('IO_ERROR', `fetching ${url.href} failed: ${reason}; check the URL and that the server is running`, { cause: error });
    });
    if (!response.ok) throw new OmninetError('IO_ERROR', `fetching ${url.href} failed: HTTP ${response.status} ${response.statusText}`);
    return { bytes: await readBody(response, onBytes), name: url.href };
  }

  const path = url ?? (source as string);
  const name = url ? url.pathname : (source as string);
  try {
    return { bytes: await readFileInChunks(path, onBytes), name };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : (error as Error).message;
    throw new OmninetError('IO_ERROR', `cannot read model ${name}: ${reason}`, { cause: error });
  }
}

async function readBody(response: Response, onBytes: BytesRead): Promise<Uint8Array> {
  const total = Number(response.headers.get('content-length')) || null;
  if (!response.body) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    onBytes(bytes.length, total);
    return bytes;
  }

  const chunks: Uint8Array[] = [];
  let read = 0;
  const reader = response.body.getReader();
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    chunks.push(next.value);
    read += next.value.length;
    onBytes(read, total);
  }
  if (chunks.length === 1) return chunks[0];

  const bytes = new Uint8Array(read);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

async function readFileInChunks(path: string | URL, onBytes: BytesRead): Promise<Uint8Array> {
  const { open } = await import('node:fs/promises');
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const bytes = new Uint8Array(size);
    let offset = 0;
    while (offset < size) {
      const { bytesRead } = await file.read(bytes, offset, Math.min(READ_CHUNK_BYTES, size - offset), offset);
      if (bytesRead === 0) break; // the file shrank while we read it
      offset += bytesRead;
      onBytes(offset, size);
    }
    return offset === size ? bytes : bytes.subarray(0, offset);
  } finally {
    await file.close();
  }
}
