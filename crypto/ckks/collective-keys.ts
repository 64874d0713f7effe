import { bytesToBigInt } from '../field.ts';
import type { RandomSource } from '../random.ts';
import { addPoly, integerPolynomialToNtt, multiplyPoly } from './rns.ts';
import type { RnsContext } from './threshold-decryption.ts';

/**
 * Collective public-key generation (Mouchet et al., PETS 2021, §4.2 "EncKeyGen"): all keyholders
 * expand the same common reference polynomial a from a public seed; keyholder i samples its own
 * secret s_i (uniform ternary) and error e_i (centred binomial, σ ≈ 3.2 like SEAL's) and
 * publishes p_i = −a·s_i + e_i. The collective key (Σ p_i, a) is an ordinary RLWE public key for
 * the secret Σ s_i, which nobody holds. Everything here is at SEAL's key level (all primes,
 * special prime included), in the NTT domain.
 */
export interface KeyShare {
  readonly secret: BigUint64Array;
  readonly publicShare: BigUint64Array;
}

/** a, uniform in R_q: sampled directly in the NTT domain (the NTT is a bijection). */
export function commonReferencePolynomial(
  context: RnsContext,
  random: RandomSource,
): BigUint64Array {
  const { degree, moduli } = context;
  const a = new BigUint64Array(degree * moduli.length);
  moduli.forEach((q, j) => {
    for (let c = j * degree; c < (j + 1) * degree; c++) a[c] = bytesToBigInt(random(16)) % q;
  });
  return a;
}

/** One small integer polynomial, residues under every prime, in NTT form. */
function smallPolynomial(context: RnsContext, sample: () => number): BigUint64Array {
  const integers = Array.from({ length: context.degree }, () => BigInt(sample()));
  return integerPolynomialToNtt(integers, context.moduli, context.tables);
}

export function generateKeyShare(
  a: BigUint64Array,
  context: RnsContext,
  random: RandomSource,
): KeyShare {
  const ternary = () => {
    for (;;) {
      const byte = random(1)[0]!;
      if (byte < 255) return (byte % 3) - 1;
    }
  };
  const binomial = () => {
    // Centred binomial with 21 coin pairs: variance 10.5.
    const bytes = random(6);
    let bits = 0;
    for (let i = 0; i < 42; i++) bits += (bytes[i >> 3]! >> (i & 7)) & 1 ? (i < 21 ? 1 : -1) : 0;
    return bits;
  };
  const secret = smallPolynomial(context, ternary);
  const error = smallPolynomial(context, binomial);
  const { degree, moduli } = context;
  const product = multiplyPoly(a, secret, moduli, degree);
  const negated = new BigUint64Array(product.length);
  moduli.forEach((q, j) => {
    for (let c = j * degree; c < (j + 1) * degree; c++)
      negated[c] = product[c] === 0n ? 0n : q - product[c]!;
  });
  return { secret, publicShare: addPoly(negated, error, moduli, degree) };
}

export function aggregatePublicShares(
  shares: readonly BigUint64Array[],
  context: RnsContext,
): BigUint64Array {
  return shares
    .slice(1)
    .reduce((sum, share) => addPoly(sum, share, context.moduli, context.degree), shares[0]!);
}
