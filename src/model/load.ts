import type { DispatchOptions } from '../dispatch/dispatcher.js';
import { OmninetError } from '../errors.js';
import { readCheckpoint, type CheckpointConfigOptions } from './checkpoint.js';
import { OmninetModel } from './model.js';

export type ModelSource = Uint8Array | ArrayBuffer | URL | string;

export interface LoadOptions extends DispatchOptions {
  /** Config values for checkpoints without `__metadata__.config` (the tensors fix the rest). */
  config?: CheckpointConfigOptions;
}

/** Loads a safetensors checkpoint from bytes, a URL or a file path. */
export async function loadModel(source: ModelSource, options: LoadOptions = {}): Promise<OmninetModel> {
  const { bytes, name } = await readSource(source);
  const { config, parameters } = readCheckpoint(bytes, name, options.config);
  const model = new OmninetModel(config, parameters, { backend: options.backend, ops: options.ops });
  await model.init();
  return model;
}

async function readSource(source: ModelSource): Promise<{ bytes: Uint8Array; name: string }> {
  if (source instanceof Uint8Array) return { bytes: source, name: 'checkpoint' };
  if (source instanceof ArrayBuffer) return { bytes: new Uint8Array(source), name: 'checkpoint' };

  let url: URL | null = null;
  if (source instanceof URL) url = source;
  else if (typeof source === 'string' && /^(https?|file|data|blob):/i.test(source)) url = new URL(source);
  else if (typeof source !== 'string') {
    throw new OmninetError('INVALID_ARGUMENT', `model source must be bytes, a URL or a file path, got ${typeof source}`);
  }

  if (url && url.protocol !== 'file:') {
    const response = await fetch(url).catch((error: unknown) => {
      const reason = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
      throw new OmninetError('IO_ERROR', `fetching ${url.href} failed: ${reason}; check the URL and that the server is running`, { cause: error });
    });
    if (!response.ok) throw new OmninetError('IO_ERROR', `fetching ${url.href} failed: HTTP ${response.status} ${response.statusText}`);
    return { bytes: new Uint8Array(await response.arrayBuffer()), name: url.href };
  }

  const path = url ?? (source as string);
  const name = url ? url.pathname : (source as string);
  try {
    const { readFile } = await import('node:fs/promises');
    return { bytes: await readFile(path), name };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : (error as Error).message;
    throw new OmninetError('IO_ERROR', `cannot read model ${name}: ${reason}`, { cause: error });
  }
}
