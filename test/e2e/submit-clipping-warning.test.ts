import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeNpy } from '../../sdk/aggregate-result.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import type { Coordinator } from '../../services/coordinator/coordinator.ts';
import { ADMIN, type Consortium, createConsortium } from '../support/consortium.ts';
import { secAggParams, startCoordinator } from '../faults/fault-harness.ts';

describe('`veilsum submit` warns before values are clipped', () => {
  let consortium: Consortium;
  let coordinator: Coordinator;
  beforeAll(async () => {
    consortium = await createConsortium(3, 'clip');
    coordinator = await startCoordinator(consortium.config);
  });
  afterAll(async () => {
    await coordinator.stop();
    rmSync(consortium.directory, { recursive: true, force: true });
  });

  it('names how many values a clip-1 round changes, the largest, and the --clip that keeps them', async () => {
    const admin = VeilsumClient.connect(consortium.profile(ADMIN, coordinator.port));
    try {
      const round = await admin.openRound(secAggParams(consortium.members, 1, { dimension: 4 }));
      const file = join(consortium.directory, 'update.npy');
      writeFileSync(file, encodeNpy(Float64Array.from([0.5, 5, -0.25, 1])));
      const result = await new Promise<{ stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [
            'cli/veilsum.ts',
            'submit',
            '--profile',
            consortium.profilePath(consortium.members[0]!, coordinator.port),
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
