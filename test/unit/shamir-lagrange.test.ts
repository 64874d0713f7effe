import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Fp, SHAMIR_PRIME } from '../../crypto/field.ts';
import {
  lagrangeCoefficients,
  lagrangeCoefficientsBatch,
  reconstructSecret,
  reconstructWithCoefficients,
  type Share,
} from '../../crypto/shamir.ts';
import { CryptoInputError } from '../../crypto/validate.ts';

/** The textbook weights, one field operation at a time: Π_{m≠j} (at − x_m) / Π_{m≠j} (x_j − x_m). */
function referenceCoefficients(indices: readonly number[], at: number): bigint[] {
  return indices.map((xj, j) => {
    let numerator = Fp.ONE;
    let denominator = Fp.ONE;
    indices.forEach((xm, m) => {
      if (m === j) return;
      numerator = Fp.mul(numerator, Fp.create(BigInt(at - xm)));
      denominator = Fp.mul(denominator, Fp.create(BigInt(xj - xm)));
    });
    return Fp.div(numerator, denominator);
  });
}

function referenceCombine(coefficients: readonly bigint[], shares: readonly Share[]): bigint {
  let sum = Fp.ZERO;
  coefficients.forEach((c, j) => (sum = Fp.add(sum, Fp.mul(c, shares[j]!.y))));
  return sum;
}

const indexArb = fc.integer({ min: 1, max: 0xffff });
/** Distinct share indices: small and large, near 0 and near 2^16 (products past 2^53). */
const indicesArb = fc.uniqueArray(
  fc.oneof(indexArb, fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0xfff0, max: 0xffff })),
  { minLength: 1, maxLength: 60, size: 'max' },
);
/** A field element, with 0, 1 and p − 1 often. */
const elementArb = fc.oneof(
  fc.constantFrom(0n, 1n, SHAMIR_PRIME - 1n, SHAMIR_PRIME - 2n, 2n ** 256n - 1n),
  fc.bigInt({ min: 0n, max: SHAMIR_PRIME - 1n }),
);

describe('Lagrange weights', () => {
  it('equal the textbook weights at 0 and at any other point, including one of the indices', () => {
    fc.assert(
      fc.property(
        indicesArb,
        fc.oneof(fc.constant(0), indexArb),
        fc.boolean(),
        fc.nat(),
        (indices, other, atAnIndex, position) => {
          const at = atAnIndex ? indices[position % indices.length]! : other;
          expect(lagrangeCoefficients(indices, at)).toEqual(referenceCoefficients(indices, at));
        },
      ),
      { numRuns: 150, endOnFailure: true },
    );
  });

  it('computed for several sets together equal each set computed alone', () => {
    fc.assert(
      fc.property(
        fc.array(indicesArb, { minLength: 0, maxLength: 6 }),
        fc.oneof(fc.constant(0), indexArb),
        (sets, at) => {
          const batch = lagrangeCoefficientsBatch(sets, at);
          expect(batch).toEqual(sets.map((indices) => referenceCoefficients(indices, at)));
        },
      ),
      { numRuns: 60, endOnFailure: true },
    );
  });

  it('equal the textbook weights for a coordinator-sized basis (54 of 1000, and 80 near 2^16)', () => {
    const bench = Array.from({ length: 54 }, (_, i) => 1 + ((i * 389) % 1000));
    const high = Array.from({ length: 80 }, (_, i) => 0xffff - 7 * i);
    expect(lagrangeCoefficients(bench, 0)).toEqual(referenceCoefficients(bench, 0));
    expect(lagrangeCoefficientsBatch([high, bench], 0)).toEqual([
      referenceCoefficients(high, 0),
      referenceCoefficients(bench, 0),
    ]);
  });

  it('at one of the indices are 1 there and 0 elsewhere', () => {
    expect(lagrangeCoefficients([3, 9, 65535], 9)).toEqual([0n, 1n, 0n]);
    expect(lagrangeCoefficientsBatch([[5, 7], [1], [2, 4]], 4)).toEqual([
      referenceCoefficients([5, 7], 4),
      [Fp.create(1n)],
      [0n, 1n],
    ]);
  });

  it('refuse an index given twice (no polynomial interpolates it)', () => {
    expect(() => lagrangeCoefficients([4, 9, 4], 0)).toThrow(CryptoInputError);
    expect(() =>
      lagrangeCoefficientsBatch(
        [
          [1, 2],
          [7, 7],
        ],
        0,
      ),
    ).toThrow(CryptoInputError);
  });

  it('combined with shares give the textbook sum (zero, 1 and p − 1 among them)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(indexArb, { minLength: 1, maxLength: 60, size: 'max' }),
        fc.infiniteStream(elementArb),
        fc.infiniteStream(elementArb),
        (indices, ys, cs) => {
          const shares = indices.map((x) => ({ x, y: ys.next().value as bigint }));
          // Arbitrary field elements as weights too (p − 1 and 0 included), not just Lagrange's.
          const arbitrary = indices.map(() => cs.next().value as bigint);
          expect(reconstructWithCoefficients(arbitrary, shares)).toBe(
            referenceCombine(arbitrary, shares),
          );
          const lagrange = lagrangeCoefficients(indices, 0);
          expect(reconstructWithCoefficients(lagrange, shares)).toBe(
            referenceCombine(lagrange, shares),
          );
        },
      ),
      { numRuns: 150, endOnFailure: true },
    );
  });

  it('recover f(0) of a polynomial through shares whose values are 0 and p − 1', () => {
    // f(x) = (p − 1) · x + 0 = −x: f(0) = 0; and the constant p − 1, whose f(0) is not a secret.
    const shares = [1, 2, 3].map((x) => ({ x, y: Fp.create(-BigInt(x)) }));
    expect(reconstructWithCoefficients(lagrangeCoefficients([1, 2, 3], 0), shares)).toBe(0n);
    const constant = [7, 8].map((x) => ({ x, y: SHAMIR_PRIME - 1n }));
    expect(reconstructWithCoefficients(lagrangeCoefficients([7, 8], 0), constant)).toBe(
      SHAMIR_PRIME - 1n,
    );
    expect(() => reconstructSecret(constant, 2)).toThrow(/not a 32-byte secret/);
  });
});
