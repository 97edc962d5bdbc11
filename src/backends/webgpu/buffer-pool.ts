// GPUBufferUsage and GPUMapMode bits, fixed by the WebGPU specification. Dawn for Node does not
// define the GPUBufferUsage global, so the backend uses these numbers everywhere.
export const BufferUsage = {
  MAP_READ: 0x0001,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
} as const;

export const MAP_MODE_READ = 0x0001;

/** Buffers at most this size share the smallest class. */
const MIN_CLASS_BYTES = 256;

/**
 * Returns the size class of a request: 256 bytes, or the request rounded up to an eighth of its
 * power of two, so a pooled buffer is at most 12.5% larger than the tensor it holds.
 */
export function sizeClass(bytes: number): number {
  if (bytes <= MIN_CLASS_BYTES) return MIN_CLASS_BYTES;
  const step = 2 ** (Math.floor(Math.log2(bytes)) - 3);
  return Math.ceil(bytes / step) * step;
}

/**
 * Reuses GPU buffers of one usage by size class; creating buffers costs far more than reusing
 * them. A buffer released while commands that use it are still being recorded may be handed
 * out again at once: the queue runs those commands before any later ones. Buffers past the idle
 * budget are destroyed, but only after the next submit (`destroyRetired`), since destroying a
 * buffer that an unsubmitted command uses makes the whole submit fail.
 */
export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  private readonly retired: GPUBuffer[] = [];
  private idleBytes = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly usage: number,
    private readonly maxBufferSize: number,
    private readonly maxIdleBytes: number,
    private readonly label: string,
  ) {}

  /** Returns a buffer of at least `bytes` bytes; its contents are undefined. */
  acquire(bytes: number): GPUBuffer {
    const size = this.classOf(bytes);
    const buffer = this.free.get(size)?.pop();
    if (buffer) {
      this.idleBytes -= size;
      return buffer;
    }
    return this.device.createBuffer({ size, usage: this.usage, label: this.label });
  }

  /** Returns a buffer from `acquire` to the pool. */
  release(buffer: GPUBuffer): void {
    if (this.idleBytes + buffer.size > this.maxIdleBytes) {
      this.retired.push(buffer);
      return;
    }
    const list = this.free.get(buffer.size) ?? [];
    list.push(buffer);
    this.free.set(buffer.size, list);
    this.idleBytes += buffer.size;
  }

  /** Queues a buffer that is not from this pool for destruction after the next submit. */
  retire(buffer: GPUBuffer): void {
    this.retired.push(buffer);
  }

  /** Destroys retired buffers; call right after a submit. */
  destroyRetired(): void {
    for (const buffer of this.retired.splice(0)) buffer.destroy();
  }

  /** Destroys every idle and retired buffer. */
  destroyAll(): void {
    this.destroyRetired();
    for (const list of this.free.values()) for (const buffer of list) buffer.destroy();
    this.free.clear();
    this.idleBytes = 0;
  }

  private classOf(bytes: number): number {
    const size = sizeClass(bytes);
    // A class may round past maxBufferSize while the request itself fits.
    return size <= this.maxBufferSize ? size : Math.ceil(bytes / 4) * 4;
  }
}
