import { encodePrefixed } from './bytes.ts';
import { sha256 } from './sha256.ts';
import { assertBytes, assertInteger, CryptoInputError } from './validate.ts';

/** HKDF-SHA256 (RFC 5869), extract-then-expand. */
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
  const prk = hmacSha256(salt, inputKeyMaterial);
  const out = new Uint8Array(length);
  // T(i) = HMAC(PRK, T(i − 1) ‖ info ‖ i), T(0) empty.
  let previous: Uint8Array = new Uint8Array(0);
  for (let block = 1, offset = 0; offset < length; block++, offset += 32) {
    const message = new Uint8Array(previous.length + info.length + 1);
    message.set(previous, 0);
    message.set(info, previous.length);
    message[message.length - 1] = block;
    previous = hmacSha256(prk, message);
    out.set(previous.subarray(0, Math.min(32, length - offset)), offset);
  }
  return out;
}

/**
 * HMAC-SHA256 (RFC 2104) as two one-shot SHA-256 calls: H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)). A
 * member derives ~3k keys a round (each box key, each pairwise mask seed); Node's hkdfSync or
 * createHmac first imports the key as a KeyObject (createSecretKey, or two thrown errors for raw
 * bytes), which cost more than the four SHA-256 compressions themselves. The same bytes as
 * OpenSSL's HKDF (test/unit/kdf.test.ts checks RFC 5869's vectors and agreement with hkdfSync).
 */
function hmacSha256(key: Uint8Array, message: Uint8Array): Uint8Array {
  const block = key.length > 64 ? sha256(key) : key;
  const inner = new Uint8Array(64 + message.length);
  inner.fill(0x36, 0, 64);
  for (let i = 0; i < block.length; i++) inner[i] = block[i]! ^ 0x36;
  inner.set(message, 64);
  const outer = new Uint8Array(96);
  outer.fill(0x5c, 0, 64);
  for (let i = 0; i < block.length; i++) outer[i] = block[i]! ^ 0x5c;
  outer.set(sha256(inner), 64);
  return sha256(outer);
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
  // encodeFields(DOMAIN, purpose, round, ...): the first three encoded once per round.
  const fields: (string | number | Uint8Array)[] = [];
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
  return hkdfSha256(secret, SALT, encodePrefixed([DOMAIN, purpose], round, ...fields), 32);
}
