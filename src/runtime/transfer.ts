import * as Comlink from 'comlink';

/**
 * Marks a typed array to move to the other side of a Worker boundary without a copy. Its buffer
 * is transferred when the array spans all of it, which leaves the sender's array empty
 * (detached). A view into a larger buffer (a WebAssembly memory, a pooled Node Buffer) is copied
 * first, so the rest of that buffer stays usable. A SharedArrayBuffer is shared without a copy.
 * Anything else passes unchanged, for the other side to validate.
 */
export function transferArray<T>(value: T): T {
  if (!(value instanceof Float32Array || value instanceof Uint8Array) || !(value.buffer instanceof ArrayBuffer)) return value;
  const owned = value.byteOffset === 0 && value.byteLength === value.buffer.byteLength ? value : value.slice();
  return Comlink.transfer(owned as T, [owned.buffer as ArrayBuffer]);
}
