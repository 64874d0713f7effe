import { describe, expect, it, jest } from '@jest/globals';
import { MIN_CLOCK_ADVANCE_MS } from '../../chaincode/ledger-clock.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { openLedger } from '../../ledger/ledger-factory.ts';
import { pino } from 'pino';
import { LedgerClockTicker, type TickOutcome } from '../../services/common/ledger-clock-ticker.ts';
import type { ConsentRecord, RoundRecord } from '../../ledger/records.ts';
import { TEST_BANKS, useFabricTestNetwork } from '../ledger/fabric-network-fixture.ts';
import { proposalTimeMs, rawClient, shiftProposalTime } from '../ledger/fabric-raw-client.ts';

/**
 * Review of branch ledger-contract (attacker's view): chaincode/proposal-time.ts checks the
 * proposal's timestamp when a peer *endorses* it. Nothing checks it when the transaction is
 * ordered and committed, so a submitter can collect endorsements now and submit them much later
 * (endorse, hold, submit). The held transaction stays valid as long as nothing it read changed.
 *
 *  - a member endorses its revocation, holds it while a round opens using its consent, then
 *    submits it: the ledger says the consent was revoked before the round that used it opened;
 *  - a coordinator endorses openRound while a consent is in force, holds it past the consent's
 *    expiry and past the peers' clock skew, then submits it: a round opens on an expired consent.
 *
 * The hold is longer than VEILSUM_MAX_CLOCK_SKEW_MS, so the committed times are further from the
 * commit than any peer would endorse directly (the test checks it: the same openRound, dated at
 * the held one's time, is refused at submission). The skew is 5 min by default; this file's
 * network runs its chaincode with 15 s, so the hold lasts seconds rather than minutes. Nothing
 * here depends on the skew's size: a held transaction is never re-checked against any clock.
 *
 * The defence (chaincode/ledger-clock.ts): every openRound reads and advances the ledger clock,
 * so any transaction that advances it during the hold — another round, or an honest member's
 * periodic advanceClock — makes the held openRound fail Fabric's version check at commit. The
 * second held openRound is endorsed after the coordinator's last round, so only the honest
 * member's advanceClock stands between it and a commit (it uses another member's consent than
 * the first, so the first one's commit or failure does not decide it).
 */
jest.setTimeout(180_000);

const HASH = 'a'.repeat(64);
/** VEILSUM_MAX_CLOCK_SKEW_MS of this network's chaincode (the default is 5 min). */
const MAX_CLOCK_SKEW_MS = 15_000;
/** BankC's and BankB's consents to purpose `short` run out this long after they are granted. */
const CONSENT_LIFETIME_MS = 20_000;
/** How far past both the skew and the consent's expiry the held transactions are submitted. */
const MARGIN_MS = 5_000;
const running = useFabricTestNetwork(730, TEST_BANKS, {
  chaincodeEnvironment: { VEILSUM_MAX_CLOCK_SKEW_MS: String(MAX_CLOCK_SKEW_MS) },
});

/** openRound `short/round-<n>` of the purpose `short`, with `member` alone on its roster. */
const openShortRound = (
  chaincode: string,
  client: ReturnType<typeof rawClient>,
  n: number,
  member: string,
) =>
  client.contract(chaincode).newProposal('openRound', {
    arguments: [
      JSON.stringify(`short/round-${n}`),
      JSON.stringify('short'),
      JSON.stringify(n),
      JSON.stringify(HASH),
      JSON.stringify([member]),
      JSON.stringify(null),
    ],
  });

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
    // BankC's and BankB's consents to `short` run out in CONSENT_LIFETIME_MS. Each held round
    // below uses its own, so neither one's commit decides the other's.
    const expiresAt = Date.now() + CONSENT_LIFETIME_MS;
    await new Ledger(net.open({ identity: 'BankCMSP', chaincode })).grantConsent(
      'consent-c1',
      'mortgages',
      'short',
      expiresAt,
    );
    await new Ledger(net.open({ identity: 'BankBMSP', chaincode })).grantConsent(
      'consent-b2',
      'loans',
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
      const heldOpenProposal = openShortRound(chaincode, coord, 1, 'BankCMSP');
      const heldOpenAt = proposalTimeMs(heldOpenProposal.getBytes());
      const heldOpen = await heldOpenProposal.endorse().catch((error: unknown) => {
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
      const heldAfterProposal = openShortRound(chaincode, coord, 2, 'BankBMSP');
      const heldAfterAt = proposalTimeMs(heldAfterProposal.getBytes());
      const heldAfter = await heldAfterProposal.endorse();

      // ...but during the hold an honest member advances the ledger clock, as it does
      // periodically (at most once every 10 s: MIN_CLOCK_ADVANCE_MS).
      const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
      await sleep(MIN_CLOCK_ADVANCE_MS + 5_000);
      const clock = await net.open({ identity: 'BankBMSP', chaincode }).advanceClock();
      expect(clock).toBeGreaterThanOrEqual(round.openedAt + MIN_CLOCK_ADVANCE_MS);
      // The hold ends past the skew (counted from the last held proposal) and past the expiry.
      await sleep(Math.max(heldAfterAt + MAX_CLOCK_SKEW_MS, expiresAt) + MARGIN_MS - Date.now());

      // No peer would now endorse the held openRounds' times: the same round, dated as the later
      // of them, gets no endorsement (this also shows this network's chaincode runs with the
      // short skew).
      expect(heldOpenAt).toBeLessThanOrEqual(heldAfterAt);
      const redated = await coord.gateway
        .newProposal(
          shiftProposalTime(
            openShortRound(chaincode, coord, 1, 'BankCMSP').getBytes(),
            heldAfterAt - Date.now(),
          ),
        )
        .endorse()
        .then(
          () => [] as string[],
          (error: unknown) =>
            ((error as { details?: { message: string }[] }).details ?? []).map((d) => d.message),
        );
      expect(redated.length).toBeGreaterThan(0);
      for (const message of redated)
        expect(message).toMatch(
          new RegExp(
            `openRound refused: .* behind this peer's clock .* at most ${MAX_CLOCK_SKEW_MS / 1000} s`,
          ),
        );

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
          shortConsentsExpiredAt: new Date(expiresAt).toISOString(),
          submittedAt: new Date(submittedAt).toISOString(),
        }),
      );
      // No revocation may be dated before the opening of a round, committed earlier, that used it.
      if (a1.revokedAt !== null) expect(a1.revokedAt).toBeGreaterThanOrEqual(round.openedAt);
      // No round may open, at commit, on a consent that had expired before.
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

describe('defence: members and keyholders tick the ledger clock', () => {
  it('a held openRound fails at commit once a member’s ledger clock ticker has run; one endorsed after the tick commits', async () => {
    const net = running();
    const chaincode = await net.freshChaincode();
    const coordinator = new Ledger(net.open({ identity: 'CoordinatorMSP', chaincode }));
    await coordinator.registerMember('CoordinatorMSP', ['coordinator']);
    await coordinator.registerMember('BankBMSP', ['member']);
    await new Ledger(net.open({ identity: 'BankBMSP', chaincode })).grantConsent(
      'consent-b',
      'loans',
      'short',
      Date.now() + 365 * 86_400_000,
    );
    const coord = rawClient(net.connection, { identity: 'CoordinatorMSP' });
    // BankB's ledger view, opened as services/member and services/keyholder open theirs.
    const bankB = openLedger(
      { fabric: { connection: net.network.connectionFile, identity: 'BankBMSP', chaincode } },
      'BankBMSP',
    );
    try {
      const held = await openShortRound(chaincode, coord, 1, 'BankBMSP').endorse();
      // The ticker's first advance goes out as it starts; later ones every interval.
      const outcomes: TickOutcome[] = [];
      let ticked: () => void = () => undefined;
      const firstTick = new Promise<void>((resolve) => (ticked = resolve));
      const ticker = LedgerClockTicker.start({
        ledger: bankB,
        intervalMs: MIN_CLOCK_ADVANCE_MS,
        logger: pino({ level: 'silent' }),
        onTick: (outcome) => {
          outcomes.push(outcome);
          ticked();
        },
      });
      expect(ticker).toBeDefined();
      await firstTick;
      await ticker!.stop();
      expect(outcomes).toEqual(['advanced']);

      const heldStatus = await (await held.submit()).getStatus();
      // Endorsed after the tick, with nothing moving the clock since: commits.
      const after = await (
        await openShortRound(chaincode, coord, 2, 'BankBMSP').endorse()
      ).submit();
      const afterStatus = await after.getStatus();
      await net.inStep();
      const auditor = new Ledger(bankB.gateway);
      expect(heldStatus.successful).toBe(false);
      expect(heldStatus.code).toBe(11); // MVCC_READ_CONFLICT: the ledger clock it read moved
      await expect(auditor.getRound('short/round-1')).rejects.toThrow(/no round short\/round-1/);
      expect(afterStatus.successful).toBe(true);
      expect((await auditor.getRound('short/round-2')).roster).toEqual(['BankBMSP']);
    } finally {
      coord.close();
      bankB.close();
    }
  });
});
