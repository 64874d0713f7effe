import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Adversary } from '../../proto/gen/veilsum/v1/round.ts';
import { encodeNpy } from '../../sdk/aggregate-result.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { ADMIN } from '../support/consortium.ts';
import { secAggParams, withCoordinator } from '../faults/fault-harness.ts';

/**
 * `veilsum submit --trained-from`: a coordinator that re-runs a round (under any round number)
 * and gets a member to submit a near copy of its update — retrained from the same global model —
 * could subtract the two sums. With --trained-from the member's journal takes one update per
 * model version it trained from, so the second submission is refused before anything is sent.
 */
describe('`veilsum submit --trained-from` refuses a second update trained from the same model', () => {
  const env = withCoordinator(3, 'trained');

  function submit(roundId: string, file: string): Promise<{ code: number; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [
          'cli/veilsum.ts',
          'submit',
          '--profile',
          env.consortium.profilePath(env.consortium.members[0]!, env.coordinator.port),
          '--round',
          roundId,
          '--file',
          file,
          '--trained-from',
          'global-model-v3',
        ],
        (error, _stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stderr }),
      );
    });
  }

  /** A round of the three members: member 0 through the CLI, the others through the SDK. */
  async function round(number: number, update: number[]) {
    const admin = VeilsumClient.connect(env.consortium.profile(ADMIN, env.coordinator.port));
    const others = env.consortium.members
      .slice(1)
      .map((member) => VeilsumClient.connect(env.consortium.profile(member, env.coordinator.port)));
    try {
      const params = secAggParams(env.consortium.members, number, { dimension: 4 });
      const opened = await admin.openRound({
        ...params,
        // What a member accepts without a ledger; a refusing member is waited for 20 s at most.
        adversary: Adversary.ADVERSARY_SEMI_MALICIOUS,
        corruptionRate: 0.05,
        dropoutRate: 0.34,
        deadlines: { ...params.deadlines!, advertiseKeysMs: 20_000 },
      });
      const file = join(env.consortium.directory, `update-${number}.npy`);
      writeFileSync(file, encodeNpy(Float64Array.from(update)));
      const [cli] = await Promise.all([
        submit(opened.roundId, file),
        ...others.map((client, i) =>
          client
            .participate(opened.roundId, Float32Array.from([i, 0.5, 0.25, -0.5 + number / 100]))
            .catch(() => undefined),
        ),
      ]);
      return {
        cli,
        roundId: opened.roundId,
        masked: (await admin.getRound(opened.roundId)).masked,
      };
    } finally {
      admin.close();
      for (const client of others) client.close();
    }
  }

  it('the first round takes the update; a re-run with a near copy is refused, naming the first round', async () => {
    const first = await round(1, [0.5, -0.25, 0.125, 0.75]);
    expect(first.cli).toEqual({ code: 0, stderr: '' });
    const second = await round(2, [0.5000001, -0.25, 0.125, 0.75]);
    expect(second.cli.code).not.toBe(0);
    expect(second.cli.stderr).toContain(
      `an update trained from global-model-v3 already went into round ${first.roundId}`,
    );
    expect(second.cli.stderr).toContain(
      'Train from the model version the last completed round produced',
    );
    // Member 0 (index 1) uploaded nothing to the re-run.
    expect(second.masked).not.toContain(1);
  }, 120_000);
});
