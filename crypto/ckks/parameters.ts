import { assertInteger, CryptoInputError } from '../validate.ts';

/**
 * CKKS parameters for sum-only aggregation (no multiplications, so no rescaling levels).
 *
 * Security. N = 8192 with a 120-bit modulus: one 60-bit data prime q0 and SEAL's 60-bit "special"
 * prime, which only public-key encryption uses (SEAL encrypts at the key level and divides by the
 * special prime, which also shrinks the fresh noise). The HE-standard bound for 128-bit classical
 * security with ternary secrets at N = 8192 is log Q ≤ 218; SEAL checks it (`SecLevelType.tc128`).
 * A smaller ring (N = 4096) allows only 109 bits, which leaves no room for the flooding noise below.
 *
 * Wire. A fresh ciphertext is two polynomials over q0: 2 · N residues of 60 bits for N/2 slots, so
 * 2 · 2 · 60 / 8 = 30 bytes per parameter once residues are packed to the prime's width. A second
 * data prime would double that; sums need none.
 *
 * Scale and headroom. Values are encoded at Δ = 2^50. Decryption is correct while
 * |Δ·sum| + noise < q0/2 ≈ 2^59, so the plaintext sum of a slot must stay below 2^8 = 256
 * (`maxAbsSum`): a round of n clients with updates clipped to [−c, c] needs n·c ≤ 256. The round
 * set-up checks this.
 *
 * Flooding (threshold decryption; Li–Micciancio 2021 showed that publishing an approximate
 * decryption leaks the secret unless fresh noise hides the ciphertext noise). Each of the t
 * responding keyholders adds coefficients uniform in [−B, B], B = 2^floodBits. A decoded slot is
 * (1/Δ)·Σ_k E_k·Re(ζ^k) over the N coefficients of the total added noise E, so its error has
 * standard deviation σ = B·√(t·N/6)/Δ (variance of each uniform: B²/3; mean of Re² over roots: 1/2).
 * `floodBitsFor` takes the largest B for which 6σ (≈ 2·10⁻⁹ two-sided tail per slot) stays within
 * the precision target. For a 5e-5 target and t = 3 that is B = 2^27. The ciphertext
 * noise it hides — the special-prime rounding r0 + r1·s per client (σ ≈ √(N·n_keyholders·2/3/12)
 * ≈ 2^5 for 5 keyholders) summed over ≤ 256 clients — is below 2^10, so the flood exceeds it by
 * ≥ 2^17: a per-coefficient statistical distance of at most 2^-18. Every extra bit of flooding costs
 * one bit of precision; a deployment that can live with a looser target raises floodBits with it.
 */
export interface CkksParameterSet {
  readonly name: string;
  readonly polyModulusDegree: number;
  /** Data prime(s) first, the special prime last (SEAL's convention). */
  readonly coeffModulusBits: readonly number[];
  readonly scaleBits: number;
  /** Largest |plaintext sum| a slot may reach and still decrypt correctly. */
  readonly maxAbsSum: number;
}

export const SUM_8192: CkksParameterSet = {
  name: 'sum-8192',
  polyModulusDegree: 8192,
  coeffModulusBits: [60, 60],
  scaleBits: 50,
  maxAbsSum: 256,
};

/** A small ring for fast tests of logic that does not depend on the parameter size. Not secure. */
export const TEST_4096: CkksParameterSet = {
  name: 'test-4096-insecure',
  polyModulusDegree: 4096,
  coeffModulusBits: [54, 54],
  scaleBits: 44,
  maxAbsSum: 256,
};

export const PARAMETER_SETS: Readonly<Record<string, CkksParameterSet>> = {
  [SUM_8192.name]: SUM_8192,
  [TEST_4096.name]: TEST_4096,
};

export function parameterSetNamed(name: string): CkksParameterSet {
  const set = PARAMETER_SETS[name];
  if (!set) {
    throw new CryptoInputError(
      `unknown CKKS parameter set "${name}"; known: ${Object.keys(PARAMETER_SETS).join(', ')}`,
    );
  }
  return set;
}

export const slotCount = (set: CkksParameterSet): number => set.polyModulusDegree / 2;

export const ciphertextsFor = (set: CkksParameterSet, dimension: number): number =>
  Math.max(1, Math.ceil(dimension / slotCount(set)));

/** Standard deviation of a decoded slot's error from t keyholders' flooding at floodBits. */
export function floodingErrorSigma(
  set: CkksParameterSet,
  threshold: number,
  floodBits: number,
): number {
  return (2 ** floodBits * Math.sqrt((threshold * set.polyModulusDegree) / 6)) / 2 ** set.scaleBits;
}

/** The largest floodBits whose 6σ slot error stays within maxAbsError (see the module comment). */
export function floodBitsFor(
  set: CkksParameterSet,
  threshold: number,
  maxAbsError: number,
): number {
  assertInteger(threshold, 'threshold', 1, 64);
  if (!(maxAbsError > 0 && maxAbsError < 1))
    throw new CryptoInputError('maxAbsError must be in (0, 1)');
  const bits = Math.floor(Math.log2(maxAbsError / (6 * floodingErrorSigma(set, threshold, 0))));
  if (bits < 16) {
    throw new CryptoInputError(
      `a precision of ${maxAbsError} leaves only 2^${bits} of flooding noise for ${threshold} keyholders; ` +
        'choose a looser precision target or a larger scale',
    );
  }
  return bits;
}

/** Checks that n clients with updates clipped to [−clip, clip] cannot overflow a slot. */
export function assertSumFits(set: CkksParameterSet, maxClients: number, clip: number): void {
  if (!(clip > 0) || maxClients * clip > set.maxAbsSum) {
    throw new CryptoInputError(
      `${maxClients} clients × clip ${clip} can reach ${maxClients * clip}, beyond ±${set.maxAbsSum} ` +
        `that parameter set ${set.name} decrypts correctly; lower the clip or the number of clients`,
    );
  }
}
