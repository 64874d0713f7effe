import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ED25519_TORSION_SUBGROUP, ed25519, x25519 } from '@noble/curves/ed25519.js';
import type { EdwardsPoint } from '@noble/curves/abstract/edwards.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import { fromHex } from '../../crypto/bytes.ts';
import { liftPeerKey, proveKeyPossession, verifyKeyPossession } from '../../crypto/dleq.ts';
import { seededRandom } from '../../crypto/random.ts';

const Point = ed25519.Point;
const Fp = Point.Fp;
const P = Fp.ORDER;

/**
 * The lift as RFC 7748 §4.1 reads: y = (u − 1)/(u + 1) by a field division, then the point decoded
 * from y's bytes with the sign bit clear (even x); undefined where either step fails.
 */
function referenceLift(key: Uint8Array): EdwardsPoint | undefined {
  const bytes = Uint8Array.from(key);
  bytes[31]! &= 0x7f;
  const u = Fp.create(bytesToNumberLE(bytes));
  if (Fp.is0(Fp.add(u, Fp.ONE))) return undefined;
  const y = Fp.div(Fp.sub(u, Fp.ONE), Fp.add(u, Fp.ONE));
  try {
    return Point.fromBytes(numberToBytesLE(y, 32));
  } catch {
    return undefined;
  }
}

function referenceLiftPeerKey(key: Uint8Array): EdwardsPoint | undefined {
  const cleared = referenceLift(key)?.clearCofactor();
  return cleared === undefined || cleared.is0() ? undefined : cleared;
}

const u = (value: bigint): Uint8Array => numberToBytesLE(value, 32);
/** Montgomery u of an Edwards point: (1 + y)/(1 − y) (0 for y = 1, which X25519 reads as 0). */
const montgomery = (point: EdwardsPoint): Uint8Array => {
  const { y } = point.toAffine();
  return Fp.is0(Fp.sub(Fp.ONE, y)) ? u(0n) : u(Fp.div(Fp.add(Fp.ONE, y), Fp.sub(Fp.ONE, y)));
};

/** u that X25519 reads specially: 0, ±1, p − 1 and non-canonical encodings ≥ p, bit 255 set. */
const edgeKeys: Uint8Array[] = [
  ...[0n, 1n, 2n, P - 1n, P - 2n, P, P + 1n, 2n ** 255n - 1n].map(u),
  ...ED25519_TORSION_SUBGROUP.map((hex) => montgomery(Point.fromHex(hex))),
  Uint8Array.from(u(9n), (byte, i) => (i === 31 ? byte | 0x80 : byte)),
];

function sameLift(key: Uint8Array): void {
  const expected = referenceLiftPeerKey(key);
  const actual = liftPeerKey(key);
  if (expected === undefined) expect(actual).toBeUndefined();
  else {
    expect(actual).toBeDefined();
    expect(actual!.equals(expected)).toBe(true);
    expect(actual!.toBytes()).toEqual(expected.toBytes());
    actual!.assertValidity();
  }
}

describe('the X25519 key lift (liftPeerKey) against RFC 7748 written out', () => {
  it('agrees on random bytes (curve and twist points alike), sign of x included', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), sameLift), {
      numRuns: 300,
    });
  });

  it('agrees on honest keys and on keys with a small-order component added', () => {
    const random = seededRandom(11);
    for (let i = 0; i < 20; i++) {
      const secret = random(32);
      const publicKey = x25519.getPublicKey(secret);
      sameLift(publicKey);
      const lifted = referenceLift(publicKey)!;
      const torsion = Point.fromHex(ED25519_TORSION_SUBGROUP[1 + (i % 7)]!);
      sameLift(montgomery(lifted.add(torsion)));
    }
  });

  it('agrees on 0, ±1, p − 1, non-canonical u, the small-order points and bit 255 set', () => {
    for (const key of edgeKeys) sameLift(key);
    expect(liftPeerKey(u(P - 1n))).toBeUndefined(); // u + 1 = 0
    expect(liftPeerKey(u(0n))).toBeUndefined(); // small order
  });

  it('keeps key-possession proofs verifying, and refuses keys with a small-order component', () => {
    const random = seededRandom(12);
    const context = new TextEncoder().encode('lift test');
    for (let i = 0; i < 4; i++) {
      const secret = random(32);
      const publicKey = x25519.getPublicKey(secret);
      const proof = proveKeyPossession(secret, publicKey, context, random);
      expect(verifyKeyPossession(publicKey, proof, context)).toBe(true);
      const torsion = Point.fromHex(ED25519_TORSION_SUBGROUP[1 + i]!);
      const shifted = montgomery(referenceLift(publicKey)!.add(torsion));
      expect(verifyKeyPossession(shifted, proof, context)).toBe(false);
    }
    // RFC 7748 §6.1's Alice: her key lifts, and the lift is the reference's.
    sameLift(fromHex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a'));
  });
});
