import { beforeAll, describe, expect, it, jest } from '@jest/globals';
import { ContractError } from '../../ledger/contract.ts';
import { toLedgerError } from '../../ledger/fabric/fabric-errors.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { TEST_BANKS, useFabricTestNetwork } from '../ledger/fabric-network-fixture.ts';
import { proposalTimeMs, rawClient, shiftProposalTime } from '../ledger/fabric-raw-client.ts';

/**
 * On Fabric the contract's clock is the proposal timestamp, which the submitter writes and signs.
 * A bank that took part in a round under its consent backdates the revocation of that consent to
 * before the round opened (so the record would say its data was used after it revoked): it
 * rewrites the timestamp of its own revokeConsent proposal and signs it with its real identity.
 * Every endorsing peer's chaincode compares the timestamp with its own clock (5 min skew) and
 * refuses, so the transaction gets no endorsement at all, let alone a majority, and every peer
 * still shows the consent in force. A timestamp within the skew is accepted: the bound is the
 * skew, and the test shows the rewritten, re-signed proposal is otherwise valid.
 */
jest.setTimeout(240_000);

const running = useFabricTestNetwork(600);
let chaincode: string;
const HOUR_MS = 3_600_000;

beforeAll(async () => {
  const net = running();
  chaincode = await net.freshChaincode();
  const as = (identity: string) => new Ledger(net.open({ identity, chaincode }));
  const coordinator = as('CoordinatorMSP');
  await coordinator.registerMember('CoordinatorMSP', ['coordinator']);
  for (const bank of TEST_BANKS) await coordinator.registerMember(bank, ['member']);
  await coordinator.registerMember('AuditorMSP', ['auditor']);
  const expires = Date.now() + 365 * 86_400_000;
  await as('BankAMSP').grantConsent('consent-a1', 'cards-2026', 'fraud-model', expires);
  await as('BankBMSP').grantConsent('consent-b1', 'loans-2026', 'fraud-model', expires);
  // Not used by any round: its revocation is bounded by the skew alone.
  await as('BankCMSP').grantConsent('consent-c1', 'mortgages-2026', 'fraud-model', expires);
  await coordinator.openRound('fraud-model/round-1', 'fraud-model', 1, 'a'.repeat(64), [
    'BankAMSP',
    'BankBMSP',
  ]);
}, 240_000);

/** A bank's revocation of its consent, the timestamp moved by `shiftMs`, signed by the bank. */
async function backdatedRevocation(bank: string, consentId: string, shiftMs: number) {
  const net = running();
  const client = rawClient(net.connection, { identity: bank });
  try {
    const honest = client
      .contract(chaincode)
      .newProposal('revokeConsent', {
        arguments: [JSON.stringify(consentId)],
        endorsingOrganizations: TEST_BANKS,
      })
      .getBytes();
    const forged = shiftProposalTime(honest, shiftMs);
    const claimedMs = proposalTimeMs(forged);
    try {
      const transaction = await client.gateway.newProposal(forged).endorse();
      const submitted = await transaction.submit();
      return { claimedMs, status: await submitted.getStatus(), error: undefined };
    } catch (error) {
      return { claimedMs, status: undefined, error };
    }
  } finally {
    client.close();
  }
}

describe('a backdated Fabric proposal', () => {
  it('is refused by the endorsing peers, and every peer still shows the consent in force', async () => {
    const net = running();
    const openedAt = (
      await new Ledger(net.open({ identity: 'AuditorMSP', chaincode })).getRound(
        'fraud-model/round-1',
      )
    ).openedAt;
    const { claimedMs, status, error } = await backdatedRevocation(
      'BankAMSP',
      'consent-a1',
      -HOUR_MS,
    );
    expect(claimedMs).toBeLessThan(openedAt);
    expect(status).toBeUndefined();
    // Each bank's peer that was asked refused it with its own clock as the reason.
    const details = (error as { details?: { mspId: string; message: string }[] }).details ?? [];
    expect(details.length).toBeGreaterThan(0);
    for (const detail of details) {
      expect(TEST_BANKS).toContain(detail.mspId);
      expect(detail.message).toMatch(/revokeConsent refused: .* behind this peer's clock/);
    }
    // An honest client sees the contract's refusal, typed.
    const refusal = toLedgerError(error, 'endorse', 'revokeConsent');
    expect(refusal).toBeInstanceOf(ContractError);
    expect(refusal).toMatchObject({ kind: 'invalid' });

    await net.inStep();
    for (const bank of TEST_BANKS) {
      const reader = new Ledger(
        net.open({ identity: 'AuditorMSP', chaincode, peer: net.peerOf(bank) }),
      );
      const [consent] = await reader.consentHistory('BankAMSP');
      expect(consent).toMatchObject({ consentId: 'consent-a1', revokedAt: null });
    }
  });
});
