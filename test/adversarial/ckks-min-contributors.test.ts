import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Ledger } from '../../ledger/ledger.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { type RoundParams } from '../../proto/gen/veilsum/v1/round.ts';
import { ckksRoundParams } from '../support/ckks-round-params.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { ADMIN, CoordinatorProcess } from '../support/consortium.ts';
import { DIM, MaliciousCoordinator, MODEL, update } from './ckks-coordinator-harness.ts';
import { refusalOf } from '../support/refusal.ts';

/**
 * ATTACK: the coordinator plus ONE colluding member (within γ). The coordinator opens a CKKS round
 * on a roster of 3 with min contributors 2 — its own choice, which the contract allows — and
 * closes it with the victim and the colluder only. Before the defence real keyholders decrypted
 * and the colluder subtracted its own update, recovering the victim's. Now keyholders (before
 * decrypting) and members (before uploading) require min contributors ≥ their OWN floor
 * max(2, ⌈(1 − δ)·n⌉) from the ledger roster's n and their own δ (default 0.05: 3 of 3).
 */
let coordinator: MaliciousCoordinator;
let honestCoordinator: CoordinatorProcess | undefined;
let ledgerFile: EmbeddedLedgerDatabase | undefined;

beforeAll(async () => {
  // The keyholders run with the default δ = 0.05 (the test fixtures' 0.5 is not used here).
  coordinator = await MaliciousCoordinator.start(0.05);
}, 300_000);

afterAll(async () => {
  coordinator?.stop();
  await honestCoordinator?.stop();
  ledgerFile?.close();
});

describe('CKKS min contributors is each party’s own floor, not the coordinator’s choice', () => {
  it('keyholders refuse to decrypt a round of 3 whose min contributors is 2, closed with victim + colluder', async () => {
    const round = await coordinator.openRound(2);
    const victim = await coordinator.honestUpload(round, 1);
    const colluder = await coordinator.honestUpload(round, 2);
    const aggregate = await coordinator.sum([victim, colluder]);
    await coordinator.closeRound(round, [victim.memberId, colluder.memberId], aggregate, [
      victim.receipt,
      colluder.receipt,
    ]);
    for (const index of [1, 2]) {
      const error = await refusalOf(coordinator.prepare(index, round, [victim, colluder]));
      expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(error.message).toMatch(
        /allows min contributors 2, below this keyholder's floor of 3 \(max\(2, ⌈\(1 − δ\)·n⌉\) for n = 3 roster members on the ledger and its δ = 0.05\)/,
      );
    }
    // And no partial decryption either, whatever the coordinator asks.
    const partial = await refusalOf(coordinator.partialDecrypt(1, round, aggregate, [1, 2]));
    expect(partial.code).toBe(grpc.status.FAILED_PRECONDITION);
  }, 600_000);

  it('a member refuses to upload into a round whose min contributors is below its own floor', async () => {
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
    const params = (roundNumber: number, minContributors: number): RoundParams =>
      ckksRoundParams({
        modelId: MODEL,
        roundNumber,
        dimension: DIM,
        members: consortium.members,
        minContributors,
      });
    const admin = VeilsumClient.connect(consortium.profile(ADMIN, honestCoordinator.port));
    const victimId = consortium.members[0]!;
    const connect = (policy: { minimumDropoutRate?: number; minimumContributors?: number }) =>
      VeilsumClient.connect({
        ...consortium.profile(victimId, honestCoordinator!.port),
        ledger: new Ledger(ledgerFile!.as(consortium.local.ledgerWriter(victimId))),
        threatModel: policy,
      });
    const member = connect({});
    // A member that expects a third of the roster may drop (δ = 0.4, floor 2) but raised its
    // floor to 3 in its profile refuses the same round.
    const raised = connect({ minimumDropoutRate: 0.4, minimumContributors: 3 });
    try {
      const round = await admin.openRound(params(50, 2));
      const error = await refusalOf(
        member.participateCkks(round.roundId, update(1, 50), { threads: 1, waitForResult: false }),
      );
      expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(error.message).toMatch(
        /min contributors 2 is below this member's floor of 3 \(max\(2, ⌈\(1 − δ\)·n⌉\) for n = 3 roster members and its δ = 0.05\)/,
      );
      const alsoRefused = await refusalOf(
        raised.participateCkks(round.roundId, update(1, 50), { threads: 1, waitForResult: false }),
      );
      expect(alsoRefused.message).toMatch(/below this member's floor of 3 .*raised to 3/);
      const stored = await admin.getRound(round.roundId);
      expect(stored.included).toEqual([]);
    } finally {
      member.close();
      raised.close();
      admin.close();
    }
  }, 600_000);
});
