/**
 * The contract's clock on Fabric is the proposal timestamp, which the submitter writes and signs
 * itself. Peers do not check it, so a member could backdate a revocation to before a round that
 * used its consent, or open a round "before" a revocation. Each endorsing peer's chaincode
 * therefore refuses a proposal whose timestamp is more than a bounded skew from its own clock: a
 * backdated transaction gets no endorsement from an honest peer, hence no majority.
 */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** The skew from `VEILSUM_MAX_CLOCK_SKEW_MS` (milliseconds), or the default of 5 minutes. */
export function maxClockSkewMs(environment: NodeJS.ProcessEnv = process.env): number {
  const configured = environment.VEILSUM_MAX_CLOCK_SKEW_MS;
  if (configured === undefined || configured === '') return DEFAULT_MAX_CLOCK_SKEW_MS;
  const skew = Number(configured);
  if (!Number.isSafeInteger(skew) || skew < 1_000 || skew > 24 * 3_600_000)
    throw new Error(
      `VEILSUM_MAX_CLOCK_SKEW_MS must be a whole number of milliseconds in [1000, 86400000], got ${configured}`,
    );
  return skew;
}

/** Why a proposal stamped `proposalMs` is refused by a peer whose clock reads `peerNowMs`. */
export function proposalTimeProblem(
  proposalMs: number,
  peerNowMs: number,
  maxSkewMs: number,
): string | undefined {
  if (!Number.isFinite(proposalMs)) return 'the proposal carries no readable timestamp';
  const skew = proposalMs - peerNowMs;
  if (Math.abs(skew) <= maxSkewMs) return undefined;
  return (
    `the proposal's timestamp ${iso(proposalMs)} is ${Math.round(Math.abs(skew) / 1000)} s ` +
    `${skew < 0 ? 'behind' : 'ahead of'} this peer's clock (${iso(peerNowMs)}); ` +
    `peers accept at most ${maxSkewMs / 1000} s: resubmit with a correct clock`
  );
}

function iso(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} ms since the epoch` : date.toISOString();
}
