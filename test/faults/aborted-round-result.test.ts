import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Phase } from '../../proto/gen/veilsum/v1/round.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { ADMIN } from '../support/consortium.ts';
import { withCoordinator, pollUntil, secAggParams } from './fault-harness.ts';

/** Far below the client's own 15-minute deadline, which is what the old code waited for. */
const ANSWER_WITHIN_MS = 20_000;

describe('fault: `veilsum round result` on an aborted round', () => {
  const env = withCoordinator(3, 'result');

  it('is answered ABORTED with the abort reason, and the command exits non-zero', async () => {
    const admin = VeilsumClient.connect(env.consortium.profile(ADMIN, env.coordinator.port));
    try {
      const params = secAggParams(env.consortium.members, 1);
      const round = await admin.openRound({
        ...params,
        deadlines: { ...params.deadlines!, advertiseKeysMs: 300 },
      });
      const aborted = await pollUntil(
        () => admin.getRound(round.roundId),
        (r) => r.phase === Phase.PHASE_ABORTED,
      );
      expect(aborted.phase).toBe(Phase.PHASE_ABORTED);

      const child = spawn(
        process.execPath,
        [
          'cli/veilsum.ts',
          'round',
          'result',
          round.roundId,
          '--profile',
          env.consortium.profilePath(env.consortium.members[0]!, env.coordinator.port),
          '--out',
          join(env.consortium.directory, 'result.u32'),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
      const code = await new Promise<number | null | 'still waiting'>((resolve) => {
        const timer = setTimeout(() => resolve('still waiting'), ANSWER_WITHIN_MS);
        child.once('exit', (exitCode) => {
          clearTimeout(timer);
          resolve(exitCode);
        });
      });
      if (code === 'still waiting') child.kill('SIGKILL');
      expect(code).toBe(1);
      expect(stderr).toContain(`round ${round.roundId} was aborted`);
      expect(stderr).toContain('(ABORTED)');
    } finally {
      admin.close();
    }
  }, 60_000);
});
