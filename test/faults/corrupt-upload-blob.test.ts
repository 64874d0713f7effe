import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Phase } from '../../proto/gen/veilsum/v1/round.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { ADMIN, type Consortium, createConsortium } from '../support/consortium.ts';
import {
  doneRoundAndOpenRound,
  startCoordinator,
  quantizedInputs,
  secAggParams,
  statusOf,
  sumOf,
} from './fault-harness.ts';

const DIMENSION = 1_000;

/** Where the coordinator stores a round's blobs (RoundStore.roundDirectory). */
function blobFolder(dataDir: string, roundId: string): string {
  return join(dataDir, 'blobs', createHash('sha256').update(roundId).digest('hex').slice(0, 32));
}

function flipByte(path: string, offset: number): void {
  const bytes = readFileSync(path);
  bytes[offset] = bytes[offset]! ^ 0x40;
  writeFileSync(path, bytes);
}

describe('fault: a stored upload is corrupted on disk while its round is open', () => {
  let consortium: Consortium;
  const clients: VeilsumClient[] = [];
  beforeAll(async () => {
    consortium = await createConsortium(3, 'blob');
  });
  afterAll(() => {
    for (const client of clients) client.close();
  });

  it('after a restart the round is quarantined naming the upload, and the other rounds go on', async () => {
    const connect = (id: string, port: number) => {
      const client = VeilsumClient.connect(consortium.profile(id, port));
      clients.push(client);
      return client;
    };
    const {
      done: round1,
      open: round2,
      inputs: inputs1,
      pending,
    } = await doneRoundAndOpenRound(consortium, connect, DIMENSION);

    flipByte(join(blobFolder(consortium.config.dataDir, round2.roundId), 'upload-1.u32'), 123);

    const coordinator = await startCoordinator(consortium.config);
    const admin = connect(ADMIN, coordinator.port);
    const quarantined = await statusOf(admin.getRound(round2.roundId));
    expect(quarantined.code).toBe('DATA_LOSS');
    expect(quarantined.details).toMatch(/quarantined: the upload of member 1 \(.*upload-1\.u32\)/);
    expect(quarantined.details).toMatch(/does not match its recorded SHA-256/);
    expect((await statusOf(admin.getAggregate(round2.roundId))).code).toBe('DATA_LOSS');

    // Round 1 is intact and a new round runs to completion beside the quarantined one.
    expect((await admin.getRound(round1.roundId)).phase).toBe(Phase.PHASE_DONE);
    expect(await admin.getAggregate(round1.roundId)).toEqual(sumOf(inputs1, [1, 2, 3]));
    const fresh = consortium.members.map((id) => connect(id, coordinator.port));
    const inputs3 = quantizedInputs(3, DIMENSION, 3);
    const round3 = await admin.openRound(secAggParams(consortium.members, 3));
    await Promise.all(fresh.map((m, i) => m.participateQuantized(round3, inputs3[i]!)));
    expect(await admin.getAggregate(round3.roundId)).toEqual(sumOf(inputs3, [1, 2, 3]));
    for (const client of clients) client.close();
    await Promise.all(pending);
    await coordinator.stop();
  }, 120_000);
});
