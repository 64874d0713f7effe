import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeNpy } from '../../sdk/aggregate-result.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { ADMIN } from '../support/consortium.ts';
import { secAggParams, withCoordinator } from '../faults/fault-harness.ts';

describe('`veilsum submit` warns before values are clipped', () => {
  const env = withCoordinator(3, 'clip');

  it('names how many values a clip-1 round changes, the largest, and the --clip that keeps them', async () => {
    const admin = VeilsumClient.connect(env.consortium.profile(ADMIN, env.coordinator.port));
    try {
      const round = await admin.openRound(
        secAggParams(env.consortium.members, 1, { dimension: 4 }),
      );
      const file = join(env.consortium.directory, 'update.npy');
      writeFileSync(file, encodeNpy(Float64Array.from([0.5, 5, -0.25, 1])));
      const result = await new Promise<{ stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [
            'cli/veilsum.ts',
            'submit',
            '--profile',
            env.consortium.profilePath(env.consortium.members[0]!, env.coordinator.port),
            '--round',
            round.roundId,
            '--file',
            file,
            '--drop-before',
            'advertise-keys',
          ],
          (_error, _stdout, stderr) => resolve({ stderr }),
        );
      });
      expect(result.stderr).toContain(
        "warning: 1 of 4 values (25%) lie outside the round's clip range ±1 and will be clipped",
      );
      expect(result.stderr).toContain('the largest is 5 at index 1');
      expect(result.stderr).toContain('round open --clip 5');
    } finally {
      admin.close();
    }
  }, 60_000);
});
