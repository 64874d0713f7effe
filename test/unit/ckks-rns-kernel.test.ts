import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { centredValues } from '../../crypto/ckks/coefficient-encoding.ts';
import { forwardNtt, inverseNtt, nttTables } from '../../crypto/ckks/ntt.ts';
import { kernelMulMod, RnsKernel } from '../../crypto/ckks/rns-kernel.ts';

// The data primes of sum-8192 (52 bits) and of test-4096-insecure (36 bits): all ≡ 1 mod 2·64.
const Q52 = [4503599626321921n, 4503599626682369n];
const Q36 = [68719206401n, 68719230977n];
const DEGREE = 64;

/** A modulus below 2^52 and two residues under it, edges included. */
const operands = fc
  .oneof(
    fc.constantFrom(...Q52, ...Q36, 2n ** 52n - 1n, 2n ** 52n - 3n, 3n, 2n ** 32n + 1n),
    fc.bigInt({ min: 3n, max: 2n ** 52n - 1n }),
  )
  .chain((q) => {
    const residue = fc.oneof(
      fc.constantFrom(0n, 1n, q - 1n, q - 2n, q >> 1n),
      fc.bigInt({ min: 0n, max: q - 1n }),
      // Products near 2^64 (where i64 wraps) and near its multiples.
      fc.constantFrom(2n ** 32n - 1n, 2n ** 32n, 2n ** 32n + 1n, 2n ** 26n).map((x) => x % q),
    );
    return fc.tuple(fc.constant(q), residue, residue);
  });

const kernelFor = (moduli: bigint[]) =>
  new RnsKernel(
    moduli,
    moduli.map((q) => nttTables(DEGREE, q)),
  );

/** The kernel's polynomial words as 64-bit integers. */
const u64 = (words: Uint32Array) =>
  new BigUint64Array(words.buffer, words.byteOffset, words.length / 2);

const residuesUnder = (moduli: bigint[]) =>
  fc.tuple(
    ...moduli.map((q) =>
      fc.array(fc.oneof(fc.constantFrom(0n, q - 1n), fc.bigInt({ min: 0n, max: q - 1n })), {
        minLength: DEGREE,
        maxLength: DEGREE,
      }),
    ),
  );

describe('RNS kernel (WebAssembly) against BigInt', () => {
  it('a·b mod q for every modulus below 2^52, edges and products near 2^64 included', () => {
    fc.assert(
      fc.property(operands, ([q, a, b]) => {
        expect(kernelMulMod(a, b, q)).toBe((a * b) % q);
      }),
      { numRuns: 2000 },
    );
    // The largest product the bound allows, and ones whose low 64 bits wrap to near zero.
    const q = 2n ** 52n - 1n;
    expect(kernelMulMod(q - 1n, q - 1n, q)).toBe(((q - 1n) * (q - 1n)) % q);
    expect(kernelMulMod(2n ** 32n, 2n ** 32n, q)).toBe(2n ** 64n % q);
    expect(kernelMulMod(2n ** 32n + 1n, 2n ** 32n - 1n, q)).toBe((2n ** 64n - 1n) % q);
  });

  it('forward and inverse NTT equal ntt.ts in SEAL’s convention, for 52- and 36-bit primes', () => {
    for (const moduli of [Q52, Q36]) {
      const kernel = kernelFor(moduli);
      fc.assert(
        fc.property(residuesUnder(moduli), (blocks) => {
          const words = u64(kernel.sumWords);
          blocks.forEach((block, j) => words.set(block, j * DEGREE));
          blocks.forEach((block, j) => {
            const expected = BigUint64Array.from(block);
            forwardNtt(expected, nttTables(DEGREE, moduli[j]!));
            kernel.transformSum(j, true);
            expect([...words.subarray(j * DEGREE, (j + 1) * DEGREE)]).toEqual([...expected]);
            inverseNtt(expected, nttTables(DEGREE, moduli[j]!));
            kernel.transformSum(j, false);
            expect([...words.subarray(j * DEGREE, (j + 1) * DEGREE)]).toEqual(block);
            expect([...expected]).toEqual(block);
          });
        }),
        { numRuns: 40 },
      );
    }
  });

  it('a partial: share·c1 + NTT(radix·high + low), negative and large floods included', () => {
    const moduli = Q52;
    const kernel = kernelFor(moduli);
    const flood = fc.array(
      fc.oneof(
        fc.constantFrom(0, -1, 1, 2 ** 53 - 1, -(2 ** 53 - 1)),
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
        fc.double({ min: -(2 ** 52), max: 2 ** 52, noNaN: true }).map(Math.trunc),
      ),
      { minLength: DEGREE, maxLength: DEGREE },
    );
    fc.assert(
      fc.property(residuesUnder(moduli), residuesUnder(moduli), flood, flood, (s, c1, hi, lo) => {
        kernel.setShare(BigUint64Array.from(s.flat()));
        u64(kernel.sumWords).set(c1.flat());
        kernel.flood(Float64Array.from(hi), Float64Array.from(lo));
        const got = u64(kernel.partial());
        moduli.forEach((q, j) => {
          const noise = BigUint64Array.from(hi, (h, c) => {
            const z = BigInt(h) * 2n ** 32n + BigInt(lo[c]!);
            return ((z % q) + q) % q;
          });
          forwardNtt(noise, nttTables(DEGREE, q));
          for (let c = 0; c < DEGREE; c++)
            expect(got[j * DEGREE + c]).toBe((s[j]![c]! * c1[j]![c]! + noise[c]!) % q);
        });
      }),
      { numRuns: 60 },
    );
  });

  it('combine arithmetic: 2·c0 + Σ d, back to coefficients, CRT as centredValues', () => {
    // Three primes of two sizes: Q ≈ 2^140, signed values up to ±Q/4 (the CRT's centring cuts
    // at the top digit's half, within Q/(2·q_top) of Q/2) and small ones.
    const moduli = [Q52[0]!, Q52[1]!, Q36[0]!];
    const Q = moduli.reduce((x, y) => x * y);
    const kernel = kernelFor(moduli);
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(fc.bigInt({ min: -(Q / 8n), max: Q / 8n }), fc.bigInt({ min: -9n, max: 9n })),
          {
            minLength: DEGREE,
            maxLength: DEGREE,
          },
        ),
        fc.bigInt({ min: 0n, max: Q - 1n }),
        (halves, shift) => {
          // c0 holds x/2 − shift·(chunk), the term holds the rest: 2·c0 + term = x mod Q.
          const values = halves.map((h) => 2n * h);
          const sum = u64(kernel.sumWords);
          const term = u64(kernel.termWords);
          moduli.forEach((q, j) => {
            const c0 = BigUint64Array.from(halves, (h) => (((h - shift) % q) + q) % q);
            const rest = BigUint64Array.from(values, () => (2n * shift) % q);
            forwardNtt(c0, nttTables(DEGREE, q));
            forwardNtt(rest, nttTables(DEGREE, q));
            sum.set(c0, j * DEGREE);
            term.set(rest, j * DEGREE);
          });
          kernel.double();
          kernel.addTerm();
          const got = Float64Array.from(kernel.centred(2 ** 40));
          const residues = Float64Array.from(
            moduli.flatMap((q) => values.map((x) => Number(((x % q) + q) % q))),
          );
          // Bit for bit what the JavaScript CRT gives, and within 2^-50 of the exact value.
          expect([...got]).toEqual([...centredValues(residues, moduli.map(Number), 2 ** 40)]);
          values.forEach((x, c) => {
            const exact = Number(x) / 2 ** 40;
            expect(Math.abs(got[c]! - exact)).toBeLessThanOrEqual(Math.abs(exact) * 2 ** -50);
          });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('an encryption and a proof commitment: a·v + e1, p0·v + m and a·x + y, against BigInt', () => {
    const moduli = Q52;
    const kernel = kernelFor(moduli);
    const small = fc.array(fc.integer({ min: -21, max: 21 }), {
      minLength: DEGREE,
      maxLength: DEGREE,
    });
    const wide = fc.array(fc.oneof(fc.constantFrom(0, 2 ** 53 - 1, -(2 ** 53 - 1)), fc.integer()), {
      minLength: DEGREE,
      maxLength: DEGREE,
    });
    const ntt = (values: readonly (number | bigint)[], j: number) => {
      const q = moduli[j]!;
      const out = BigUint64Array.from(values, (x) => ((BigInt(x) % q) + q) % q);
      forwardNtt(out, nttTables(DEGREE, q));
      return out;
    };
    let owner = {};
    fc.assert(
      fc.property(
        residuesUnder(moduli),
        residuesUnder(moduli),
        small,
        small,
        wide,
        wide,
        (p0, a, v, e1, x, y) => {
          owner = {};
          kernel.setKey(owner, BigUint64Array.from([...p0.flat(), ...a.flat()]));
          const message = moduli.flatMap((q) => x.map((m) => Number(((BigInt(m) % q) + q) % q)));
          const pair = BigUint64Array.from(
            u64(kernel.encrypt(Int8Array.from(v), Int8Array.from(e1), Float64Array.from(message))),
          );
          const product = kernel.keyProduct(Float64Array.from(x), y);
          moduli.forEach((q, j) => {
            const [vHat, e1Hat, mHat, xHat, yHat] = [v, e1, x, x, y].map((poly) => ntt(poly, j));
            for (let c = 0; c < DEGREE; c++) {
              const at = j * DEGREE + c;
              expect(pair[at]).toBe((p0[j]![c]! * vHat![c]! + mHat![c]!) % q);
              expect(pair[moduli.length * DEGREE + at]).toBe(
                (a[j]![c]! * vHat![c]! + e1Hat![c]!) % q,
              );
              expect(product[at]).toBe(Number((a[j]![c]! * xHat![c]! + yHat![c]!) % q));
            }
          });
        },
      ),
      { numRuns: 40 },
    );
  });

  it('refuses primes it cannot reduce exactly', () => {
    const q = 2n ** 52n + 1n;
    expect(() => new RnsKernel([q], [{ ...nttTables(DEGREE, Q52[0]!), modulus: q }])).toThrow(
      /below 2\^52/,
    );
  });
});
