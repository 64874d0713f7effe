import { describe, expect, it, jest } from '@jest/globals';
import { FabricLedgerError } from '../../ledger/fabric/fabric-errors.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { networkState, startChaincodeServer, stopNode } from '../../network/fabric-network.ts';
import { portOpen, waitFor } from '../../network/processes.ts';
import { TEST_BANKS, useFabricTestNetwork } from '../ledger/fabric-network-fixture.ts';

/**
 * The chaincode server (CCaaS) dies: transactions fail with a FabricLedgerError at endorsement
 * and change nothing; started again, the peers reconnect and every record written before is
 * still there (the world state lives in the peers, not in the chaincode process).
 */
jest.setTimeout(240_000);

const running = useFabricTestNetwork(400);

describe('the chaincode server crashes and restarts', () => {
  it('refuses transactions while down, then serves the same ledger', async () => {
    const net = running();
    const chaincode = await net.freshChaincode();
    const as = (identity: string) => new Ledger(net.open({ identity, chaincode }));
    const coordinator = as('CoordinatorMSP');
    await coordinator.registerMember('CoordinatorMSP', ['coordinator']);
    for (const bank of TEST_BANKS) await coordinator.registerMember(bank, ['member']);
    const expires = Date.now() + 365 * 86_400_000;
    await as('BankAMSP').grantConsent('consent-a1', 'cards-2026', 'fraud-model', expires);

    await stopNode(net.directory, 'chaincode');
    const refused = as('BankBMSP').grantConsent('consent-b1', 'loans', 'fraud-model', expires);
    await expect(refused).rejects.toBeInstanceOf(FabricLedgerError);
    await expect(refused).rejects.toMatchObject({ step: 'endorse' });

    const state = networkState(net.directory);
    startChaincodeServer(net.directory, state);
    await waitFor('the chaincode server', () => portOpen(state.layout.chaincodePort), 30_000);
    // The peers reconnect on the next invocation; a few may still see the old connection fail.
    const bankB = as('BankBMSP');
    let granted: Awaited<ReturnType<Ledger['grantConsent']>> | undefined;
    await waitFor(
      'a transaction to go through after the restart',
      async () => {
        try {
          granted = await bankB.grantConsent('consent-b1', 'loans', 'fraud-model', expires);
          return true;
        } catch (error) {
          if (error instanceof FabricLedgerError) return false;
          throw error;
        }
      },
      60_000,
      500,
    );
    expect(granted).toMatchObject({ consentId: 'consent-b1', memberId: 'BankBMSP' });
    expect((await as('BankAMSP').consentHistory('BankAMSP')).map((c) => c.consentId)).toEqual([
      'consent-a1',
    ]);
  });
});
