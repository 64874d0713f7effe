import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Mode, Phase, type Round } from '../../proto/gen/veilsum/v1/round.ts';
import { MemberMetrics } from '../../services/member/metrics.ts';
import { RoundFollower, type FollowerOptions } from '../../services/member/round-follower.ts';
import { type QueuedRecord, UpdateQueue } from '../../services/member/update-queue.ts';
import type { VeilsumClient } from '../../sdk/veilsum-client.ts';

/** Scaffolding of the member peer's follower tests: a queue with one update, a round, a follower. */
const folders: string[] = [];

/** Removes the data folders `queuedUpdate` made (call from afterEach). */
export function removeFollowerFolders(): void {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
}

/**
 * A fresh peer data folder whose queue holds `values` for model `fraud`, acknowledged under
 * their real SHA-256 (or `sha256`, to stand for a file changed after acknowledgement).
 */
export function queuedUpdate(
  values: Float32Array,
  sha256 = createHash('sha256').update(Buffer.from(values.buffer)).digest('hex'),
): { dataDir: string; queue: UpdateQueue; record: QueuedRecord } {
  const dataDir = mkdtempSync(join(tmpdir(), 'veilsum-follower-'));
  folders.push(dataDir);
  const queue = new UpdateQueue(dataDir);
  const path = queue.incomingPath();
  writeFileSync(path, Buffer.from(values.buffer, values.byteOffset, values.byteLength));
  const record = queue.commit(path, {
    modelId: 'fraud',
    roundId: '',
    values: values.length,
    sha256,
    tensors: [],
    idempotencyKey: '',
    caller: 'scientist',
    queuedAtMs: 1,
    detail: 'queued',
  });
  return { dataDir, queue, record };
}

/** A 4-value SecAgg round of model `fraud` that lists bank-01, collecting. */
export function secAggRound(clipRange: number): Round {
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

/** bank-01's follower over `queue`, talking to the fake coordinator `client`. */
export function followerOf(
  { dataDir, queue }: { dataDir: string; queue: UpdateQueue },
  /** A fake of the calls the test needs (the follower uses listRounds, getRound, participate…). */
  client: object,
  options: Partial<FollowerOptions> = {},
): RoundFollower {
  return new RoundFollower({
    queue,
    client: client as unknown as VeilsumClient,
    memberId: 'bank-01',
    journalDirectory: join(dataDir, 'journal'),
    ledger: undefined,
    expectedKeySha256: undefined,
    pollIntervalMs: 60_000,
    logger: pino({ level: 'silent' }),
    metrics: new MemberMetrics(),
    ...options,
  });
}
