import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import {
  assertNonZeroSharedSecret,
  CURVE25519_KEY_BYTES,
  type Curve25519,
  ED25519_SIGNATURE_BYTES,
} from './curve25519.ts';
import { assertBytes } from './validate.ts';

export const nobleCurve25519: Curve25519 = {
  name: 'noble',
  x25519PublicKey(secretKey) {
    assertBytes(secretKey, 'X25519 secret key', CURVE25519_KEY_BYTES);
    return x25519.getPublicKey(secretKey);
  },
  x25519SharedSecret(secretKey, peerPublicKey) {
    assertBytes(secretKey, 'X25519 secret key', CURVE25519_KEY_BYTES);
    assertBytes(peerPublicKey, 'X25519 peer public key', CURVE25519_KEY_BYTES);
    let shared: Uint8Array;
    try {
      shared = x25519.getSharedSecret(secretKey, peerPublicKey);
    } catch {
      // noble rejects the all-zero result itself; report it the same way as the native backend.
      shared = new Uint8Array(CURVE25519_KEY_BYTES);
    }
    return assertNonZeroSharedSecret(shared);
  },
  ed25519PublicKey(secretKey) {
    assertBytes(secretKey, 'Ed25519 secret key', CURVE25519_KEY_BYTES);
    return ed25519.getPublicKey(secretKey);
  },
  sign(secretKey, message) {
    assertBytes(secretKey, 'Ed25519 secret key', CURVE25519_KEY_BYTES);
    assertBytes(message, 'message');
    return ed25519.sign(message, secretKey);
  },
  verify(publicKey, message, signature) {
    assertBytes(publicKey, 'Ed25519 public key', CURVE25519_KEY_BYTES);
    assertBytes(message, 'message');
    assertBytes(signature, 'Ed25519 signature', ED25519_SIGNATURE_BYTES);
    try {
      return ed25519.verify(signature, message, publicKey, { zip215: false });
    } catch {
      return false;
    }
  },
};
