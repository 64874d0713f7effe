import { afterEach, describe, expect, it } from '@jest/globals';
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UpdateState } from '../../proto/gen/veilsum/v1/member.ts';
import { UpdateQueue } from '../../services/member/update-queue.ts';

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function queued(dataDir: string) {
  const queue = new UpdateQueue(dataDir);
  const values = Float32Array.from([1.5, -2, 0.25]);
  const path = queue.incomingPath();
  writeFileSync(path, Buffer.from(values.buffer));
  const record = queue.commit(path, {
    modelId: 'fraud',
    roundId: '',
    values: 3,
    sha256: 'ab'.repeat(32),
    tensors: [],
    idempotencyKey: 'key-1',
    caller: 'scientist',
    queuedAtMs: 1,
    detail: 'queued',
  });
  return { queue, record, values };
}

describe("the member peer's durable update queue", () => {
  it('a reopened queue has every journaled transition; a line cut short by a crash is ignored', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'member-queue-'));
    folders.push(dataDir);
    const { queue, record, values } = queued(dataDir);
    queue.transition(record.updateId, UpdateState.UPDATE_STATE_IN_ROUND, 'in round', {
      roundId: 'fraud/round-1',
      memberIndex: 2,
    });
    // A crash while appending the next transition: half a line, never fsynced as a whole.
    appendFileSync(
      join(dataDir, 'updates', record.updateId, 'journal.jsonl'),
      '{"transition":{"sta',
    );
    const reopened = new UpdateQueue(dataDir);
    expect(reopened.get(record.updateId)).toMatchObject({
      state: UpdateState.UPDATE_STATE_IN_ROUND,
      roundId: 'fraud/round-1',
      memberIndex: 2,
      idempotencyKey: 'key-1',
    });
    expect(reopened.values(record.updateId)).toEqual(values);
    expect(reopened.byIdempotencyKey('key-1')?.updateId).toBe(record.updateId);
  });

  it('what a crash left half-made (a stream being received, an update folder being created) is removed on start', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'member-queue-'));
    folders.push(dataDir);
    const { record } = queued(dataDir);
    writeFileSync(join(dataDir, 'incoming', 'half-received.f32'), Buffer.alloc(8));
    mkdirSync(join(dataDir, 'updates', 'crashed.partial'));
    writeFileSync(join(dataDir, 'updates', 'crashed.partial', 'values.f32'), Buffer.alloc(8));
    const reopened = new UpdateQueue(dataDir);
    expect(reopened.all().map((r) => r.updateId)).toEqual([record.updateId]);
    expect(readdirSync(join(dataDir, 'incoming'))).toEqual([]);
    expect(readdirSync(join(dataDir, 'updates'))).toEqual([record.updateId]);
  });

  it('reads an update back in slices of one reused buffer, the last one short', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'veilsum-queue-'));
    folders.push(dataDir);
    const { queue, record, values } = queued(dataDir);
    // Copied as each slice arrives: the next one overwrites the buffer.
    const copies: number[][] = [];
    for (const slice of queue.slices(record.updateId, 2)) copies.push(Array.from(slice));
    expect(copies).toEqual([[1.5, -2], [0.25]]);
    expect(Array.from(queue.values(record.updateId))).toEqual(Array.from(values));
  });

  it("frees the slices' buffer once they are read (or the reading stops), not at the next collection", () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'veilsum-queue-'));
    folders.push(dataDir);
    const { queue, record } = queued(dataDir);
    let last: Float32Array | undefined;
    for (const slice of queue.slices(record.updateId, 2)) last = slice;
    // Detached: its memory went back to the allocator when the reading ended.
    expect(last!.buffer.byteLength).toBe(0);
    let first: Float32Array | undefined;
    for (const slice of queue.slices(record.updateId, 2)) {
      first = slice;
      expect(Array.from(slice)).toEqual([1.5, -2]);
      break;
    }
    expect(first!.buffer.byteLength).toBe(0);
  });
});
