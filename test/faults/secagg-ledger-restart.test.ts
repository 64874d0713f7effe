import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { Adversary, Mode, Phase } from '../../proto/gen/veilsum/v1/round.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import {
  ADMIN,
  type Consortium,
  CoordinatorProcess,
  createConsortium,
} from '../support/consortium.ts';

/**
 * A coordinator SIGKILLed in the middle of MaskedInputCollection of a ledger-agreed SecAgg round
 * and started again: it replays its log, commits U1–U3 again without a conflict (the ledger
 * answers an equal set with the stored one), and the members — which read every set from the
 * ledger — finish the round with the exact sum.
 */
const DIMENSION = 32;
const MEMBERS = 5;

describe('a ledger-agreed SecAgg round survives a coordinator restart', () => {
  let consortium: Consortium;
  let database: EmbeddedLedgerDatabase;
  let ledgerPath: string;

  beforeAll(async () => {
    consortium = await createConsortium(MEMBERS, 'rs', { ledger: true });
    ledgerPath = join(consortium.directory, 'ledger.db');
  });
  afterAll(() => database?.close());

  it('restarts mid-MaskedInputCollection; the committed sets stay single-valued and the sum is exact', async () => {
    let coordinator = await CoordinatorProcess.start(consortium);
    const port = coordinator.port;
    database = new EmbeddedLedgerDatabase(
      ledgerPath,
      readFileSync(consortium.pki.caCertificatePath),
    );
    for (const member of consortium.members) {
      await new Ledger(database.as(consortium.local.ledgerWriter(member))).grantConsent(
        `consent-${member}`,
        `data-${member}`,
        'rs-model',
        Date.now() + 86_400_000,
      );
    }
    const admin = VeilsumClient.connect(consortium.profile(ADMIN, port));
    const members = consortium.members.map((member) =>
      VeilsumClient.connect({
        ...consortium.profile(member, port),
        ledger: new Ledger(database.as(consortium.local.ledgerWriter(member))),
      }),
    );
    try {
      const round = await admin.openRound({
        modelId: 'rs-model',
        roundNumber: 1,
        mode: Mode.MODE_SECAGG,
        dimension: DIMENSION,
        quantization: { clipRange: 1, levelBits: 16, modulusBits: 32 },
        threshold: 4,
        degree: MEMBERS - 1,
        adversary: Adversary.ADVERSARY_SEMI_MALICIOUS,
        members: consortium.members,
        deadlines: {
          advertiseKeysMs: 20_000,
          shareKeysMs: 20_000,
          maskedInputMs: 30_000,
          consistencyCheckMs: 20_000,
          unmaskingMs: 20_000,
        },
        corruptionRate: 0.05,
        dropoutRate: 0.2,
        minContributors: 0,
        ckks: undefined,
      });
      const inputs = members.map((_, i) => new Uint32Array(DIMENSION).fill(100 * (i + 1)));
      // Members 4 and 5 upload late: the restart lands between the first and the last uploads.
      const runs = members.map((client, i) =>
        client.participateQuantized(round, inputs[i]!, {
          waitForResult: true,
          ...(i >= 3 ? { delayUploadMs: 4_000 } : {}),
        }),
      );
      const ledger = new Ledger(database.as(consortium.local.ledgerWriter('veilsum-coordinator')));
      let seen = await admin.getRound(round.roundId);
      for (let i = 0; i < 200 && seen.masked.length < 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        seen = await admin.getRound(round.roundId);
      }
      expect(seen.phase).toBe(Phase.PHASE_MASKED_INPUT);
      const u2 = (await ledger.getRoundPhase(round.roundId, 'shared')).members;

      await coordinator.kill();
      coordinator = await CoordinatorProcess.start(consortium, port);
      expect(coordinator.events().some((event) => event.event === 'round-restored')).toBe(true);

      const results = await Promise.all(runs);
      expect(results.every((result) => result.included)).toBe(true);
      const finished = await admin.getRound(round.roundId);
      expect(finished.phase).toBe(Phase.PHASE_DONE);
      expect(finished.included).toEqual([1, 2, 3, 4, 5]);
      expect(await admin.getAggregate(round.roundId)).toEqual(
        new Uint32Array(DIMENSION).fill(100 + 200 + 300 + 400 + 500),
      );
      // Replaying the closed phases committed nothing new: one value per phase, unchanged.
      expect((await ledger.getRoundPhase(round.roundId, 'shared')).members).toEqual(u2);
      expect((await ledger.getRoundPhase(round.roundId, 'masked')).members).toEqual([
        1, 2, 3, 4, 5,
      ]);
      const commits = database
        .blocks()
        .filter((block) => block.fn === 'commitRoundPhase' && block.args[0] === round.roundId);
      expect(commits.map((block) => block.args[1])).toEqual(['advertised', 'shared', 'masked']);
    } finally {
      for (const client of members) client.close();
      admin.close();
      await coordinator.stop();
    }
  }, 120_000);
});
