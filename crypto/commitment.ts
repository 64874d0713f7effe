import { createHash } from 'node:crypto';
import { encodeFields } from './bytes.ts';

/**
 * SHA-256 over a length-prefixed field list: a binding commitment to values that are already
 * high-entropy secrets (so no blinding is needed), and the hash used for public transcripts.
 */
export function hashFields(...fields: readonly (Uint8Array | string | number)[]): Uint8Array {
  return new Uint8Array(
    createHash('sha256')
      .update(encodeFields(...fields))
      .digest(),
  );
}
