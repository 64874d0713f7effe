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

/** (degree, threshold) weaker than the threat model requires. */
export class InsecureParametersError extends InfeasibleParametersError {
  override name = 'InsecureParametersError';
}

const SECURITY_BITS_PER_EVENT = 41;
const CORRECTNESS_BITS = 20;
// Guards ceil(rate·n) against rounding up a product such as 0.05·100 = 5.000000000000001.
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

/**
 * γn and δn as whole clients, rounded up: a threat model always allows at least one colluder (a
 * round of 19 at γ = 0.05 must still resist one), and a fractional dropout counts as one.
 */
export function corruptClients(model: ThreatModel): number {
  return Math.max(
    1,
    Math.ceil(model.corruptionRate * model.clients - RATE_EPSILON * model.clients),
  );
}

export function droppedClients(model: ThreatModel): number {
  return Math.max(0, Math.ceil(model.dropoutRate * model.clients - RATE_EPSILON * model.clients));
}

/**
 * The fewest inputs a released sum may hold by default: everybody but the δn the threat model
 * expects to drop. More dropouts than that are outside the model (the surviving graph may split
 * and leak partial sums), so the round aborts instead. Rounds may ask for more, never fewer.
 */
export function defaultMinContributors(model: ThreatModel): number {
  assertThreatModel(model);
  return Math.max(2, model.clients - droppedClients(model));
}

/**
 * The sparse graph is used only where it pays: at least this many clients, and at most half the
 * pairwise work of the complete graph. Below that a client's complete-graph work is a few dozen
 * key agreements, and the complete graph's threshold is the easiest to audit.
 */
export const SPARSE_MIN_CLIENTS = 50;
const SPARSE_SAVING_FACTOR = 2;

/** The sparsest SecAgg+ graph that meets the bounds, or the complete graph if none does. */
export function chooseGraphParameters(model: ThreatModel): GraphParameters {
  assertThreatModel(model);
  for (
    let degree = 2;
    model.clients >= SPARSE_MIN_CLIENTS && degree < model.clients - 1;
    degree += 2
  ) {
    const threshold = thresholdForDegree(model, degree);
    if (threshold === undefined) continue;
    if (SPARSE_SAVING_FACTOR * degree > model.clients - 1) break;
    return { degree, threshold, complete: false };
  }
  return completeGraphParameters(model);
}

/** Classic SecAgg: every client shares with all n (itself included). */
export function completeGraphParameters(model: ThreatModel, threshold?: number): GraphParameters {
  assertThreatModel(model);
  const n = model.clients;
  const minimum = minimumThreshold(model, n - 1)!;
  const survivors = n - droppedClients(model);
  const chosen = threshold ?? minimum;
  assertInteger(chosen, 'threshold', 2, n);
  if (chosen < minimum) {
    throw new InsecureParametersError(
      `threshold ${chosen} is insecure for ${n} clients with ${corruptClients(model)} corrupt against a ${model.adversary} server: use at least ${minimum}`,
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

/**
 * The smallest threshold that is secure for `degree` under the threat model, or undefined when
 * no threshold is (the sparse graph may disconnect once corrupt and dropped clients are removed).
 * Complete graph: semi-honest, t corrupt clients must not reach t; semi-malicious, the server may
 * also drop clients adaptively, so t must exceed (n + γn)/2 (Bonawitz §6).
 */
export function minimumThreshold(model: ThreatModel, degree: number): number | undefined {
  assertThreatModel(model);
  const n = model.clients;
  assertInteger(degree, 'degree', 2, n - 1);
  const corrupt = corruptClients(model);
  if (degree === n - 1) {
    const minimum =
      model.adversary === 'semi-honest' ? corrupt + 1 : Math.floor((n + corrupt) / 2) + 1;
    return Math.max(minimum, 2);
  }
  const dropouts = droppedClients(model);
  if (
    logProbabilityGraphDisconnects(n, degree, corrupt + dropouts) >=
    -SECURITY_BITS_PER_EVENT * Math.LN2
  ) {
    return undefined;
  }
  const semiHonest = semiHonestThreshold(model, degree);
  return Math.max(
    model.adversary === 'semi-malicious' ? semiMaliciousThreshold(semiHonest, degree) : semiHonest,
    2,
  );
}

/**
 * t1 on a sparse graph of `degree`: the smallest t with P[corrupt neighbours ≥ t] < 2^-41 / n,
 * so that a client's corrupt neighbours alone hold fewer than t1 of its shares.
 */
export function semiHonestThreshold(model: ThreatModel, degree: number): number {
  const n = model.clients;
  const securityTail = 2 ** -SECURITY_BITS_PER_EVENT / n;
  const corruptNeighbours = new Hypergeometric(n, corruptClients(model), degree);
  let threshold = 0;
  while (threshold <= degree && corruptNeighbours.upperTail(threshold) >= securityTail) threshold++;
  return threshold;
}

/**
 * A semi-malicious server may show one honest neighbour "v survived" (it reveals b_v's share)
 * and another "v dropped" (it reveals s_v^SK's share). Of v's k + 1 holders, fewer than t1 are
 * corrupt and reveal both, so both secrets reach t only if 2t ≤ k + 1 + t1: t must satisfy
 * 2t > k + 1 + t1 strictly, whatever the parity of t1 + k.
 */
export function semiMaliciousThreshold(semiHonest: number, degree: number): number {
  return Math.floor((semiHonest + degree + 1) / 2) + 1;
}

/**
 * Refuses (degree, threshold) weaker than the threat model allows: what a member checks before
 * it takes part, whoever chose the parameters. Correctness (enough survivors) is the
 * coordinator's concern; security is each member's.
 */
export function assertSecureParameters(
  model: ThreatModel,
  degree: number,
  threshold: number,
): void {
  assertThreatModel(model);
  const n = model.clients;
  if (!Number.isSafeInteger(degree) || degree < 2 || degree > n - 1)
    throw new InsecureParametersError(`degree ${degree} is not in [2, ${n - 1}]`);
  if (!Number.isSafeInteger(threshold) || threshold < 2 || threshold > degree + 1)
    throw new InsecureParametersError(`threshold ${threshold} is not in [2, ${degree + 1}]`);
  const minimum = minimumThreshold(model, degree);
  const describe = `${n} clients, γ = ${model.corruptionRate}, δ = ${model.dropoutRate}, ${model.adversary} server`;
  if (minimum === undefined) {
    throw new InsecureParametersError(
      `degree ${degree} is too sparse for ${describe}: the graph may disconnect once corrupt and dropped clients are removed`,
    );
  }
  if (threshold < minimum) {
    throw new InsecureParametersError(
      `threshold ${threshold} is below the secure minimum ${minimum} for degree ${degree} (${describe})`,
    );
  }
}

function thresholdForDegree(model: ThreatModel, degree: number): number | undefined {
  const threshold = minimumThreshold(model, degree);
  if (threshold === undefined) return undefined;
  // Correctness: P[surviving neighbours < t] < 2^-20 / n.
  const n = model.clients;
  const correctnessTail = 2 ** -CORRECTNESS_BITS / n;
  const survivingNeighbours = new Hypergeometric(n, n - droppedClients(model), degree);
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
