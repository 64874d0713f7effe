import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto';
import type { RandomSource } from './random.ts';
import { assertBytes } from './validate.ts';

/** AES-256-GCM (NIST SP 800-38D). Sealed box = nonce ‖ ciphertext ‖ tag. */
export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;
export const AEAD_OVERHEAD_BYTES = AEAD_NONCE_BYTES + AEAD_TAG_BYTES;

export class AuthenticationError extends Error {
  override name = 'AuthenticationError';
}

// Keys go in as KeyObjects: raw bytes cost Node 24 two thrown errors per call (see prg.ts).
export function sealAead(
  key: Uint8Array,
  plaintext: Uint8Array,
  associatedData: Uint8Array,
  random: RandomSource,
): Uint8Array {
  assertBytes(key, 'AEAD key', AEAD_KEY_BYTES);
  assertBytes(plaintext, 'plaintext');
  assertBytes(associatedData, 'associated data');
  const nonce = random(AEAD_NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', createSecretKey(key), nonce);
  cipher.setAAD(associatedData);
  const body = cipher.update(plaintext);
  cipher.final();
  const out = new Uint8Array(AEAD_OVERHEAD_BYTES + body.length);
  out.set(nonce, 0);
  out.set(body, AEAD_NONCE_BYTES);
  out.set(cipher.getAuthTag(), AEAD_NONCE_BYTES + body.length);
  return out;
}

export function openAead(
  key: Uint8Array,
  sealed: Uint8Array,
  associatedData: Uint8Array,
): Uint8Array {
  assertBytes(key, 'AEAD key', AEAD_KEY_BYTES);
  assertBytes(sealed, 'sealed box');
  assertBytes(associatedData, 'associated data');
  if (sealed.length < AEAD_OVERHEAD_BYTES) {
    throw new AuthenticationError(
      `sealed box of ${sealed.length} bytes is shorter than the ${AEAD_OVERHEAD_BYTES}-byte nonce and tag`,
    );
  }
  const nonce = sealed.subarray(0, AEAD_NONCE_BYTES);
  const body = sealed.subarray(AEAD_NONCE_BYTES, sealed.length - AEAD_TAG_BYTES);
  const tag = sealed.subarray(sealed.length - AEAD_TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', createSecretKey(key), nonce);
  decipher.setAAD(associatedData);
  decipher.setAuthTag(tag);
  const plaintext = decipher.update(body);
  try {
    decipher.final();
  } catch {
    throw new AuthenticationError(
      'sealed box failed authentication: wrong key, associated data or altered bytes',
    );
  }
  return new Uint8Array(plaintext);
}
