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
  /**
   * s_i and e_i as small integers (coefficient form): the witness of the proof that p_i is
   * −a·s_i + e_i for short s_i, e_i (key-share-proof.ts). Zeroed with `secret` once dealt.
   */
  readonly witness: { readonly secret: Int8Array; readonly error: Int8Array };
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

/** One small integer polynomial (coefficient form), residues under every prime, in NTT form. */
function smallPolynomial(context: RnsContext, coefficients: Int8Array): BigUint64Array {
  return integerPolynomialToNtt(Array.from(coefficients, BigInt), context.moduli, context.tables);
}

export function generateKeyShare(
  a: BigUint64Array,
  context: RnsContext,
  random: RandomSource,
): KeyShare {
  const { degree, moduli } = context;
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
  const witness = {
    secret: Int8Array.from({ length: degree }, ternary),
    error: Int8Array.from({ length: degree }, binomial),
  };
  const secret = smallPolynomial(context, witness.secret);
  const error = smallPolynomial(context, witness.error);
  const product = multiplyPoly(a, secret, moduli, degree);
  const negated = new BigUint64Array(product.length);
  moduli.forEach((q, j) => {
    for (let c = j * degree; c < (j + 1) * degree; c++)
      negated[c] = product[c] === 0n ? 0n : q - product[c]!;
  });
  return { secret, publicShare: addPoly(negated, error, moduli, degree), witness };
}

export function aggregatePublicShares(
  shares: readonly BigUint64Array[],
  context: RnsContext,
): BigUint64Array {
  return shares
    .slice(1)
    .reduce((sum, share) => addPoly(sum, share, context.moduli, context.degree), shares[0]!);
}
