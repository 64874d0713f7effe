import { modPow } from '../modular.ts';

/**
 * The negacyclic number-theoretic transform over Z_q[X]/(X^N + 1) in SEAL's convention, so that
 * polynomials read out of SEAL objects (always NTT form for CKKS) can be brought to coefficient
 * form and back — needed to sample flooding noise for threshold decryption. Convention (SEAL's
 * Harvey NTT): ψ is the smallest primitive 2N-th root of unity mod q; the forward transform is
 * Cooley–Tukey with ψ's powers in bit-reversed order, input in natural order, output in
 * bit-reversed order; the inverse is Gentleman–Sande with ψ⁻¹ and a final N⁻¹ scaling.
 */
export interface NttTables {
  readonly modulus: bigint;
  readonly degree: number;
  readonly rootPowers: BigUint64Array;
  readonly inverseRootPowers: BigUint64Array;
  readonly inverseDegree: bigint;
}

/** The smallest primitive 2N-th root of unity modulo the NTT-friendly prime q (q ≡ 1 mod 2N). */
export function minimalPrimitiveRoot(degree: number, modulus: bigint): bigint {
  const order = BigInt(2 * degree);
  if ((modulus - 1n) % order !== 0n) throw new RangeError(`${modulus} is not ≡ 1 mod ${order}`);
  const cofactor = (modulus - 1n) / order;
  let root = 0n;
  for (let candidate = 2n; candidate < modulus; candidate++) {
    const r = modPow(candidate, cofactor, modulus);
    if (modPow(r, BigInt(degree), modulus) === modulus - 1n) {
      root = r;
      break;
    }
  }
  // Every primitive 2N-th root is an odd power of any one of them: take the smallest.
  const square = (root * root) % modulus;
  let power = root;
  let minimal = root;
  for (let k = 1; k < degree; k++) {
    power = (power * square) % modulus;
    if (power < minimal) minimal = power;
  }
  return minimal;
}

const bitReverse = (value: number, bits: number): number => {
  let out = 0;
  for (let i = 0; i < bits; i++) out |= ((value >> i) & 1) << (bits - 1 - i);
  return out;
};

export function nttTables(degree: number, modulus: bigint): NttTables {
  const bits = Math.log2(degree);
  if (!Number.isInteger(bits)) throw new RangeError(`degree ${degree} is not a power of two`);
  const psi = minimalPrimitiveRoot(degree, modulus);
  const psiInverse = modPow(psi, modulus - 2n, modulus);
  // ψ^i and ψ^-i by running products (one multiplication each), stored at bit-reversed index.
  const rootPowers = new BigUint64Array(degree);
  const inverseRootPowers = new BigUint64Array(degree);
  let power = 1n;
  let inversePower = 1n;
  for (let i = 0; i < degree; i++) {
    const at = bitReverse(i, bits);
    rootPowers[at] = power;
    inverseRootPowers[at] = inversePower;
    power = (power * psi) % modulus;
    inversePower = (inversePower * psiInverse) % modulus;
  }
  return {
    modulus,
    degree,
    rootPowers,
    inverseRootPowers,
    inverseDegree: modPow(BigInt(degree), modulus - 2n, modulus),
  };
}

/** In place: coefficients (natural order) → evaluations (bit-reversed order). */
export function forwardNtt(values: BigUint64Array, tables: NttTables): void {
  const { modulus: q, degree: n, rootPowers } = tables;
  for (let m = 1, t = n >> 1; m < n; m <<= 1, t >>= 1) {
    for (let i = 0; i < m; i++) {
      const w = rootPowers[m + i]!;
      const start = 2 * i * t;
      for (let j = start; j < start + t; j++) {
        const x = values[j]!;
        const y = (values[j + t]! * w) % q;
        values[j] = x + y >= q ? x + y - q : x + y;
        values[j + t] = x >= y ? x - y : x + q - y;
      }
    }
  }
}

/** In place: evaluations (bit-reversed order) → coefficients (natural order). */
export function inverseNtt(values: BigUint64Array, tables: NttTables): void {
  const { modulus: q, degree: n, inverseRootPowers, inverseDegree } = tables;
  for (let m = n >> 1, t = 1; m >= 1; m >>= 1, t <<= 1) {
    for (let i = 0; i < m; i++) {
      const w = inverseRootPowers[m + i]!;
      const start = 2 * i * t;
      for (let j = start; j < start + t; j++) {
        const x = values[j]!;
        const y = values[j + t]!;
        values[j] = x + y >= q ? x + y - q : x + y;
        values[j + t] = ((x >= y ? x - y : x + q - y) * w) % q;
      }
    }
  }
  for (let j = 0; j < n; j++) values[j] = (values[j]! * inverseDegree) % q;
}
