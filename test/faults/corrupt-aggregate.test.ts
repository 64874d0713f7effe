import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Phase } from '../../proto/gen/veilsum/v1/round.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import type { Coordinator } from '../../services/coordinator/coordinator.ts';
import { ADMIN, type Consortium, createConsortium } from '../support/consortium.ts';
import {
  startCoordinator,
  quantizedInputs,
  secAggParams,
  statusOf,
  sumOf,
} from './fault-harness.ts';

const DIMENSION = 1_000;

describe('fault: a stored aggregate is corrupted on disk', () => {
  let consortium: Consortium;
  let coordinator: Coordinator;
  const clients: VeilsumClient[] = [];
  beforeAll(async () => {
    consortium = await createConsortium(3, 'agg');
    coordinator = await startCoordinator(consortium.config);
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    await coordinator.stop();
  });

  it('GetAggregate answers DATA_LOSS naming the aggregate, the round is quarantined, other rounds are served', async () => {
    const admin = VeilsumClient.connect(consortium.profile(ADMIN, coordinator.port));
    const members = consortium.members.map((id) =>
      VeilsumClient.connect(consortium.profile(id, coordinator.port)),
    );
    clients.push(admin, ...members);
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
