import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { OpenLedger } from '../../ledger/ledger-factory.ts';
import type { LedgerEvent } from '../../ledger/records.ts';
import { MemberMetrics } from '../../services/member/metrics.ts';
import { RoundEvents } from '../../services/member/round-events.ts';
import { RoundFollower } from '../../services/member/round-follower.ts';
import { UpdateQueue } from '../../services/member/update-queue.ts';
import type { VeilsumClient } from '../../sdk/veilsum-client.ts';

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

const settle = () => new Promise((resolve) => setImmediate(resolve));

/** A follower with one queued update and a coordinator that counts its ListRounds calls. */
function follower(eventsLive: boolean) {
  const dataDir = mkdtempSync(join(tmpdir(), 'veilsum-follower-'));
  folders.push(dataDir);
  const queue = new UpdateQueue(dataDir);
  const path = queue.incomingPath();
  writeFileSync(path, Buffer.alloc(8));
  queue.commit(path, {
    modelId: 'fraud',
    roundId: '',
    values: 2,
    sha256: '00'.repeat(32),
    tensors: [],
    idempotencyKey: '',
    caller: 'scientist',
    queuedAtMs: 1,
    detail: 'queued',
  });
  let listed = 0;
  const client = {
    listRounds: () => {
      listed++;
      return Promise.resolve([]);
    },
  } as unknown as VeilsumClient;
  const roundFollower = new RoundFollower({
    queue,
    client,
    memberId: 'bank-01',
    journalDirectory: join(dataDir, 'journal'),
    ledger: undefined,
    expectedKeySha256: undefined,
    pollIntervalMs: 60_000,
    fallbackPollMs: 600_000,
    eventsLive: () => eventsLive,
    logger: pino({ level: 'silent' }),
    metrics: new MemberMetrics(),
  });
  return { roundFollower, listed: () => listed };
}

describe("the member peer follows its ledger's round events, polling as a bounded fallback", () => {
  it('with events arriving, the timer does not list rounds before the fallback interval; an event does at once', async () => {
    const { roundFollower, listed } = follower(true);
    roundFollower.start(); // lists once at start
    await settle();
    roundFollower.kick(false); // the timer
    await settle();
    expect(listed()).toBe(1);
    roundFollower.kick(); // a round event (or a new update)
    await settle();
    expect(listed()).toBe(2);
    roundFollower.stop();
  });

  it('without events, every timer tick lists rounds', async () => {
    const { roundFollower, listed } = follower(false);
    roundFollower.start();
    await settle();
    roundFollower.kick(false);
    await settle();
    expect(listed()).toBe(2);
    roundFollower.stop();
  });

  it("an embedded ledger view's round events wake the follower; other events do not", () => {
    let listener: ((event: LedgerEvent, block: number) => void) | undefined;
    const opened = {
      embedded: {
        onEvent: (l: (event: LedgerEvent, block: number) => void) => {
          listener = l;
          return () => (listener = undefined);
        },
      },
    } as unknown as OpenLedger;
    let woken = 0;
    const events = new RoundEvents(
      opened,
      '/nonexistent',
      () => woken++,
      pino({ level: 'silent' }),
    );
    events.start();
    listener!({ name: 'ConsentGranted', payload: {} }, 1);
    listener!({ name: 'RoundOpened', payload: {} }, 2);
    listener!({ name: 'RoundClosed', payload: {} }, 3);
    expect(woken).toBe(2);
    events.stop();
    expect(listener).toBeUndefined();
  });
});
