import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { addInto, applyMask, expandMask, subtractInto } from '../../crypto/prg.ts';

const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 });
const wordsArb = fc.uint32Array({ minLength: 1, maxLength: 300 });

describe('mask expansion (ChaCha20)', () => {
  it('matches the RFC 8439 A.1 keystream (all-zero key, nonce and counter) read as LE words', () => {
    const expected = Buffer.from(
      '76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7' +
        'da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586',
      'hex',
    );
    const mask = expandMask(new Uint8Array(32), 16);
    expect(Array.from(mask)).toEqual(
      Array.from({ length: 16 }, (_, i) => expected.readUInt32LE(4 * i)),
    );
  });

  it('is deterministic in the seed and a prefix of a longer expansion', () => {
    fc.assert(
      fc.property(seedArb, fc.integer({ min: 1, max: 2000 }), (seed, words) => {
        const long = expandMask(seed, words + 17);
        expect(expandMask(seed, words)).toEqual(long.subarray(0, words));
      }),
      { numRuns: 50 },
    );
  });

  it('chunked application equals one full expansion, across 64 KiB chunk boundaries', () => {
    fc.assert(
      fc.property(seedArb, fc.integer({ min: 1, max: 50_000 }), (seed, words) => {
        const applied = new Uint32Array(words);
        applyMask(applied, seed, 1);
        expect(applied).toEqual(expandMask(seed, words));
        applyMask(applied, seed, -1);
        expect(applied.every((word) => word === 0)).toBe(true);
      }),
      { numRuns: 25 },
    );
  });

  it('different seeds give different masks', () => {
    const a = new Uint8Array(32);
    const b = new Uint8Array(32);
    b[31] = 1;
    expect(expandMask(a, 8)).not.toEqual(expandMask(b, 8));
  });

  it('adding then subtracting the same mask is the identity mod 2^32', () => {
    fc.assert(
      fc.property(seedArb, wordsArb, (seed, vector) => {
        const accumulator = Uint32Array.from(vector);
        applyMask(accumulator, seed, 1);
        applyMask(accumulator, seed, -1);
        expect(accumulator).toEqual(vector);
      }),
      { numRuns: 50 },
    );
  });

  it('adds and subtracts modulo 2^32 like BigInt arithmetic', () => {
    fc.assert(
      fc.property(wordsArb, fc.uint32Array({ minLength: 300, maxLength: 300 }), (a, bFull) => {
        const b = bFull.subarray(0, a.length);
        const sum = Uint32Array.from(a);
        addInto(sum, b);
        const difference = Uint32Array.from(a);
        subtractInto(difference, b);
        a.forEach((value, i) => {
          expect(BigInt(sum[i]!)).toBe((BigInt(value) + BigInt(b[i]!)) % 2n ** 32n);
          expect(BigInt(difference[i]!)).toBe(
            (BigInt(value) - BigInt(b[i]!) + 2n ** 32n) % 2n ** 32n,
          );
        });
      }),
      { numRuns: 50 },
    );
  });

  it('refuses vectors of different lengths', () => {
    expect(() => addInto(new Uint32Array(3), new Uint32Array(4))).toThrow(
      /vector length 4 does not match accumulator length 3/,
    );
  });
});
