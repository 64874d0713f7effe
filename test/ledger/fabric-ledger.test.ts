import { describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContractError, type ContractFunction } from '../../ledger/contract.ts';
import type { FabricLedgerEvent } from '../../ledger/fabric/fabric-ledger.ts';
import { toLedgerError } from '../../ledger/fabric/fabric-errors.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { describeLedgerContract } from './contract-suite.ts';
import {
  TEST_BANKS,
  useFabricTestNetwork,
  type FabricTestNetwork,
} from './fabric-network-fixture.ts';
import { rawClient } from './fabric-raw-client.ts';

/**
 * The contract suite on a real Fabric network built from the Fabric source (cached): orderer,
 * three bank peers, chaincode as a service over mutual TLS; then what only Fabric has — bad input
 * that never reaches the chain, and chaincode events with a checkpoint. If Fabric cannot be built
 * here, every test fails with the reason: never a silent skip.
 */
jest.setTimeout(180_000);

const running = useFabricTestNetwork();

describeLedgerContract('a Fabric network (3 bank peers, majority endorsement)', () =>
  running().fixture(),
);

const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);
const inAYear = () => Date.now() + 365 * 86_400_000;

async function populatedLedger(net: FabricTestNetwork) {
  const chaincode = await net.freshChaincode();
  const as = (identity: string) => new Ledger(net.open({ identity, chaincode }));
  const coordinator = as('CoordinatorMSP');
  await coordinator.registerMember('CoordinatorMSP', ['coordinator']);
  for (const bank of TEST_BANKS) await coordinator.registerMember(bank, ['member']);
  await coordinator.registerMember('AuditorMSP', ['auditor']);
  return { chaincode, as, coordinator };
}

describe('bad chaincode input on Fabric', () => {
  it('gets a typed error and changes neither the world state nor the chain', async () => {
    const net = running();
    const { chaincode, as, coordinator } = await populatedLedger(net);
    await as('BankAMSP').grantConsent('consent-a1', 'cards-2026', 'fraud-model', inAYear());
    await as('BankBMSP').grantConsent('consent-b1', 'loans-2026', 'fraud-model', inAYear());
    await coordinator.openRound('fraud/round-1', 'fraud-model', 1, HASH_A, ['BankAMSP']);
    await coordinator.closeRound('fraud/round-1', ['BankAMSP'], HASH_B, HASH_A, 0);

    const auditor = as('AuditorMSP');
    const snapshot = async () => ({
      members: await Promise.all(
        ['CoordinatorMSP', ...TEST_BANKS, 'AuditorMSP'].map((id) => auditor.getMember(id)),
      ),
      consents: await Promise.all(TEST_BANKS.map((id) => auditor.consentHistory(id))),
      round: await auditor.getRound('fraud/round-1'),
    });
    const reader = net.open({ identity: 'AuditorMSP', chaincode });
    const raw = rawClient(net.connection, { identity: 'BankAMSP' });
    try {
      await net.inStep();
      const before = await snapshot();
      const heightBefore = await reader.chainHeight();

      // Unknown function, through the typed gateway's generic dispatch.
      await expect(
        net
          .open({ identity: 'CoordinatorMSP', chaincode })
          .submit('mintMoney' as ContractFunction, []),
      ).rejects.toEqual(new ContractError('invalid', 'unknown contract function mintMoney'));
      // Malformed JSON arguments, from a client that does not use FabricLedger.
      let malformed: unknown;
      try {
        await raw
          .contract(chaincode)
          .submitTransaction('grantConsent', '{"consent', '"cards"', '"fraud-model"', '1e99');
      } catch (error) {
        malformed = error;
      }
      expect(toLedgerError(malformed, 'endorse', 'grantConsent')).toEqual(
        new ContractError('invalid', 'every argument of grantConsent must be JSON'),
      );
      // A round closed twice.
      await expect(
        coordinator.closeRound('fraud/round-1', [], HASH_A, HASH_B, 1),
      ).rejects.toMatchObject({
        kind: 'conflict',
        message: 'round fraud/round-1 is already closed',
      });
      // A consent of another organisation's member: revoked, and read, by BankA.
      await expect(as('BankAMSP').revokeConsent('consent-b1')).rejects.toEqual(
        new ContractError(
          'access-denied',
          'BankAMSP may not revoke consent consent-b1: it belongs to BankBMSP',
        ),
      );
      await expect(as('BankAMSP').consentHistory('BankBMSP')).rejects.toMatchObject({
        kind: 'access-denied',
      });

      expect(await snapshot()).toEqual(before);
      // Refused endorsements never reach the orderer: not one block more.
      expect(await reader.chainHeight()).toBe(heightBefore);
    } finally {
      raw.close();
    }
  });
});

describe('chaincode events on Fabric', () => {
  it('a reader restarted from its checkpoint file misses no event', async () => {
    const net = running();
    const { chaincode, as, coordinator } = await populatedLedger(net);
    const checkpointDirectory = mkdtempSync(join(tmpdir(), 'veilsum-events-'));
    const checkpointFile = join(checkpointDirectory, 'checkpoint.json');
    const take = async (count: number): Promise<FabricLedgerEvent[]> => {
      const events: FabricLedgerEvent[] = [];
      const ledger = net.open({ identity: 'AuditorMSP', chaincode });
      for await (const event of ledger.events({ checkpointFile, startBlock: 0n })) {
        // The consortium's set-up registers its members first; this test follows the rest.
        if (event.name === 'MemberRegistered') continue;
        events.push(event);
        if (events.length === count) break;
      }
      ledger.close();
      return events;
    };
    await as('BankAMSP').grantConsent('consent-a1', 'cards-2026', 'fraud-model', inAYear());
    await as('BankBMSP').grantConsent('consent-b1', 'loans-2026', 'fraud-model', inAYear());
    const first = await take(2);
    expect(first.map((e) => [e.name, e.payload.consentId])).toEqual([
      ['ConsentGranted', 'consent-a1'],
      ['ConsentGranted', 'consent-b1'],
    ]);
    // While the reader is down: a revocation and a whole round.
    await as('BankAMSP').revokeConsent('consent-a1');
    await coordinator.openRound('fraud/round-1', 'fraud-model', 1, HASH_A, ['BankBMSP']);
    await coordinator.closeRound('fraud/round-1', ['BankBMSP'], HASH_B, HASH_A, 0);
    // The reader stopped while handling consent-b1's event: it gets that one again, then the rest.
    const resumed = await take(4);
    expect(resumed.map((e) => e.name)).toEqual([
      'ConsentGranted',
      'ConsentRevoked',
      'RoundOpened',
      'RoundClosed',
    ]);
    expect(resumed[0]!.transactionId).toBe(first[1]!.transactionId);
    expect(resumed[3]!.payload).toMatchObject({ roundId: 'fraud/round-1', included: 1 });
    rmSync(checkpointDirectory, { recursive: true, force: true });
  });
});
