import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { Phase } from '../../proto/gen/veilsum/v1/round.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { Coordinator } from '../../services/coordinator/coordinator.ts';
import { ADMIN, type Consortium, createConsortium } from '../support/consortium.ts';
import { pollUntil, quantizedInputs, secAggParams, statusOf, sumOf } from './fault-harness.ts';

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
    const config = { ...consortium.config, listen: '127.0.0.1:0' };
    let coordinator = new Coordinator(config, pino({ level: 'silent' }));
    await coordinator.start();
    const connect = (id: string, port: number) => {
      const client = VeilsumClient.connect(consortium.profile(id, port));
      clients.push(client);
      return client;
    };
    let admin = connect(ADMIN, coordinator.port);
    const members = consortium.members.map((id) => connect(id, coordinator.port));

    // Round 1 completes.
    const inputs1 = quantizedInputs(3, DIMENSION, 1);
    const round1 = await admin.openRound(secAggParams(consortium.members, 1));
    await Promise.all(members.map((m, i) => m.participateQuantized(round1, inputs1[i]!)));
    // Round 2 stops in masked-input with the uploads of members 1 and 2 stored.
    const inputs2 = quantizedInputs(3, DIMENSION, 2);
    const round2 = await admin.openRound(secAggParams(consortium.members, 2));
    const pending = members.map((m, i) =>
      m
        .participateQuantized(round2, inputs2[i]!, {
          ...(i === 2 ? { dropBefore: 'masked-input' as const } : {}),
        })
        .catch(() => undefined),
    );
    const seen = await pollUntil(
      () => admin.getRound(round2.roundId),
      (round) => round.masked.length === 2,
    );
    expect(seen.masked).toEqual([1, 2]);
    await coordinator.stop();

    flipByte(join(blobFolder(config.dataDir, round2.roundId), 'upload-1.u32'), 123);

    coordinator = new Coordinator(config, pino({ level: 'silent' }));
    await coordinator.start();
    admin = connect(ADMIN, coordinator.port);
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
