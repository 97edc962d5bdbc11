import { BufferUsage } from './buffer-pool.js';

interface CachedMask {
  source: Uint8Array;
  snapshot: Uint8Array;
  buffer: GPUBuffer;
}

// A forward passes the same mask array to every layer, and each omni layer its own repeated mask.
const CAPACITY = 8;

/**
 * GPU copies of host masks as one u32 per token. Every layer of a forward gets the same mask
 * array, so it is uploaded once; a hit needs the same array with the same contents. Each copy is
 * a new buffer filled while mapped at creation, so no recorded command can be reading it.
 */
export class MaskCache {
  private readonly entries: CachedMask[] = [];
  private readonly placeholder: GPUBuffer;

  constructor(
    private readonly device: GPUDevice,
    private readonly retire: (buffer: GPUBuffer) => void,
  ) {
    this.placeholder = device.createBuffer({ size: 16, usage: BufferUsage.STORAGE, label: 'omninet no mask' });
  }

  /** Returns the buffer of `mask`, or a 16-byte placeholder for no mask. */
  get(mask: Uint8Array | null): GPUBuffer {
    if (!mask) return this.placeholder;

    const index = this.entries.findIndex((entry) => entry.source === mask && sameBytes(entry.snapshot, mask));
    if (index >= 0) {
      const [entry] = this.entries.splice(index, 1);
      this.entries.push(entry);
      return entry.buffer;
    }

    const buffer = this.device.createBuffer({ size: Math.max(16, mask.length * 4), usage: BufferUsage.STORAGE, mappedAtCreation: true, label: 'omninet mask' });
    const words = new Uint32Array(buffer.getMappedRange());
    for (let i = 0; i < mask.length; i++) words[i] = mask[i] === 0 ? 0 : 1;
    buffer.unmap();

    this.entries.push({ source: mask, snapshot: Uint8Array.from(mask), buffer });
    if (this.entries.length > CAPACITY) this.retire(this.entries.shift()!.buffer);
    return buffer;
  }

  destroy(): void {
    for (const entry of this.entries.splice(0)) entry.buffer.destroy();
    this.placeholder.destroy();
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
