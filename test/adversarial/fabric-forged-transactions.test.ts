import { beforeEach, describe, expect, it, jest } from '@jest/globals';
import { ContractError } from '../../ledger/contract.ts';
import { FabricLedgerError, toLedgerError } from '../../ledger/fabric/fabric-errors.ts';
import { Ledger } from '../../ledger/ledger.ts';
import type { RoundRecord } from '../../ledger/records.ts';
import { TEST_BANKS, useFabricTestNetwork } from '../ledger/fabric-network-fixture.ts';
import { rawClient, rewriteWrites } from '../ledger/fabric-raw-client.ts';

/**
 * Clients that do not follow the rules, against a real Fabric network (three banks, endorsement
 * by two of three): a transaction endorsed by one bank only, a client claiming another bank's
 * MSP id, a read-write set altered after endorsement. Each is refused, and every bank's peer
 * still returns the state the honest transactions made.
 */
jest.setTimeout(180_000);

const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);
const HASH_C = 'c'.repeat(64);
const HASH_F = 'f'.repeat(64);
const inAYear = () => Date.now() + 365 * 86_400_000;

const running = useFabricTestNetwork(100);
let chaincode: string;

/** The ledger as `identity` sees it through a given bank's peer. */
function through(bank: string, identity = 'AuditorMSP'): Ledger {
  const net = running();
  return new Ledger(net.open({ identity, chaincode, peer: net.peerOf(bank) }));
}

beforeEach(async () => {
  const net = running();
  chaincode = await net.freshChaincode();
  const coordinator = new Ledger(net.open({ identity: 'CoordinatorMSP', chaincode }));
  await coordinator.registerMember('CoordinatorMSP', ['coordinator']);
  for (const bank of TEST_BANKS) await coordinator.registerMember(bank, ['member']);
  await coordinator.registerMember('AuditorMSP', ['auditor']);
  await new Ledger(net.open({ identity: 'BankAMSP', chaincode })).grantConsent(
    'consent-a1',
    'cards-2026',
    'fraud-model',
    inAYear(),
  );
  await new Ledger(net.open({ identity: 'BankBMSP', chaincode })).grantConsent(
    'consent-b1',
    'loans-2026',
    'fraud-model',
    inAYear(),
  );
});

describe('forged transactions on Fabric', () => {
  it('a transaction endorsed by one bank only is invalidated by the majority policy and changes nothing', async () => {
    const net = running();
    const oneBank = new Ledger(
      net.open({ identity: 'BankAMSP', chaincode, endorsingOrganizations: ['BankAMSP'] }),
    );
    const refused = oneBank.grantConsent('consent-a2', 'loans-2026', 'fraud-model', inAYear());
    await expect(refused).rejects.toBeInstanceOf(FabricLedgerError);
    await expect(refused).rejects.toMatchObject({
      step: 'commit',
      code: 'ENDORSEMENT_POLICY_FAILURE',
    });
    await running().inStep();
    for (const bank of TEST_BANKS) {
      const history = await through(bank).consentHistory('BankAMSP');
      expect(history.map((consent) => consent.consentId)).toEqual(['consent-a1']);
    }
  });

  it("a client of BankA claiming BankB's MSP id can neither write nor read as BankB", async () => {
    const net = running();
    const impostor = rawClient(net.connection, { identity: 'BankAMSP', claimedMspId: 'BankBMSP' });
    try {
      const contract = impostor.contract(chaincode);
      let revokeError: unknown;
      try {
        await contract.submitTransaction('revokeConsent', JSON.stringify('consent-b1'));
      } catch (error) {
        revokeError = error;
      }
      expect(revokeError).toBeDefined();
      // Refused by the peer's identity check (the certificate is not BankB's), before the
      // contract ever sees a caller.
      expect(toLedgerError(revokeError, 'endorse', 'revokeConsent')).toMatchObject({
        kind: 'access-denied',
        message: expect.stringMatching(/refused the caller's identity.*creator org unknown/),
      });
      let readError: unknown;
      try {
        await contract.evaluateTransaction('consentHistory', JSON.stringify('BankBMSP'));
      } catch (error) {
        readError = error;
      }
      expect(toLedgerError(readError, 'evaluate', 'consentHistory')).toMatchObject({
        kind: 'access-denied',
        message: expect.stringMatching(/refused the caller's identity/),
      });
    } finally {
      impostor.close();
    }
    await running().inStep();
    for (const bank of TEST_BANKS) {
      const [consent] = await through(bank).consentHistory('BankBMSP');
      expect(consent).toMatchObject({ consentId: 'consent-b1', revokedAt: null });
    }
  });

  it('a read-write set altered after endorsement is invalidated, and every peer returns what was endorsed', async () => {
    const net = running();
    const coordinator = new Ledger(net.open({ identity: 'CoordinatorMSP', chaincode }));
    await coordinator.openRound('fraud/round-1', 'fraud-model', 1, HASH_A, [
      'BankAMSP',
      'BankBMSP',
    ]);
    // The coordinator has the round closed honestly, then swaps the aggregate hash in the
    // endorsed write before sending the transaction to the orderer.
    const forger = rawClient(net.connection, { identity: 'CoordinatorMSP' });
    try {
      const endorsed = await forger
        .contract(chaincode)
        .newProposal('closeRound', {
          arguments: [
            JSON.stringify('fraud/round-1'),
            JSON.stringify(['BankAMSP', 'BankBMSP']),
            JSON.stringify(HASH_B),
            JSON.stringify(HASH_C),
            JSON.stringify(0),
            JSON.stringify([]),
          ],
        })
        .endorse();
      const forged = rewriteWrites(endorsed.getBytes(), (key, value) =>
        key === 'round/fraud/round-1' ? value.replace(HASH_C, HASH_F) : value,
      );
      const submitted = await forger.gateway.newTransaction(forged).submit();
      const status = await submitted.getStatus();
      expect(status.successful).toBe(false);
      expect(status.code).toBe(10); // ENDORSEMENT_POLICY_FAILURE: no endorser signed these bytes
    } finally {
      forger.close();
    }
    await running().inStep();
    for (const bank of TEST_BANKS) {
      const round: RoundRecord = await through(bank).getRound('fraud/round-1');
      expect(round).toMatchObject({ status: 'open', aggregateHash: null });
    }
    // The honest close still goes through, with the hash that was endorsed.
    const closed = await coordinator.closeRound(
      'fraud/round-1',
      ['BankAMSP', 'BankBMSP'],
      HASH_B,
      HASH_C,
      0,
    );
    expect(closed.aggregateHash).toBe(HASH_C);
    await running().inStep();
    for (const bank of TEST_BANKS)
      expect((await through(bank).getRound('fraud/round-1')).aggregateHash).toBe(HASH_C);
  });

  it('keeps the typed refusal of the contract for an honest client (ContractError, not a network error)', async () => {
    await expect(through('BankCMSP', 'BankCMSP').revokeConsent('consent-a1')).rejects.toEqual(
      new ContractError(
        'access-denied',
        'BankCMSP may not revoke consent consent-a1: it belongs to BankAMSP',
      ),
    );
  });
});
