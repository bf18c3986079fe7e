/** Little-endian readers and writers for frames; every field has a fixed width. */

export class WireFormatError extends Error {}

export class WireReader {
  private offset = 0;
  private readonly view: DataView;

  constructor(private readonly source: Uint8Array) {
    this.view = new DataView(source.buffer, source.byteOffset, source.byteLength);
  }

  get remaining(): number {
    return this.source.length - this.offset;
  }

  private need(n: number): number {
    if (n > this.remaining) throw new WireFormatError(`frame truncated: need ${n} bytes, have ${this.remaining}`);
    const at = this.offset;
    this.offset += n;
    return at;
  }

  u8(): number {
    return this.view.getUint8(this.need(1));
  }

  u16(): number {
    return this.view.getUint16(this.need(2), true);
  }

  u32(): number {
    return this.view.getUint32(this.need(4), true);
  }

  /** A u64 as a number; values above 2^53 are clamped, which no valid argument needs. */
  u64(): number {
    const at = this.need(8);
    const lo = this.view.getUint32(at, true);
    const hi = this.view.getUint32(at + 4, true);
    const v = hi * 0x1_0000_0000 + lo;
    return Number.isSafeInteger(v) ? v : Number.MAX_SAFE_INTEGER;
  }

  /** A copy, so the frame buffer can be wiped independently. */
  bytes(n: number): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0) throw new WireFormatError(`bad byte count ${n}`);
    const at = this.need(n);
    return this.source.slice(at, at + n);
  }
}

export class WireWriter {
  private buf: Uint8Array;
  private view: DataView;
  private length = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }

  private grow(n: number): number {
    if (this.length + n > this.buf.length) {
      // Doubling serves many small writes; one large write (a 1 MiB output) gets room for
      // itself and a little more, not twice its size, zero-filled.
      const cap = Math.max(this.buf.length * 2, this.length + n + 256);
      const next = new Uint8Array(cap);
      next.set(this.buf.subarray(0, this.length));
      this.buf.fill(0);
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  // Each writer grows first: `this.view` must be read after grow() may have replaced it.
  u8(v: number): this {
    const at = this.grow(1);
    this.view.setUint8(at, v);
    return this;
  }

  u16(v: number): this {
    const at = this.grow(2);
    this.view.setUint16(at, v, true);
    return this;
  }

  u32(v: number): this {
    const at = this.grow(4);
    this.view.setUint32(at, v >>> 0, true);
    return this;
  }

  u64(v: number): this {
    const at = this.grow(8);
    if (v === -1 || v >= 2 ** 64 - 1) {
      this.view.setUint32(at, 0xffffffff, true);
      this.view.setUint32(at + 4, 0xffffffff, true);
    } else {
      this.view.setUint32(at, v % 0x1_0000_0000, true);
      this.view.setUint32(at + 4, Math.floor(v / 0x1_0000_0000), true);
    }
    return this;
  }

  bytes(b: Uint8Array): this {
    const at = this.grow(b.length);
    this.buf.set(b, at);
    return this;
  }

  patchU32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0, true);
  }

  get size(): number {
    return this.length;
  }

  /** The bytes written, as a view: the writer is done with once this is taken. */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}
