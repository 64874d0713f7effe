import { describe, expect, it, jest } from '@jest/globals';
import { FabricLedgerError } from '../../ledger/fabric/fabric-errors.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { killNode } from '../../network/fabric-network.ts';
import { TEST_BANKS, useFabricTestNetwork } from '../ledger/fabric-network-fixture.ts';

/**
 * Failover must not hand a member's view of the ledger to another bank. BankA's own peer is
 * down (the attacker can arrange that), so BankA's client fails over — first to BankB's peer,
 * whose world state BankB edited on disk to a forged record. A client that took the first peer
 * that answers would believe BankB; BankA's client asks every bank's peer and, with BankB and
 * BankC disagreeing (no majority of the three banks), refuses to answer at all. An honest read
 * through BankC's peer, the auditor's, still shows the committed record.
 */
jest.setTimeout(240_000);

const running = useFabricTestNetwork(700);

describe("a member's own peer is down and the next peer lies", () => {
  it('refuses the read instead of taking the lying peer’s answer', async () => {
    const net = running();
    const chaincode = await net.freshChaincode();
    const coordinator = new Ledger(net.open({ identity: 'CoordinatorMSP', chaincode }));
    await coordinator.registerMember('CoordinatorMSP', ['coordinator']);
    for (const bank of TEST_BANKS) await coordinator.registerMember(bank, ['member']);
    await coordinator.registerMember('AuditorMSP', ['auditor']);
    const bankA = new Ledger(net.open({ identity: 'BankAMSP', chaincode }));
    await bankA.grantConsent('consent-a1', 'cards-2026', 'fraud-model', Date.now() + 86_400_000);
    await net.inStep();

    // BankB edits its own peer's world state: BankA's consent now names another dataset there.
    await net.editPeerState(
      'BankBMSP',
      chaincode,
      'consent/consent-a1',
      'cards-2026',
      'carts-2026',
    );
    const through = (bank: string) =>
      new Ledger(net.open({ identity: 'AuditorMSP', chaincode, peer: net.peerOf(bank) }));
    expect((await through('BankBMSP').consentHistory('BankAMSP'))[0]!.datasetId).toBe('carts-2026');

    // BankA's own peer goes down; its next read fails over.
    await killNode(net.directory, net.peerOf('BankAMSP'));
    const read = bankA.consentHistory('BankAMSP');
    await expect(read).rejects.toBeInstanceOf(FabricLedgerError);
    await expect(read).rejects.toMatchObject({
      code: 'NO_MAJORITY',
      message: expect.stringMatching(/do not agree for a majority of 2 banks/),
    });
    // The record itself, through the honest remaining peer.
    expect((await through('BankCMSP').consentHistory('BankAMSP'))[0]!.datasetId).toBe('cards-2026');
  });
});
