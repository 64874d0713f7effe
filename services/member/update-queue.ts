import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import { fsyncPath } from '../common/fsync-path.ts';
import { UpdateState, type TensorSlice } from '../../proto/gen/veilsum/v1/member.ts';
import { freeBuffer } from './young-garbage.ts';

/**
 * The peer's durable queue of updates. Each update is a folder `updates/<id>/` holding its floats
 * once (`values.f32`, little-endian float32) and a journal (`journal.jsonl`): the first line is the
 * update as queued, every later line one state transition, each appended and fsynced before the
 * peer acts on it. The folder appears by rename only once values and first line are on disk, so
 * a crash leaves either no update (the caller got no answer) or a whole one. A journal line cut
 * short by a crash was never acted on and is ignored.
 */
export interface QueuedRecord {
  readonly updateId: string;
  readonly modelId: string;
  /** Chosen by the caller (round target) or when the peer picks the model's next round. */
  roundId: string;
  readonly values: number;
  readonly sha256: string;
  readonly tensors: TensorSlice[];
  readonly idempotencyKey: string;
  /** What the update was trained from (SubmitHeader.trained_from): its re-run journal slot. */
  readonly trainedFrom?: string;
  /** The caller's certificate CN. */
  readonly caller: string;
  readonly queuedAtMs: number;
  state: UpdateState;
  detail: string;
  updatedAtMs: number;
  /** The bank's index on the round's roster, once in a round. */
  memberIndex: number;
}

interface Transition {
  readonly state: UpdateState;
  readonly roundId?: string;
  readonly memberIndex?: number;
  readonly detail: string;
  readonly at: number;
}

/** 2^20 values (4 MiB) per slice when an update is read in slices. */
const SLICE_VALUES = 1 << 20;

export const FINAL_STATES: readonly UpdateState[] = [
  UpdateState.UPDATE_STATE_INCLUDED,
  UpdateState.UPDATE_STATE_DROPPED,
];

export class UpdateQueue {
  private readonly root: string;
  private readonly incoming: string;
  private readonly records = new Map<string, QueuedRecord>();
  private readonly events = new EventEmitter();

  constructor(dataDir: string) {
    this.root = join(dataDir, 'updates');
    this.incoming = join(dataDir, 'incoming');
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    // Streams that never completed (the caller got no answer): nothing of them is kept.
    rmSync(this.incoming, { recursive: true, force: true });
    mkdirSync(this.incoming, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(this.root)) {
      const folder = join(this.root, name);
      if (name.endsWith('.partial')) {
        rmSync(folder, { recursive: true, force: true });
        continue;
      }
      const record = readJournal(join(folder, 'journal.jsonl'));
      if (record !== undefined) this.records.set(record.updateId, record);
    }
    this.events.setMaxListeners(0);
  }

  /** A fresh file under incoming/ for a stream's values; it becomes an update only by `commit`. */
  incomingPath(): string {
    return join(this.incoming, `${randomUUID()}.f32`);
  }

  /** Moves a complete, fsynced values file into a new update folder with its first journal line. */
  commit(
    valuesPath: string,
    fields: Omit<QueuedRecord, 'updateId' | 'state' | 'detail' | 'updatedAtMs' | 'memberIndex'> & {
      detail: string;
    },
  ): QueuedRecord {
    const updateId = randomUUID();
    const record: QueuedRecord = {
      ...fields,
      updateId,
      state: UpdateState.UPDATE_STATE_QUEUED,
      updatedAtMs: fields.queuedAtMs,
      memberIndex: 0,
    };
    const partial = join(this.root, `${updateId}.partial`);
    mkdirSync(partial, { mode: 0o700 });
    renameSync(valuesPath, join(partial, 'values.f32'));
    appendDurably(join(partial, 'journal.jsonl'), { queued: record });
    fsyncPath(partial);
    renameSync(partial, join(this.root, updateId));
    fsyncPath(this.root);
    this.records.set(updateId, record);
    return record;
  }

  get(updateId: string): QueuedRecord | undefined {
    return this.records.get(updateId);
  }

  all(): QueuedRecord[] {
    return [...this.records.values()].sort((a, b) => a.queuedAtMs - b.queuedAtMs);
  }

  byIdempotencyKey(key: string): QueuedRecord | undefined {
    if (key === '') return undefined;
    return this.all().find((record) => record.idempotencyKey === key);
  }

  /** The update's floats, read whole from disk (a CKKS round encrypts them at once). */
  values(updateId: string): Float32Array {
    const bytes = readFileSync(this.valuesPath(updateId));
    return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  }

  /**
   * The update's floats in order, `sliceValues` at a time, read into one buffer that each slice
   * reuses: a consumer copies what it keeps. A round's preparation reads the update this way
   * instead of holding all of it beside what it computes from it. Once the slices are read to
   * the end (or the reading stops), the buffer is freed at once (freeBuffer): the last slice
   * then reads as empty.
   */
  *slices(updateId: string, sliceValues = SLICE_VALUES): Generator<Float32Array> {
    const file = openSync(this.valuesPath(updateId), 'r');
    const buffer = new Float32Array(sliceValues);
    try {
      const bytes = new Uint8Array(buffer.buffer);
      for (;;) {
        let filled = 0;
        while (filled < bytes.length) {
          const read = readSync(file, bytes, filled, bytes.length - filled, null);
          if (read === 0) break;
          filled += read;
        }
        if (filled % 4 !== 0)
          throw new Error(`update ${updateId}: values.f32 ends inside a float32 value`);
        if (filled > 0) yield buffer.subarray(0, filled / 4);
        if (filled < bytes.length) return;
      }
    } finally {
      closeSync(file);
      freeBuffer(buffer.buffer);
    }
  }

  private valuesPath(updateId: string): string {
    return join(this.root, updateId, 'values.f32');
  }

  /** Journals a transition (durably) and then applies it. */
  transition(
    updateId: string,
    state: UpdateState,
    detail: string,
    extra: { roundId?: string; memberIndex?: number } = {},
  ): QueuedRecord {
    const record = this.records.get(updateId)!;
    const at = Date.now();
    const line: Transition = { state, detail, at, ...extra };
    appendDurably(join(this.root, updateId, 'journal.jsonl'), { transition: line });
    apply(record, line);
    this.events.emit(updateId, record);
    return record;
  }

  /** Tells the update's watchers to look again (its round changed, not the update). */
  notify(updateId: string): void {
    const record = this.records.get(updateId);
    if (record !== undefined) this.events.emit(updateId, record);
  }

  onChange(updateId: string, listener: (record: QueuedRecord) => void): () => void {
    this.events.on(updateId, listener);
    return () => this.events.off(updateId, listener);
  }
}

function apply(record: QueuedRecord, line: Transition): void {
  record.state = line.state;
  record.detail = line.detail;
  record.updatedAtMs = line.at;
  if (line.roundId !== undefined) record.roundId = line.roundId;
  if (line.memberIndex !== undefined) record.memberIndex = line.memberIndex;
}

function readJournal(path: string): QueuedRecord | undefined {
  if (!existsSync(path)) return undefined;
  let record: QueuedRecord | undefined;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '') continue;
    let entry: { queued?: QueuedRecord; transition?: Transition };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      // The last line, cut short by a crash before its fsync returned: never acted on.
      break;
    }
    if (entry.queued !== undefined) record = { ...entry.queued };
    else if (entry.transition !== undefined && record !== undefined)
      apply(record, entry.transition);
  }
  return record;
}

function appendDurably(path: string, entry: unknown): void {
  appendFileSync(path, JSON.stringify(entry) + '\n', { mode: 0o600 });
  fsyncPath(path);
}
