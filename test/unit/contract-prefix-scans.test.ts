import { describe, expect, it } from '@jest/globals';
import { contract } from '../../ledger/contract.ts';
import { contractWorld } from '../support/contract-world.ts';

/**
 * The contract's prefix scans (`member-consent/<member>/`, `round-misbehaviour/<round>/`) also
 * match ids that extend the scanned one: member `bank-a` and member `bank-a/fund`, round
 * `m/round-1` and round `m/round-1/x`. Each reader must keep only records that name its own id.
 * Run over an in-memory world state with the key order both backends use.
 */
function ledger() {
  const { as } = contractWorld();
  let clock = 1_800_000_000_000;
  return { as: (callerMspId: string) => as(callerMspId, (clock += 1000)) };
}

const HASH = 'a'.repeat(64);
const IN_A_YEAR = 1_800_000_000_000 + 365 * 86_400_000;

describe('contract prefix scans keep only the scanned id’s records', () => {
  it('a member whose id extends another’s lends it no consent', async () => {
    const { as } = ledger();
    await contract.registerMember(as('coordinator'), 'coordinator', ['coordinator']);
    await contract.registerMember(as('coordinator'), 'bank-a', ['member']);
    await contract.registerMember(as('coordinator'), 'bank-a/fund', ['member']);
    await contract.grantConsent(as('bank-a/fund'), 'fund-c1', 'fund-data', 'fraud', IN_A_YEAR);

    expect(await contract.consentInForce(as('coordinator'), 'bank-a', 'fraud', IN_A_YEAR - 1)).toBe(
      undefined,
    );
    expect(await contract.consentHistory(as('bank-a'), 'bank-a')).toEqual([]);
    await expect(
      contract.openRound(as('coordinator'), 'fraud/round-1', 'fraud', 1, HASH, ['bank-a']),
    ).rejects.toThrow(/none for bank-a \(it never granted one for fraud\)/);
    // bank-a/fund's own consent still counts for bank-a/fund.
    expect(
      (await contract.consentInForce(as('coordinator'), 'bank-a/fund', 'fraud', IN_A_YEAR - 1))
        ?.consentId,
    ).toBe('fund-c1');
  });

  it('a round whose id extends another’s does not mix its misbehaviour records into it', async () => {
    const { as } = ledger();
    await contract.registerMember(as('coordinator'), 'coordinator', ['coordinator']);
    await contract.registerMember(as('coordinator'), 'bank-a', ['member']);
    await contract.grantConsent(as('bank-a'), 'c1', 'cards', 'm', IN_A_YEAR);
    await contract.openRound(as('coordinator'), 'm/round-1', 'm', 1, HASH, ['bank-a']);
    // The contract does not tie round ids to model ids, so a coordinator may nest one.
    await contract.openRound(as('coordinator'), 'm/round-1/x', 'm', 2, HASH, ['bank-a']);
    await contract.recordMisbehaviour(as('coordinator'), 'm/round-1/x', 'bank-a', 'bad box', HASH);
    expect(await contract.roundMisbehaviour(as('bank-a'), 'm/round-1')).toEqual([]);
    expect(
      (await contract.roundMisbehaviour(as('bank-a'), 'm/round-1/x')).map((r) => r.reason),
    ).toEqual(['bad box']);
  });
});
