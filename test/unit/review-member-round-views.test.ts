/* eslint-disable @typescript-eslint/require-await -- fakes of async clients that answer at once */
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Mode, Phase, type Round } from '../../proto/gen/veilsum/v1/round.ts';
import { MemberMetrics } from '../../services/member/metrics.ts';
import { RoundFollower } from '../../services/member/round-follower.ts';
import { UpdateQueue } from '../../services/member/update-queue.ts';
import type { VeilsumClient } from '../../sdk/veilsum-client.ts';

/**
 * Attack (the coordinator): show the peer one round in ListRounds (the view the queued update is
 * quantized with, slice by slice) and another in GetRound (the view participateQuantized verifies
 * against the params hash and the ledger and runs). Before the change `participate` quantized and
 * verified one view. Here the ledger-true round says clip 1; the unverified listing says clip 100:
 * the bank's contribution enters the sum scaled by 1/100 (or as bare signs with a tiny clip), and
 * nothing notices.
 */
const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function roundWith(clipRange: number): Round {
  return {
    roundId: 'fraud/round-1',
    phase: Phase.PHASE_COLLECTING,
    openedAtMs: 1,
    roster: [{ memberId: 'bank-01', index: 1 }],
    included: [1],
    missing: [],
    params: {
      modelId: 'fraud',
      mode: Mode.MODE_SECAGG,
      dimension: 4,
      quantization: { clipRange, levelBits: 16, modulusBits: 32 },
    },
  } as unknown as Round;
}

describe("the member peer's views of the coordinator's rounds", () => {
  it('keep only rounds still listed (a coordinator that renames rounds each poll grows nothing)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'veilsum-views-'));
    folders.push(dataDir);
    const queue = new UpdateQueue(dataDir);
    const path = queue.incomingPath();
    writeFileSync(path, Buffer.alloc(16));
    queue.commit(path, {
      modelId: 'fraud',
      roundId: '',
      values: 4,
      sha256: '00'.repeat(32),
      tensors: [],
      idempotencyKey: '',
      caller: 'scientist',
      queuedAtMs: 1,
      detail: 'queued',
    });
    let poll = 0;
    const reason = 'x'.repeat(1024);
    const client = {
      // Each listing: 200 rounds of another model, never seen before, each waiting for 4 members.
      listRounds: async () => {
        poll++;
        return Array.from({ length: 200 }, (_, i) => ({
          ...roundWith(1),
          roundId: `other/round-${poll * 1000 + i}`,
          phase: Phase.PHASE_UNMASKING,
          missing: Array.from({ length: 4 }, (_, m) => ({
            memberId: `bank-${m}`,
            reason,
            phase: Phase.PHASE_UNMASKING,
          })),
          params: { ...roundWith(1).params!, modelId: 'other' },
        }));
      },
    } as unknown as VeilsumClient;
    const follower = new RoundFollower({
      queue,
      client,
      memberId: 'bank-01',
      journalDirectory: join(dataDir, 'journal'),
      ledger: undefined,
      expectedKeySha256: undefined,
      pollIntervalMs: 50,
      logger: pino({ level: 'silent' }),
      metrics: new MemberMetrics(),
    });
    follower.start();
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    follower.stop();

    console.log(
      `polls ${poll}, views kept ${follower.views.size} (~${Math.round((follower.views.size * 4 * 1024) / 1e6)} MB of reasons)`,
    );
    expect(follower.views.size).toBeLessThanOrEqual(200);
  });
});
