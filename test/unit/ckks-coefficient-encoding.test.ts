import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  centredValues,
  encodeCoefficients,
  inverseMod,
  mulMod,
} from '../../crypto/ckks/coefficient-encoding.ts';
import { CryptoInputError } from '../../crypto/validate.ts';

// Two 52-bit NTT primes for N = 8192 (SEAL's CoeffModulus.Create(8192, [52, 52, 52]) data primes)
// and a 36-bit one, as the parameter sets use.
const Q52 = [4503599626321921, 4503599626682369];
const Q36 = [68719206401];
const big = (x: number) => BigInt(x);

describe('coefficient encoding arithmetic', () => {
  it('mulMod is exact against BigInt for 52-bit moduli', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...Q52, ...Q36),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (q, x, y) => {
          const a = Math.min(q - 1, Math.floor(x * q));
          const b = Math.min(q - 1, Math.floor(y * q));
          expect(big(mulMod(a, b, q))).toBe((big(a) * big(b)) % big(q));
        },
      ),
      { numRuns: 2000 },
    );
    // The extremes, where a 26-bit half is all ones.
    const q = Q52[0]!;
    expect(big(mulMod(q - 1, q - 1, q))).toBe(1n);
    expect(inverseMod(2, q) * 2 - q).toBe(1);
  });

  it('decoding the encoding of x gives x back to 2^-40 for values across the whole ±256 range', () => {
    const scale = 2 ** 92;
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -256, max: 256, noNaN: true }), { minLength: 1, maxLength: 64 }),
        (values) => {
          const degree = 64;
          const noise = new Int8Array(degree);
          const residues = encodeCoefficients(
            values,
            scale,
            256,
            Q52,
            noise,
            new Float64Array(degree * 2),
          );
          residues.forEach((r, i) => expect(r >= 0 && r < Q52[Math.floor(i / degree)]!).toBe(true));
          const decoded = centredValues(residues, Q52, scale);
          values.forEach((x, i) => expect(Math.abs(decoded[i]! - x)).toBeLessThan(2 ** -40));
          // Coefficients past the values hold the noise alone: zero here.
          for (let i = values.length; i < degree; i++) expect(decoded[i]).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the residues are those of the integer round(Δ·x) + noise (checked with BigInt CRT)', () => {
    const values = [1.5, -1.5, 255.999, -0.000001, 0];
    const noise = Int8Array.from([3, -21, 0, 21, -1]);
    const residues = encodeCoefficients(values, 2 ** 92, 256, Q52, noise, new Float64Array(10));
    values.forEach((x, c) => {
      const m = BigInt(Math.round(x * 2 ** 92)) + BigInt(noise[c]!);
      Q52.forEach((q, j) => {
        const expected = ((m % big(q)) + big(q)) % big(q);
        expect(big(residues[j * 5 + c]!)).toBe(expected);
      });
    });
  });

  it('reconstructs the centred value of one prime and of two', () => {
    const q = Q36[0]!;
    expect(Array.from(centredValues(Float64Array.from([5, q - 5]), Q36, 1))).toEqual([5, -5]);
    const [q0, q1] = Q52 as [number, number];
    // −7 and 2^60 + 3, as residues mod q0 and q1.
    const x = 2n ** 60n + 3n;
    const residues = Float64Array.from([q0 - 7, Number(x % big(q0)), q1 - 7, Number(x % big(q1))]);
    const decoded = centredValues(residues, Q52, 1);
    expect(decoded[0]).toBe(-7);
    expect(decoded[1]).toBe(2 ** 60 + 3); // exact to the double nearest
  });

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a value past the sum range', 256.5],
  ])('refuses to encode %s', (_, x) => {
    expect(() =>
      encodeCoefficients([0, x], 2 ** 92, 256, Q52, new Int8Array(4), new Float64Array(8)),
    ).toThrow(CryptoInputError);
  });

  it('refuses more values than coefficients', () => {
    expect(() =>
      encodeCoefficients([1, 2, 3], 2 ** 92, 256, Q52, new Int8Array(2), new Float64Array(4)),
    ).toThrow(/do not fit/);
  });
});
