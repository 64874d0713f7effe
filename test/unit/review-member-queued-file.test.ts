/* eslint-disable @typescript-eslint/require-await -- fakes of async clients that answer at once */
import { afterEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Mode, Phase, type Round } from '../../proto/gen/veilsum/v1/round.ts';
import { MemberMetrics } from '../../services/member/metrics.ts';
import { UpdateState } from '../../proto/gen/veilsum/v1/member.ts';
import { RoundFollower } from '../../services/member/round-follower.ts';
import { UpdateQueue } from '../../services/member/update-queue.ts';
import type { VeilsumClient } from '../../sdk/veilsum-client.ts';

/**
 * (copied scaffolding) Attack (the coordinator): show the peer one round in ListRounds (the view the queued update is
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

describe('the member peer takes part only with the update the caller sent', () => {
  it('refuses a queued update whose file no longer has the SHA-256 checked at submission', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'veilsum-tamper-'));
    folders.push(dataDir);
    const queue = new UpdateQueue(dataDir);
    const values = Float32Array.from([0.5, -0.5, 0.25, 0.75]);
    const path = queue.incomingPath();
    writeFileSync(path, Buffer.from(values.buffer));
    const record = queue.commit(path, {
      modelId: 'fraud',
      roundId: '',
      values: 4,
      sha256: createHash('sha256').update(Buffer.from(values.buffer)).digest('hex'),
      tensors: [],
      idempotencyKey: '',
      caller: 'scientist',
      queuedAtMs: 1,
      detail: 'queued',
    });
    // The file changes on disk after QUEUED (a short write, a restored backup, a disk error).
    writeFileSync(
      join(dataDir, 'updates', record.updateId, 'values.f32'),
      Buffer.from(Float32Array.from([0.9, 0.9, 0.9, 0.9]).buffer),
    );
    let ran = false;
    const client = {
      listRounds: async () => [roundWith(1)],
      getRound: async () => roundWith(1),
      participateQuantized: async (round: Round) => {
        ran = true;
        return { round: { ...round, phase: Phase.PHASE_DONE }, included: true };
      },
    } as unknown as VeilsumClient;
    const follower = new RoundFollower({
      queue,
      client,
      memberId: 'bank-01',
      journalDirectory: join(dataDir, 'journal'),
      ledger: undefined,
      expectedKeySha256: undefined,
      pollIntervalMs: 60_000,
      logger: pino({ level: 'silent' }),
      metrics: new MemberMetrics(),
    });
    follower.start();
    await new Promise((resolve) => setTimeout(resolve, 500));
    follower.stop();
    expect(ran).toBe(false);
    const dropped = queue.all().find((r) => r.updateId === record.updateId)!;
    expect(dropped.state).toBe(UpdateState.UPDATE_STATE_DROPPED);
    expect(dropped.detail).toMatch(/no longer matches the SHA-256 acknowledged at submission/);
  });
});
