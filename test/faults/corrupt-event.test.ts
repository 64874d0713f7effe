import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Phase } from '../../proto/gen/veilsum/v1/round.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { ADMIN, type Consortium, createConsortium } from '../support/consortium.ts';
import { doneRoundAndOpenRound, startCoordinator, statusOf, sumOf } from './fault-harness.ts';

const DIMENSION = 1_000;

describe("fault: one bit of an event in the coordinator's log flips", () => {
  let consortium: Consortium;
  const clients: VeilsumClient[] = [];
  beforeAll(async () => {
    consortium = await createConsortium(3, 'event');
  });
  afterAll(() => {
    for (const client of clients) client.close();
  });

  it('the coordinator starts, quarantines that round naming the event, and serves the others', async () => {
    const connect = (id: string, port: number) => {
      const client = VeilsumClient.connect(consortium.profile(id, port));
      clients.push(client);
      return client;
    };
    const { done, open, inputs, pending } = await doneRoundAndOpenRound(
      consortium,
      connect,
      DIMENSION,
    );

    // One bit of member 2's AdvertiseKeys message (event 2 of round 2) flips on disk.
    const db = new Database(join(consortium.config.dataDir, 'coordinator.db'));
    const row = db
      .prepare('SELECT seq, kind, payload FROM events WHERE round_id = ? AND seq = 2')
      .get(open.roundId) as { seq: number; kind: string; payload: Buffer };
    expect(row.kind).toBe('advertise');
    row.payload[40] = row.payload[40]! ^ 0x08;
    db.prepare('UPDATE events SET payload = ? WHERE round_id = ? AND seq = 2').run(
      row.payload,
      open.roundId,
    );
    db.close();

    const coordinator = await startCoordinator(consortium.config);
    const admin = connect(ADMIN, coordinator.port);
    const quarantined = await statusOf(admin.getRound(open.roundId));
    expect(quarantined.code).toBe('DATA_LOSS');
    expect(quarantined.details).toContain(
      `quarantined: event 2 (advertise) of round ${open.roundId} does not match its digest`,
    );
    expect((await admin.getRound(done.roundId)).phase).toBe(Phase.PHASE_DONE);
    expect(await admin.getAggregate(done.roundId)).toEqual(sumOf(inputs, [1, 2, 3]));
    for (const client of clients) client.close();
    await Promise.all(pending);
    await coordinator.stop();
  }, 120_000);
});
