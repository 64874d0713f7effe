import { describe, expect, it, jest } from '@jest/globals';
import { ContractError } from '../../ledger/contract.ts';
import { FabricLedgerError } from '../../ledger/fabric/fabric-errors.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { TEST_BANKS, useFabricTestNetwork } from '../ledger/fabric-network-fixture.ts';

/**
 * An attacker with write access to one bank's peer disk (BankC) edits a consent record in that
 * peer's world state (LevelDB), bypassing endorsement and ordering. That peer then answers with
 * the edited record, but the other banks' peers do not, a transaction that needs the edited
 * peer's endorsement cannot commit the edit, and the honest majority's next transaction on that
 * key overwrites it on the edited peer too.
 */
jest.setTimeout(240_000);

const running = useFabricTestNetwork(200);

describe('a peer whose world state was edited on disk', () => {
  it('does not change what the other peers return, nor get its edit committed', async () => {
    const net = running();
    const chaincode = await net.freshChaincode();
    const as = (identity: string, peerOf?: string, endorsingOrganizations?: string[]) =>
      new Ledger(
        net.open({
          identity,
          chaincode,
          ...(peerOf ? { peer: net.peerOf(peerOf) } : {}),
          ...(endorsingOrganizations ? { endorsingOrganizations } : {}),
        }),
      );
    const coordinator = as('CoordinatorMSP');
    await coordinator.registerMember('CoordinatorMSP', ['coordinator']);
    for (const bank of TEST_BANKS) await coordinator.registerMember(bank, ['member']);
    await coordinator.registerMember('AuditorMSP', ['auditor']);
    await as('BankAMSP').grantConsent(
      'consent-a1',
      'cards-2026',
      'fraud-model',
      Date.now() + 365 * 86_400_000,
    );
    const datasetsSeenThrough = async (bank: string) =>
      (await as('AuditorMSP', bank).consentHistory('BankAMSP')).map((c) => c.datasetId);
    await net.inStep();
    for (const bank of TEST_BANKS) expect(await datasetsSeenThrough(bank)).toEqual(['cards-2026']);

    // The attack: BankC's peer stopped, its LevelDB edited, started again.
    await net.editPeerState(
      'BankCMSP',
      chaincode,
      'consent/consent-a1',
      'cards-2026',
      'carts-2026',
    );

    // The edit took on BankC's peer, and only there.
    expect(await datasetsSeenThrough('BankCMSP')).toEqual(['carts-2026']);
    expect(await datasetsSeenThrough('BankAMSP')).toEqual(['cards-2026']);
    expect(await datasetsSeenThrough('BankBMSP')).toEqual(['cards-2026']);

    // A transaction endorsed by BankC and BankA over that record: the two endorsements
    // disagree (BankC wrote the edited dataset back), so the Gateway refuses to submit it.
    const withVictim = as('BankAMSP', 'BankAMSP', ['BankAMSP', 'BankCMSP']);
    const refused = withVictim.revokeConsent('consent-a1');
    await expect(refused).rejects.toBeInstanceOf(FabricLedgerError);
    await expect(refused).rejects.toMatchObject({ step: 'endorse' });
    for (const bank of ['BankAMSP', 'BankBMSP']) {
      const [consent] = await as('AuditorMSP', bank).consentHistory('BankAMSP');
      expect(consent).toMatchObject({ datasetId: 'cards-2026', revokedAt: null });
    }

    // The honest majority (BankA + BankB) revokes; the committed write replaces the edit on
    // BankC's peer as well.
    const revoked = await as('BankAMSP', 'BankAMSP', ['BankAMSP', 'BankBMSP']).revokeConsent(
      'consent-a1',
    );
    expect(revoked).toMatchObject({ datasetId: 'cards-2026' });
    expect(revoked.revokedAt).not.toBeNull();
    await net.inStep();
    for (const bank of TEST_BANKS) {
      const [consent] = await as('AuditorMSP', bank).consentHistory('BankAMSP');
      expect(consent).toMatchObject({ datasetId: 'cards-2026', revokedAt: revoked.revokedAt });
    }
    await expect(as('BankAMSP').revokeConsent('consent-a1')).rejects.toEqual(
      new ContractError('conflict', 'consent consent-a1 was already revoked'),
    );
  });
});
