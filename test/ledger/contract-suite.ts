import { beforeEach, describe, expect, it } from '@jest/globals';
import { ContractError, type ContractFunction } from '../../ledger/contract.ts';
import type { ContractGateway, Ledger } from '../../ledger/ledger.ts';
import type { RoundManifest, UploadReceipt } from '../../ledger/records.ts';
import { decryptionKl, SUM_8192 } from '../../crypto/ckks/parameters.ts';
import { ckksTestManifest, testKeyLimits } from '../support/ckks-keys.ts';

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

    it('roles only grow, and a keyholder is never also a coordinator or auditor (either order)', async () => {
      const suffix = Math.random().toString(36).slice(2, 8);
      const [operator, holder] = [`OperatorX${suffix}`, `KeyholderX${suffix}`];
      await coordinator.registerMember(operator, ['coordinator']);
      // A second registration adds roles; asking for fewer removes none.
      await coordinator.registerMember(operator, ['member']);
      expect((await auditor.getMember(operator)).roles).toEqual(['coordinator', 'member']);
      await expect(coordinator.registerMember(operator, ['keyholder'])).rejects.toThrow(
        new RegExp(`${operator} would hold the keyholder and the coordinator role`),
      );
      await coordinator.registerMember(holder, ['keyholder']);
      await expect(coordinator.registerMember(holder, ['auditor'])).rejects.toThrow(
        new RegExp(`${holder} would hold the keyholder and the auditor role`),
      );
      await expect(
        coordinator.registerMember(holder, ['coordinator', 'keyholder']),
      ).rejects.toThrow(/a keyholder may not also be a coordinator or auditor/);
      expect((await auditor.getMember(holder)).roles).toEqual(['keyholder']);
      expect((await auditor.getMember(operator)).roles).toEqual(['coordinator', 'member']);
    });

    it('registers no collective key that one keyholder could decrypt alone', async () => {
      // Two banks of the network take the keyholder role too (roles only grow).
      const holders = ['BankAMSP', 'BankBMSP'];
      for (const holder of holders) await coordinator.registerMember(holder, ['keyholder']);
      await expect(
        bankA.attestCollectiveKey(HASH_A, 'alone', 1, ['BankAMSP'], testKeyLimits()),
      ).rejects.toThrow(/needs at least 2 keyholders and a threshold of at least 2/);
      await expect(
        bankA.attestCollectiveKey(HASH_A, 'one-of-two', 1, holders, testKeyLimits()),
      ).rejects.toThrow(/threshold must be an integer in \[2, 2\]/);
      await expect(auditor.getCollectiveKey(HASH_A)).rejects.toThrow(/no collective key/);
      // 2 of 2 is registered once both attested.
      await bankA.attestCollectiveKey(HASH_B, 'two-of-two', 2, holders, testKeyLimits());
      const registered = await bankB.attestCollectiveKey(
        HASH_B,
        'two-of-two',
        2,
        holders,
        testKeyLimits(),
      );
      expect(registered.threshold).toBe(2);
      expect(registered.registeredAt).not.toBeNull();
    });

    it('keeps one decryption budget per key: limits fixed at attestation, each record checked against its round and charged by the contract', async () => {
      // Keyholders are not roster members: BankC and Outsider hold the keys, BankA and B contribute.
      const holders = ['BankCMSP', 'OutsiderMSP'];
      for (const holder of holders) await coordinator.registerMember(holder, ['keyholder']);
      const [bankC, outsider] = holders.map((h) => fixture.connect(h)) as [Ledger, Ledger];
      const twoRounds = testKeyLimits(2, 2);
      for (const h of [bankC, outsider]) {
        await h.attestCollectiveKey(HASH_C, 'budget', 2, holders, twoRounds);
        // A key whose KL budget no decryption fits.
        await h.attestCollectiveKey(HASH_B, 'tight', 2, holders, {
          ...twoRounds,
          klBudget: 2 ** -300,
        });
      }
      const roster = ['BankAMSP', 'BankBMSP'];
      for (const [bank, ledger] of [
        ['BankAMSP', bankA],
        ['BankBMSP', bankB],
      ] as const)
        await ledger.grantConsent(`consent-${bank}`, 'cards-2026', 'fraud-model', inAYear());
      // A CKKS round of 3 · 8192 values, two contributors, under `ckksKeySha256`.
      const ckks = (ckksKeySha256: string) => ckksTestManifest(ckksKeySha256, 2, 3 * 8192);
      const rounds = [
        ['budget/round-1', HASH_C, HASH_A],
        ['budget/round-2', HASH_C, HASH_B],
        ['budget/round-3', HASH_C, HASH_C],
        ['budget/round-4', HASH_B, HASH_A],
      ] as const;
      for (const [n, [round, key, aggregate]] of rounds.entries()) {
        await coordinator.openRound(round, 'fraud-model', n + 1, HASH_A, roster, ckks(key));
        await coordinator.closeRound(round, roster, HASH_C, aggregate, 0);
      }
      const counts = { ciphertexts: 3, contributors: 2 };
      const record = (as: Ledger, aggregate: string, round: string, c = counts) =>
        as.recordKeyDecryption(HASH_C, aggregate, round, c);
      const first = await record(bankC, HASH_A, 'budget/round-1');
      // The contract charged it from the attested limits and the round's counts.
      const sigma = twoRounds.floodingSigma;
      expect(first).toMatchObject({ keyholder: 'BankCMSP', roundId: 'budget/round-1' });
      expect(first.kl).toBe(decryptionKl(SUM_8192, sigma, 3, 2, 2));
      expect(first.kl).toBeGreaterThan(0);
      expect(await record(bankC, HASH_A, 'budget/round-1')).toEqual(first);
      // Only a closed round's committed aggregate, with the round's own counts.
      await expect(record(bankC, HASH_B, 'budget/round-1')).rejects.toThrow(
        /round budget\/round-1 did not close with aggregate bbbbbbbbbbbbbbbb…/,
      );
      await expect(
        record(bankC, HASH_B, 'budget/round-2', { ...counts, contributors: 5 }),
      ).rejects.toThrow(/closed with 2 contributors, not 5/);
      await expect(
        record(bankC, HASH_B, 'budget/round-2', { ...counts, ciphertexts: 2 ** 31 }),
      ).rejects.toThrow(/has dimension 24576: 3 ciphertexts at sum-8192, not 2147483648/);
      // Only a round opened under this key.
      await expect(record(bankC, HASH_A, 'budget/round-4')).rejects.toThrow(
        /round budget\/round-4 was not opened with a manifest under CKKS key cccccccccccccccc…/,
      );
      // The key's life over ALL keyholders' records: a second keyholder answering the same
      // round costs nothing; a third round is refused whoever asks.
      await record(outsider, HASH_B, 'budget/round-2');
      await record(outsider, HASH_A, 'budget/round-1');
      await expect(record(bankC, HASH_C, 'budget/round-3')).rejects.toThrow(
        /key exhausted: key cccccccccccccccc… has decrypted 2 rounds .*attested 2 rounds/,
      );
      // The KL budget is the attested one, charged by the contract.
      await expect(
        outsider.recordKeyDecryption(HASH_B, HASH_A, 'budget/round-4', counts),
      ).rejects.toThrow(/key exhausted: key bbbbbbbbbbbbbbbb… has decrypted 0 rounds/);
      // Nobody outside the key's ceremony records.
      await expect(
        coordinator.recordKeyDecryption(HASH_C, HASH_B, 'budget/round-2', counts),
      ).rejects.toThrow(/needs the keyholder role/);
      await expect(
        bankA.recordKeyDecryption(HASH_C, HASH_B, 'budget/round-2', counts),
      ).rejects.toThrow(/needs the keyholder role/);
      await expect(
        record(bankC, HASH_B, 'budget/round-2', { ...counts, ciphertexts: 0 }),
      ).rejects.toThrow(/ciphertexts must be an integer/);
      const recorded = await auditor.keyDecryptions(HASH_C);
      expect(recorded.map((r) => [r.keyholder, r.roundId]).sort()).toEqual([
        ['BankCMSP', 'budget/round-1'],
        ['OutsiderMSP', 'budget/round-1'],
        ['OutsiderMSP', 'budget/round-2'],
      ]);
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

    it('consentInForce follows consentHistory’s read rule, and a round marks the consents it used', async () => {
      await bankA.grantConsent('consent-a1', 'cards-2026', 'fraud-model', inAYear());
      const at = fixture.now();
      await expect(bankB.consentInForce('BankAMSP', 'fraud-model', at)).rejects.toThrow(
        /BankBMSP may not read the consents of BankAMSP/,
      );
      expect((await auditor.consentInForce('BankAMSP', 'fraud-model', at))?.consentId).toBe(
        'consent-a1',
      );
      const round = await coordinator.openRound('fraud/round-1', 'fraud-model', 1, HASH_A, [
        'BankAMSP',
      ]);
      const [used] = await bankA.consentHistory('BankAMSP');
      // A revocation must be dated at or after this; on Fabric one endorsed before the opening
      // read the record without it and fails the version check.
      expect([used!.lastUsedBy, used!.lastUsedAt]).toEqual(['fraud/round-1', round.openedAt]);
      const revoked = await bankA.revokeConsent('consent-a1');
      expect(revoked.revokedAt).toBeGreaterThanOrEqual(round.openedAt);
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

    it('opens no round whose roster lists an operator or a non-member, each refused by name', async () => {
      const refused = (roster: string[]) =>
        coordinator.openRound('fraud/round-1', 'fraud-model', 1, HASH_A, roster);
      // The coordinator's own identity, an auditor, an unregistered name.
      await expect(refused(['BankAMSP', 'CoordinatorMSP'])).rejects.toThrow(
        /roster entry CoordinatorMSP holds the operator role coordinator; rosters list members only/,
      );
      await expect(refused(['AuditorMSP', 'BankBMSP'])).rejects.toThrow(
        /roster entry AuditorMSP holds the operator role auditor/,
      );
      await expect(refused(['BankAMSP', 'slot-7'])).rejects.toThrow(
        /roster entry slot-7 is not a registered member/,
      );
      // A member that also holds an operator role (roles only grow) is an operator.
      await coordinator.registerMember('BankBMSP', ['keyholder']);
      await expect(refused(['BankAMSP', 'BankBMSP'])).rejects.toThrow(
        /roster entry BankBMSP holds the operator role keyholder/,
      );
      await expect(auditor.getRound('fraud/round-1')).rejects.toThrow(/no round fraud\/round-1/);
    });

    it('a non-coordinator cannot close a round, and the round stays open', async () => {
      await bankA.grantConsent('consent-a1', 'cards-2026', 'fraud-model', inAYear());
      await bankB.grantConsent('consent-b1', 'cards-b', 'fraud-model', inAYear());
      await coordinator.openRound('fraud/round-1', 'fraud-model', 1, HASH_A, [
        'BankAMSP',
        'BankBMSP',
      ]);
      await expect(
        bankA.closeRound('fraud/round-1', ['BankAMSP'], HASH_B, HASH_C, 1),
      ).rejects.toThrow(/BankAMSP may not close rounds/);
      expect((await auditor.getRound('fraud/round-1')).status).toBe('open');
    });

    it('opens no round with a roster member that has no consent in force for the model', async () => {
      await bankA.grantConsent('consent-a1', 'cards-2026', 'fraud-model', inAYear());
      const open = (roundId: string) =>
        coordinator.openRound(roundId, 'fraud-model', 1, HASH_A, ['BankAMSP', 'BankBMSP']);
      // Never granted one (a consent for another model does not count).
      await bankB.grantConsent('consent-b0', 'cards-b', 'credit-model', inAYear());
      await expect(open('fraud/round-1')).rejects.toThrow(
        /every roster member needs a consent in force for fraud-model; none for BankBMSP \(it never granted one for fraud-model\)/,
      );
      // Revoked: the refusal names the consent.
      await bankB.grantConsent('consent-b1', 'cards-b', 'fraud-model', inAYear());
      await bankB.revokeConsent('consent-b1');
      await expect(open('fraud/round-1')).rejects.toMatchObject({
        kind: 'conflict',
        message: expect.stringMatching(
          /none for BankBMSP \(its latest, consent consent-b1, was revoked at /,
        ),
      });
      await expect(auditor.getRound('fraud/round-1')).rejects.toThrow(/no round fraud\/round-1/);
      // Once B consents again the round opens and records each member's consent.
      await bankB.grantConsent('consent-b2', 'cards-b', 'fraud-model', inAYear());
      const opened = await open('fraud/round-1');
      expect(opened.consents).toEqual([
        { memberId: 'BankAMSP', datasetId: 'cards-2026', consentId: 'consent-a1' },
        { memberId: 'BankBMSP', datasetId: 'cards-b', consentId: 'consent-b2' },
      ]);
      await expect(
        coordinator.closeRound('fraud/round-1', ['BankAMSP', 'OutsiderMSP'], HASH_B, HASH_C, 0),
      ).rejects.toThrow(/OutsiderMSP is not on the roster of round fraud\/round-1/);
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

    it('bounds a consent to ten years: a longer or absurd expiry is refused, not stored', async () => {
      const day = 86_400_000;
      await expect(
        bankA.grantConsent('consent-forever', 'cards', 'fraud-model', fixture.now() + 1e8 * day),
      ).rejects.toThrow(/expiresAt must be at most 3653 days \(ten years\) after the grant/);
      await expect(
        bankA.grantConsent('consent-11y', 'cards', 'fraud-model', fixture.now() + 11 * 366 * day),
      ).rejects.toMatchObject({ kind: 'invalid' });
      expect(await bankA.consentHistory('BankAMSP')).toEqual([]);
      const nineYears = await bankA.grantConsent(
        'consent-9y',
        'cards',
        'fraud-model',
        fixture.now() + 9 * 365 * day,
      );
      expect(nineYears.expiresAt - nineYears.grantedAt).toBeGreaterThan(9 * 364 * day);
    });

    it('refuses a model id with a "/" (round ids are <model>/round-<n>)', async () => {
      await bankA.grantConsent('consent-a1', 'cards-2026', 'fraud', inAYear());
      await coordinator.openRound('fraud/round-1', 'fraud', 1, HASH_A, ['BankAMSP']);
      await expect(
        coordinator.openRound('fraud/round-1/round-2', 'fraud/round-1', 2, HASH_A, ['BankAMSP']),
      ).rejects.toThrow(/modelId must be 1-128 characters .* \(no '\/'/);
      await expect(auditor.getRound('fraud/round-1/round-2')).rejects.toThrow(/no round/);
    });

    it('lists every member’s consents to auditors and coordinators, and to no member', async () => {
      await bankA.grantConsent('consent-a1', 'cards-2026', 'fraud-model', inAYear());
      await bankB.grantConsent('consent-b1', 'cards-b', 'fraud-model', inAYear());
      await bankB.revokeConsent('consent-b1');
      const all = await auditor.listConsents();
      expect(all.map((c) => [c.memberId, c.consentId, c.revokedAt !== null])).toEqual([
        ['BankAMSP', 'consent-a1', false],
        ['BankBMSP', 'consent-b1', true],
      ]);
      expect(await coordinator.listConsents()).toEqual(all);
      await expect(bankA.listConsents()).rejects.toThrow(
        /BankAMSP may not read every member's consents/,
      );
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

  describe(`round agreement (manifest, graph seed, U1–U3) on ${backend}`, () => {
    let fixture: LedgerFixture;
    let coordinator: Ledger;
    let bankA: Ledger;
    const ROSTER = ['BankAMSP', 'BankBMSP', 'BankCMSP'];
    const manifest = (overrides: Partial<RoundManifest> = {}): RoundManifest => ({
      mode: 'secagg',
      dimension: 10,
      identityKeys: ['1', '2', '3'].map((digit) => digit.repeat(64)),
      adversary: 'semi-malicious',
      corruptionRate: 0.05,
      dropoutRate: 0.05,
      degree: 2,
      threshold: 2,
      minContributors: 2,
      quantization: { clipRange: 1, levelBits: 16, modulusBits: 32 },
      ckksKeySha256: null,
      ...overrides,
    });

    beforeEach(async () => {
      fixture = await createFixture();
      coordinator = fixture.connect('CoordinatorMSP');
      bankA = fixture.connect('BankAMSP');
      await coordinator.registerMember('CoordinatorMSP', ['coordinator']);
      for (const id of ROSTER) await coordinator.registerMember(id, ['member']);
      // Every roster member consents to model m: the contract opens no round without.
      for (const id of ROSTER)
        await fixture
          .connect(id)
          .grantConsent(`${id}-m`, `${id}-data`, 'm', fixture.now() + 365 * 86_400_000);
    });

    it('commits the manifest with RoundOpened and derives the graph seed from the transaction', async () => {
      const first = await coordinator.openRound('m/round-1', 'm', 1, HASH_A, ROSTER, manifest());
      const second = await coordinator.openRound('m/round-2', 'm', 2, HASH_A, ROSTER, manifest());
      expect(first.manifest).toEqual(manifest());
      expect(first.graphSeed).toMatch(/^[0-9a-f]{64}$/);
      expect(first.openTransactionId).toBeTruthy();
      // Same parameters, another transaction: another seed, which no caller argument sets.
      expect(second.graphSeed).not.toBe(first.graphSeed);
      expect((await bankA.getRound('m/round-1')).graphSeed).toBe(first.graphSeed);
      await expect(
        coordinator.openRound('m/round-1', 'm', 1, HASH_A, ROSTER, manifest()),
      ).rejects.toThrow(/round m\/round-1 was already opened/);
    });

    it('refuses a manifest that does not fit the roster or a member’s registered identity key', async () => {
      await expect(
        coordinator.openRound(
          'm/round-1',
          'm',
          1,
          HASH_A,
          ROSTER,
          manifest({ identityKeys: ['1'.repeat(64)] }),
        ),
      ).rejects.toThrow(/identityKeys must list one .* per roster member \(3\)/);
      await expect(
        coordinator.openRound('m/round-1', 'm', 1, HASH_A, ROSTER, manifest({ degree: 7 })),
      ).rejects.toThrow(/manifest degree must be an integer in \[2, 2\]/);
      await bankA.registerIdentityKey('f'.repeat(64));
      await expect(
        coordinator.openRound('m/round-1', 'm', 1, HASH_A, ROSTER, manifest()),
      ).rejects.toThrow(/identity key for BankAMSP is not the key BankAMSP registered/);
      await expect(bankA.getRound('m/round-1')).rejects.toThrow(/no round m\/round-1/);
    });

    it('takes one participant set per round and phase, each within the previous one', async () => {
      await coordinator.openRound('m/round-1', 'm', 1, HASH_A, ROSTER, manifest());
      await expect(coordinator.commitRoundPhase('m/round-1', 'shared', [1, 2])).rejects.toThrow(
        /has no committed advertised set yet/,
      );
      const u1 = await coordinator.commitRoundPhase('m/round-1', 'advertised', [1, 2, 3]);
      expect(u1.members).toEqual([1, 2, 3]);
      // A restarted coordinator may send the same set again; a different one is refused.
      expect(
        (await coordinator.commitRoundPhase('m/round-1', 'advertised', [1, 2, 3])).members,
      ).toEqual([1, 2, 3]);
      await expect(coordinator.commitRoundPhase('m/round-1', 'advertised', [1, 2])).rejects.toThrow(
        /already committed its advertised set; one value per round and phase/,
      );
      await coordinator.commitRoundPhase('m/round-1', 'shared', [1, 3]);
      await expect(coordinator.commitRoundPhase('m/round-1', 'masked', [1, 2])).rejects.toThrow(
        /lists \[2\], which are not in its shared set/,
      );
      await expect(bankA.commitRoundPhase('m/round-1', 'masked', [1])).rejects.toThrow(
        /BankAMSP may not commit round phases/,
      );
      await expect(coordinator.commitRoundPhase('m/round-1', 'masked', [3, 1])).rejects.toThrow(
        /ascending, distinct roster indices/,
      );
      expect((await bankA.getRoundPhase('m/round-1', 'advertised')).members).toEqual([1, 2, 3]);
      await expect(bankA.getRoundPhase('m/round-1', 'masked')).rejects.toThrow(
        /has no committed masked set/,
      );
    });

    it('names a misbehaving roster member in the round record', async () => {
      await coordinator.openRound('m/round-1', 'm', 1, HASH_A, ROSTER, manifest());
      await coordinator.recordMisbehaviour('m/round-1', 'BankBMSP', 'bad share box', HASH_B);
      await expect(
        coordinator.recordMisbehaviour('m/round-1', 'OutsiderMSP', 'x', HASH_B),
      ).rejects.toThrow(/OutsiderMSP is not on the roster/);
      await expect(bankA.recordMisbehaviour('m/round-1', 'BankBMSP', 'x', HASH_B)).rejects.toThrow(
        /may not record misbehaviour/,
      );
      expect(await bankA.roundMisbehaviour('m/round-1')).toEqual([
        expect.objectContaining({
          memberId: 'BankBMSP',
          reason: 'bad share box',
          evidenceSha256: HASH_B,
        }),
      ]);
    });
  });
}
