/**
 * X25519 key agreement (RFC 7748) and Ed25519 signatures (RFC 8032) behind one small interface.
 * Two implementations must agree on the RFC vectors (test/unit/curve25519.test.ts):
 * - `nobleCurve25519` (curve25519-noble.ts): portable, audited pure JS; what a browser client uses.
 * - `nativeCurve25519` (curve25519-native.ts): native code on the hot paths (a client does up to
 *   n−1 agreements, the server redoes them for every dropped client): X25519 and Ed25519
 *   verification through libsodium (sodium-native), keys and signatures through OpenSSL
 *   (node:crypto); its verification accepts exactly what OpenSSL accepts.
 * All keys are raw 32-byte strings; secret keys are 32 uniformly random bytes.
 */
export interface Curve25519 {
  readonly name: string;
  x25519PublicKey(secretKey: Uint8Array): Uint8Array;
  /** Throws LowOrderPointError when the peer key is a low-order point (all-zero shared secret). */
  x25519SharedSecret(secretKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array;
  ed25519PublicKey(secretKey: Uint8Array): Uint8Array;
  sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array;
  /** Strict RFC 8032 verification (no ZIP-215 leniency), so both implementations agree. */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

export const CURVE25519_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

export class LowOrderPointError extends Error {
  override name = 'LowOrderPointError';
  constructor() {
    super('X25519 peer public key is a low-order point: the shared secret would be all zeros');
  }
}

export function assertNonZeroSharedSecret(shared: Uint8Array): Uint8Array {
  let accumulated = 0;
  for (const byte of shared) accumulated |= byte;
  if (accumulated === 0) throw new LowOrderPointError();
  return shared;
}
