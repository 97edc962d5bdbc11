import type { Dispatcher } from '../dispatch/dispatcher.js';
import { OmninetError } from '../errors.js';
import type { Tensor } from '../tensor.js';

/** Positions a new cache has room for before it first grows. */
const INITIAL_CAPACITY = 16;

/**
 * Keys and values of one causal self-attention layer for every decoded position:
 * [batch, capacity, 2·heads·dimHead] (k, then v, per position) on the backend that runs
 * `cacheWrite`, which appends in place. The capacity doubles when the cache is full, so each
 * position is copied O(1) times on average.
 */
export class KeyValueCache {
  private readonly ops: Dispatcher;
  private readonly batch: number;
  private readonly inner: number;
  private cache: Tensor | null = null;
  private positions = 0;

  /** `inner` is heads·dimHead. */
  constructor(ops: Dispatcher, batch: number, inner: number) {
    this.ops = ops;
    this.batch = batch;
    this.inner = inner;
  }

  /** The cache tensor; positions 0 … length − 1 are filled. */
  get tensor(): Tensor {
    if (!this.cache) throw new OmninetError('INVALID_ARGUMENT', 'the key/value cache is empty: append a position first');
    return this.cache;
  }

  /** Number of cached positions. */
  get length(): number {
    return this.positions;
  }

  /** Bytes of the cache tensor, free capacity included. */
  get bytes(): number {
    return this.cache ? this.cache.size * 4 : 0;
  }

  /** Appends the k and v of one position from its qkv [batch, 1, 3·heads·dimHead]. */
  async append(qkv: Tensor): Promise<void> {
    if (!this.cache || this.positions === this.cache.shape[1]) await this.grow();
    await this.write(this.cache!, qkv, 1, this.inner, this.positions);
    this.positions++;
  }

  /** Frees the cache; the next append starts a new one. */
  dispose(): void {
    this.cache?.dispose();
    this.cache = null;
    this.positions = 0;
  }

  private async grow(): Promise<void> {
    const capacity = this.cache ? 2 * this.cache.shape[1] : INITIAL_CAPACITY;
    // NOTE: under policy 'auto' the dispatcher may still run cacheWrite on another backend (a GPU, or
    // the CPU when the GPU lacks the kernel). write() then raises instead of losing the write.
    const next = this.ops.backendFor('cacheWrite').empty([this.batch, capacity, 2 * this.inner]);
    try {
      if (this.cache) await this.write(next, this.cache, this.positions, 0, 0);
    } catch (error) {
      next.dispose();
      throw error;
    }
    this.cache?.dispose();
    this.cache = next;
  }

  private async write(cache: Tensor, rows: Tensor, count: number, columnOffset: number, position: number): Promise<void> {
    const result = await this.ops.run('cacheWrite', { cache, rows, batch: this.batch, count, columnOffset, position });
    if (result !== cache) {
      // The dispatcher moved the cache to another backend, so the write went to a temporary copy.
      throw new OmninetError(
        'BACKEND_UNAVAILABLE',
        `cacheWrite ran on the ${result.backend.name} backend, but the key/value cache lives on ${cache.backend.name}: run cacheWrite where the cache is allocated`,
      );
    }
  }
}
