import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { Phase, type RoundParams } from '../../proto/gen/veilsum/v1/round.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import type { Coordinator } from '../../services/coordinator/coordinator.ts';
import { ADMIN, type Consortium, createConsortium, grantConsents } from '../support/consortium.ts';
import { secAggParams, startCoordinator } from '../faults/fault-harness.ts';

const MODEL = 'missing-model';
const DIMENSION = 16;
// Far beyond the test's timeout: the round can finish only by closing its phases early.
const PHASE_MS = 600_000;

function params(members: string[]): RoundParams {
  return {
    ...secAggParams(members, 1, { dimension: DIMENSION, modelId: MODEL }),
    threshold: 3,
    // min contributors 5 − ⌈0.4·5⌉ = 3.
    dropoutRate: 0.4,
    deadlines: {
      advertiseKeysMs: PHASE_MS,
      shareKeysMs: PHASE_MS,
      maskedInputMs: PHASE_MS,
      consistencyCheckMs: PHASE_MS,
      unmaskingMs: PHASE_MS,
    },
  };
}

function roundStatus(profile: string, roundId: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['cli/veilsum.ts', 'round', 'status', roundId, '--profile', profile],
      (error, stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(stdout)),
    );
  });
}

describe('a round names who it is missing and why, and does not wait out the deadline for members that are out', () => {
  let consortium: Consortium;
  let coordinator: Coordinator;
  let database: EmbeddedLedgerDatabase;

  beforeAll(async () => {
    consortium = await createConsortium(5, 'miss', { ledger: true });
    coordinator = await startCoordinator(consortium.config);
    await grantConsents(consortium, MODEL);
    database = new EmbeddedLedgerDatabase(
      join(consortium.directory, 'ledger.db'),
      readFileSync(consortium.pki.caCertificatePath),
    );
  });
  afterAll(async () => {
    database.close();
    await coordinator.stop();
    rmSync(consortium.directory, { recursive: true, force: true });
  });

  it('a bank refused for consent and a bank whose policy declines are named; the other three finish at once', async () => {
    const [first, second, third, revoking, declining] = consortium.members as [
      string,
      string,
      string,
      string,
      string,
    ];
    const admin = VeilsumClient.connect(consortium.profile(ADMIN, coordinator.port));
    const connect = (member: string, extra: object = {}) =>
      VeilsumClient.connect({ ...consortium.profile(member, coordinator.port), ...extra });
    const clients = [first, second, third, revoking].map((member) => connect(member));
    // This bank's policy wants every member's input in a released sum: it refuses this round.
    const strict = connect(declining, {
      threatModel: {
        ...consortium.profile(declining, coordinator.port).threatModel,
        minimumContributors: 5,
      },
    });
    const adminProfile = consortium.profilePath(ADMIN, coordinator.port);
    try {
      const round = await admin.openRound(params(consortium.members));
      // Nobody has spoken yet: every member is missing from AdvertiseKeys, and the round says so.
      expect(await roundStatus(adminProfile, round.roundId)).toContain(
        [
          '  missing in advertise-keys:',
          '    miss-01 (member 1): no message yet',
          '    miss-02 (member 2): no message yet',
          '    miss-03 (member 3): no message yet',
          '    miss-04 (member 4): no message yet',
          '    miss-05 (member 5): no message yet',
        ].join('\n'),
      );

      // miss-04 revokes the consent the round opened under: the coordinator refuses it.
      await new Ledger(database.as(consortium.local.ledgerWriter(revoking))).revokeConsent(
        `consent-${revoking}-${MODEL}`,
      );
      const revokedAt = (
        await new Ledger(database.as(consortium.local.ledgerWriter(revoking))).consentHistory(
          revoking,
        )
      ).find((consent) => consent.purpose === MODEL)!.revokedAt!;
      const consentRefusal =
        `consent consent-${revoking}-${MODEL} of member ${revoking} for dataset data-${revoking} ` +
        `was revoked at ${new Date(revokedAt).toISOString()}; ${revoking} cannot submit to round ${round.roundId}`;
      const policyRefusal =
        "refusing the round: min contributors 3 is below 5 (all but the ⌈δn⌉ expected to drop, or this member's floor)";

      const vector = (seed: number) =>
        Float32Array.from({ length: DIMENSION }, (_, i) => Math.sin(seed + i) / 2);
      const [results, refusedForConsent, declined] = await Promise.all([
        Promise.all(clients.slice(0, 3).map((c, i) => c.participate(round.roundId, vector(i)))),
        clients[3]!.participate(round.roundId, vector(3)).then(
          () => new Error('miss-04 took part'),
          (error: unknown) => error as Error,
        ),
        strict.participate(round.roundId, vector(4)).then(
          () => new Error('miss-05 took part'),
          (error: unknown) => error as Error,
        ),
      ]);
      expect(refusedForConsent.message).toContain(consentRefusal);
      expect(declined.message).toContain(policyRefusal);
      // The three finished within the test's timeout although each phase waits ten minutes.
      expect(results.map((result) => result.included)).toEqual([true, true, true]);
      const finished = await admin.getRound(round.roundId);
      expect(finished.phase).toBe(Phase.PHASE_DONE);
      expect(finished.included).toEqual([1, 2, 3]);

      const printed = await roundStatus(adminProfile, round.roundId);
      expect(printed).toContain(
        [
          '  missing in advertise-keys:',
          `    miss-04 (member 4): refused by the coordinator: ${consentRefusal}`,
          `    miss-05 (member 5): declined: ${policyRefusal}`,
        ].join('\n'),
      );
      await expect(strict.declineRound(round.roundId, 'again')).rejects.toThrow(
        /round missing-model\/round-1 is already done/,
      );
      // The reasons are in the round's log: a restarted coordinator names them the same way.
      await coordinator.stop();
      coordinator = await startCoordinator(consortium.config);
      expect(
        await roundStatus(consortium.profilePath(ADMIN, coordinator.port), round.roundId),
      ).toBe(printed);
    } finally {
      for (const client of [...clients, strict, admin]) client.close();
    }
  }, 60_000);
});
