import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js';
import { fromHex, toHex } from '../../crypto/bytes.ts';
import { nativeCurve25519 as curve } from '../../crypto/curve25519-native.ts';
import {
  KEY_POSSESSION_PROOF_BYTES,
  liftPeerKey,
  proveKeyPossession,
  proveSharedSecret,
  sameX25519Point,
  verifyKeyPossession,
  type SharedSecretEvidence,
  verifySharedSecret,
} from '../../crypto/dleq.ts';
import { seededRandom } from '../../crypto/random.ts';

// RFC 7748 §6.1.
const ALICE_SECRET = '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a';
const ALICE_PUBLIC = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
const BOB_PUBLIC = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
const SHARED = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';

const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const context = new TextEncoder().encode('test context');
const random = seededRandom(7);
/** Each run costs a few scalar multiplications in JS: keep the property runs modest. */
const RUNS = { numRuns: 12 };

function littleEndian(value: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, value >>= 8n) out[i] = Number(value & 0xffn);
  return out;
}

/** The first small u that is not the u-coordinate of any point of Curve25519 (a twist point). */
function twistPoint(): Uint8Array {
  for (let u = 2n; ; u++) {
    const bytes = littleEndian(u);
    if (liftPeerKey(bytes) === undefined) return bytes;
  }
}

describe('X25519 shared secret with a Chaum–Pedersen proof (crypto/dleq.ts)', () => {
  it('proves the RFC 7748 §6.1 shared secret from Alice’s side', () => {
    const evidence = proveSharedSecret(
      fromHex(ALICE_SECRET),
      fromHex(BOB_PUBLIC),
      context,
      random,
    )!;
    const shared = verifySharedSecret(
      fromHex(ALICE_PUBLIC),
      fromHex(BOB_PUBLIC),
      evidence,
      context,
    );
    expect(toHex(shared!)).toBe(SHARED);
  });

  it('for any key pair and peer key, the verified secret is exactly X25519(c, E)', () => {
    fc.assert(
      fc.property(key32, key32, (secretKey, peerSecret) => {
        const publicKey = curve.x25519PublicKey(secretKey);
        const peer = curve.x25519PublicKey(peerSecret);
        const evidence = proveSharedSecret(secretKey, peer, context, random)!;
        expect(verifySharedSecret(publicKey, peer, evidence, context)).toEqual(
          curve.x25519SharedSecret(secretKey, peer),
        );
      }),
      RUNS,
    );
  });

  it('binds the holder’s public key, the peer key and the context: any other verifies nothing', () => {
    fc.assert(
      fc.property(key32, key32, key32, (secretKey, peerSecret, otherSecret) => {
        const publicKey = curve.x25519PublicKey(secretKey);
        const peer = curve.x25519PublicKey(peerSecret);
        const other = curve.x25519PublicKey(otherSecret);
        fc.pre(toHex(other) !== toHex(publicKey) && toHex(other) !== toHex(peer));
        const evidence = proveSharedSecret(secretKey, peer, context, random)!;
        expect(verifySharedSecret(other, peer, evidence, context)).toBeUndefined();
        expect(verifySharedSecret(publicKey, other, evidence, context)).toBeUndefined();
        expect(
          verifySharedSecret(publicKey, peer, evidence, new TextEncoder().encode('other')),
        ).toBeUndefined();
      }),
      RUNS,
    );
  });

  it('rejects evidence with any one bit flipped (points or proof)', () => {
    const secretKey = random(32);
    const publicKey = curve.x25519PublicKey(secretKey);
    const peer = curve.x25519PublicKey(random(32));
    const evidence = proveSharedSecret(secretKey, peer, context, random)!;
    const fields = ['publicPoint', 'sharedPoint', 'proof'] as const;
    fc.assert(
      fc.property(fc.constantFrom(...fields), fc.nat(), (field, bit) => {
        const bytes = evidence[field].slice();
        const position = bit % (bytes.length * 8);
        bytes[position >> 3]! ^= 1 << (position & 7);
        const altered: SharedSecretEvidence = { ...evidence, [field]: bytes };
        expect(verifySharedSecret(publicKey, peer, altered, context)).toBeUndefined();
      }),
      { numRuns: 40 },
    );
  });

  it('a proof for another secret key, or noise, proves nothing (the false accuser’s evidence)', () => {
    fc.assert(
      fc.property(key32, key32, key32, (secretKey, wrongKey, peerSecret) => {
        fc.pre(toHex(secretKey) !== toHex(wrongKey));
        const publicKey = curve.x25519PublicKey(secretKey);
        const peer = curve.x25519PublicKey(peerSecret);
        const forged = proveSharedSecret(wrongKey, peer, context, random)!;
        expect(verifySharedSecret(publicKey, peer, forged, context)).toBeUndefined();
        const noise = { publicPoint: random(32), sharedPoint: random(32), proof: random(64) };
        expect(verifySharedSecret(publicKey, peer, noise, context)).toBeUndefined();
      }),
      RUNS,
    );
  });

  it('the revealed secret is the one for its peer key only: another peer key’s secret stays unknown', () => {
    fc.assert(
      fc.property(key32, key32, key32, (secretKey, peerSecret, otherSecret) => {
        const peer = curve.x25519PublicKey(peerSecret);
        const other = curve.x25519PublicKey(otherSecret);
        fc.pre(toHex(peer) !== toHex(other));
        const evidence = proveSharedSecret(secretKey, peer, context, random)!;
        const revealed = [evidence.publicPoint, evidence.sharedPoint, evidence.proof].map(toHex);
        const otherSecretValue = toHex(curve.x25519SharedSecret(secretKey, other));
        expect(revealed.some((value) => value.includes(otherSecretValue))).toBe(false);
        expect(toHex(ed25519.utils.toMontgomery(evidence.sharedPoint))).not.toBe(otherSecretValue);
      }),
      RUNS,
    );
  });

  it('rejects a shared point carrying a small-order component (same u up to torsion)', () => {
    const secretKey = random(32);
    const publicKey = curve.x25519PublicKey(secretKey);
    const peer = curve.x25519PublicKey(random(32));
    const evidence = proveSharedSecret(secretKey, peer, context, random)!;
    for (const hex of ED25519_TORSION_SUBGROUP.slice(1)) {
      const torsion = ed25519.Point.fromHex(hex);
      for (const field of ['publicPoint', 'sharedPoint'] as const) {
        const shifted = ed25519.Point.fromBytes(evidence[field]).add(torsion).toBytes();
        expect(
          verifySharedSecret(publicKey, peer, { ...evidence, [field]: shifted }, context),
        ).toBeUndefined();
      }
    }
  });

  it('a peer key of small order or on the twist does not lift: no proof is made or accepted', () => {
    const smallOrder = [
      '0000000000000000000000000000000000000000000000000000000000000000',
      '0100000000000000000000000000000000000000000000000000000000000000',
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    ].map(fromHex);
    const secretKey = random(32);
    for (const peer of [...smallOrder, twistPoint()]) {
      expect(liftPeerKey(peer)).toBeUndefined();
      expect(proveSharedSecret(secretKey, peer, context, random)).toBeUndefined();
    }
    // Evidence made for a good key is not accepted for a twist key either.
    const good = curve.x25519PublicKey(random(32));
    const evidence = proveSharedSecret(secretKey, good, context, random)!;
    expect(
      verifySharedSecret(curve.x25519PublicKey(secretKey), twistPoint(), evidence, context),
    ).toBeUndefined();
  });
});

describe('proof of possession of an X25519 secret key (crypto/dleq.ts)', () => {
  const otherContext = new TextEncoder().encode('another member');

  it('for any secret key, the proof verifies for its public key and context, and for nothing else', () => {
    fc.assert(
      fc.property(key32, key32, (secret, other) => {
        const publicKey = curve.x25519PublicKey(secret);
        const proof = proveKeyPossession(secret, publicKey, context, random);
        expect(proof).toHaveLength(KEY_POSSESSION_PROOF_BYTES);
        expect(verifyKeyPossession(publicKey, proof, context)).toBe(true);
        // Replayed for another member (context), or for another key: nothing.
        expect(verifyKeyPossession(publicKey, proof, otherContext)).toBe(false);
        const otherKey = curve.x25519PublicKey(other);
        if (!sameX25519Point(otherKey, publicKey))
          expect(verifyKeyPossession(otherKey, proof, context)).toBe(false);
        // The same X25519 key in other bytes (bit 255 set) does not carry the proof over.
        const highBit = Uint8Array.from(publicKey);
        highBit[31]! |= 0x80;
        expect(sameX25519Point(highBit, publicKey)).toBe(true);
        expect(verifyKeyPossession(highBit, proof, context)).toBe(false);
      }),
      RUNS,
    );
  });

  it('the owner of a key with bit 255 set can still prove it (the proof binds the bytes it advertised)', () => {
    const secret = fromHex(ALICE_SECRET);
    const publicKey = fromHex(ALICE_PUBLIC);
    publicKey[31]! |= 0x80;
    expect(
      verifyKeyPossession(
        publicKey,
        proveKeyPossession(secret, publicKey, context, random),
        context,
      ),
    ).toBe(true);
  });

  it('refuses to prove a key that is not the secret key’s own', () => {
    expect(() =>
      proveKeyPossession(fromHex(ALICE_SECRET), fromHex(BOB_PUBLIC), context, random),
    ).toThrow(/not that of the secret key/);
  });

  it('rejects a proof with any one bit flipped, a missing proof, or one of the wrong length', () => {
    const publicKey = fromHex(ALICE_PUBLIC);
    const proof = proveKeyPossession(fromHex(ALICE_SECRET), publicKey, context, random);
    for (let bit = 0; bit < 8 * proof.length; bit += 7) {
      const flipped = Uint8Array.from(proof);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      expect(verifyKeyPossession(publicKey, flipped, context)).toBe(false);
    }
    expect(verifyKeyPossession(publicKey, undefined, context)).toBe(false);
    expect(verifyKeyPossession(publicKey, proof.subarray(0, 63), context)).toBe(false);
    expect(verifyKeyPossession(publicKey, new Uint8Array(64), context)).toBe(false);
  });

  it('sameX25519Point: the same u in other bytes (bit 255, u + p) is the same key; another key is not', () => {
    const a = fromHex(ALICE_PUBLIC);
    const b = fromHex(BOB_PUBLIC);
    expect(sameX25519Point(a, Uint8Array.from(a))).toBe(true);
    expect(sameX25519Point(a, b)).toBe(false);
    // u = 1 + p (non-canonical) reads as u = 1.
    const p = 2n ** 255n - 19n;
    expect(sameX25519Point(littleEndian(1n), littleEndian(1n + p))).toBe(true);
  });
});
