import { BufferUsage } from './buffer-pool.js';

/** One storage binding of a dispatch: a buffer, or a byte range of it. */
export interface StorageBinding {
  buffer: GPUBuffer;
  offset?: number;
  size?: number;
}

// Every dispatch gets a 256-byte slot of a uniform buffer for its parameters; 256 is the
// default minUniformBufferOffsetAlignment and more than any kernel's parameter struct.
export const PARAMS_SLOT_BYTES = 256;
const SLOTS_PER_CHUNK = 256;

interface ParamsChunk {
  buffer: GPUBuffer;
  data: Uint8Array<ArrayBuffer>;
  used: number;
}

/**
 * Records dispatches into one command encoder, inside one compute pass, until `flush` submits
 * them all in a single command buffer. Each dispatch is its own usage scope in WebGPU, so a
 * dispatch reads what earlier dispatches of the pass wrote.
 *
 * Parameters are written into CPU copies of uniform buffers and uploaded right before the submit,
 * which the queue orders after every earlier submit that read the same uniform buffers.
 *
 * Error scopes for out-of-memory and validation errors open with the first command after a
 * `flush` and close at the next `flush`, and `takeErrors` collects what they caught. Only `flush`
 * pops them, and its caller awaits `takeErrors` right after, because Dawn for Node aborts the
 * process when a worker thread ends while a popErrorScope promise is pending.
 */
export class CommandRecorder {
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly chunks: ParamsChunk[] = [];
  private readonly spareChunks: ParamsChunk[] = [];
  private scopesOpen = false;
  private pendingErrors: Promise<GPUError | null>[] = [];

  /** Counters for tests and benchmarks. */
  readonly counts = { dispatches: 0, submits: 0 };

  constructor(
    private readonly device: GPUDevice,
    private readonly afterSubmit: () => void,
  ) {}

  /** True while commands wait for `flush`. */
  get hasPendingCommands(): boolean {
    return this.encoder !== null;
  }

  /** Opens the error scopes if none are open; call before creating buffers or writing to them. */
  ensureErrorScopes(): void {
    if (this.scopesOpen) return;
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    this.scopesOpen = true;
  }

  /**
   * Records one dispatch. `params` goes to @binding(0) as a uniform; `bindings` go to
   * @binding(1), @binding(2), … in order.
   */
  dispatch(pipeline: GPUComputePipeline, params: ArrayBuffer, bindings: readonly StorageBinding[], workgroups: readonly [number, number, number]): void {
    const pass = this.computePass();
    const slot = this.paramsSlot(params);
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: slot.buffer, offset: slot.offset, size: PARAMS_SLOT_BYTES } }];
    bindings.forEach((binding, i) => {
      entries.push({ binding: i + 1, resource: { buffer: binding.buffer, offset: binding.offset ?? 0, size: binding.size } });
    });
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(workgroups[0], workgroups[1], workgroups[2]);
    this.counts.dispatches++;
  }

  /** Records a buffer-to-buffer copy (ends the current compute pass). */
  copy(source: GPUBuffer, sourceOffset: number, destination: GPUBuffer, destinationOffset: number, bytes: number): void {
    const encoder = this.commandEncoder();
    this.endPass();
    encoder.copyBufferToBuffer(source, sourceOffset, destination, destinationOffset, bytes);
  }

  /** Submits everything recorded as one command buffer and closes the error scopes. */
  flush(): void {
    this.submit();
    if (this.scopesOpen) {
      // Scopes pop in the reverse order of their push.
      this.pendingErrors.push(this.device.popErrorScope().catch(() => null));
      this.pendingErrors.push(this.device.popErrorScope().catch(() => null));
      this.scopesOpen = false;
    }
  }

  /** Submits everything recorded as one command buffer; the error scopes stay open. */
  submit(): void {
    if (this.encoder) {
      this.endPass();
      for (const chunk of this.chunks) this.device.queue.writeBuffer(chunk.buffer, 0, chunk.data, 0, chunk.used);
      this.device.queue.submit([this.encoder.finish()]);
      this.counts.submits++;
      this.encoder = null;
      for (const chunk of this.chunks.splice(0)) {
        chunk.used = 0;
        this.spareChunks.push(chunk);
      }
      this.afterSubmit();
    }
  }

  /** Returns the errors the closed scopes caught since the last call. */
  async takeErrors(): Promise<GPUError[]> {
    const pending = this.pendingErrors;
    this.pendingErrors = [];
    const errors = await Promise.all(pending);
    return errors.filter((error): error is GPUError => error !== null);
  }

  /** Destroys the uniform buffers; the recorder is unusable afterwards. */
  destroy(): void {
    this.pass = null;
    this.encoder = null;
    for (const chunk of [...this.chunks, ...this.spareChunks]) chunk.buffer.destroy();
    this.chunks.length = 0;
    this.spareChunks.length = 0;
  }

  private commandEncoder(): GPUCommandEncoder {
    this.ensureErrorScopes();
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  private computePass(): GPUComputePassEncoder {
    const encoder = this.commandEncoder();
    this.pass ??= encoder.beginComputePass();
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  private paramsSlot(params: ArrayBuffer): { buffer: GPUBuffer; offset: number } {
    let chunk = this.chunks[this.chunks.length - 1];
    if (!chunk || chunk.used + PARAMS_SLOT_BYTES > chunk.data.length) {
      chunk = this.spareChunks.pop() ?? {
        buffer: this.device.createBuffer({ size: PARAMS_SLOT_BYTES * SLOTS_PER_CHUNK, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST, label: 'omninet params' }),
        data: new Uint8Array(PARAMS_SLOT_BYTES * SLOTS_PER_CHUNK),
        used: 0,
      };
      this.chunks.push(chunk);
    }
    const offset = chunk.used;
    chunk.data.fill(0, offset, offset + PARAMS_SLOT_BYTES);
    chunk.data.set(new Uint8Array(params), offset);
    chunk.used += PARAMS_SLOT_BYTES;
    return { buffer: chunk.buffer, offset };
  }
}
