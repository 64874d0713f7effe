import { bytesToBigInt } from '../field.ts';
import type { RandomSource } from '../random.ts';
import { assertInteger, CryptoInputError } from '../validate.ts';
import { modPow } from '../modular.ts';
import type { NttTables } from './ntt.ts';

/**
 * Shamir sharing of the CKKS secret for t-of-n threshold decryption (Mouchet et al., PETS 2021, §4; Lattigo's
 * multiparty package). The secret key s — an RNS polynomial in the NTT domain, as SEAL stores it
 * — is Shamir-shared independently under every RNS prime q_j (sharing commutes with the NTT, so
 * each NTT coefficient is shared as it is). Keyholder i answers a ciphertext (c0, c1) with
 *   d_i = λ_i · c1 · s_i + e_i      (λ_i: its Lagrange weight for the responding set, per prime)
 * where e_i is fresh flooding noise (uniform coefficients in ±2^floodBits) that hides the
 * ciphertext noise c1·s + c0 − m (the Li–Micciancio attack on approximate decryption). The
 * combiner adds c0 + Σ d_i = m + e + Σ e_i: the plaintext, with noise. Fewer than t shares give
 * an unrelated polynomial. The per-ciphertext arithmetic runs on SEAL objects (engine.ts).
 */
export interface RnsContext {
  readonly degree: number;
  readonly moduli: readonly bigint[];
  readonly tables: readonly NttTables[];
}

/** shares[k] is keyholder indices[k]'s share: same RNS shape as the secret. */
export function shareRnsSecret(
  secret: BigUint64Array,
  context: RnsContext,
  threshold: number,
  indices: readonly number[],
  random: RandomSource,
): BigUint64Array[] {
  const { degree, moduli } = context;
  assertInteger(threshold, 'threshold', 1, indices.length);
  if (secret.length !== degree * moduli.length)
    throw new CryptoInputError('secret does not match the RNS context');
  if (
    new Set(indices).size !== indices.length ||
    indices.some((x) => !Number.isSafeInteger(x) || x < 1)
  ) {
    throw new CryptoInputError('keyholder indices must be distinct positive integers');
  }
  const shares = indices.map(() => new BigUint64Array(secret.length));
  const xs = indices.map(BigInt);
  const coefficients = new Array<bigint>(threshold);
  for (let j = 0; j < moduli.length; j++) {
    const q = moduli[j]!;
    for (let c = j * degree; c < (j + 1) * degree; c++) {
      coefficients[0] = secret[c]!;
      // 16 random bytes more than q's size: the reduction bias is below 2^-64.
      for (let k = 1; k < threshold; k++) coefficients[k] = bytesToBigInt(random(16)) % q;
      for (let s = 0; s < xs.length; s++) {
        let value = 0n;
        for (let k = threshold - 1; k >= 0; k--) value = (value * xs[s]! + coefficients[k]!) % q;
        shares[s]![c] = value;
      }
    }
  }
  return shares;
}

/** λ_i(0) for keyholder `index` among `responders`, under every prime. */
export function lagrangeWeights(
  index: number,
  responders: readonly number[],
  moduli: readonly bigint[],
): bigint[] {
  if (!responders.includes(index))
    throw new CryptoInputError(`keyholder ${index} is not among the responders`);
  return moduli.map((q) => {
    let numerator = 1n;
    let denominator = 1n;
    for (const other of responders) {
      if (other === index) continue;
      numerator = (numerator * BigInt(other)) % q;
      denominator = (((denominator * BigInt(other - index)) % q) + q) % q;
    }
    return (numerator * modPow(denominator, q - 2n, q)) % q;
  });
}
