import { hash } from 'node:crypto';
import { encodeFields } from './bytes.ts';

/**
 * SHA-256 over a length-prefixed field list: a binding commitment to values that are already
 * high-entropy secrets (so no blinding is needed), and the hash used for public transcripts.
 */
export function hashFields(...fields: readonly (Uint8Array | string | number)[]): Uint8Array {
  // One-shot: no Hash object per call (~0.6 µs of ~2 µs for a short input).
  return new Uint8Array(hash('sha256', encodeFields(...fields), 'buffer'));
}
