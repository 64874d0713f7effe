import { contractErrorIn } from './fabric-errors.ts';
import { peerUnreachable } from './peer-failover.ts';

/**
 * A read through a peer the reader does not trust on its own. A member's own peer (or the peer
 * its connection file assigns it) is its view of the ledger; when that peer is down, any other
 * bank's peer could answer an evaluation with anything (a peer signs no proof of state), e.g. a
 * forged participant set that makes the member reveal what it must not. So a read that fails
 * over is asked of every bank's peer and accepted only if peers of a majority of the banks —
 * the same majority whose endorsements make a write — give the same answer (the same result
 * bytes, or the same contract refusal).
 */
export type PeerOutcome =
  | { readonly mspId: string; readonly result: Uint8Array }
  | { readonly mspId: string; readonly error: unknown };

export type MajorityVerdict =
  | { readonly kind: 'agreed'; readonly outcome: PeerOutcome }
  /** Too few peers reachable to make a majority: the outage, not a disagreement. */
  | { readonly kind: 'unreachable'; readonly error: unknown }
  | { readonly kind: 'disagree'; readonly answers: string };

/** How an outcome compares with the others: result bytes, or the contract's refusal. */
function keyOf(outcome: PeerOutcome): string | undefined {
  if ('result' in outcome) return `result:${Buffer.from(outcome.result).toString('base64')}`;
  const { message, details } = outcome.error as {
    message?: unknown;
    details?: { message: string }[];
  };
  for (const text of [message, ...(details ?? []).map((detail) => detail.message)]) {
    const refusal = typeof text === 'string' ? contractErrorIn(text) : undefined;
    if (refusal) return `refusal:${refusal.kind}:${refusal.message}`;
  }
  return undefined;
}

/**
 * The answer peers of at least `majority` distinct banks gave, if there is one. Failures that
 * are not contract refusals (a peer down, a peer erroring) count for no answer.
 */
export function majorityVerdict(
  outcomes: readonly PeerOutcome[],
  majority: number,
): MajorityVerdict {
  const banksByAnswer = new Map<string, { banks: Set<string>; outcome: PeerOutcome }>();
  let lastUnreachable: unknown;
  const reachable = new Set<string>();
  for (const outcome of outcomes) {
    if ('error' in outcome && peerUnreachable(outcome.error)) {
      lastUnreachable = outcome.error;
      continue;
    }
    reachable.add(outcome.mspId);
    const key = keyOf(outcome);
    if (key === undefined) continue;
    const entry = banksByAnswer.get(key) ?? { banks: new Set<string>(), outcome };
    entry.banks.add(outcome.mspId);
    banksByAnswer.set(key, entry);
  }
  for (const { banks, outcome } of banksByAnswer.values())
    if (banks.size >= majority) return { kind: 'agreed', outcome };
  if (reachable.size < majority && lastUnreachable !== undefined)
    return { kind: 'unreachable', error: lastUnreachable };
  const answers = [...banksByAnswer.entries()]
    .map(([key, { banks }]) => `${[...banks].join('+')}: ${key.slice(0, 80)}`)
    .join('; ');
  return { kind: 'disagree', answers: answers || 'no answer' };
}
