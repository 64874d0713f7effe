import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { fromHex, toHex } from '../../crypto/bytes.ts';
import { LowOrderPointError } from '../../crypto/curve25519.ts';
import { nativeCurve25519 } from '../../crypto/curve25519-native.ts';
import { nobleCurve25519 } from '../../crypto/curve25519-noble.ts';

const backends = [nobleCurve25519, nativeCurve25519];
const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

// RFC 7748 §5.2 (scalar multiplication) and §6.1 (Diffie–Hellman).
const X25519_VECTORS = [
  {
    scalar: 'a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4',
    u: 'e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c',
    out: 'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
  },
  {
    scalar: '4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d',
    u: 'e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493',
    out: '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957',
  },
];
const ALICE_SECRET = '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a';
const ALICE_PUBLIC = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
const BOB_SECRET = '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb';
const BOB_PUBLIC = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
const SHARED = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';

// RFC 8032 §7.1, TEST 1 and TEST 2.
const ED25519_VECTORS = [
  {
    secret: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    public: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    secret: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    public: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
];

describe.each(backends)('Curve25519 backend $name', (curve) => {
  it('matches the RFC 7748 §5.2 scalar-multiplication vectors', () => {
    for (const vector of X25519_VECTORS) {
      expect(toHex(curve.x25519SharedSecret(fromHex(vector.scalar), fromHex(vector.u)))).toBe(
        vector.out,
      );
    }
  });

  it('matches the RFC 7748 §6.1 Diffie–Hellman example', () => {
    expect(toHex(curve.x25519PublicKey(fromHex(ALICE_SECRET)))).toBe(ALICE_PUBLIC);
    expect(toHex(curve.x25519PublicKey(fromHex(BOB_SECRET)))).toBe(BOB_PUBLIC);
    expect(toHex(curve.x25519SharedSecret(fromHex(ALICE_SECRET), fromHex(BOB_PUBLIC)))).toBe(
      SHARED,
    );
    expect(toHex(curve.x25519SharedSecret(fromHex(BOB_SECRET), fromHex(ALICE_PUBLIC)))).toBe(
      SHARED,
    );
  });

  it('matches the RFC 8032 §7.1 Ed25519 vectors', () => {
    for (const vector of ED25519_VECTORS) {
      const secret = fromHex(vector.secret);
      const message = fromHex(vector.message);
      expect(toHex(curve.ed25519PublicKey(secret))).toBe(vector.public);
      expect(toHex(curve.sign(secret, message))).toBe(vector.signature);
      expect(curve.verify(fromHex(vector.public), message, fromHex(vector.signature))).toBe(true);
    }
  });

  it('rejects a signature on another message, by another key, or with a flipped bit', () => {
    const vector = ED25519_VECTORS[1]!;
    const signature = fromHex(vector.signature);
    expect(curve.verify(fromHex(vector.public), fromHex('73'), signature)).toBe(false);
    expect(
      curve.verify(fromHex(ED25519_VECTORS[0]!.public), fromHex(vector.message), signature),
    ).toBe(false);
    for (const position of [0, 31, 32, 63]) {
      const flipped = signature.slice();
      flipped[position]! ^= 1;
      expect(curve.verify(fromHex(vector.public), fromHex(vector.message), flipped)).toBe(false);
    }
  });

  it('refuses a low-order peer key instead of returning an all-zero secret', () => {
    expect(() => curve.x25519SharedSecret(fromHex(ALICE_SECRET), new Uint8Array(32))).toThrow(
      LowOrderPointError,
    );
    const orderEight = fromHex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800');
    expect(() => curve.x25519SharedSecret(fromHex(ALICE_SECRET), orderEight)).toThrow(
      LowOrderPointError,
    );
  });

  it('checks key and signature lengths', () => {
    expect(() => curve.x25519PublicKey(new Uint8Array(31))).toThrow(/32 bytes/);
    expect(() => curve.verify(new Uint8Array(32), new Uint8Array(1), new Uint8Array(63))).toThrow(
      /64 bytes/,
    );
  });
});

describe('the two Curve25519 backends', () => {
  it('agree on X25519 public keys and shared secrets for random keys', () => {
    fc.assert(
      fc.property(key32, key32, (a, b) => {
        const noblePublic = nobleCurve25519.x25519PublicKey(b);
        expect(nativeCurve25519.x25519PublicKey(b)).toEqual(noblePublic);
        expect(nativeCurve25519.x25519SharedSecret(a, noblePublic)).toEqual(
          nobleCurve25519.x25519SharedSecret(a, noblePublic),
        );
      }),
      { numRuns: 40 },
    );
  });

  it('verify each other’s Ed25519 signatures and produce identical ones', () => {
    fc.assert(
      fc.property(key32, fc.uint8Array({ maxLength: 200 }), (secret, message) => {
        const signature = nobleCurve25519.sign(secret, message);
        expect(nativeCurve25519.sign(secret, message)).toEqual(signature);
        expect(
          nativeCurve25519.verify(nobleCurve25519.ed25519PublicKey(secret), message, signature),
        ).toBe(true);
      }),
      { numRuns: 40 },
    );
  });
});
