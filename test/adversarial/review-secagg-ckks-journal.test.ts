import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger } from '../../ledger/ledger.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { type RoundParams } from '../../proto/gen/veilsum/v1/round.ts';
import { ckksRoundParams } from '../support/ckks-round-params.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { ADMIN, CoordinatorProcess } from '../support/consortium.ts';
import { DIM, MaliciousCoordinator, MODEL, update } from './ckks-coordinator-harness.ts';

/**
 * Review (attacker): the re-run journal ("one update in at most one round, ever") is consulted by
 * runSecAgg only. participateCkks never reads or writes it, so the differencing attack the journal
 * answers for SecAgg (sum with the victim, re-run without it, subtract) is open on CKKS rounds:
 * the same member, with the same journal directory and the same update, uploads into two rounds.
 * The keyholders decrypt each round's receipted sum; they cannot see that the uploads repeat.
 */
let coordinator: MaliciousCoordinator;
let honestCoordinator: CoordinatorProcess | undefined;
let ledgerFile: EmbeddedLedgerDatabase | undefined;
let journalDirectory: string;

beforeAll(async () => {
  coordinator = await MaliciousCoordinator.start(0.05);
  journalDirectory = mkdtempSync(join(tmpdir(), 'veilsum-review-ckks-journal-'));
}, 600_000);

afterAll(async () => {
  coordinator?.stop();
  await honestCoordinator?.stop();
  ledgerFile?.close();
  rmSync(journalDirectory, { recursive: true, force: true });
});

describe('review: the journal does not cover CKKS', () => {
  it('a member refuses to upload the same update into a second CKKS round', async () => {
    const consortium = coordinator.consortium;
    consortium.config = {
      ...consortium.config,
      ckks: { keyFile: join(consortium.directory, 'collective-key.json') },
    };
    honestCoordinator = await CoordinatorProcess.start(consortium);
    ledgerFile = new EmbeddedLedgerDatabase(
      join(consortium.directory, 'ledger.db'),
      readFileSync(consortium.pki.caCertificatePath),
    );
    const params = (roundNumber: number): RoundParams =>
      ckksRoundParams({
        modelId: MODEL,
        roundNumber,
        dimension: DIM,
        members: consortium.members,
        minContributors: consortium.members.length,
      });
    const admin = VeilsumClient.connect(consortium.profile(ADMIN, honestCoordinator.port));
    const memberId = consortium.members[0]!;
    const member = VeilsumClient.connect({
      ...consortium.profile(memberId, honestCoordinator.port),
      ledger: new Ledger(ledgerFile.as(consortium.local.ledgerWriter(memberId))),
      journal: journalDirectory,
    });
    const x = update(1, 70);
    try {
      const first = await admin.openRound(params(70));
      const one = await member.participateCkks(first.roundId, x, {
        threads: 1,
        waitForResult: false,
      });
      expect(one.uploadSha256).toBeDefined();
      const second = await admin.openRound(params(71));
      let outcome: string;
      try {
        const two = await member.participateCkks(second.roundId, x, {
          threads: 1,
          waitForResult: false,
        });
        outcome = `uploaded the same update into ${second.roundId} too (upload ${two.uploadSha256 ? 'accepted' : 'none'})`;
      } catch (error) {
        outcome = (error as Error).message;
      }
      expect(outcome).toMatch(/already went into round/);
    } finally {
      member.close();
      admin.close();
    }
  }, 900_000);
});
