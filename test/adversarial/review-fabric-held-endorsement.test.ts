import { describe, expect, it, jest } from '@jest/globals';
import { MIN_CLOCK_ADVANCE_MS } from '../../chaincode/ledger-clock.ts';
import { Ledger } from '../../ledger/ledger.ts';
import type { ConsentRecord, RoundRecord } from '../../ledger/records.ts';
import { useFabricTestNetwork } from '../ledger/fabric-network-fixture.ts';
import { rawClient } from '../ledger/fabric-raw-client.ts';

/**
 * Review of branch ledger-contract (attacker's view): chaincode/proposal-time.ts checks the
 * proposal's timestamp when a peer *endorses* it. Nothing checks it when the transaction is
 * ordered and committed, so a submitter can collect endorsements now and submit them much later
 * (endorse, hold, submit). The held transaction stays valid as long as nothing it read changed.
 *
 *  - a member endorses its revocation, holds it while a round opens using its consent, then
 *    submits it: the ledger says the consent was revoked before the round that used it opened;
 *  - a coordinator endorses openRound while a consent is in force, holds it past the consent's
 *    expiry and past the 5-minute skew, then submits it: a round opens on an expired consent.
 *
 * The hold is longer than VEILSUM_MAX_CLOCK_SKEW_MS (5 min), so the committed times are further
 * from the commit than any peer would endorse directly.
 *
 * The defence (chaincode/ledger-clock.ts): every openRound reads and advances the ledger clock,
 * so any transaction that advances it during the hold — another round, or an honest member's
 * periodic advanceClock — makes the held openRound fail Fabric's version check at commit. The
 * second held openRound is endorsed after the coordinator's last round, so only the honest
 * member's advanceClock stands between it and a commit.
 */
jest.setTimeout(900_000);

const HASH = 'a'.repeat(64);
const HOLD_MS = 5 * 60_000 + 20_000;
const running = useFabricTestNetwork(730);

describe('review: endorse now, submit later bypasses the proposal clock check', () => {
  it('a held revocation and a held openRound commit with times the peers would refuse', async () => {
    const net = running();
    const chaincode = await net.freshChaincode();
    const coordinator = new Ledger(net.open({ identity: 'CoordinatorMSP', chaincode }));
    await coordinator.registerMember('CoordinatorMSP', ['coordinator']);
    for (const bank of ['BankAMSP', 'BankBMSP', 'BankCMSP'])
      await coordinator.registerMember(bank, ['member']);
    await coordinator.registerMember('AuditorMSP', ['auditor']);
    const inAYear = Date.now() + 365 * 86_400_000;
    await new Ledger(net.open({ identity: 'BankAMSP', chaincode })).grantConsent(
      'consent-a1',
      'cards',
      'fraud',
      inAYear,
    );
    await new Ledger(net.open({ identity: 'BankBMSP', chaincode })).grantConsent(
      'consent-b1',
      'loans',
      'fraud',
      inAYear,
    );
    // BankC's consent runs out in 60 s.
    const expiresAt = Date.now() + 60_000;
    await new Ledger(net.open({ identity: 'BankCMSP', chaincode })).grantConsent(
      'consent-c1',
      'mortgages',
      'short',
      expiresAt,
    );

    const bankA = rawClient(net.connection, { identity: 'BankAMSP' });
    const coord = rawClient(net.connection, { identity: 'CoordinatorMSP' });
    try {
      // Endorsed now, by honest peers with correct clocks.
      const heldRevocation = await bankA
        .contract(chaincode)
        .newProposal('revokeConsent', { arguments: [JSON.stringify('consent-a1')] })
        .endorse();
      const heldOpen = await coord
        .contract(chaincode)
        .newProposal('openRound', {
          arguments: [
            JSON.stringify('short/round-1'),
            JSON.stringify('short'),
            JSON.stringify(1),
            JSON.stringify(HASH),
            JSON.stringify(['BankCMSP']),
            JSON.stringify(null),
          ],
        })
        .endorse()
        .catch((error: unknown) => {
          throw new Error(
            JSON.stringify(
              (error as { details?: { message: string }[] }).details?.map((d) => d.message),
            ),
          );
        });

      // Meanwhile the coordinator opens a round that uses consent-a1.
      const round = await coordinator.openRound('fraud/round-1', 'fraud', 1, HASH, [
        'BankAMSP',
        'BankBMSP',
      ]);
      expect(round.consents.map((c) => c.consentId)).toContain('consent-a1');
      // A careful coordinator endorses its held round after its last transaction...
      const heldAfter = await coord
        .contract(chaincode)
        .newProposal('openRound', {
          arguments: [
            JSON.stringify('short/round-2'),
            JSON.stringify('short'),
            JSON.stringify(2),
            JSON.stringify(HASH),
            JSON.stringify(['BankCMSP']),
            JSON.stringify(null),
          ],
        })
        .endorse();

      // ...but during the hold an honest member advances the ledger clock, as it does
      // periodically (at most once every 10 s: MIN_CLOCK_ADVANCE_MS).
      const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
      await sleep(MIN_CLOCK_ADVANCE_MS + 5_000);
      const clock = await net.open({ identity: 'BankBMSP', chaincode }).advanceClock();
      expect(clock).toBeGreaterThanOrEqual(round.openedAt + MIN_CLOCK_ADVANCE_MS);
      await sleep(HOLD_MS - MIN_CLOCK_ADVANCE_MS - 5_000);
      const submittedAt = Date.now();
      const revocation = await heldRevocation.submit();
      const opening = await heldOpen.submit();
      const openingAfter = await heldAfter.submit();
      const [revocationStatus, openingStatus, openingAfterStatus] = [
        await revocation.getStatus(),
        await opening.getStatus(),
        await openingAfter.getStatus(),
      ];
      await net.inStep();
      const auditor = new Ledger(net.open({ identity: 'AuditorMSP', chaincode }));
      const a1: ConsentRecord = (await auditor.consentHistory('BankAMSP'))[0]!;
      let shortRound: RoundRecord | undefined;
      try {
        shortRound = await auditor.getRound('short/round-1');
      } catch {
        shortRound = undefined;
      }
      console.log(
        JSON.stringify({
          revocation: { valid: revocationStatus.successful, code: revocationStatus.code },
          revokedAt: a1.revokedAt && new Date(a1.revokedAt).toISOString(),
          fraudRoundOpenedAt: new Date(round.openedAt).toISOString(),
          opening: { valid: openingStatus.successful, code: openingStatus.code },
          openingAfter: { valid: openingAfterStatus.successful, code: openingAfterStatus.code },
          shortRoundOpenedAt: shortRound && new Date(shortRound.openedAt).toISOString(),
          consentC1ExpiredAt: new Date(expiresAt).toISOString(),
          submittedAt: new Date(submittedAt).toISOString(),
        }),
      );
      // No revocation may be dated before the opening of a round, committed earlier, that used it.
      if (a1.revokedAt !== null) expect(a1.revokedAt).toBeGreaterThanOrEqual(round.openedAt);
      // No round may open, at commit, on a consent that had expired minutes before.
      expect(openingStatus.successful).toBe(false);
      expect(shortRound).toBeUndefined();
      // Nor when the coordinator held it from after its own last transaction: Fabric's version
      // check refuses it (MVCC_READ_CONFLICT, 11) because the ledger clock it read has moved.
      expect(openingAfterStatus.successful).toBe(false);
      expect(openingAfterStatus.code).toBe(11);
      await expect(auditor.getRound('short/round-2')).rejects.toThrow(/no round short\/round-2/);
    } finally {
      bankA.close();
      coord.close();
    }
  });
});
