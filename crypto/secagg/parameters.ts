import { assertFinite, assertInteger, CryptoInputError } from '../validate.ts';
import { Hypergeometric, logFactorial } from './hypergeometric.ts';

/**
 * Choosing the SecAgg+ graph degree k and Shamir threshold t from the number of clients n, the
 * fraction γ of clients the adversary may corrupt and the expected dropout fraction δ.
 * The analysis is that of Bell et al. (CCS 2020, §4) as instantiated in Google's
 * federated-compute graph parameter finder:
 * - security failure ≤ 2^-40, split over two events (2^-41 each): the honest survivors'
 *   graph disconnects, or some client has ≥ t corrupt neighbours;
 * - correctness failure ≤ 2^-20: some client has fewer than t surviving neighbours.
 * The search takes the smallest even k that satisfies both with t just above the security bound.
 */
export type AdversaryModel = 'semi-honest' | 'semi-malicious';

export interface ThreatModel {
  readonly clients: number;
  readonly corruptionRate: number;
  readonly dropoutRate: number;
  readonly adversary: AdversaryModel;
}

export interface GraphParameters {
  /** Neighbours per client; clients − 1 means the complete graph (classic SecAgg). */
  readonly degree: number;
  /** Shares needed to reconstruct, among the client's neighbours and itself. */
  readonly threshold: number;
  readonly complete: boolean;
}

export class InfeasibleParametersError extends CryptoInputError {
  override name = 'InfeasibleParametersError';
}

const SECURITY_BITS_PER_EVENT = 41;
const CORRECTNESS_BITS = 20;
// Guards floor(rate·n) against rounding down a product such as 0.05·100 = 5.000000000000001.
const RATE_EPSILON = 1e-14;

export function assertThreatModel(model: ThreatModel): void {
  assertInteger(model.clients, 'number of clients', 3, 1_000_000);
  assertFinite(model.corruptionRate, 'corruption rate');
  assertFinite(model.dropoutRate, 'dropout rate');
  if (model.corruptionRate < 0 || model.corruptionRate >= 1) {
    throw new CryptoInputError(`corruption rate must be in [0, 1), got ${model.corruptionRate}`);
  }
  if (model.dropoutRate < 0 || model.dropoutRate >= 1) {
    throw new CryptoInputError(`dropout rate must be in [0, 1), got ${model.dropoutRate}`);
  }
  const budget =
    model.adversary === 'semi-honest'
      ? model.corruptionRate + model.dropoutRate
      : model.corruptionRate + 2 * model.dropoutRate;
  if (budget > 0.9 + RATE_EPSILON) {
    const formula = model.adversary === 'semi-honest' ? 'γ + δ' : 'γ + 2δ';
    throw new InfeasibleParametersError(
      `${formula} = ${budget.toFixed(3)} exceeds 0.9 against a ${model.adversary} server: ` +
        'lower the corruption or dropout rate',
    );
  }
}

/** The sparsest SecAgg+ graph that meets the bounds, or the complete graph if none does. */
export function chooseGraphParameters(model: ThreatModel): GraphParameters {
  assertThreatModel(model);
  for (let degree = 2; degree < model.clients - 1; degree += 2) {
    const threshold = thresholdForDegree(model, degree);
    if (threshold !== undefined) return { degree, threshold, complete: false };
  }
  return completeGraphParameters(model);
}

/** Classic SecAgg: every client shares with all n (itself included). */
export function completeGraphParameters(model: ThreatModel, threshold?: number): GraphParameters {
  assertThreatModel(model);
  const n = model.clients;
  const corrupt = Math.floor((model.corruptionRate + RATE_EPSILON) * n);
  // Semi-honest: t corrupt clients must not reach t. Semi-malicious: the server may in addition
  // show different survivor sets to different clients, so t must exceed (n + γn)/2 (Bonawitz §6).
  const minimum =
    model.adversary === 'semi-honest' ? corrupt + 1 : Math.floor((n + corrupt) / 2) + 1;
  const survivors = Math.ceil((1 - model.dropoutRate - RATE_EPSILON) * n);
  const chosen = threshold ?? Math.max(minimum, 2);
  assertInteger(chosen, 'threshold', 2, n);
  if (chosen < minimum) {
    throw new InfeasibleParametersError(
      `threshold ${chosen} is insecure for ${n} clients with ${corrupt} corrupt against a ${model.adversary} server: use at least ${minimum}`,
    );
  }
  if (chosen > survivors) {
    throw new InfeasibleParametersError(
      `threshold ${chosen} exceeds the ${survivors} clients expected to survive (${n} clients, dropout rate ${model.dropoutRate}): ` +
        'lower the threshold or the dropout rate',
    );
  }
  return { degree: n - 1, threshold: chosen, complete: true };
}

function thresholdForDegree(model: ThreatModel, degree: number): number | undefined {
  const n = model.clients;
  const corrupt = Math.floor((model.corruptionRate + RATE_EPSILON) * n);
  const dropouts = Math.floor((model.dropoutRate + RATE_EPSILON) * n);
  const securityTail = 2 ** -SECURITY_BITS_PER_EVENT / n;
  const correctnessTail = 2 ** -CORRECTNESS_BITS / n;

  if (
    logProbabilityGraphDisconnects(n, degree, corrupt + dropouts) >=
    -SECURITY_BITS_PER_EVENT * Math.LN2
  ) {
    return undefined;
  }
  // Smallest t with P[corrupt neighbours ≥ t] < securityTail.
  const corruptNeighbours = new Hypergeometric(n, corrupt, degree);
  let threshold = 0;
  while (threshold <= degree && corruptNeighbours.upperTail(threshold) >= securityTail) threshold++;
  if (model.adversary === 'semi-malicious') {
    threshold = Math.ceil((threshold - 1 + degree - 1.25) / 2) + 1;
  }
  threshold = Math.max(threshold, 2);
  // Correctness: P[surviving neighbours < t] < correctnessTail.
  const survivors = Math.ceil((1 - model.dropoutRate - RATE_EPSILON) * n);
  const survivingNeighbours = new Hypergeometric(n, survivors, degree);
  return survivingNeighbours.cdf(threshold - 1) < correctnessTail ? threshold : undefined;
}

/**
 * Union bound on the Harary graph over a random ring losing connectivity once `removed`
 * clients (corrupt or dropped) are taken out: that needs two disjoint runs of k/2 consecutive
 * removed clients; there are n(n−k−1)/2 pairs of places for them.
 */
function logProbabilityGraphDisconnects(n: number, degree: number, removed: number): number {
  if (degree > removed) return -Infinity;
  return (
    Math.log(n) +
    Math.log(n - degree - 1) -
    Math.LN2 +
    logFactorial(removed) +
    logFactorial(n - degree) -
    logFactorial(n) -
    logFactorial(removed - degree)
  );
}
