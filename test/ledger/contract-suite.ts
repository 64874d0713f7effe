import { beforeEach, describe, expect, it } from '@jest/globals';
import { ContractError, type ContractFunction } from '../../ledger/contract.ts';
import type { ContractGateway, Ledger } from '../../ledger/ledger.ts';
import type { UploadReceipt } from '../../ledger/records.ts';

/**
 * The contract's behaviour, written once and run against every backend (embedded SQLite here;
 * a Fabric network where one can be built). `connect(mspId)` returns a Ledger acting as that
 * organisation, all sharing one fresh ledger per test; `now` is the backend's clock in ms.
 */
export interface LedgerFixture {
  connect(mspId: string): Ledger;
  /** The backend's contract gateway acting as `mspId` (for calls the typed Ledger cannot make). */
  gateway(mspId: string): ContractGateway;
  now(): number;
}

const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);
const HASH_C = 'c'.repeat(64);

export function describeLedgerContract(
  backend: string,
  createFixture: () => Promise<LedgerFixture>,
): void {
  describe(`ledger contract on ${backend}`, () => {
    let fixture: LedgerFixture;
    let coordinator: Ledger;
    let bankA: Ledger;
    let bankB: Ledger;
    let auditor: Ledger;
    const inAYear = () => fixture.now() + 365 * 86_400_000;

    beforeEach(async () => {
      fixture = await createFixture();
      coordinator = fixture.connect('CoordinatorMSP');
      bankA = fixture.connect('BankAMSP');
      bankB = fixture.connect('BankBMSP');
      auditor = fixture.connect('AuditorMSP');
      await coordinator.registerMember('CoordinatorMSP', ['coordinator']);
      await coordinator.registerMember('BankAMSP', ['member']);
      await coordinator.registerMember('BankBMSP', ['member']);
      await coordinator.registerMember('AuditorMSP', ['auditor']);
    });

    it('lets only a coordinator register members after the first (bootstrap) registration', async () => {
      await expect(bankA.registerMember('BankCMSP', ['member'])).rejects.toThrow(
        /BankAMSP may not register members: it needs the coordinator role/,
      );
      await expect(auditor.getMember('BankCMSP')).rejects.toThrow(/no member BankCMSP/);
    });

    it('records consent grants and revocations in each member’s history', async () => {
      await bankA.grantConsent('consent-a1', 'cards-2026', 'fraud-model', inAYear());
      await bankA.grantConsent('consent-a2', 'loans-2026', 'credit-model', inAYear());
      await bankA.revokeConsent('consent-a1');
      const history = await bankA.consentHistory('BankAMSP');
      expect(history.map((c) => [c.consentId, c.revokedAt !== null])).toEqual([
        ['consent-a1', true],
        ['consent-a2', false],
      ]);
      expect(await auditor.consentHistory('BankAMSP')).toEqual(history);
    });

    it('member B cannot revoke A’s consent, and A’s consent stays in force', async () => {
      await bankA.grantConsent('consent-a1', 'cards-2026', 'fraud-model', inAYear());
      await expect(bankB.revokeConsent('consent-a1')).rejects.toThrow(
        /BankBMSP may not revoke consent consent-a1: it belongs to BankAMSP/,
      );
      const [consent] = await bankA.consentHistory('BankAMSP');
      expect(consent!.revokedAt).toBeNull();
      await expect(bankB.consentHistory('BankAMSP')).rejects.toThrow(ContractError);
    });

    it('an auditor reads everything but cannot write', async () => {
      await expect(
        auditor.grantConsent('consent-x', 'cards', 'fraud-model', inAYear()),
      ).rejects.toThrow(/AuditorMSP may not grant consent/);
      await expect(
        auditor.openRound('fraud/round-1', 'fraud-model', 1, HASH_A, ['BankAMSP']),
      ).rejects.toThrow(/may not open rounds/);
      expect(await auditor.consentHistory('BankAMSP')).toEqual([]);
    });

    it('a non-coordinator cannot close a round, and the round stays open', async () => {
      await bankA.grantConsent('consent-a1', 'cards-2026', 'fraud-model', inAYear());
      await coordinator.openRound('fraud/round-1', 'fraud-model', 1, HASH_A, [
        'BankAMSP',
        'BankBMSP',
      ]);
      await expect(
        bankA.closeRound('fraud/round-1', ['BankAMSP'], HASH_B, HASH_C, 1),
      ).rejects.toThrow(/BankAMSP may not close rounds/);
      expect((await auditor.getRound('fraud/round-1')).status).toBe('open');
    });

    it('a round cannot close with a contribution whose consent was revoked or missing at open', async () => {
      await bankA.grantConsent('consent-a1', 'cards-2026', 'fraud-model', inAYear());
      await bankB.grantConsent('consent-b1', 'cards-b', 'fraud-model', inAYear());
      await bankB.revokeConsent('consent-b1');
      const opened = await coordinator.openRound('fraud/round-1', 'fraud-model', 1, HASH_A, [
        'BankAMSP',
        'BankBMSP',
      ]);
      expect(opened.consents).toEqual([
        { memberId: 'BankAMSP', datasetId: 'cards-2026', consentId: 'consent-a1' },
      ]);
      await expect(
        coordinator.closeRound('fraud/round-1', ['BankAMSP', 'BankBMSP'], HASH_B, HASH_C, 0),
      ).rejects.toThrow(
        /cannot include BankBMSP: it had no consent in force for fraud-model when the round opened/,
      );
      expect((await auditor.getRound('fraud/round-1')).status).toBe('open');
      const closed = await coordinator.closeRound('fraud/round-1', ['BankAMSP'], HASH_B, HASH_C, 1);
      expect(closed).toMatchObject({
        status: 'closed',
        included: ['BankAMSP'],
        uploadsMerkleRoot: HASH_B,
        aggregateHash: HASH_C,
        dropoutCount: 1,
      });
      expect(closed.participantSetCommitment).toMatch(/^[0-9a-f]{64}$/);
    });

    it('a CKKS round closes with exactly one upload receipt per included member, kept on the record', async () => {
      await bankA.grantConsent('consent-a1', 'cards-2026', 'fraud-model', inAYear());
      await bankB.grantConsent('consent-b1', 'cards-b', 'fraud-model', inAYear());
      await coordinator.openRound('fraud/round-1', 'fraud-model', 1, HASH_A, [
        'BankAMSP',
        'BankBMSP',
      ]);
      const receipt = (memberId: string) => ({
        memberId,
        uploadSha256: HASH_B,
        signature: 'ab'.repeat(64),
      });
      const both = ['BankAMSP', 'BankBMSP'];
      const close = (receipts: UploadReceipt[]) =>
        coordinator.closeRound('fraud/round-1', both, HASH_B, HASH_C, 0, receipts);
      await expect(close([receipt('BankAMSP')])).rejects.toThrow(
        /no upload receipt for included BankBMSP/,
      );
      await expect(close([receipt('BankAMSP'), receipt('BankAMSP')])).rejects.toThrow(
        /two upload receipts name member BankAMSP/,
      );
      await expect(
        close([receipt('BankAMSP'), { ...receipt('BankBMSP'), signature: 'zz' }]),
      ).rejects.toThrow(/signature must be 128 lowercase hex/);
      expect((await auditor.getRound('fraud/round-1')).status).toBe('open');
      const closed = await close([receipt('BankAMSP'), receipt('BankBMSP')]);
      expect(closed.receipts).toEqual([receipt('BankAMSP'), receipt('BankBMSP')]);
      expect((await auditor.getRound('fraud/round-1')).receipts).toEqual(closed.receipts);
    });

    it('lineage names the datasets and consents that fed a model version', async () => {
      await bankA.grantConsent('consent-a1', 'cards-2026', 'fraud-model', inAYear());
      await bankB.grantConsent('consent-b1', 'cards-b', 'fraud-model', inAYear());
      await coordinator.openRound('fraud/round-1', 'fraud-model', 1, HASH_A, [
        'BankAMSP',
        'BankBMSP',
      ]);
      await coordinator.closeRound('fraud/round-1', ['BankAMSP', 'BankBMSP'], HASH_B, HASH_C, 0);
      await expect(bankA.recordModelVersion(HASH_A, 'fraud/round-1')).rejects.toThrow(
        /may not record model versions/,
      );
      await coordinator.recordModelVersion(HASH_A, 'fraud/round-1');
      const lineage = await auditor.lineage(HASH_A);
      expect(lineage.round.roundId).toBe('fraud/round-1');
      expect(
        lineage.contributions.map((c) => [c.memberId, c.consent.datasetId, c.consent.consentId]),
      ).toEqual([
        ['BankAMSP', 'cards-2026', 'consent-a1'],
        ['BankBMSP', 'cards-b', 'consent-b1'],
      ]);
    });

    it('a round closed twice is refused as a conflict and keeps its first commitments', async () => {
      await bankA.grantConsent('consent-a1', 'cards-2026', 'fraud-model', inAYear());
      await coordinator.openRound('fraud/round-1', 'fraud-model', 1, HASH_A, ['BankAMSP']);
      await coordinator.closeRound('fraud/round-1', ['BankAMSP'], HASH_B, HASH_C, 0);
      const second = coordinator.closeRound('fraud/round-1', [], HASH_C, HASH_B, 1);
      await expect(second).rejects.toBeInstanceOf(ContractError);
      await expect(second).rejects.toMatchObject({
        kind: 'conflict',
        message: 'round fraud/round-1 is already closed',
      });
      expect(await auditor.getRound('fraud/round-1')).toMatchObject({
        included: ['BankAMSP'],
        uploadsMerkleRoot: HASH_B,
        aggregateHash: HASH_C,
        dropoutCount: 0,
      });
    });

    it('an unknown contract function is refused as invalid input and writes nothing', async () => {
      const call = fixture
        .gateway('CoordinatorMSP')
        .submit('dropEverything' as ContractFunction, ['BankAMSP']);
      await expect(call).rejects.toBeInstanceOf(ContractError);
      await expect(call).rejects.toMatchObject({
        kind: 'invalid',
        message: 'unknown contract function dropEverything',
      });
      expect(await auditor.getMember('BankAMSP')).toMatchObject({ roles: ['member'] });
    });

    it('rejects malformed input with a message naming the field', async () => {
      await expect(
        bankA.grantConsent('bad id!', 'cards', 'fraud-model', inAYear()),
      ).rejects.toThrow(/consentId must be/);
      await expect(
        bankA.grantConsent('c1', 'cards', 'fraud-model', fixture.now() - 1),
      ).rejects.toThrow(/expiresAt must be a future time/);
      await expect(
        coordinator.openRound('r/1', 'fraud-model', 1, 'not-a-hash', ['BankAMSP']),
      ).rejects.toThrow(/paramsHash must be 64 lowercase hex/);
    });
  });
}
