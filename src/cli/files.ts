import { readFile, writeFile } from 'node:fs/promises';
import { OmninetError } from '../errors.js';

/** Reads a file for the CLI, turning file-system errors into one-line messages. */
export async function readInputFile(path: string, description: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new OmninetError('IO_ERROR', `cannot read ${description} ${path}: ${fsReason(error)}`, { cause: error });
  }
}

export async function writeOutputFile(path: string, bytes: Uint8Array): Promise<void> {
  try {
    await writeFile(path, bytes);
  } catch (error) {
    throw new OmninetError('IO_ERROR', `cannot write output ${path}: ${fsReason(error)}`, { cause: error });
  }
}

function fsReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'file not found';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'EACCES') return 'permission denied';
  return (error as Error).message;
}
