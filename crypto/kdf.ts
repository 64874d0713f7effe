import { hkdfSync } from 'node:crypto';
import { encodeFields } from './bytes.ts';
import { assertBytes, assertInteger } from './validate.ts';

/** HKDF-SHA256 (RFC 5869), extract-then-expand, on OpenSSL. */
export function hkdfSha256(
  inputKeyMaterial: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  assertBytes(inputKeyMaterial, 'input key material');
  assertBytes(salt, 'salt');
  assertBytes(info, 'info');
  assertInteger(length, 'output length', 1, 255 * 32);
  return new Uint8Array(hkdfSync('sha256', inputKeyMaterial, salt, info, length));
}

/** What a derived key is for. Each purpose is a separate domain: keys never cross purposes. */
export type KeyPurpose =
  | 'secagg/share-encryption'
  | 'secagg/pairwise-mask'
  | 'secagg/self-mask'
  | 'secagg/self-mask-commitment';

const DOMAIN = 'veilsum/v1';
const SALT = new TextEncoder().encode('veilsum/v1/hkdf-salt');

/**
 * A 32-byte key bound to its purpose, the round, and (for pairwise keys) the ordered pair of
 * participant indices, so a key agreed for one round, phase or pair is useless for any other.
 */
export function deriveKey(
  secret: Uint8Array,
  purpose: KeyPurpose,
  roundId: string,
  pair?: readonly [number, number],
): Uint8Array {
  const fields: (string | number)[] = [DOMAIN, purpose, roundId];
  if (pair !== undefined) {
    assertInteger(pair[0], 'pair index', 0);
    assertInteger(pair[1], 'pair index', 0);
    fields.push(Math.min(pair[0], pair[1]), Math.max(pair[0], pair[1]));
  }
  return hkdfSha256(secret, SALT, encodeFields(...fields), 32);
}
