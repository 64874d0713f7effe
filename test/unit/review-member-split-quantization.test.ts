/* eslint-disable @typescript-eslint/require-await -- fakes of async clients that answer at once */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { dequantizeSum } from '../../crypto/quantize.ts';
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

describe('the member peer quantizes with the round it takes part in', () => {
  it('uses one view of the round for the levels and for the participation', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'veilsum-split-'));
    folders.push(dataDir);
    const queue = new UpdateQueue(dataDir);
    const values = Float32Array.from([0.5, -0.5, 0.25, 0.75]);
    const path = queue.incomingPath();
    writeFileSync(path, Buffer.from(values.buffer));
    queue.commit(path, {
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
    let ran: { round: Round; levels: Uint32Array } | undefined;
    const client = {
      listRounds: async () => [roundWith(100)], // the coordinator's unverified listing
      getRound: async () => roundWith(1), // what participateQuantized checks against the ledger
      participateQuantized: async (round: Round, levels: Uint32Array) => {
        ran = { round, levels: Uint32Array.from(levels) };
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
    for (let i = 0; i < 50 && ran === undefined; i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    follower.stop();
    expect(ran).toBeDefined();
    // Decoded with the parameters of the round the levels were uploaded into.
    const decoded = dequantizeSum(ran!.levels, 1, ran!.round.params!.quantization!);
    for (let i = 0; i < values.length; i++)
      expect(Math.abs(decoded[i]! - values[i]!)).toBeLessThan(0.01);
  });
});
