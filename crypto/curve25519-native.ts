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

/**
 * libsodium's small-order list (ge25519_has_small_order), compared with the sign bit masked: the
 * y-coordinates 0, 1, the two of order 8, p − 1, and the non-canonical p and p + 1.
 */
const SMALL_ORDER_ENCODINGS = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map((hex) => new Uint8Array(Buffer.from(hex, 'hex')));

function isSmallOrderEncoding(point: Uint8Array): boolean {
  return SMALL_ORDER_ENCODINGS.some((listed) => {
    for (let i = 0; i < 31; i++) if (point[i] !== listed[i]) return false;
    return (point[31]! & 0x7f) === listed[31];
  });
}

/** y ≥ p = 2^255 − 19 (the sign bit masked): not the canonical encoding of any y. */
function isNonCanonicalY(point: Uint8Array): boolean {
  if ((point[31]! & 0x7f) !== 0x7f) return false;
  for (let i = 1; i < 31; i++) if (point[i] !== 0xff) return false;
  return point[0]! >= 0xed;
}

/**
 * Whether a signature libsodium refused might have been refused by one of its own rules that
 * RFC 8032 and OpenSSL need not share: R or A of small order, or A non-canonical. Any other
 * refusal is the equation or S ≥ L, which OpenSSL refuses alike.
 */
export function onlyLibsodiumMayRefuse(publicKey: Uint8Array, signature: Uint8Array): boolean {
  return (
    isSmallOrderEncoding(signature.subarray(0, 32)) ||
    isSmallOrderEncoding(publicKey) ||
    isNonCanonicalY(publicKey)
  );
}

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
    // libsodium: ~60 µs a check where OpenSSL takes ~120 µs on this kind of machine (a member
    // checks ~140 signatures a round, the coordinator ~3 per member). Both compute RFC 8032's
    // cofactorless equation over the same bytes and refuse S ≥ L; libsodium alone has three more
    // rules: R or A of small order, A non-canonical. Only when one of those can be why libsodium
    // refused is OpenSSL asked (Node 24's OpenSSL refuses them too: test/unit/curve25519-sodium
    // plays each), so the accepted set is OpenSSL's — one party's check accepting what another's
    // refuses would let a signer split honest parties — while an ordinary forgery costs one
    // libsodium check, not two (the review's test/adversarial/review-s28-refused-signature-cost).
    if (sodiumVerify(signature, message, pub)) return true;
    if (!onlyLibsodiumMayRefuse(pub, signature)) return false;
    try {
      return nodeVerify(null, message, ed25519Publics.get(pub), signature);
    } catch {
      return false;
    }
  },
};
