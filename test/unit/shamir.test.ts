import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { seededRandom } from '../../crypto/random.ts';
import {
  checkEncodedShare,
  decodeShare,
  encodeShare,
  InconsistentSharesError,
  reconstructSecret,
  type Share,
  splitSecret,
} from '../../crypto/shamir.ts';
import { SHAMIR_PRIME } from '../../crypto/field.ts';
import { CryptoInputError } from '../../crypto/validate.ts';

const secretArb = fc.uint8Array({ minLength: 32, maxLength: 32 });

/** n holders with distinct indices in 1..65535, a threshold 1..n, and a seed. */
const sharingArb = fc
  .record({
    indices: fc.uniqueArray(fc.integer({ min: 1, max: 0xffff }), { minLength: 1, maxLength: 24 }),
    thresholdFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    seed: fc.nat(),
    secret: secretArb,
  })
  .map(({ indices, thresholdFraction, seed, secret }) => ({
    indices,
    threshold: 1 + Math.floor(thresholdFraction * (indices.length - 1)),
    seed,
    secret,
  }));

describe('Shamir secret sharing', () => {
  it('reconstructs the secret from any t of the n shares', () => {
    fc.assert(
      fc.property(sharingArb, fc.nat(), ({ indices, threshold, seed, secret }, pickSeed) => {
        const shares = splitSecret(secret, threshold, indices, seededRandom(seed));
        const pick = seededRandom(pickSeed);
        const subset = [...shares].sort(() => (pick(1)[0]! & 1 ? 1 : -1)).slice(0, threshold);
        expect(reconstructSecret(subset, threshold)).toEqual(secret);
      }),
    );
  });

  it('reconstructs from all n shares, checking the extra ones', () => {
    fc.assert(
      fc.property(sharingArb, ({ indices, threshold, seed, secret }) => {
        const shares = splitSecret(secret, threshold, indices, seededRandom(seed));
        expect(reconstructSecret(shares, threshold)).toEqual(secret);
      }),
    );
  });

  it('detects a tampered share when more than t shares are given', () => {
    fc.assert(
      fc.property(
        sharingArb.filter(({ indices, threshold }) => indices.length > threshold),
        fc.nat(),
        fc.bigInt({ min: 1n, max: SHAMIR_PRIME - 1n }),
        ({ indices, threshold, seed, secret }, position, delta) => {
          const shares = splitSecret(secret, threshold, indices, seededRandom(seed));
          const victim = position % shares.length;
          const tampered: Share[] = shares.map((share, i) =>
            i === victim ? { x: share.x, y: (share.y + delta) % SHAMIR_PRIME } : share,
          );
          expect(() => reconstructSecret(tampered, threshold)).toThrow(InconsistentSharesError);
        },
      ),
    );
  });

  it('names the disagreeing share when an extra share was altered', () => {
    const shares = splitSecret(new Uint8Array(32).fill(7), 3, [1, 2, 3, 4, 5], seededRandom(3));
    const tampered = shares.map((share) => (share.x === 5 ? { x: 5, y: share.y + 1n } : share));
    try {
      reconstructSecret(tampered, 3);
      throw new Error('expected InconsistentSharesError');
    } catch (error) {
      expect(error).toBeInstanceOf(InconsistentSharesError);
      expect((error as InconsistentSharesError).disagreeingIndices).toEqual([5]);
    }
  });

  it('t − 1 shares are distributed identically whatever the secret (chi-square, 16 buckets)', () => {
    // With t = 3, the two shares at x = 1, 2 are uniform and independent of the secret. Bucket
    // the top nibble of y(1) and the parity pattern of y(2) for two very different secrets and
    // check both histograms are uniform; a sharing that leaks (e.g. constant term visible)
    // fails this at the 0.1% level.
    const samples = 4000;
    const histogram = (secret: Uint8Array, seed: number): number[] => {
      const counts = new Array<number>(16).fill(0);
      const random = seededRandom(seed);
      for (let i = 0; i < samples; i++) {
        const [first, second] = splitSecret(secret, 3, [1, 2, 3], random);
        const bucket = Number((first!.y >> 253n) & 3n) * 4 + Number(second!.y & 3n);
        counts[bucket]!++;
      }
      return counts;
    };
    const chiSquare = (counts: number[]) => {
      const expected = samples / counts.length;
      return counts.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
    };
    // 15 degrees of freedom: P[χ² > 37.7] = 0.001.
    expect(chiSquare(histogram(new Uint8Array(32), 11))).toBeLessThan(37.7);
    expect(chiSquare(histogram(new Uint8Array(32).fill(0xff), 12))).toBeLessThan(37.7);
  });

  it('is really threshold t: t − 1 shares interpolate to a different value', () => {
    fc.assert(
      fc.property(
        sharingArb.filter(({ threshold }) => threshold >= 2),
        ({ indices, threshold, seed, secret }) => {
          const shares = splitSecret(secret, threshold, indices, seededRandom(seed));
          // Interpolating t − 1 shares as if the threshold were t − 1 gives the wrong secret
          // except with probability ~2^-256 (or throws because the value is ≥ 2^256).
          let recovered: Uint8Array | undefined;
          try {
            recovered = reconstructSecret(shares.slice(0, threshold - 1), threshold - 1);
          } catch (error) {
            expect(error).toBeInstanceOf(InconsistentSharesError);
          }
          if (recovered !== undefined) expect(recovered).not.toEqual(secret);
        },
      ),
    );
  });

  it('encodes and decodes shares', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0xffff }),
        fc.bigInt({ min: 0n, max: SHAMIR_PRIME - 1n }),
        (x, y) => {
          expect(decodeShare(encodeShare({ x, y }))).toEqual({ x, y });
        },
      ),
    );
  });

  it('checks an encoded share without decoding it, exactly at the field boundary', () => {
    const at = (y: bigint) => encodeShareUnchecked(7, y);
    expect(checkEncodedShare(at(SHAMIR_PRIME - 1n))).toBe(7);
    expect(checkEncodedShare(at(2n ** 256n))).toBe(7);
    expect(checkEncodedShare(at(0n))).toBe(7);
    expect(() => checkEncodedShare(at(SHAMIR_PRIME))).toThrow(/not an element of the Shamir field/);
    expect(() => checkEncodedShare(at(2n ** 257n))).toThrow(/not an element/);
    expect(() => checkEncodedShare(encodeShareUnchecked(0, 1n))).toThrow(/index 0/);
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 264n - 1n }), (y) => {
        const bytes = at(y);
        if (y < SHAMIR_PRIME) expect(checkEncodedShare(bytes)).toBe(7);
        else expect(() => checkEncodedShare(bytes)).toThrow(CryptoInputError);
      }),
    );
  });

  it('rejects bad inputs with messages that name them', () => {
    const random = seededRandom(1);
    expect(() => splitSecret(new Uint8Array(31), 2, [1, 2], random)).toThrow(
      /secret must be 32 bytes/,
    );
    expect(() => splitSecret(new Uint8Array(32), 3, [1, 2], random)).toThrow(
      /need at least 3 share holders/,
    );
    expect(() => splitSecret(new Uint8Array(32), 2, [1, 1], random)).toThrow(
      /index 1 appears twice/,
    );
    expect(() => splitSecret(new Uint8Array(32), 2, [0, 1], random)).toThrow(CryptoInputError);
    const shares = splitSecret(new Uint8Array(32), 2, [1, 2], random);
    expect(() => reconstructSecret(shares.slice(0, 1), 2)).toThrow(/need 2 shares/);
    expect(() => decodeShare(new Uint8Array(35))).toThrow(/index 0/);
  });
});

/** x ‖ y as 2 + 33 bytes, without the range checks of encodeShare (to build invalid shares). */
function encodeShareUnchecked(x: number, y: bigint): Uint8Array {
  const bytes = new Uint8Array(35);
  bytes[0] = x >>> 8;
  bytes[1] = x & 0xff;
  let rest = y;
  for (let i = 34; i >= 2; i--) {
    bytes[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return bytes;
}
