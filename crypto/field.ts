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

export function fieldElementToBytes(value: bigint): Uint8Array {
  const out = new Uint8Array(FIELD_ELEMENT_BYTES);
  let rest = value;
  for (let i = FIELD_ELEMENT_BYTES - 1; i >= 0; i--) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return out;
}

export function bytesToBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

export function bigIntToBytes(value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let rest = value;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  if (rest !== 0n) throw new RangeError(`value does not fit in ${length} bytes`);
  return out;
}
