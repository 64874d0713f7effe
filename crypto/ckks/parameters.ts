import { assertInteger, CryptoInputError } from '../validate.ts';
import {
  BOX_MULLER_RELATIVE_ERROR,
  BOX_MULLER_TAIL_BITS,
  floodShape,
  MAX_FLOOD_SIGMA,
  MIN_FLOOD_SIGMA,
  SPLINE_RIPPLE,
} from './gaussian.ts';

/**
 * CKKS parameters for sum-only aggregation under a threshold key, with verified encryption and
 * Gaussian flooding. Everything below is arithmetic that `floodingAnalysis` recomputes and the
 * tests check; the figures quoted are for the default set and the default key life.
 *
 * 1. Ring and security. N = 8192, two 52-bit data primes q0, q1 (Q ≈ 2^104) and a 52-bit special
 *    prime that only the key ceremony uses: log QP = 156 ≤ 218, the HE-standard bound for 128-bit
 *    classical security with ternary secrets at N = 8192 (SEAL checks it, `SecLevelType.tc128`).
 *
 * 2. What is decrypted. An upload proves (encryption-proof.ts) knowledge of short (v, e1) per
 *    ciphertext with challenges 0 or ζ^k (ζ = X^(2N/16)). Extraction from two accepting
 *    transcripts that differ in one challenge entry gives d·c1 = v̄·a + ē with d the difference
 *    of two challenges and v̄, ē differences of two accepted responses; 2/d is in R with norm
 *    ≤ κ = 1/sin(π/16) = 5.13 as an operator (`challengeInverseNorm`), so multiplying by it gives
 *    for every accepted ciphertext the exact relation
 *        2·c1 = v*·a + e*,   ‖v*‖₂ ≤ 2κ·B_v,  ‖e*‖₂ ≤ 2κ·B_e   (B: the verifier's per-repetition bounds)
 *    (κ = 2 for the ternary challenges of before, which took 81 repetitions instead of 32)
 *    but not one for c1 itself: c1 = 2⁻¹·(v*·a + e*) mod Q, and 2⁻¹·(odd) mod Q is ≈ Q/2, so the
 *    parity of v*·e + e*·s would leak through any flooding. Keyholders therefore decrypt 2·C:
 *        2·c0 + 2·c1·s = (2·c0 − v*·p0) + v*·e + e*·s      (p0 = −a·s + e)
 *    The first term the member knows; x = v*·e + e*·s is what flooding must hide. The result is
 *    read at scale 2Δ. c0 may be anything: it only moves the plaintext (poisoning, not privacy).
 *
 * 3. The noise to hide. e = Σ e_i (one centred binomial, variance 10.5, per keyholder) and s = Σ s_i
 *    (ternary, variance 2/3 each) are unknown to the member and, under RLWE, independent of what it
 *    can choose (the assumption this bound rests on: the member sees only the public key, which
 *    under RLWE hides e and s), so each coefficient of x has variance ‖v*‖₂²·σ_e² + ‖e*‖₂²·σ_s².
 *    Without it — witnesses aligned with e and s themselves, |x_c| ≤ ‖v*‖‖e‖ + ‖e*‖‖s‖ — the
 *    same settings give 40.9 bits instead of 54.9 for the ideal term (§4), still above the 40-bit
 *    floor. Summed over n contributors whose witnesses may be aligned (worst case
 *    ‖Σ v*‖ ≤ n·max‖v*‖): variance n²·(…). For u = 128 ciphertexts per proof, V = 32, α = 16
 *    (encryption-proof.ts): σ_v = 2^16.5, σ_e = 2^18.6, B = 1.1·σ·√N, so ‖v*‖₂ ≤ 2^26.5,
 *    ‖e*‖₂ ≤ 2^28.6, and with 5 keyholders and 10 contributors Var(x_coefficient) ≤ 2^66.4
 *    (honest members' is 2^24.5: the proof's slack costs 42 bits of variance, and the flooding is
 *    sized for the slack). α = 16 rather than 25 (2.2 instead of 1.7 expected attempts) buys
 *    back most of what κ = 5.13 instead of 2 costs: the ternary proof's bound was 2^65.8.
 *
 * 4. Flooding and its security. Each responding keyholder adds an independent discrete Gaussian
 *    of standard deviation σ_f to every coefficient (gaussian.ts). Against t − 1 colluding
 *    keyholders only one honest keyholder's flood counts. For Gaussians the KL divergence of a
 *    shift x is ‖x‖²/(2σ²); it adds up over coefficients, ciphertexts and rounds (chain rule, also
 *    for adaptively chosen ciphertexts). Over a key's life of R rounds of K ciphertexts:
 *        KL ≤ R·K·N·Var(x)/(2σ_f²),   statSecurityBits = −log₂ KL
 *    the rule of Li–Micciancio–Schultz–Sorrell (CRYPTO 2022, §5, noise flooding with Rényi/KL
 *    bounds) and of OpenFHE's NOISE_FLOODING mode (σ ≈ bound·2^{s/2}·√(queries)). By Pinsker the
 *    whole key life's transcript is within 2^{−(s+1)/2} in statistical distance of one computed
 *    without the secret; for search problems such as key recovery (Micciancio–Walter, Eurocrypt
 *    2018, bit security) s bits. Defaults: R = 1 000, K = 123 (10^6 parameters), N = 2^13,
 *    σ_f = 2^75.1 (t = 3, 5·10⁻⁵, §5):
 *    KL ≤ 2^(9.97 + 6.94 + 13 + 66.4 − 1 − 2·75.1) = 2^-54.9 for an ideal Gaussian. The sampler
 *    as implemented (gaussian.ts: Box–Muller in doubles for h, an exact spline S) holds each
 *    cell's probability only within a relative error, which adds E|ε|·1.8·‖x‖/σ + 2·E[ε²] per
 *    pair of coefficients (`samplerExcess`): 2^-44.3 over the key's life, so the figure the code
 *    computes and enforces is KL = 2^-44.2 → statSecurityBits 44.2 (honest noise: 44.3 — the
 *    sampler's own error, not the members' noise, is now what counts), a statistical distance of
 *    2^-22.6 (`statisticalDistanceLog2`: Pinsker, plus the tail cut's 2^-130 a pair).
 *    That figure assumes K = 123 and 10 contributors per round; the bound really grows with
 *    K·n² per decryption (one round of 100 contributors spends what 100 default rounds do). So
 *    keyholders do not count rounds alone: each decryption is charged its own term
 *    K·N·Var(x)/(2σ_f²) plus the sampler's excess, with its real K and contributor count
 *    (`decryptionKl`), and a decryption
 *    that would take the key's sum past 2^−40 (`KEY_KL_BUDGET`) is refused. R default rounds
 *    spend 2^-44.2 of it. Every keyholder sums the charges ALL keyholders recorded for the key on
 *    the ledger (services/keyholder/decryption-log.ts), not only its own.
 *
 * 5. Encoding, precision and range. Values are encoded by coefficient (coefficient-encoding.ts):
 *    value i is round(Δ·x_i) in coefficient i, Δ = 2^92, and the result is read at 2Δ. Nothing
 *    but additions touches a plaintext, so the slot encoding's canonical embedding would buy
 *    nothing — and it spreads every coefficient's noise over all slots: a decoded slot carries
 *    σ·√(N/2), a coefficient σ. Coefficient encoding gives each value the total flood of the t
 *    responders unamplified, deviation σ_f·√t/(2Δ); `floodingSigmaFor` takes the largest σ_f
 *    whose 7σ error stays within the precision target: σ_f = 2^75.1 for 5·10⁻⁵ with t = 3 — 2^6
 *    more flooding at the same precision than slots allowed, 12 bits more statistical security.
 *    The sum range: 2Δ·256 = 2^101 < Q/2 ≈ 2^103 with room for the flood (12σ_f·√t < 2^80) and the
 *    extracted noise (< 2^40).
 *
 * 6. Wire. A ciphertext is 2·N residues of 104 bits for N values: 26 bytes per parameter (the
 *    slot encoding's N/2 values made it 52). A member's upload sends c0 rounded to 35 bits
 *    (ciphertext-wire.ts, `CompactC0`: c0 is free, the rounding a public function of it, ≤ 2^-23
 *    of error per member and value): 17.4 bytes per parameter; aggregates travel whole. Smaller primes do not pay: two 50-bit primes would
 *    save 1 B/param for 4 bits of security, and two 36-bit primes (18 B/param) would leave
 *    σ_f ≤ 2^45, under 0 bits against the proof's slack by the rule above.
 */
export interface CkksParameterSet {
  readonly name: string;
  readonly polyModulusDegree: number;
  /** Data prime(s) first, the special prime last (SEAL's convention). */
  readonly coeffModulusBits: readonly number[];
  readonly scaleBits: number;
  /** Largest |plaintext sum| a slot may reach and still decrypt correctly. */
  readonly maxAbsSum: number;
  /** For tests only: no security claim, so no statistical-security floor on the flooding. */
  readonly insecure?: boolean;
}

export const SUM_8192: CkksParameterSet = {
  name: 'sum-8192',
  polyModulusDegree: 8192,
  coeffModulusBits: [52, 52, 52],
  scaleBits: 92,
  maxAbsSum: 256,
};

/** A small ring for fast tests of logic that does not depend on the parameter size. Not secure. */
export const TEST_4096: CkksParameterSet = {
  name: 'test-4096-insecure',
  polyModulusDegree: 4096,
  coeffModulusBits: [36, 36, 36],
  scaleBits: 60,
  maxAbsSum: 256,
  insecure: true,
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

/** Values one ciphertext holds: N, one per plaintext coefficient (coefficient-encoding.ts). */
export const valuesPerCiphertext = (set: CkksParameterSet): number => set.polyModulusDegree;

export const ciphertextsFor = (set: CkksParameterSet, dimension: number): number =>
  Math.max(1, Math.ceil(dimension / valuesPerCiphertext(set)));

/** Bits of the data modulus Q (every prime but the special one). */
export const dataModulusBits = (set: CkksParameterSet): number =>
  set.coeffModulusBits.slice(0, -1).reduce((sum, bits) => sum + bits, 0);

/**
 * Verified encryption (encryption-proof.ts): the proof's shape, fixed here because the flooding
 * bound depends on it.
 */
export const PROOF = {
  /**
   * Challenge entries are 0 or a power of ζ = X^(2N/challengeOrder), a root of unity of order
   * 16 in R = Z[X]/(X^N + 1): 17 values (encryption-proof.ts). The ternary challenges of before
   * are the order-2 case (ζ = −1).
   */
  challengeOrder: 16,
  /** Repetitions: 17^-32 = 2^-130.8 soundness, also after grinding (`proofSoundnessBits`). */
  repetitions: 32,
  /** Most ciphertexts one proof covers; larger uploads carry one proof per batch. */
  maxBatch: 128,
  /** Gaussian rejection sampling: σ = α·T for a shift of norm ≤ T. */
  alpha: 16,
  /**
   * |⟨z, shift⟩_Σ| ≤ τ·‖shift‖_Σ (failure 2·e^{−τ²/2} < 2^-58) bounds the one rejection test on
   * (zv, ze): M = exp(√2·τ/α + 1/α²) ≈ 2.24 expected attempts (α = 16: §3 of
   * the module comment says why not 25).
   */
  tau: 9.1,
  /** ‖z_rep‖₂ ≤ 1.1·σ·√N is checked by the verifier (≥ 12 standard deviations of the norm). */
  normSlack: 1.1,
  /** |z| < 6σ (the prover restarts otherwise): sets the packed width. */
  infinitySlack: 6,
} as const;

/** −log₂ of the chance a proof passes for a ciphertext without a short preimage of twice its c1. */
export const proofSoundnessBits = (): number =>
  PROOF.repetitions * Math.log2(PROOF.challengeOrder + 1);

/**
 * The largest ‖2/d‖ over differences d of two distinct challenges, as an operator on R with the
 * coefficient ℓ2 norm (encryption-proof.ts, soundness): extraction multiplies a difference of two
 * accepted responses by 2/d. d = ζ^a (against 0) gives 2; d = ζ^b·(ζ^c − 1) gives 2/|1 − ω| at
 * the worst embedding ω of ζ^c, a root of unity of order dividing challengeOrder: 1/sin(π/order).
 */
export const challengeInverseNorm = (): number =>
  Math.max(2, 1 / Math.sin(Math.PI / PROOF.challengeOrder));

/** Secret: ternary (variance 2/3). Errors: centred binomial with 21 coin pairs (variance 10.5). */
export const SECRET_VARIANCE = 2 / 3;
export const ERROR_VARIANCE = 10.5;
export const ERROR_BOUND = 21;

export interface ProofShape {
  readonly sigmaV: number;
  readonly sigmaE: number;
  /** Per-repetition ℓ2 bounds the verifier enforces. */
  readonly boundV: number;
  readonly boundE: number;
  /** Bits per packed response coefficient (sign included). */
  readonly widthV: number;
  readonly widthE: number;
  /** Bounds on the whole shift Σ_i c_ji·w_i over all repetitions that σ is sized for. */
  readonly shiftV: number;
  readonly shiftE: number;
}

/** The response distribution for a proof over `count` ciphertexts. */
export function proofShape(set: CkksParameterSet, count: number): ProofShape {
  assertInteger(count, 'ciphertexts per proof', 1, PROOF.maxBatch);
  const n = set.polyModulusDegree;
  if ((2 * n) % PROOF.challengeOrder !== 0)
    throw new CryptoInputError(
      `the proof's challenges need N divisible by ${PROOF.challengeOrder / 2}`,
    );
  // Each challenge entry is nonzero with probability order/(order + 1), and a power of ζ only
  // permutes and negates coefficients, so the shift's squared norm concentrates around
  // V·N·u·(order/(order + 1))·variance. 1.25× headroom (the prover restarts in the rare case it
  // is above).
  const nonzero = PROOF.challengeOrder / (PROOF.challengeOrder + 1);
  const entries = PROOF.repetitions * n * count * nonzero;
  const shiftV = 1.25 * Math.sqrt(entries * SECRET_VARIANCE) + 64;
  const shiftE = 1.25 * Math.sqrt(entries * ERROR_VARIANCE) + 64 * ERROR_BOUND;
  const sigmaV = PROOF.alpha * shiftV;
  const sigmaE = PROOF.alpha * shiftE;
  const width = (sigma: number) => Math.ceil(Math.log2(PROOF.infinitySlack * sigma)) + 1;
  return {
    sigmaV,
    sigmaE,
    shiftV,
    shiftE,
    boundV: PROOF.normSlack * sigmaV * Math.sqrt(n),
    boundE: PROOF.normSlack * sigmaE * Math.sqrt(n),
    widthV: width(sigmaV),
    widthE: width(sigmaE),
  };
}

/** How a key is used over its life (section 4 of the module comment). */
export interface KeyLife {
  readonly rounds: number;
  readonly ciphertextsPerRound: number;
  /** Contributors per round whose extracted witnesses the bound covers (worst case: all, aligned). */
  readonly contributors: number;
  /** Keyholders in the ceremony (e and s are sums over all of them). */
  readonly keyholders: number;
}

export const DEFAULT_KEY_LIFE: KeyLife = {
  rounds: 1000,
  ciphertextsPerRound: 123,
  contributors: 10,
  keyholders: 5,
};

/** Variance of one coefficient of the secret-dependent noise x of a decrypted 2·aggregate. */
export function extractedNoiseVariance(set: CkksParameterSet, life: KeyLife): number {
  const shape = proofShape(set, PROOF.maxBatch);
  // Extraction: 2·c1 = (2/d)·(v̄·a + ē), v̄ and ē differences of two accepted responses.
  const vStar = challengeInverseNorm() * 2 * shape.boundV;
  const eStar = challengeInverseNorm() * 2 * shape.boundE;
  const perContributor =
    vStar ** 2 * life.keyholders * ERROR_VARIANCE + eStar ** 2 * life.keyholders * SECRET_VARIANCE;
  return life.contributors ** 2 * perContributor;
}

/** The same for honest members (encryption noise v·e + e1·s + e0, doubled). */
export function honestNoiseVariance(set: CkksParameterSet, life: KeyLife): number {
  const n = set.polyModulusDegree;
  const perMember = n * SECRET_VARIANCE * life.keyholders * ERROR_VARIANCE * 2 + ERROR_VARIANCE;
  return 4 * life.contributors * perMember;
}

/**
 * What the flooding sampler AS IMPLEMENTED (gaussian.ts) adds, per pair of flood coefficients,
 * to the KL of a shift x with E‖x‖² = 2·variance. Its unit cells hold probabilities within
 * relative ε of the ideal rounded Gaussian's (Box–Muller arithmetic and grid: δ(r) ≤ r·2^-47.2 at
 * radius r of the pair's h; the spline's ripple: 2·26·(2πσ_h)^-4), and for P' = P·(1 + ε):
 *     KL(P'‖P'_x) ≤ KL(P‖P_x)·(1 + E|ε|) + E|ε|·1.8·‖x‖/σ + 2·E[ε²]
 * (expand ln P'/P'_x = ln P/P_x + ln(1 + ε) − ln(1 + ε_x): Σ|P(y) − P(y + x)| ≤ ‖x‖/σ, and the
 * ε terms weigh ≤ |ε|·(|ε| + |ε_x|)). E over a Rayleigh radius: E r = 1.2533σ_h, E r² = 2σ_h².
 * The tail cut (2^-130 per pair) is a statistical distance, counted apart.
 */
export function samplerExcess(
  sigma: number,
  variance: number,
): { readonly relativeError: number; readonly perPair: number; readonly tailPerPair: number } {
  const { sigmaBase } = floodShape(sigma);
  const boxMuller = BOX_MULLER_RELATIVE_ERROR * sigmaBase;
  const ripple = 2 * SPLINE_RIPPLE * (2 * Math.PI * sigmaBase) ** -4;
  const meanError = 1.2533 * boxMuller + ripple;
  const meanSquareError = 2 * (2 * boxMuller ** 2) + 2 * ripple ** 2;
  return {
    relativeError: meanError,
    perPair: (meanError * 1.8 * Math.sqrt(2 * variance)) / sigma + 2 * meanSquareError,
    tailPerPair: 2 ** -BOX_MULLER_TAIL_BITS,
  };
}

/**
 * The key life's divergence for per-coefficient noise variance `variance`, for the sampler as
 * implemented: the ideal R·K·N·Var(x)/(2σ_f²) with the sampler's excess (`samplerExcess`) added,
 * and the statistical distance of the whole transcript from one computed without the secret
 * (Pinsker on the KL, plus the tail cut's mass).
 */
export function keyLifeDivergence(
  set: CkksParameterSet,
  sigma: number,
  life: KeyLife,
  variance: number = extractedNoiseVariance(set, life),
): { readonly kl: number; readonly statisticalDistance: number } {
  const coefficients = life.rounds * life.ciphertextsPerRound * set.polyModulusDegree;
  const excess = samplerExcess(sigma, variance);
  const kl =
    ((coefficients * variance) / (2 * sigma ** 2)) * (1 + excess.relativeError) +
    (coefficients / 2) * excess.perPair;
  return {
    kl,
    statisticalDistance: Math.sqrt(kl / 2) + (coefficients / 2) * excess.tailPerPair,
  };
}

/** −log₂ of the key-life KL divergence (`keyLifeDivergence`): statSecurityBits. */
export function statisticalSecurityBits(
  set: CkksParameterSet,
  sigma: number,
  life: KeyLife,
  variance: number = extractedNoiseVariance(set, life),
): number {
  return -Math.log2(keyLifeDivergence(set, sigma, life, variance).kl);
}

/** Standard deviation of a decoded value's error when t keyholders each flood with σ_f. */
export function floodingErrorSigma(
  set: CkksParameterSet,
  threshold: number,
  sigma: number,
): number {
  return (sigma * Math.sqrt(threshold)) / 2 ** (set.scaleBits + 1);
}

/** The floor keyholders hold the flooding to, for the default key life (module comment, §4). */
export const MIN_STAT_SECURITY_BITS = 40;

/** A key's KL budget over its whole life: 2^−40 (MIN_STAT_SECURITY_BITS bits). */
export const KEY_KL_BUDGET = 2 ** -MIN_STAT_SECURITY_BITS;

/**
 * The KL divergence one decryption adds to its key's total (module comment, §4): K·N·Var(x)/(2σ_f²)
 * for its own K ciphertexts and contributor count. Over R decryptions of the default shape the sum
 * is exactly the key-life KL `statisticalSecurityBits` bounds.
 */
export function decryptionKl(
  set: CkksParameterSet,
  sigma: number,
  ciphertexts: number,
  contributors: number,
  keyholders: number,
): number {
  assertInteger(ciphertexts, 'ciphertexts', 1);
  assertInteger(contributors, 'contributors', 1);
  const life: KeyLife = { rounds: 1, ciphertextsPerRound: ciphertexts, contributors, keyholders };
  return 2 ** -statisticalSecurityBits(set, sigma, life);
}

/**
 * Largest per-keyholder flooding σ_f whose 7σ value error stays within maxAbsError. A precision
 * target so tight that σ_f would give less than MIN_STAT_SECURITY_BITS over the default key life
 * is refused: the keyholder will not trade the key's security for precision.
 */
export function floodingSigmaFor(
  set: CkksParameterSet,
  threshold: number,
  maxAbsError: number,
): number {
  assertInteger(threshold, 'threshold', 1, 64);
  if (!(maxAbsError > 0 && maxAbsError < 1))
    throw new CryptoInputError('maxAbsError must be in (0, 1)');
  const sigma = maxAbsError / (7 * floodingErrorSigma(set, threshold, 1));
  const bits = statisticalSecurityBits(set, sigma, DEFAULT_KEY_LIFE);
  if (!set.insecure && bits < MIN_STAT_SECURITY_BITS) {
    throw new CryptoInputError(
      `a precision of ${maxAbsError} with ${threshold} keyholders allows flooding of only ` +
        `2^${Math.log2(sigma).toFixed(1)}, ${bits.toFixed(1)} bits of statistical security over ` +
        `${DEFAULT_KEY_LIFE.rounds} rounds (at least ${MIN_STAT_SECURITY_BITS} required); loosen the precision target`,
    );
  }
  if (sigma <= MIN_FLOOD_SIGMA) {
    throw new CryptoInputError(
      `a precision of ${maxAbsError} leaves only 2^${Math.log2(sigma).toFixed(1)} of flooding noise ` +
        `for ${threshold} keyholders; choose a looser precision target or a larger scale`,
    );
  }
  // A looser target than 2^80 of flooding needs is met with 2^80: more precision than asked,
  // and more security than the floor.
  return Math.min(sigma, MAX_FLOOD_SIGMA);
}

/** Flooding σ_f and the statistical security it gives over a key's life (the module comment). */
export function floodingAnalysis(
  set: CkksParameterSet,
  threshold: number,
  maxAbsError: number,
  life: KeyLife = DEFAULT_KEY_LIFE,
): {
  sigma: number;
  sigmaLog2: number;
  statSecurityBits: number;
  statisticalDistanceLog2: number;
  honestSecurityBits: number;
} {
  const sigma = floodingSigmaFor(set, threshold, maxAbsError);
  const divergence = keyLifeDivergence(set, sigma, life);
  return {
    sigma,
    sigmaLog2: Math.log2(sigma),
    statSecurityBits: -Math.log2(divergence.kl),
    statisticalDistanceLog2: Math.log2(divergence.statisticalDistance),
    honestSecurityBits: statisticalSecurityBits(set, sigma, life, honestNoiseVariance(set, life)),
  };
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

/**
 * The fewest contributions a party lets a CKKS sum hold, from the roster size n on the ledger and
 * its own δ (the fraction of members it expects to drop): max(2, ⌈(1 − δ)·n⌉). Below it, a round
 * closed with the victim and a few colluders is a sum the colluders subtract themselves from.
 * Members check it before uploading, keyholders before decrypting; `raisedTo` lifts it further.
 */
export function contributorFloor(rosterSize: number, dropoutRate: number, raisedTo = 0): number {
  assertInteger(rosterSize, 'roster size', 1, 2 ** 31);
  if (!(dropoutRate >= 0 && dropoutRate < 1))
    throw new CryptoInputError(`the dropout rate δ must be in [0, 1), got ${dropoutRate}`);
  // 1e-9 absorbs binary rounding: (1 − 0.05)·20 is 19, not 19.000000000000004.
  return Math.max(2, Math.ceil((1 - dropoutRate) * rosterSize - 1e-9), raisedTo);
}
