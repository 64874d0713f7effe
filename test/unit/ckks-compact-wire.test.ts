import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { BitReader, BitWriter } from '../../crypto/ckks/bit-stream.ts';
import {
  addCiphertextInto,
  checkCiphertext,
  compactC0Shape,
  compactWireLength,
  InvalidCiphertextError,
  packCompactCiphertext,
  wireLength,
  wireResidues,
  type CiphertextExpectations,
} from '../../crypto/ckks/ciphertext-wire.ts';

/**
 * The compact upload form ("VSC2", ciphertext-wire.ts `CompactC0`) as bytes, property-tested on
 * its own: encoding then decoding gives back c1 and every rounded c0 coefficient, and every
 * malformed form — a nonzero padding bit, a w′ above its range, an unreduced c1 residue, a
 * byte too few or too many — is refused with InvalidCiphertextError. Two 52-bit moduli and
 * Δ = 2^92 give SUM_8192's shape (35-bit w′); small degrees make N·35 bits end mid-byte, so
 * there is padding to tamper with (at N = 8192 there is none).
 */
const moduli = [2n ** 52n - 2n ** 20n + 1n, 2n ** 52n - 2n ** 21n + 1n];
const scale = 2 ** 92;
const compactC0 = compactC0Shape(moduli, scale)!;

function expectationsFor(degree: number): CiphertextExpectations {
  return {
    parmsId: new Uint8Array(32).fill(7),
    compactC0,
    polyModulusDegree: degree,
    moduli,
    scale,
    sealVersion: { major: 4, minor: 1 },
  };
}

/** c1 residues (prime by prime, each < q) and w′ (each ≤ max) for `degree`. */
const content = (degree: number) =>
  fc.record({
    c1: fc.tuple(
      ...moduli.map((q) =>
        fc.array(fc.bigInt({ min: 0n, max: q - 1n }), { minLength: degree, maxLength: degree }),
      ),
    ),
    rounded: fc.array(fc.integer({ min: 0, max: compactC0.max }), {
      minLength: degree,
      maxLength: degree,
    }),
  });

function encode(
  expected: CiphertextExpectations,
  c1: readonly (readonly bigint[])[],
  rounded: readonly number[],
): Uint8Array {
  const residues = c1.flat();
  const words = new Uint32Array(2 * residues.length);
  residues.forEach((r, i) => {
    words[2 * i] = Number(r & 0xffffffffn);
    words[2 * i + 1] = Number(r >> 32n);
  });
  return packCompactCiphertext(words, Float64Array.from(rounded), expected);
}

/** c1 as the proof verifier reads it, and w′ as the running sum adds it (into zero sums). */
function decode(wire: Uint8Array, expected: CiphertextExpectations) {
  const degree = expected.polyModulusDegree;
  checkCiphertext(wire, expected);
  const c1 = Array.from(wireResidues(wire, expected, 1), BigInt);
  const sum = new Float64Array(2 * degree * moduli.length);
  const rounded = new Float64Array(degree);
  addCiphertextInto(sum, wire, expected, rounded);
  // The running sum's c0 half is untouched (c0 travels as w′) and its c1 half is c1.
  expect(sum.subarray(0, degree * moduli.length).every((x) => x === 0)).toBe(true);
  expect(Array.from(sum.subarray(degree * moduli.length), BigInt)).toEqual(c1);
  return { c1, rounded: Array.from(rounded) };
}

// Even degrees only: the 20-bit high parts of a 52-bit residue pack two to 5 bytes.
const degrees = fc.integer({ min: 1, max: 12 }).map((half) => 2 * half);

describe('compact ciphertext wire (VSC2) through bit-stream.ts', () => {
  it('has 35-bit w′ for two 52-bit primes at Δ = 2^92 (SUM_8192), and no padding at N = 8192', () => {
    expect(compactC0).toMatchObject({ shift: 17, bits: 35 });
    expect((8192 * compactC0.bits) % 8).toBe(0);
    expect(compactWireLength(expectationsFor(8192))).toBe(
      wireLength(expectationsFor(8192), 1) + (8192 * 35) / 8,
    );
  });

  it('decode ∘ encode is the identity', () => {
    fc.assert(
      fc.property(
        degrees.chain((degree) => fc.tuple(fc.constant(degree), content(degree))),
        ([degree, { c1, rounded }]) => {
          const expected = expectationsFor(degree);
          const wire = encode(expected, c1, rounded);
          expect(wire.length).toBe(compactWireLength(expected));
          expect(decode(wire, expected)).toEqual({ c1: c1.flat(), rounded });
        },
      ),
      { numRuns: 150 },
    );
  });

  it('decode ∘ encode is the identity at N = 8192, with w′ at 0 and max', () => {
    const expected = expectationsFor(8192);
    const c1 = moduli.map((q) => Array.from({ length: 8192 }, (_, c) => (q - 1n - BigInt(c)) % q));
    const rounded = Array.from({ length: 8192 }, (_, c) =>
      c % 3 === 0 ? compactC0.max : c % 3 === 1 ? 0 : (c * 2654435761) % compactC0.max,
    );
    expect(decode(encode(expected, c1, rounded), expected)).toEqual({ c1: c1.flat(), rounded });
  });

  it('any change to the padding bits of the last byte is refused', () => {
    fc.assert(
      fc.property(
        degrees
          .filter((degree) => (degree * compactC0.bits) % 8 !== 0)
          .chain((degree) =>
            fc.tuple(fc.constant(degree), content(degree), fc.integer({ min: 1, max: 255 })),
          ),
        ([degree, { c1, rounded }, flip]) => {
          const expected = expectationsFor(degree);
          const wire = encode(expected, c1, rounded);
          const used = (degree * compactC0.bits) % 8; // data bits of the last byte
          const padding = (0xff << used) & 0xff;
          const bad = wire.slice();
          const mask = flip & padding || padding & -padding;
          bad[bad.length - 1] = bad[bad.length - 1]! ^ mask;
          expect(() => checkCiphertext(bad, expected)).toThrow(InvalidCiphertextError);
          expect(() => checkCiphertext(bad, expected)).toThrow(
            'compact ciphertext: nonzero padding after the rounded c0',
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it('refuses a w′ above max, an unreduced c1 residue, a truncated or overlong wire', () => {
    fc.assert(
      fc.property(
        degrees.chain((degree) =>
          fc.tuple(
            fc.constant(degree),
            content(degree),
            fc.nat({ max: degree - 1 }),
            fc.nat({ max: moduli.length - 1 }),
          ),
        ),
        ([degree, { c1, rounded }, at, prime]) => {
          const expected = expectationsFor(degree);
          const tooHigh = rounded.slice();
          tooHigh[at] = compactC0.max + 1;
          expect(() => checkCiphertext(encode(expected, c1, tooHigh), expected)).toThrow(
            `rounded c0 coefficient ${at} is ${compactC0.max + 1}, above ${compactC0.max}`,
          );
          const unreduced = c1.map((poly) => poly.slice());
          unreduced[prime]![at] = moduli[prime]!;
          expect(() => checkCiphertext(encode(expected, unreduced, rounded), expected)).toThrow(
            `residue ${at} of polynomial 0, prime ${prime} is not reduced modulo its prime`,
          );
          const wire = encode(expected, c1, rounded);
          const longer = new Uint8Array(wire.length + 1);
          longer.set(wire);
          for (const bad of [wire.subarray(0, wire.length - 1), longer])
            expect(() => checkCiphertext(bad, expected)).toThrow(
              `ciphertext is ${bad.length} bytes; the round's parameters give ${wire.length}`,
            );
        },
      ),
      { numRuns: 60 },
    );
  });

  it('the proof verifier reads c1 alone: c0 is checked once, on arrival (checkCiphertext), and decoded where it is summed', () => {
    fc.assert(
      fc.property(
        degrees.chain((degree) =>
          fc.tuple(fc.constant(degree), content(degree), fc.nat({ max: degree - 1 })),
        ),
        ([degree, { c1, rounded }, at]) => {
          const expected = expectationsFor(degree);
          const tooHigh = rounded.slice();
          tooHigh[at] = compactC0.max + 1;
          const bad = encode(expected, c1, tooHigh);
          expect(() => checkCiphertext(bad, expected)).toThrow(/above/);
          // What verifyEncryptionProof reads: c1, identical to the honest wire's.
          expect(Array.from(wireResidues(bad, expected, 1), BigInt)).toEqual(c1.flat());
        },
      ),
      { numRuns: 30 },
    );
  });

  it('bit-stream.ts reads back any sequence of fields of 1 to 48 bits', () => {
    const field = fc
      .integer({ min: 1, max: 48 })
      .chain((count) => fc.tuple(fc.constant(count), fc.integer({ min: 0, max: 2 ** count - 1 })));
    fc.assert(
      fc.property(fc.array(field, { maxLength: 40 }), (fields) => {
        const bits = fields.reduce((sum, [count]) => sum + count, 0);
        const out = new Uint8Array(Math.ceil(bits / 8));
        const writer = new BitWriter(out, 0);
        for (const [count, value] of fields) writer.write(value, count);
        expect(writer.flush()).toBe(out.length);
        const reader = new BitReader(out, 0);
        expect(fields.map(([count]) => reader.read(count))).toEqual(fields.map(([, v]) => v));
        expect(() => reader.end()).not.toThrow();
        expect(() => reader.read(8)).toThrow(RangeError);
      }),
      { numRuns: 300 },
    );
  });
});
