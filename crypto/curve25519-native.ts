import {
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';
import {
  assertNonZeroSharedSecret,
  CURVE25519_KEY_BYTES,
  type Curve25519,
  ED25519_SIGNATURE_BYTES,
} from './curve25519.ts';
import { assertBytes } from './validate.ts';
import sodium from 'sodium-native';

/**
 * Node 24's key import first asks whether its argument (and then the JWK inside it) is a
 * KeyObject or a CryptoKey, each time by catching an error thrown from native code: four errors
 * per import, and capturing their stack traces was two thirds of an import's cost (~32 µs of a
 * ~75 µs X25519 agreement; a member imports ~3k peer keys per round). Those errors never reach
 * us; any other error thrown inside still propagates, only without a stack trace.
 */
function withoutStackTraces<T>(work: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return work();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * A raw 32-byte secret key as a KeyObject, through JWK (RFC 8037): Node imports the raw bytes
 * directly (`x` is not read for a private key), where a PKCS#8 DER goes through OpenSSL's decoder
 * — slower, and a share box makes two such keys.
 */
const privateKey = (curve: 'X25519' | 'Ed25519', raw: Uint8Array): KeyObject =>
  withoutStackTraces(() =>
    createPrivateKey({
      key: { kty: 'OKP', crv: curve, d: Buffer.from(raw).toString('base64url'), x: '' },
      format: 'jwk',
    }),
  );
// JWK import of a raw public key measured ~20% cheaper than DER here.
const publicKey = (curve: 'X25519' | 'Ed25519', raw: Uint8Array): KeyObject =>
  withoutStackTraces(() =>
    createPublicKey({
      key: { kty: 'OKP', crv: curve, x: Buffer.from(raw).toString('base64url') },
      format: 'jwk',
    }),
  );
// The JWK export is a copy of the raw key; the SPKI DER export is an encoder run.
const rawPublicKey = (key: KeyObject): Uint8Array =>
  new Uint8Array(Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url'));

/**
 * A client agrees with up to n−1 peers under the same secret key: remember the last few parsed
 * secret keys so that the import is paid once per key, not once per agreement.
 */
class KeyObjectCache {
  private readonly entries = new Map<string, KeyObject>();
  private readonly curve: 'X25519' | 'Ed25519';
  private readonly capacity: number;
  constructor(curve: 'X25519' | 'Ed25519', capacity: number) {
    this.curve = curve;
    this.capacity = capacity;
  }
  get(raw: Uint8Array): KeyObject {
    const id = Buffer.from(raw).toString('base64');
    let key = this.entries.get(id);
    if (key === undefined) {
      key = privateKey(this.curve, raw);
      if (this.entries.size >= this.capacity) {
        this.entries.delete(this.entries.keys().next().value!);
      }
      this.entries.set(id, key);
    }
    return key;
  }
}

/**
 * Ed25519 public keys verified often (a round's identity keys: each sender signs every one of its
 * share boxes) are parsed once: the JWK import costs about as much as the verification itself.
 */
class PublicKeyCache {
  private readonly entries = new Map<string, KeyObject>();
  private readonly capacity: number;
  constructor(capacity: number) {
    this.capacity = capacity;
  }
  get(raw: Uint8Array): KeyObject {
    const id = Buffer.from(raw).toString('base64url');
    let key = this.entries.get(id);
    if (key === undefined) {
      key = publicKey('Ed25519', raw);
      if (this.entries.size >= this.capacity) {
        this.entries.delete(this.entries.keys().next().value!);
      }
      this.entries.set(id, key);
    }
    return key;
  }
}

const ed25519Publics = new PublicKeyCache(4096);

function sodiumVerify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  try {
    return sodium.crypto_sign_verify_detached(signature, message, publicKey);
  } catch {
    return false;
  }
}
const x25519Secrets = new KeyObjectCache('X25519', 8);
const ed25519Secrets = new KeyObjectCache('Ed25519', 8);

export const nativeCurve25519: Curve25519 = {
  name: 'native',
  x25519PublicKey(secretKey) {
    assertBytes(secretKey, 'X25519 secret key', CURVE25519_KEY_BYTES);
    return rawPublicKey(createPublicKey(x25519Secrets.get(secretKey)));
  },
  x25519SharedSecret(secretKey, peerPublicKey) {
    assertBytes(secretKey, 'X25519 secret key', CURVE25519_KEY_BYTES);
    assertBytes(peerPublicKey, 'X25519 peer public key', CURVE25519_KEY_BYTES);
    // libsodium on the raw bytes: no KeyObject import per agreement (OpenSSL's diffieHellman
    // took ~40 µs plus ~12 µs importing the peer's key here; this ~35 µs). Same RFC 7748
    // function (scalar clamped, u's top bit masked); libsodium refuses the low-order points and
    // an all-zero result as OpenSSL refuses the all-zero result — test/unit/curve25519-sodium
    // checks both agree on random, small-order and non-canonical keys.
    const shared = new Uint8Array(CURVE25519_KEY_BYTES);
    try {
      sodium.crypto_scalarmult(shared, secretKey, peerPublicKey);
    } catch {
      shared.fill(0);
    }
    return assertNonZeroSharedSecret(shared);
  },
  ed25519PublicKey(secretKey) {
    assertBytes(secretKey, 'Ed25519 secret key', CURVE25519_KEY_BYTES);
    return rawPublicKey(createPublicKey(ed25519Secrets.get(secretKey)));
  },
  sign(secretKey, message) {
    assertBytes(secretKey, 'Ed25519 secret key', CURVE25519_KEY_BYTES);
    assertBytes(message, 'message');
    return new Uint8Array(nodeSign(null, message, ed25519Secrets.get(secretKey)));
  },
  verify(pub, message, signature) {
    assertBytes(pub, 'Ed25519 public key', CURVE25519_KEY_BYTES);
    assertBytes(message, 'message');
    assertBytes(signature, 'Ed25519 signature', ED25519_SIGNATURE_BYTES);
    // libsodium first: ~58 µs a check where OpenSSL takes ~119 µs on this kind of machine (a
    // member checks ~140 signatures a round, the coordinator ~3 per member). Both compute RFC
    // 8032's cofactorless equation over the same bytes and both refuse S ≥ L and small-order or
    // non-canonical R and A (test/unit/curve25519-sodium.test.ts plays each). What libsodium
    // refuses still goes to OpenSSL, so the set of accepted signatures is never narrower than
    // OpenSSL's, as before — one party's check accepting what another's refuses would let a
    // signer split honest parties — and only a refused signature pays both checks.
    if (sodiumVerify(signature, message, pub)) return true;
    try {
      return nodeVerify(null, message, ed25519Publics.get(pub), signature);
    } catch {
      return false;
    }
  },
};
