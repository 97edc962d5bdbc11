import { OmninetError } from '../../errors.js';

const PAGE_BYTES = 65536;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit
const ALIGNMENT = 16;

/**
 * Returns the size class of a request in bytes: multiples of 16 up to 256, then four classes
 * per power of two, so a block wastes at most a quarter of its size.
 */
export function sizeClass(bytes: number): number {
  const aligned = Math.max(ALIGNMENT, Math.ceil(bytes / ALIGNMENT) * ALIGNMENT);
  if (aligned <= 256) return aligned;
  const step = 2 ** Math.floor(Math.log2(aligned)) / 4;
  return Math.ceil(aligned / step) * step;
}

/** Byte counts of a heap, for tests and diagnostics. */
export interface HeapStats {
  /** Bytes in live blocks, counted by size class. */
  bytesInUse: number;
  /** Highest `bytesInUse` since the heap was created or reset. */
  peakBytesInUse: number;
  /** Size of the module's linear memory. */
  memoryBytes: number;
}

/**
 * Allocator over the WebAssembly linear memory above `heapBase`. Freed blocks go to a free list
 * per size class and are handed out again before the heap grows, so a steady-state forward
 * reuses the same blocks. Fresh blocks come from a bump pointer, and memory grows by whole pages
 * when that pointer passes its end. `onGrow` runs after each growth because growing detaches
 * every typed array over the old buffer.
 *
 * NOTE: free blocks are never split or merged, so a workload whose tensor sizes keep changing
 * (new sequence lengths, say) can hold more memory than its peak in use.
 */
export class HeapAllocator {
  private readonly memory: WebAssembly.Memory;
  private readonly heapBase: number;
  private readonly onGrow: () => void;
  private top: number;
  private readonly freeBlocks = new Map<number, number[]>(); // size class → free block pointers
  private readonly liveBlocks = new Map<number, number>(); // pointer → size class
  private bytesInUse = 0;
  private peakBytesInUse = 0;

  constructor(memory: WebAssembly.Memory, heapBase: number, onGrow: () => void) {
    this.memory = memory;
    this.heapBase = Math.ceil(heapBase / ALIGNMENT) * ALIGNMENT;
    this.onGrow = onGrow;
    this.top = this.heapBase;
  }

  /** Returns a 16-byte aligned pointer to at least `bytes` bytes; their contents are undefined. */
  allocate(bytes: number): number {
    const blockBytes = sizeClass(bytes);
    const pointer = this.freeBlocks.get(blockBytes)?.pop() ?? this.extend(blockBytes, bytes);
    this.liveBlocks.set(pointer, blockBytes);
    this.bytesInUse += blockBytes;
    this.peakBytesInUse = Math.max(this.peakBytesInUse, this.bytesInUse);
    return pointer;
  }

  /** Returns a block to its free list; pointers this allocator did not hand out are ignored. */
  free(pointer: number): void {
    const blockBytes = this.liveBlocks.get(pointer);
    if (blockBytes === undefined) return;
    this.liveBlocks.delete(pointer);
    this.bytesInUse -= blockBytes;

    let list = this.freeBlocks.get(blockBytes);
    if (list === undefined) {
      list = [];
      this.freeBlocks.set(blockBytes, list);
    }
    list.push(pointer);
  }

  /** Forgets every block; the memory itself stays allocated to the module. */
  reset(): void {
    this.freeBlocks.clear();
    this.liveBlocks.clear();
    this.top = this.heapBase;
    this.bytesInUse = 0;
    this.peakBytesInUse = 0;
  }

  stats(): HeapStats {
    return { bytesInUse: this.bytesInUse, peakBytesInUse: this.peakBytesInUse, memoryBytes: this.memory.buffer.byteLength };
  }

  /** Takes a new block from the bump pointer, growing the memory when needed. */
  private extend(blockBytes: number, requestedBytes: number): number {
    const pointer = this.top;
    const end = pointer + blockBytes;
    const memoryBytes = this.memory.buffer.byteLength;
    if (end > memoryBytes) {
      const pages = Math.ceil((end - memoryBytes) / PAGE_BYTES);
      if (memoryBytes / PAGE_BYTES + pages > MAX_PAGES) {
        throw new OmninetError(
          'LIMIT_EXCEEDED',
          `the wasm backend cannot allocate ${requestedBytes} bytes: its memory would pass the 4 GiB limit of 32-bit WebAssembly (${this.bytesInUse} bytes in use); use smaller batches or shorter sequences`,
        );
      }
      try {
        this.memory.grow(pages);
      } catch (error) {
        throw new OmninetError(
          'LIMIT_EXCEEDED',
          `the wasm backend cannot allocate ${requestedBytes} bytes: growing its memory by ${pages * PAGE_BYTES} bytes failed (${String(error)}); use smaller batches or shorter sequences`,
          { cause: error },
        );
      }
      this.onGrow();
    }
    this.top = end;
    return pointer;
  }
}
