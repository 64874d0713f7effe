/**
 * Little-endian bit streams (ciphertext-wire.ts packs residues' high parts and a compact upload's
 * rounded c0 with them, encryption-proof.ts Rice-codes responses), written and read in pieces of
 * at most 24 bits: fewer than 8 bits wait in the writer's accumulator and fewer than 24 in the
 * reader's when a piece or a byte joins them, so the 32-bit accumulator stays below 2^31. The
 * reader refuses to read past its input (RangeError): a stream whose length an attacker chose
 * ends there, not in zeros.
 */
export class BitWriter {
  private accumulator = 0;
  private bits = 0;
  private offset: number;
  private readonly out: Uint8Array;
  constructor(out: Uint8Array, offset: number) {
    this.out = out;
    this.offset = offset;
  }

  /** Bytes written so far, counting a partly filled one. */
  get position(): number {
    return this.offset + (this.bits > 0 ? 1 : 0);
  }

  /**
   * The low `count` bits of value, a non-negative integer: below 2^32 for count ≤ 32, below 2^53
   * for a wider field (so 35-bit compact c0 coefficients go in whole).
   */
  write(value: number, count: number): void {
    if (count > 24) {
      this.write(value % 0x1000000, 24);
      this.write(Math.floor(value / 0x1000000), count - 24);
      return;
    }
    this.accumulator |= (value & ((1 << count) - 1)) << this.bits;
    this.bits += count;
    while (this.bits >= 8) {
      this.out[this.offset++] = this.accumulator & 0xff;
      this.accumulator >>>= 8;
      this.bits -= 8;
    }
  }

  /** Pads the last byte with zero bits; the offset after it. */
  flush(): number {
    if (this.bits > 0) this.out[this.offset++] = this.accumulator & 0xff;
    this.accumulator = 0;
    this.bits = 0;
    return this.offset;
  }
}

export class BitReader {
  private accumulator = 0;
  private bits = 0;
  private offset: number;
  private readonly input: Uint8Array;
  constructor(input: Uint8Array, offset: number) {
    this.input = input;
    this.offset = offset;
  }

  /** The next `count` bits (up to 53) as a non-negative integer; RangeError past the input. */
  read(count: number): number {
    if (count > 24) {
      const low = this.piece(24);
      return low + (count > 48 ? this.read(count - 24) : this.piece(count - 24)) * 0x1000000;
    }
    return this.piece(count);
  }

  /** The next `count` ≤ 24 bits. */
  private piece(count: number): number {
    while (this.bits < count) {
      if (this.offset >= this.input.length) throw new RangeError('the stream ends early');
      this.accumulator |= this.input[this.offset++]! << this.bits;
      this.bits += 8;
    }
    const value = this.accumulator & ((1 << count) - 1);
    this.accumulator >>>= count;
    this.bits -= count;
    return value;
  }

  /** The stream must end here: zero padding bits to the byte and no byte after it. */
  end(): void {
    if (this.accumulator !== 0) throw new RangeError('nonzero padding after the last value');
    if (this.offset !== this.input.length)
      throw new RangeError(`${this.input.length - this.offset} bytes after the last value`);
  }
}
