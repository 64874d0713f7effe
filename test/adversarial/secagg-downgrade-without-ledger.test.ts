import { beforeAll, describe, expect, it } from '@jest/globals';
import { chooseGraphParameters } from '../../crypto/secagg/parameters.ts';
import { Adversary, Round } from '../../proto/gen/veilsum/v1/round.ts';
import type { VeilsumError } from '../../sdk/errors.ts';
import { checkThreatModel } from '../../sdk/round-verification.ts';
import { connectMembers, takePart } from '../support/harness-members.ts';
import { expectAllRefused } from '../support/refusal.ts';
import { type Consortium, createConsortium } from '../support/consortium.ts';
import {
  type Attack,
  type HarnessRound,
  MaliciousCoordinator,
} from '../support/malicious-coordinator.ts';

/**
 * A coordinator that weakens the round it writes (the manifest is its word) against members on
 * the SDK's default policy (no threatModel given: semi-malicious, γ ≥ 0.05, δ ≥ 0.05).
 * 1. Members without a ledger (the CLI default): a semi-honest complete-graph round with split
 *    survivor views. Before the member policy, all 8 members completed and the coordinator held
 *    ≥ t shares of both b_1 and s_1^SK (member 1's input recoverable, no colluder needed).
 * 2. Members with a ledger: γ = 0 or δ = 0 committed in RoundOpened, and (k, t) = (4, 4) for
 *    n = 100, which the parameter finder yields for γ = δ = 0.
 */
const MEMBERS = 8;

describe('a SecAgg member on the default policy against a coordinator that weakens the round', () => {
  let consortium: Consortium;
  let counter = 0;

  beforeAll(async () => {
    consortium = await createConsortium(MEMBERS, 'dg');
  });

  async function play(
    attack: Attack,
    spec: Omit<HarnessRound, 'members'>,
    withLedger: boolean,
  ): Promise<{ coordinator: MaliciousCoordinator; outcomes: PromiseSettledResult<unknown>[] }> {
    const coordinator = new MaliciousCoordinator(consortium, attack, `downgrade-${++counter}`);
    await coordinator.start();
    const opened = await coordinator.open({ ...spec, members: consortium.members });
    // The SDK's defaults, not the fixtures' lowered policy.
    const clients = connectMembers(consortium, coordinator, consortium.members, {
      ...(withLedger ? { ledger: (member: string) => coordinator.ledgerFor(member) } : {}),
    });
    try {
      return { coordinator, outcomes: await takePart(clients, opened.roundId) };
    } finally {
      await coordinator.stop();
    }
  }

  function expectNothingRevealed(coordinator: MaliciousCoordinator): void {
    expect(coordinator.reveals).toEqual([]);
    expect(coordinator.ownersWithBothShareKinds()).toEqual([]);
    expect(coordinator.recoverableOwners()).toEqual([]);
  }

  it('without a ledger, a semi-honest round with split survivor views is refused as a downgrade, pointing at --ledger; no input is recoverable', async () => {
    // Two neighbours of member 1 are told (GetRound and the unmasking request) that 1 dropped,
    // the rest that it survived: the first reveal shares of s_1^SK, the others of b_1.
    const told = [2, 3];
    const dropVictim = (set: readonly number[]) => set.filter((m) => m !== 1);
    const attack: Attack = {
      round: (honest, member) =>
        told.includes(consortium.members.indexOf(member) + 1)
          ? { ...honest, masked: dropVictim(honest.masked) }
          : honest,
      survivors: (recipient, honest) => (told.includes(recipient) ? dropVictim(honest) : honest),
    };
    const { coordinator, outcomes } = await play(
      attack,
      {
        degree: MEMBERS - 1,
        threshold: 2,
        adversary: 'semi-honest',
        corruptionRate: 0.05,
        dropoutRate: 0.125,
      },
      false,
    );
    expectNothingRevealed(coordinator);
    expectAllRefused(
      outcomes,
      /refusing the round: adversary model semi-honest is a downgrade this member refuses without a ledger that is an agreement channel.*take part with a Fabric --ledger/,
    );
  }, 60_000);

  it('a sparse round of 8 members is refused, with or without a ledger: the complete graph below 50 is a member rule', async () => {
    for (const withLedger of [false, true]) {
      const { coordinator, outcomes } = await play(
        {},
        { degree: 4, threshold: 3, adversary: 'semi-malicious', dropoutRate: 0.125 },
        withLedger,
      );
      expectNothingRevealed(coordinator);
      expectAllRefused(
        outcomes,
        /degree k 4: a round of 8 members runs on the complete graph \(k = 7\); this member takes sparse graphs only from 50 members/,
      );
    }
  }, 60_000);

  it('γ = 0 committed on the ledger is refused, naming the corruption rate', async () => {
    const { coordinator, outcomes } = await play(
      {},
      {
        degree: MEMBERS - 1,
        threshold: 5,
        adversary: 'semi-malicious',
        corruptionRate: 0,
        dropoutRate: 0.125,
      },
      true,
    );
    expectNothingRevealed(coordinator);
    expectAllRefused(outcomes, /corruption rate γ 0 is below this member's floor 0\.05/);
  }, 60_000);

  it('δ = 0 committed on the ledger is refused, naming the dropout rate', async () => {
    const { coordinator, outcomes } = await play(
      {},
      { degree: MEMBERS - 1, threshold: 5, adversary: 'semi-malicious', dropoutRate: 0 },
      true,
    );
    expectNothingRevealed(coordinator);
    expectAllRefused(outcomes, /dropout rate δ 0 is below this member's floor 0\.05/);
  }, 60_000);

  it('the sparse (k, t) = (4, 4) that γ = δ = 0 yields for n = 100 and 1000 is refused, whatever γ, δ the manifest states', () => {
    for (const n of [100, 1000]) {
      const weak = chooseGraphParameters({
        clients: n,
        corruptionRate: 0,
        dropoutRate: 0,
        adversary: 'semi-malicious',
      });
      expect(weak).toMatchObject({ degree: 4, threshold: 4 });
      const roster = Array.from({ length: n }, (_, i) => ({ memberId: `m${i}`, index: i + 1 }));
      const round = (corruptionRate: number, dropoutRate: number): Round =>
        Round.fromPartial({
          roundId: 'weak',
          roster,
          params: {
            adversary: Adversary.ADVERSARY_SEMI_MALICIOUS,
            degree: weak.degree,
            threshold: weak.threshold,
            corruptionRate,
            dropoutRate,
            minContributors: n,
          },
        });
      const refusal = (r: Round) => {
        try {
          checkThreatModel(r, undefined, { agreement: true });
        } catch (error) {
          return (error as VeilsumError).message;
        }
        return 'accepted';
      };
      expect(refusal(round(0, 0))).toMatch(/corruption rate γ 0 is below this member's floor/);
      expect(refusal(round(0.05, 0.05))).toMatch(/weak parameters: degree 4 is too sparse/);
    }
  });
});
