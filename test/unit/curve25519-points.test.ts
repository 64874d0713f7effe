import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js';
import { isLiftableOfLargeOrder, jacobi } from '../../crypto/curve25519-points.ts';
import { liftPeerKey } from '../../crypto/dleq.ts';
import { seededRandom } from '../../crypto/random.ts';

const P = 2n ** 255n - 19n;

function littleEndian(value: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, value >>= 8n) out[i] = Number(value & 0xffn);
  return out;
}

/** u = (1 + y) / (1 − y) of an Edwards point, or undefined for y = 1 (the identity). */
function montgomeryU(point: InstanceType<typeof ed25519.Point>): bigint | undefined {
  const { Fp } = ed25519.Point;
  const { y } = point.toAffine();
  if (y === 1n) return undefined;
  return Fp.div(Fp.add(Fp.ONE, y), Fp.sub(Fp.ONE, y));
}

describe('torsion check without the lift (crypto/curve25519-points.ts)', () => {
  it('agrees with liftPeerKey on random keys of the curve and of its twist', () => {
    const random = seededRandom(11);
    let onCurve = 0;
    for (let i = 0; i < 400; i++) {
      const key = random(32);
      const lifted = liftPeerKey(key) !== undefined;
      if (lifted) onCurve++;
      expect(isLiftableOfLargeOrder(key)).toBe(lifted);
    }
    // Both outcomes exercised (half the u-coordinates are on the twist).
    expect(onCurve).toBeGreaterThan(100);
    expect(onCurve).toBeLessThan(300);
  });

  it('refuses exactly the small-order points: every u of the 8-torsion, in every encoding', () => {
    const torsionU = ED25519_TORSION_SUBGROUP.map((hex) =>
      montgomeryU(ed25519.Point.fromHex(hex)),
    ).filter((u): u is bigint => u !== undefined);
    expect(new Set(torsionU).size).toBe(4);
    for (const u of torsionU) {
      const encodings = [littleEndian(u)];
      if (u + P < 2n ** 255n) encodings.push(littleEndian(u + P));
      const high = littleEndian(u);
      high[31]! |= 0x80;
      encodings.push(high);
      for (const key of encodings) {
        expect(liftPeerKey(key)).toBeUndefined();
        expect(isLiftableOfLargeOrder(key)).toBe(false);
      }
    }
    // u = −1 (no lift) and u = p ≡ 0.
    for (const u of [P - 1n, P]) {
      expect(liftPeerKey(littleEndian(u))).toBeUndefined();
      expect(isLiftableOfLargeOrder(littleEndian(u))).toBe(false);
    }
  });

  it('accepts a point of mixed order (prime-order part plus torsion), as liftPeerKey does', () => {
    const torsion = ed25519.Point.fromHex(ED25519_TORSION_SUBGROUP[1]!);
    const point = ed25519.Point.BASE.multiply(12345n).add(torsion);
    const key = littleEndian(montgomeryU(point)!);
    expect(liftPeerKey(key)).toBeDefined();
    expect(isLiftableOfLargeOrder(key)).toBe(true);
  });

  it('agrees with liftPeerKey on small and high-bit u-coordinates', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 255n - 1n }), (u) => {
        const key = littleEndian(u);
        expect(isLiftableOfLargeOrder(key)).toBe(liftPeerKey(key) !== undefined);
      }),
      { numRuns: 100 },
    );
    for (let u = 0n; u < 64n; u++) {
      const key = littleEndian(u);
      expect(isLiftableOfLargeOrder(key)).toBe(liftPeerKey(key) !== undefined);
    }
  });

  it('computes the Jacobi symbol (Euler’s criterion for the prime p)', () => {
    const random = seededRandom(5);
    for (let i = 0; i < 50; i++) {
      const a = BigInt('0x' + Buffer.from(random(32)).toString('hex')) % P;
      const euler = ed25519.Point.Fp.pow(a, (P - 1n) / 2n);
      expect(jacobi(a, P)).toBe(a === 0n ? 0 : euler === 1n ? 1 : -1);
    }
    expect(jacobi(0n, P)).toBe(0);
    expect(jacobi(4n, P)).toBe(1);
    expect(jacobi(2n, 15n)).toBe(1);
    expect(jacobi(7n, 15n)).toBe(-1);
    expect(jacobi(5n, 15n)).toBe(0);
  });
});
