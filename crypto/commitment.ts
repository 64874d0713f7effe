import { encodeFields } from './bytes.ts';
import { sha256 } from './sha256.ts';

/**
 * SHA-256 over a length-prefixed field list: a binding commitment to values that are already
 * high-entropy secrets (so no blinding is needed), and the hash used for public transcripts.
 */
export function hashFields(...fields: readonly (Uint8Array | string | number)[]): Uint8Array {
  // One-shot (sha256.ts): no Hash object per call.
  return sha256(encodeFields(...fields));
}
