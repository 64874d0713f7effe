import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { forwardNtt, inverseNtt, minimalPrimitiveRoot, nttTables } from '../../crypto/ckks/ntt.ts';
import { modPow } from '../../crypto/modular.ts';
import { multiplyPoly } from '../../crypto/ckks/rns.ts';
import { parsePlaintext } from '../../crypto/ckks/seal-serialization.ts';
import { DEGREE, sealFixture } from '../support/seal-fixture.ts';

/** Schoolbook product in Z_q[X]/(X^N + 1). */
function negacyclicProduct(a: bigint[], b: bigint[], q: bigint): bigint[] {
  const n = a.length;
  const out = new Array<bigint>(n).fill(0n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const k = i + j;
      const term = a[i]! * b[j]!;
      if (k < n) out[k] = (out[k]! + term) % q;
      else out[k - n] = (((out[k - n]! - term) % q) + q) % q;
    }
  }
  return out;
}

describe('negacyclic NTT in SEAL’s convention', () => {
  it('finds the smallest primitive 2N-th root of unity', () => {
    const q = 97n; // 97 ≡ 1 mod 16
    const psi = minimalPrimitiveRoot(8, q);
    expect(modPow(psi, 8n, q)).toBe(96n);
    for (let x = 2n; x < psi; x++)
      expect(modPow(x, 8n, q) === 96n && modPow(x, 16n, q) === 1n).toBe(false);
  });

  it('inverse ∘ forward is the identity, and pointwise products are negacyclic convolutions', () => {
    const q = 7681n; // ≡ 1 mod 512
    const n = 16;
    const tables = nttTables(n, q);
    const poly = fc.array(fc.bigInt({ min: 0n, max: q - 1n }), { minLength: n, maxLength: n });
    fc.assert(
      fc.property(poly, poly, (a, b) => {
        const A = BigUint64Array.from(a);
        const B = BigUint64Array.from(b);
        forwardNtt(A, tables);
        forwardNtt(B, tables);
        const product = multiplyPoly(A, B, [q], n);
        inverseNtt(product, tables);
        expect(Array.from(product)).toEqual(negacyclicProduct(a, b, q));
        inverseNtt(A, tables);
        expect(Array.from(A)).toEqual(a);
      }),
      { numRuns: 30 },
    );
  });

  it('brings a SEAL secret key (stored in NTT form) back to the same ternary polynomial under every prime', async () => {
    const { secretKey, NONE, keyRns } = await sealFixture();
    const degree = DEGREE;
    const moduli = keyRns.moduli;
    const key = parsePlaintext(secretKey.saveToArray(NONE) as Uint8Array);
    const signed = moduli.map((q, j) => {
      const residues = key.data.slice(j * degree, (j + 1) * degree);
      inverseNtt(residues, nttTables(degree, q));
      return Array.from(residues, (v) => (v > q / 2n ? Number(v - q) : Number(v)));
    });
    expect(signed[0]!.every((c) => c >= -1 && c <= 1)).toBe(true);
    expect(signed[0]!.filter((c) => c !== 0).length).toBeGreaterThan(degree / 2);
    for (const other of signed.slice(1)) expect(other).toEqual(signed[0]);
  });
});
