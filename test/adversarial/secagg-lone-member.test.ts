import { beforeAll, describe, expect, it } from '@jest/globals';
import type { ShareKeysMessage } from '../../crypto/secagg/messages.ts';
import { chooseGraphParameters } from '../../crypto/secagg/parameters.ts';
import { type Consortium, createConsortium } from '../support/consortium.ts';
import { type HarnessOutcome, playHarnessRound, refusals } from '../support/harness-round.ts';
import type { Attack, HarnessRound } from '../support/malicious-coordinator.ts';
import type { MemberTools } from '../support/malicious-member.ts';
import { encodeShare, SHARE_BYTES } from '../../crypto/shamir.ts';

/**
 * One malicious member against the round (issue 17: "one bad member must neither stop a default
 * round nor get an honest member excluded or named"; both found by review B):
 * - its validly signed share boxes do not open. Its holders complain with verifiable evidence and
 *   it is convicted and excluded — but with k − t + 1 or more bad boxes too few valid shares of
 *   its s^SK exist, so its pairwise masks could not be removed and the round aborted. Now each
 *   surviving neighbour proves its pairwise secret with the convicted member (which that member
 *   knows anyway) and the round completes;
 * - it deals shares off its polynomial in boxes that open. The server's leave-one-out named the
 *   honest holder of the odd share. Now each box carries the dealer's signed commitments to its
 *   shares, checked by the holder on opening and by the server on every revealed share, so what
 *   disagrees is the dealer's, and Berlekamp–Welch (or the few t-subsets) recovers its secret.
 * Played against the unmodified SDK over mTLS gRPC, with its default policy, at n = 20 (complete
 * graph) and n = 50 (sparse: the smallest roster a default member takes sparse; Fabric's
 * configuration); the coordinator is the recording harness, and "recoverable" counts everything
 * it received — reveals, complaint evidence, pairwise secrets — and everything the liar holds
 * (as if the two colluded).
 */
const LIAR = 2;

const complete20 = (members: string[]): HarnessRound => ({
  members: members.slice(0, 20),
  degree: 19,
  threshold: 11,
  adversary: 'semi-malicious',
  corruptionRate: 0.05,
  dropoutRate: 0.05,
  // Everyone answers (the phase closes when all have): a long wait costs nothing but on a
  // loaded machine.
  phaseTimeoutMs: 40_000,
});
const SPARSE_50 = chooseGraphParameters({
  clients: 50,
  corruptionRate: 0.05,
  dropoutRate: 0.05,
  adversary: 'semi-malicious',
});
const sparse50 = (members: string[]): HarnessRound => ({
  members: members.slice(0, 50),
  degree: SPARSE_50.degree,
  threshold: SPARSE_50.threshold,
  adversary: 'semi-malicious',
  corruptionRate: 0.05,
  dropoutRate: 0.05,
  phaseTimeoutMs: 90_000,
});

/** Flips a byte of the first `count` boxes, then signs the message with both its keys. */
const garble =
  (count: (message: ShareKeysMessage) => number) =>
  (message: ShareKeysMessage, { sign }: MemberTools): ShareKeysMessage => {
    const bad = count(message);
    return sign({
      ...message,
      encryptedShares: message.encryptedShares.map((box, i) => {
        if (i >= bad) return box;
        const ciphertext = box.ciphertext.slice();
        ciphertext[30]! ^= 0xff;
        return { ...box, ciphertext };
      }),
    });
  };

describe('SecAgg+ against one malicious member', () => {
  let consortium: Consortium;
  let counter = 0;

  beforeAll(async () => {
    consortium = await createConsortium(50, 'lone');
  }, 300_000);

  /** The round completed without the liar, only the liar is named, nobody honest refused. */
  function expectCompletedWithoutLiar({ coordinator, outcomes }: HarnessOutcome, n: number): void {
    expect(refusals(outcomes).map((r) => `${r.member}: ${r.error.message}`)).toEqual([]);
    const result = coordinator.sum();
    const everyone = Array.from({ length: n }, (_, i) => i + 1);
    expect(result.included).toEqual(everyone.filter((m) => m !== LIAR));
    expect(result.misbehaving.map((m) => m.member)).toEqual([LIAR]);
    // Pairwise secrets were revealed for the convicted liar only.
    const revealedFor = new Set(
      coordinator.reveals.flatMap((r) => (r.pairwiseSecrets ?? []).map((p) => p.peer)),
    );
    expect([...revealedFor]).toEqual([LIAR]);
    // Nothing recoverable, even for a coordinator colluding with the liar.
    expect(coordinator.recoverableOwners([LIAR])).toEqual([]);
  }

  it('n = 20, complete graph: exactly k − t + 1 bad boxes (too few valid shares of its s^SK) → the round completes without it, only it is named, nothing recoverable', async () => {
    const spec = complete20(consortium.members);
    const outcome = await playHarnessRound(consortium, {}, spec, {
      name: `lone-some-${++counter}`,
      liars: new Map([[LIAR, { shares: garble(() => spec.degree - spec.threshold + 1) }]]),
    });
    expectCompletedWithoutLiar(outcome, 20);
  }, 300_000);

  it('n = 50, sparse graph: every box bad → the round completes without it, only it is named, nothing recoverable', async () => {
    const outcome = await playHarnessRound(consortium, {}, sparse50(consortium.members), {
      agreementChannel: true,
      name: `lone-all-${++counter}`,
      liars: new Map([[LIAR, { shares: garble((m) => m.encryptedShares.length) }]]),
    });
    expectCompletedWithoutLiar(outcome, 50);
  }, 300_000);

  it('n = 20: a coordinator colluding with the liar shows its conviction to half the members only → no honest input recoverable', async () => {
    const attack: Attack = {
      convictions: (recipient, honest) => (recipient % 2 === 0 ? honest : []),
    };
    const outcome = await playHarnessRound(consortium, attack, complete20(consortium.members), {
      name: `lone-split-${++counter}`,
      liars: new Map([[LIAR, { shares: garble((m) => m.encryptedShares.length) }]]),
    });
    const { coordinator } = outcome;
    expect(coordinator.recoverableOwners([LIAR])).toEqual([]);
    // Members that saw no conviction never revealed a pairwise secret.
    for (const reveal of coordinator.reveals)
      if (reveal.sender % 2 === 1) expect(reveal.pairwiseSecrets ?? []).toEqual([]);
  }, 300_000);

  /**
   * Its first `bad` boxes hold shares of its s^SK and b off its polynomials — boxes that open,
   * under commitments it signs with them (sealFor seals as the client does), so no holder can
   * tell. Before, the server's leave-one-out named the honest holder of the odd share (on the
   * ledger), or aborted the round with more of them.
   */
  const offPolynomial =
    (bad: number) =>
    (message: ShareKeysMessage, { sealFor, sign }: MemberTools): ShareKeysMessage =>
      sign({
        ...message,
        encryptedShares: message.encryptedShares.map((box, i) => {
          if (i >= bad) return box;
          const plaintext = new Uint8Array(2 * SHARE_BYTES);
          plaintext.set(encodeShare({ x: box.peer, y: 123456789n + BigInt(i) }), 0);
          plaintext.set(encodeShare({ x: box.peer, y: 987654321n + BigInt(i * i) }), SHARE_BYTES);
          return sealFor(box.peer, plaintext);
        }),
      });

  /** The round completed with everyone (the liar's b recovered off its bad shares), only it named. */
  function expectCompletedNamingDealer({ coordinator, outcomes }: HarnessOutcome, n: number): void {
    expect(refusals(outcomes).map((r) => `${r.member}: ${r.error.message}`)).toEqual([]);
    const result = coordinator.sum();
    expect(result.included).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(result.misbehaving.map((m) => m.member)).toEqual([LIAR]);
    expect(result.misbehaving[0]!.reason).toMatch(
      /dealt shares of its self-mask seed off its polynomial/,
    );
    expect(coordinator.recoverableOwners([LIAR])).toEqual([]);
  }

  it('n = 20, complete graph: 4 holders dealt shares off its polynomial (in boxes that open) → completes, only the dealer is named', async () => {
    const outcome = await playHarnessRound(consortium, {}, complete20(consortium.members), {
      name: `lone-deal-${++counter}`,
      liars: new Map([[LIAR, { shares: offPolynomial(4) }]]),
    });
    expectCompletedNamingDealer(outcome, 20);
  }, 300_000);

  it('n = 50, sparse graph: 2 holders dealt shares off its polynomial → completes, only the dealer is named', async () => {
    const outcome = await playHarnessRound(consortium, {}, sparse50(consortium.members), {
      agreementChannel: true,
      name: `lone-deal-${++counter}`,
      liars: new Map([[LIAR, { shares: offPolynomial(2) }]]),
    });
    expectCompletedNamingDealer(outcome, 50);
  }, 300_000);
});
