import { CURVE25519_KEY_BYTES, type Curve25519 } from '../curve25519.ts';
import { CoordinatorTamperingError, MalformedMessageError } from './errors.ts';
import type { Conviction } from './messages.ts';
import { judgeShareComplaint } from './share-box.ts';

/**
 * A member's own judgement of the convictions the server serves with U3 (semi-malicious: at the
 * ConsistencyCheck, before signing; semi-honest: at Unmasking, before revealing).
 *
 * The server excludes the sender of a signed share box that a complaint proves bad, and names it.
 * A member does not take that verdict on the server's word: it re-runs `judgeShareComplaint` on
 * the same public data — the accused's box as the accused signed it for the accuser's key, and
 * the accuser's DLEQ evidence — and a conviction that does not hold, or an accused still listed
 * in U3, is the server's doing: the member reveals nothing further and names the coordinator. It
 * then signs U3 together with the convicted ids (transcript.ts `survivorSetPayload`), so the t
 * signatures a member checks at Unmasking say that t members judged the same convictions, and
 * anyone holding them (an auditor with the round's evidence) can tell a named member from one
 * the coordinator framed.
 *
 * What it cannot do: tell a member the server excluded without a word from one that dropped —
 * the server may always leave anyone out, which reveals only that member's s^SK shares (never
 * with its b shares). What the check buys is that nobody is named misbehaving on evidence that
 * its members did not each verify.
 *
 * Returns the convicted ids, sorted and distinct.
 */
export function checkConvictions(options: {
  readonly binding: Uint8Array;
  readonly convictions: readonly Conviction[];
  readonly survivors: readonly number[];
  readonly clients: number;
  readonly identityKeys: readonly Uint8Array[];
  /** Only a neighbour's box can be complained about (and each check costs a DLEQ verification). */
  readonly areNeighbours: (a: number, b: number) => boolean;
  readonly curve: Curve25519;
}): number[] {
  const { binding, convictions, survivors, clients, identityKeys, areNeighbours, curve } = options;
  const isIndex = (value: number) => Number.isSafeInteger(value) && value >= 1 && value <= clients;
  const survivorSet = new Set(survivors);
  const pairs = new Set<string>();
  const convicted = new Set<number>();
  for (const { accuser, box, recipientPublicKey, complaint } of convictions) {
    const accused = complaint.accused;
    if (
      !isIndex(accuser) ||
      !isIndex(accused) ||
      accuser === accused ||
      box.peer !== accused ||
      !areNeighbours(accuser, accused)
    ) {
      throw new MalformedMessageError(
        `a conviction of client ${accused} on client ${accuser}'s complaint names no valid pair`,
      );
    }
    const pair = `${accuser}:${accused}`;
    if (pairs.has(pair))
      throw new MalformedMessageError(`two convictions on client ${accuser}'s complaint`);
    pairs.add(pair);
    if (survivorSet.has(accused)) {
      throw new CoordinatorTamperingError(
        `the coordinator convicts client ${accused} yet lists it in U3; revealing nothing further`,
      );
    }
    const verdict =
      recipientPublicKey instanceof Uint8Array && recipientPublicKey.length === CURVE25519_KEY_BYTES
        ? judgeShareComplaint(
            { binding, sender: accused, recipient: accuser },
            box,
            identityKeys[accused - 1]!,
            recipientPublicKey,
            complaint,
            curve,
          )
        : { guilty: 'accuser' as const, reason: 'the conviction names no recipient key' };
    if (verdict.guilty !== 'accused') {
      throw new CoordinatorTamperingError(
        `the coordinator excludes client ${accused} on client ${accuser}'s complaint, which does ` +
          `not hold when judged here (${verdict.reason}); revealing nothing further`,
      );
    }
    convicted.add(accused);
  }
  return [...convicted].sort((a, b) => a - b);
}
