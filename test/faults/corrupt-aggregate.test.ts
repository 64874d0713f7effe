import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Phase } from '../../proto/gen/veilsum/v1/round.ts';
import { ADMIN } from '../support/consortium.ts';
import {
  quantizedInputs,
  secAggParams,
  statusOf,
  sumOf,
  withCoordinator,
} from './fault-harness.ts';

const DIMENSION = 1_000;

describe('fault: a stored aggregate is corrupted on disk', () => {
  const world = withCoordinator(3, 'agg');

  it('GetAggregate answers DATA_LOSS naming the aggregate, the round is quarantined, other rounds are served', async () => {
    const { consortium } = world;
    const admin = world.connect(ADMIN);
    const members = consortium.members.map((id) => world.connect(id));
    const inputs = [quantizedInputs(3, DIMENSION, 1), quantizedInputs(3, DIMENSION, 2)];
    const rounds = [];
    for (const [i, roundInputs] of inputs.entries()) {
      const round = await admin.openRound(secAggParams(consortium.members, i + 1));
      await Promise.all(members.map((m, j) => m.participateQuantized(round, roundInputs[j]!)));
      rounds.push(round);
    }
    const folder = createHash('sha256').update(rounds[0]!.roundId).digest('hex').slice(0, 32);
    const path = join(consortium.config.dataDir, 'blobs', folder, 'aggregate.u32');
    const bytes = readFileSync(path);
    bytes[2001] = bytes[2001]! ^ 0x01;
    writeFileSync(path, bytes);

    const read = await statusOf(members[1]!.getAggregate(rounds[0]!.roundId));
    expect(read.code).toBe('DATA_LOSS');
    expect(read.details).toMatch(
      /the aggregate \(.*aggregate\.u32\) does not match its recorded SHA-256/,
    );
    const after = await statusOf(admin.getRound(rounds[0]!.roundId));
    expect(after.code).toBe('DATA_LOSS');
    expect(after.details).toMatch(/quarantined/);

    expect((await admin.getRound(rounds[1]!.roundId)).phase).toBe(Phase.PHASE_DONE);
    expect(await admin.getAggregate(rounds[1]!.roundId)).toEqual(sumOf(inputs[1]!, [1, 2, 3]));
  }, 90_000);
});
