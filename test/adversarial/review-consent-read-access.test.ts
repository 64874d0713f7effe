import { describe, expect, it } from '@jest/globals';
import { contract } from '../../ledger/contract.ts';
import { contractWorld } from '../support/contract-world.ts';

/**
 * Review of branch ledger-contract (attacker's view): listConsents is for auditors and
 * coordinators, and "a member reads its own with consentHistory" — but consentInForce has no
 * access check at all. Another member (or any identity on the channel, registered or not) reads
 * a member's consent record — dataset id, consent id, grant and expiry — for any purpose, and by
 * probing `at` learns when it was granted and when it ends.
 */
const T0 = 1_800_000_000_000;
const IN_A_YEAR = T0 + 365 * 86_400_000;

function world() {
  const { as } = contractWorld();
  return { as: (callerMspId: string, timestamp = T0 + 1000) => as(callerMspId, timestamp) };
}

describe("review: a member reads another member's consents through consentInForce", () => {
  it('bank-c, and an unregistered identity, are refused what listConsents and consentHistory refuse them', async () => {
    const { as } = world();
    await contract.registerMember(as('coordinator', T0), 'coordinator', ['coordinator']);
    await contract.registerMember(as('coordinator', T0), 'bank-a', ['member']);
    await contract.registerMember(as('coordinator', T0), 'bank-c', ['member']);
    await contract.grantConsent(
      as('bank-a', T0 + 5000),
      'a-secret-project',
      'high-net-worth-clients-2026',
      'acquisition-model',
      IN_A_YEAR,
    );
    await expect(contract.listConsents(as('bank-c'))).rejects.toThrow(/may not read every/);
    await expect(contract.consentHistory(as('bank-c'), 'bank-a')).rejects.toThrow(/may not read/);

    for (const reader of ['bank-c', 'someone-else']) {
      let leaked: unknown;
      try {
        leaked = await contract.consentInForce(
          as(reader),
          'bank-a',
          'acquisition-model',
          T0 + 10_000,
        );
      } catch {
        leaked = 'refused';
      }
      expect(leaked).toBe('refused');
    }
  });
});
