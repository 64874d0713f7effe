import { describe, expect, it } from '@jest/globals';
import { proposalTimeProblem } from '../../chaincode/proposal-time.ts';
import { contract } from '../../ledger/contract.ts';
import { contractWorld } from '../support/contract-world.ts';

/**
 * Review of branch ledger-contract (attacker's view), over the contract itself with an in-memory
 * world state (the key order both backends use) and timestamps the submitter chooses — on Fabric
 * the proposal's own, which each endorsing peer accepts within VEILSUM_MAX_CLOCK_SKEW_MS (5 min).
 */
const SKEW = 5 * 60_000;
const T0 = 1_800_000_000_000;
const HASH = 'a'.repeat(64);
const IN_A_YEAR = T0 + 365 * 86_400_000;

const world = contractWorld;

describe('review: consent index keys collide across member ids (write side)', () => {
  it("a member erases another member's consent by choosing a consent id with '/'", async () => {
    const { as } = world();
    await contract.registerMember(as('coordinator', T0), 'coordinator', ['coordinator']);
    await contract.registerMember(as('coordinator', T0), 'bank-a', ['member']);
    await contract.registerMember(as('coordinator', T0), 'bank-a/fund', ['member']);
    // The victim grants consent c1 (index key member-consent/bank-a/fund/c1).
    await contract.grantConsent(
      as('bank-a/fund', T0 + 1000),
      'c1',
      'fund-data',
      'fraud',
      IN_A_YEAR,
    );
    // The attacker, bank-a, grants a consent of its own whose id makes the same index key.
    await contract.grantConsent(as('bank-a', T0 + 2000), 'fund/c1', 'cards', 'other', IN_A_YEAR);

    // The victim's consent must still be in its history and in force, and a round must open.
    expect(
      (await contract.consentHistory(as('bank-a/fund', T0 + 3000), 'bank-a/fund')).map(
        (c) => c.consentId,
      ),
    ).toEqual(['c1']);
    expect(
      (
        await contract.consentInForce(
          as('coordinator', T0 + 3000),
          'bank-a/fund',
          'fraud',
          T0 + 3000,
        )
      )?.consentId,
    ).toBe('c1');
    await expect(
      contract.openRound(as('coordinator', T0 + 4000), 'fraud/round-1', 'fraud', 1, HASH, [
        'bank-a/fund',
      ]),
    ).resolves.toMatchObject({ roundId: 'fraud/round-1' });
  });
});

describe('review: revocation time is the submitter’s, within the skew', () => {
  it('a member backdates its revocation to before a round that used its consent (the record then says the round used a revoked consent)', async () => {
    const { as } = world();
    await contract.registerMember(as('coordinator', T0), 'coordinator', ['coordinator']);
    await contract.registerMember(as('coordinator', T0), 'bank-a', ['member']);
    await contract.grantConsent(as('bank-a', T0), 'c1', 'cards', 'fraud', IN_A_YEAR);
    const opened = await contract.openRound(
      as('coordinator', T0 + 120_000),
      'fraud/round-1',
      'fraud',
      1,
      HASH,
      ['bank-a'],
    );
    expect(opened.consents.map((c) => c.consentId)).toEqual(['c1']);
    // Committed after the round, at real time T0 + 125 s, stamped T0 + 10 s: 115 s behind the
    // peers' clocks, well inside the 5 minutes they endorse.
    const realNow = T0 + 125_000;
    const stamped = T0 + 10_000;
    expect(proposalTimeProblem(stamped, realNow, SKEW)).toBeUndefined();
    let revokedAt: number | null = null;
    try {
      revokedAt = (await contract.revokeConsent(as('bank-a', stamped), 'c1')).revokedAt;
    } catch {
      revokedAt = null; // refused: fine
    }
    // Never a revocation dated before the opening of a round committed earlier that used it.
    if (revokedAt !== null) expect(revokedAt).toBeGreaterThanOrEqual(opened.openedAt);
  });

  it('a consent revoked before it was granted (grant stamped ahead, revocation stamped behind)', async () => {
    const { as } = world();
    await contract.registerMember(as('coordinator', T0), 'coordinator', ['coordinator']);
    await contract.registerMember(as('coordinator', T0), 'bank-a', ['member']);
    const realNow = T0 + 60_000;
    const grant = await contract.grantConsent(
      as('bank-a', realNow + 4 * 60_000),
      'c1',
      'cards',
      'fraud',
      IN_A_YEAR,
    );
    expect(proposalTimeProblem(realNow + 4 * 60_000, realNow, SKEW)).toBeUndefined();
    expect(proposalTimeProblem(realNow - 4 * 60_000 + 1000, realNow + 1000, SKEW)).toBeUndefined();
    let revokedAt: number | null = null;
    try {
      revokedAt = (await contract.revokeConsent(as('bank-a', realNow - 4 * 60_000 + 1000), 'c1'))
        .revokedAt;
    } catch {
      revokedAt = null;
    }
    if (revokedAt !== null) expect(revokedAt).toBeGreaterThanOrEqual(grant.grantedAt);
  });
});
