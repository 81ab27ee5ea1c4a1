/** A fixed-size bit set in BEP 3 bitfield order (high bit of byte 0 is piece 0). Pure. */
export class Bitfield {
  readonly buffer: Buffer;
  readonly size: number;
  private _count = 0;

  constructor(size: number, from?: Uint8Array) {
    this.size = size;
    this.buffer = Buffer.alloc(Math.ceil(size / 8));
    if (from) {
      this.buffer.set(from.subarray(0, this.buffer.length));
      // Spare bits must be cleared (BEP 3); we clear rather than trust them.
      const spare = this.buffer.length * 8 - size;
      if (spare > 0) this.buffer[this.buffer.length - 1]! &= (0xff << spare) & 0xff;
      for (const b of this.buffer) this._count += POPCOUNT[b]!;
    }
  }

  /** Number of set bits. */
  get count(): number {
    return this._count;
  }

  /** True when every bit is set. */
  get full(): boolean {
    return this._count === this.size;
  }

  has(i: number): boolean {
    return i >= 0 && i < this.size && (this.buffer[i >> 3]! & (0x80 >> (i & 7))) !== 0;
  }

  /** Sets bit i; returns true when it was clear. */
  set(i: number): boolean {
    if (i < 0 || i >= this.size || this.has(i)) return false;
    this.buffer[i >> 3]! |= 0x80 >> (i & 7);
    this._count++;
    return true;
  }

  /** Clears bit i; returns true when it was set. */
  clear(i: number): boolean {
    if (!this.has(i)) return false;
    this.buffer[i >> 3]! &= ~(0x80 >> (i & 7)) & 0xff;
    this._count--;
    return true;
  }

  setAll(): void {
    for (let i = 0; i < this.size; i++) this.set(i);
  }

  /** True when spare bits of a received bitfield are set (a protocol violation). */
  static hasSpareBits(raw: Uint8Array, size: number): boolean {
    const spare = raw.length * 8 - size;
    return spare > 0 && (raw[raw.length - 1]! & ((1 << spare) - 1)) !== 0;
  }
}

const POPCOUNT = Uint8Array.from({ length: 256 }, (_, b) => {
  let c = 0;
  for (let x = b; x; x >>= 1) c += x & 1;
  return c;
});
