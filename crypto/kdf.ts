import { createSecretKey, hkdfSync } from 'node:crypto';
import { encodeFields } from './bytes.ts';
import { assertBytes, assertInteger, CryptoInputError } from './validate.ts';

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
  // As a KeyObject: raw bytes cost Node 24 two thrown errors before the import (see prg.ts).
  const key = inputKeyMaterial.length > 0 ? createSecretKey(inputKeyMaterial) : inputKeyMaterial;
  return new Uint8Array(hkdfSync('sha256', key, salt, info, length));
}

/** What a derived key is for. Each purpose is a separate domain: keys never cross purposes. */
export type KeyPurpose =
  'secagg/share-box' | 'secagg/pairwise-mask' | 'secagg/self-mask' | 'secagg/self-mask-commitment';

const DOMAIN = 'veilsum/v1';
const SALT = new TextEncoder().encode('veilsum/v1/hkdf-salt');

/**
 * A 32-byte key bound to its purpose, the round (its id, or the hash of its agreed parameters),
 * and for pairwise keys the pair of participant indices and the two public keys that were agreed
 * (`publicKeys[i]` belongs to `pair[i]`). Binding the public keys keeps a key derived from one
 * key exchange from being reused under another pair of keys; binding the parameters hash makes a
 * key useless in any round whose parameters differ.
 */
export function deriveKey(
  secret: Uint8Array,
  purpose: KeyPurpose,
  round: string | Uint8Array,
  pair?: readonly [number, number],
  publicKeys?: readonly [Uint8Array, Uint8Array],
): Uint8Array {
  const fields: (string | number | Uint8Array)[] = [DOMAIN, purpose, round];
  if (pair !== undefined) {
    assertInteger(pair[0], 'pair index', 0);
    assertInteger(pair[1], 'pair index', 0);
    const swap = pair[0] > pair[1];
    fields.push(Math.min(pair[0], pair[1]), Math.max(pair[0], pair[1]));
    if (publicKeys !== undefined) {
      assertBytes(publicKeys[0], 'first public key');
      assertBytes(publicKeys[1], 'second public key');
      fields.push(...(swap ? [publicKeys[1], publicKeys[0]] : [publicKeys[0], publicKeys[1]]));
    }
  } else if (publicKeys !== undefined) {
    throw new CryptoInputError('public keys are bound only together with a pair of indices');
  }
  return hkdfSha256(secret, SALT, encodeFields(...fields), 32);
}
