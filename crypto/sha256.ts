import sodium from 'sodium-native';

/**
 * SHA-256 of a short byte string into a fresh 32-byte array, through libsodium's one-shot
 * (~0.6 µs for ~100 bytes where node:crypto's `hash()` takes ~1.1 µs, mostly call overhead): a
 * SecAgg member hashes ~2 500 short strings a round (graph-seed commitments, HKDF's HMACs,
 * share commitments). The same function: test/unit/sha256.test.ts compares it with node:crypto.
 */
export function sha256(bytes: Uint8Array): Uint8Array {
  const digest = new Uint8Array(32);
  sodium.crypto_hash_sha256(digest, bytes);
  return digest;
}
