import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { combineRows, fillSigned } from '../../crypto/ckks/row-combinations.ts';

// Two 52-bit NTT primes of the default set and a 36-bit one of the test set.
const PRIMES = [4503599626321921, 4503599626682369, 68719206401];

/** Σ_i c_ji·x_i in BigInt: the reference. */
function reference(challenges: Int8Array, rows: number, columns: bigint[][]): bigint[][] {
  const count = columns.length;
  return Array.from({ length: rows }, (_, j) =>
    columns[0]!.map((_, k) =>
      columns.reduce((sum, column, i) => sum + BigInt(challenges[j * count + i]!) * column[k]!, 0n),
    ),
  );
}

const mod = (x: bigint, q: bigint) => ((x % q) + q) % q;
const challengesFor = (rows: number, count: number) =>
  fc.array(fc.integer({ min: -1, max: 1 }), { minLength: rows * count, maxLength: rows * count });

describe('row combinations in WebAssembly', () => {
  it('reduces Σ c·x modulo each prime exactly, for any count of columns (triples, pairs, one)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 2 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (count, rows, primes, seed) => {
          const moduli = PRIMES.slice(primes === 1 ? 2 : 0, primes === 1 ? 3 : 2);
          const degree = 8;
          const length = moduli.length * degree;
          // Residues spread over [0, q), including q − 1 and 0, from the seed.
          const columns = Array.from({ length: count }, (_, i) =>
            Array.from({ length }, (_, k) => {
              const q = BigInt(moduli[Math.floor(k / degree)]!);
              const r = BigInt((seed * 2654435761 + i * 40503 + k * 97) >>> 0) ** 2n;
              return k === 0 ? q - 1n : k === 1 ? 0n : r % q;
            }),
          );
          const challenges = Int8Array.from(
            { length: rows * count },
            (_, x) => (((seed >>> (x % 24)) + x) % 3) - 1,
          );
          const sums = combineRows(
            challenges,
            rows,
            {
              count,
              length,
              fill: (i, words) =>
                columns[i]!.forEach((value, k) => {
                  words[2 * k] = Number(value & 0xffffffffn);
                  words[2 * k + 1] = Number(value >> 32n);
                }),
            },
            { degree, moduli },
          );
          const expected = reference(challenges, rows, columns);
          sums.forEach((row, j) =>
            expect(Array.from(row, BigInt)).toEqual(
              expected[j]!.map((x, k) => mod(x, BigInt(moduli[Math.floor(k / degree)]!))),
            ),
          );
        },
      ),
      { numRuns: 60 },
    );
  });

  it('gives exact signed sums of small integers (the prover) with random challenges', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 4 }), (count, rows) =>
        fc.assert(
          fc.property(
            challengesFor(rows, count),
            fc.array(
              fc.array(fc.integer({ min: -21, max: 21 }), { minLength: 16, maxLength: 16 }),
              {
                minLength: count,
                maxLength: count,
              },
            ),
            (entries, columns) => {
              const challenges = Int8Array.from(entries);
              const sums = combineRows(challenges, rows, {
                count,
                length: 16,
                fill: (i, words) => fillSigned(columns[i]!, words),
              });
              const expected = reference(
                challenges,
                rows,
                columns.map((column) => column.map(BigInt)),
              );
              sums.forEach((row, j) => expect(Array.from(row, BigInt)).toEqual(expected[j]));
            },
          ),
          { numRuns: 5 },
        ),
      ),
      { numRuns: 20 },
    );
  });

  it('handles the proof-sized case (81 rows, 128 columns of 2·8192) with the largest residues', () => {
    const q = PRIMES[0]!;
    const count = 128;
    const rows = 81;
    const length = 2 * 8192;
    // Every column q − 1: each row's sum is (Σ_i c_ji)·(q − 1), up to 128·2^52 before reduction.
    const challenges = Int8Array.from({ length: rows * count }, (_, x) => ((x * 7) % 3) - 1);
    const high = Math.floor((q - 1) / 2 ** 32);
    const sums = combineRows(
      challenges,
      rows,
      {
        count,
        length,
        fill: (_, words) => {
          for (let k = 0; k < length; k++) {
            words[2 * k] = q - 1 - high * 2 ** 32;
            words[2 * k + 1] = high;
          }
        },
      },
      { degree: 8192, moduli: [q, q] },
    );
    for (let j = 0; j < rows; j += 10) {
      let total = 0n;
      for (let i = 0; i < count; i++) total += BigInt(challenges[j * count + i]!);
      const expected = Number(mod(total * BigInt(q - 1), BigInt(q)));
      expect(sums[j]![0]).toBe(expected);
      expect(sums[j]![length - 1]).toBe(expected);
    }
  });

  it('refuses shapes it cannot take', () => {
    const fill = () => {};
    expect(() => combineRows(new Int8Array(3), 2, { count: 2, length: 8, fill })).toThrow(
      /one challenge per row and column/,
    );
    expect(() => combineRows(new Int8Array(2), 1, { count: 2, length: 7, fill })).toThrow(
      /even length/,
    );
  });
});
