import { forwardNtt, type NttTables } from './ntt.ts';

/**
 * Pointwise arithmetic on RNS polynomials in the NTT domain (SEAL's layout: residue j of a
 * polynomial is the block [j·N, (j+1)·N)), where products of polynomials are coefficient-wise.
 * BigInt because SEAL's primes reach 60 bits.
 */
export function addPoly(
  a: BigUint64Array,
  b: BigUint64Array,
  moduli: readonly bigint[],
  degree: number,
): BigUint64Array {
  assertShape(a, moduli, degree);
  assertShape(b, moduli, degree);
  const out = new BigUint64Array(a.length);
  for (let j = 0; j < moduli.length; j++) {
    const q = moduli[j]!;
    for (let i = j * degree; i < (j + 1) * degree; i++) {
      const sum = a[i]! + b[i]!;
      out[i] = sum >= q ? sum - q : sum;
    }
  }
  return out;
}

export function multiplyPoly(
  a: BigUint64Array,
  b: BigUint64Array,
  moduli: readonly bigint[],
  degree: number,
): BigUint64Array {
  assertShape(a, moduli, degree);
  assertShape(b, moduli, degree);
  const out = new BigUint64Array(a.length);
  for (let j = 0; j < moduli.length; j++) {
    const q = moduli[j]!;
    for (let i = j * degree; i < (j + 1) * degree; i++) out[i] = (a[i]! * b[i]!) % q;
  }
  return out;
}

function assertShape(poly: BigUint64Array, moduli: readonly bigint[], degree: number): void {
  if (poly.length !== moduli.length * degree) {
    throw new RangeError(
      `polynomial of ${poly.length} residues does not match ${moduli.length} primes × degree ${degree}`,
    );
  }
}

/** A polynomial with small signed integer coefficients, as residues under every prime, in NTT form. */
export function integerPolynomialToNtt(
  integers: readonly bigint[],
  moduli: readonly bigint[],
  tables: readonly NttTables[],
): BigUint64Array {
  const degree = integers.length;
  const out = new BigUint64Array(degree * moduli.length);
  moduli.forEach((q, j) => {
    const residues = BigUint64Array.from(integers, (value) => ((value % q) + q) % q);
    forwardNtt(residues, tables[j]!);
    out.set(residues, j * degree);
  });
  return out;
}
