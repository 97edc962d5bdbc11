/**
 * Packs a kernel's uniform parameters in the order of the fields of its WGSL `Params` struct.
 * Every field is a 4-byte u32, i32 or f32, so fields sit at consecutive 4-byte offsets.
 */
export class ParamsWriter {
  private readonly view = new DataView(new ArrayBuffer(256));
  private offset = 0;

  u32(value: number): this {
    this.view.setUint32(this.next(), value >>> 0, true);
    return this;
  }

  i32(value: number): this {
    this.view.setInt32(this.next(), value, true);
    return this;
  }

  f32(value: number): this {
    this.view.setFloat32(this.next(), value, true);
    return this;
  }

  /** Returns the bytes written so far. */
  finish(): ArrayBuffer {
    return this.view.buffer.slice(0, Math.max(16, Math.ceil(this.offset / 16) * 16)) as ArrayBuffer;
  }

  private next(): number {
    const offset = this.offset;
    if (offset + 4 > this.view.byteLength) throw new RangeError('kernel parameters exceed 256 bytes');
    this.offset += 4;
    return offset;
  }
}
