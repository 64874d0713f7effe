import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  bigIntToBytes,
  bytesToBigInt,
  Fp,
  fieldElementToBytes,
  SHAMIR_PRIME,
} from '../../crypto/field.ts';
import { modPow } from '../../crypto/modular.ts';

/** Miller–Rabin with fixed bases; a composite passes all 24 with probability < 4^-24. */
const isProbablePrime = (n: bigint): boolean => {
  let d = n - 1n;
  let s = 0;
  while (d % 2n === 0n) {
    d /= 2n;
    s++;
  }
  const bases = [
    2n,
    3n,
    5n,
    7n,
    11n,
    13n,
    17n,
    19n,
    23n,
    29n,
    31n,
    37n,
    41n,
    43n,
    47n,
    53n,
    59n,
    61n,
    67n,
    71n,
    73n,
    79n,
    83n,
    89n,
  ];
  return bases.every((a) => {
    let x = modPow(a, d, n);
    if (x === 1n || x === n - 1n) return true;
    for (let i = 1; i < s; i++) {
      x = (x * x) % n;
      if (x === n - 1n) return true;
    }
    return false;
  });
};

describe('Shamir field', () => {
  it('uses a prime modulus above 2^256, the smallest one', () => {
    expect(SHAMIR_PRIME > 2n ** 256n).toBe(true);
    expect(isProbablePrime(SHAMIR_PRIME)).toBe(true);
    for (let candidate = 2n ** 256n + 1n; candidate < SHAMIR_PRIME; candidate += 2n) {
      expect(isProbablePrime(candidate)).toBe(false);
    }
  });

  it('encodes every field element in 33 bytes and decodes it back', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: SHAMIR_PRIME - 1n }), (value) => {
        expect(bytesToBigInt(fieldElementToBytes(value))).toBe(value);
      }),
    );
  });

  it('refuses to encode a value wider than the requested length', () => {
    expect(() => bigIntToBytes(2n ** 256n, 32)).toThrow(/does not fit in 32 bytes/);
  });

  it('has inverses for every non-zero element', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: SHAMIR_PRIME - 1n }), (value) => {
        expect(Fp.mul(value, Fp.inv(value))).toBe(1n);
      }),
      { numRuns: 50 },
    );
  });
});
