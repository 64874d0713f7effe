import { Field } from '@noble/curves/abstract/modular.js';

/**
 * The smallest prime above 2^256 (2^256 + 297): every 32-byte secret is a field element, so a
 * secret is shared as one element rather than split into limbs. Primality is re-checked by a
 * Miller–Rabin test in test/unit/field.test.ts.
 */
export const SHAMIR_PRIME = 2n ** 256n + 297n;

/** GF(SHAMIR_PRIME), noble's constant-shape bigint field. */
export const Fp = Field(SHAMIR_PRIME);

/** Bytes of one encoded field element (257 bits). */
export const FIELD_ELEMENT_BYTES = 33;

// Hex round-trips are several times faster than shifting a BigInt byte by byte in V8.
export function fieldElementToBytes(value: bigint): Uint8Array {
  return bigIntToBytes(value, FIELD_ELEMENT_BYTES);
}

export function bytesToBigInt(bytes: Uint8Array): bigint {
  if (bytes.length === 0) return 0n;
  return BigInt('0x' + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex'));
}

export function bigIntToBytes(value: bigint, length: number): Uint8Array {
  if (value < 0n) throw new RangeError('value must not be negative');
  const hex = value.toString(16);
  if (hex.length > 2 * length) throw new RangeError(`value does not fit in ${length} bytes`);
  return new Uint8Array(Buffer.from(hex.padStart(2 * length, '0'), 'hex'));
}
