import type { Curve25519 } from '../curve25519.ts';
import { InvalidSignatureError, TooFewParticipantsError, UnexpectedSenderError } from './errors.ts';
import type { ConsistencySignatureMessage } from './messages.ts';
import { survivorSetPayload } from './transcript.ts';

/**
 * A member's check of the survivor-set signatures relayed at Unmasking (semi-malicious server,
 * Bonawitz et al. 2017, §4.2 ConsistencyCheck).
 *
 * What the member must be convinced of: at least t distinct roster members signed this very
 * survivor set S. An honest member signs one set per round, so two different sets S ≠ S' that
 * each carry t valid signatures would need ≥ 2t − n signers in common, and on the complete graph
 * t > (n + γn)/2 makes 2t − n exceed the colluders: some honest member would have signed both.
 * (On a sparse graph 2t − n is negative: there the agreement comes from the U3 committed on an
 * agreement channel, which is the set the member checks, and members take sparse rounds only
 * on one — sdk/round-verification.ts.) So
 * once t distinct signers are verified on S, nothing the remaining entries hold can change the
 * conclusion — an invalid signature beyond them proves only that the relay carried junk — and
 * the check stops there: at n = 1000 that is t verifications instead of |U3|.
 *
 * What it still refuses, everywhere it looks: an entry from a non-survivor or a repeated signer
 * (cheap structural checks, run on every entry), and any signature it does verify that is
 * invalid — the server verified each on arrival, so a bad one in the relay is its doing.
 * Entries are verified in the order served; the order is the server's choice and buys it
 * nothing: t valid signatures on S exist or the member refuses.
 *
 * Returns how many signatures were verified.
 */
export function checkSurvivorSignatures(options: {
  readonly binding: Uint8Array;
  readonly survivors: readonly number[];
  /** The convicted ids signed with U3 (the member's own, judged at ConsistencyCheck). */
  readonly convicted?: readonly number[];
  readonly signatures: readonly ConsistencySignatureMessage[];
  readonly threshold: number;
  readonly identityKeys: readonly Uint8Array[];
  readonly curve: Pick<Curve25519, 'verify'>;
}): number {
  const { binding, survivors, convicted, signatures, threshold, identityKeys, curve } = options;
  const survivorSet = new Set(survivors);
  const signers = new Set<number>();
  for (const { sender } of signatures) {
    if (!survivorSet.has(sender) || signers.has(sender)) {
      throw new UnexpectedSenderError(
        `consistency signature from client ${sender}, which is not a distinct survivor`,
      );
    }
    signers.add(sender);
  }
  if (signers.size < threshold) {
    throw new TooFewParticipantsError(
      `only ${signers.size} clients signed the survivor set, threshold is ${threshold}`,
    );
  }
  const payload = survivorSetPayload(binding, survivors, convicted);
  let valid = 0;
  let verified = 0;
  for (const { sender, signature } of signatures) {
    if (valid >= threshold) break;
    verified++;
    if (!curve.verify(identityKeys[sender - 1]!, payload, signature)) {
      throw new InvalidSignatureError(
        `client ${sender}'s signature on the survivor set is invalid`,
      );
    }
    valid++;
  }
  return verified;
}
