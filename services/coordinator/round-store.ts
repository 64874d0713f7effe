import { createHash } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/**
 * Durable round state: SQLite (WAL, synchronous=FULL) for round rows and the append-only event
 * log of every accepted message and phase transition; files for the large blobs (masked uploads,
 * aggregates). An event is written before the client is acknowledged, so a coordinator killed at
 * any moment restarts by replaying the log and loses no acknowledged upload.
 */
export type EventKind =
  | 'advertise'
  | 'share'
  | 'masked'
  | 'sign'
  | 'unmask'
  | 'close'
  | 'abort'
  | 'finish'
  | 'ckks-upload'
  | 'ckks-close'
  | 'ckks-result'
  | 'ckks-responders';

export interface RoundRow {
  readonly roundId: string;
  readonly modelId: string;
  readonly roundNumber: number;
  readonly params: Uint8Array;
  readonly graphSeed: Uint8Array;
  readonly roster: string;
  readonly openedAt: number;
}

export interface RoundEvent {
  readonly seq: number;
  readonly kind: EventKind;
  readonly sender: number | null;
  readonly payload: Uint8Array | null;
  readonly at: number;
}

export class PersistenceError extends Error {
  override name = 'PersistenceError';
}

export class RoundStore {
  private readonly db: Database.Database;
  readonly directory: string;

  constructor(directory: string) {
    this.directory = directory;
    mkdirSync(join(directory, 'blobs'), { recursive: true, mode: 0o700 });
    this.db = new Database(join(directory, 'coordinator.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS rounds (
        round_id TEXT PRIMARY KEY,
        model_id TEXT NOT NULL,
        round_number INTEGER NOT NULL,
        params BLOB NOT NULL,
        graph_seed BLOB NOT NULL,
        roster TEXT NOT NULL,
        opened_at INTEGER NOT NULL,
        UNIQUE (model_id, round_number)
      );
      CREATE TABLE IF NOT EXISTS events (
        round_id TEXT NOT NULL REFERENCES rounds (round_id),
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        sender INTEGER,
        payload BLOB,
        at INTEGER NOT NULL,
        PRIMARY KEY (round_id, seq)
      );
    `);
  }

  insertRound(row: RoundRow): void {
    this.db
      .prepare(
        `INSERT INTO rounds (round_id, model_id, round_number, params, graph_seed, roster, opened_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        row.roundId,
        row.modelId,
        row.roundNumber,
        row.params,
        row.graphSeed,
        row.roster,
        row.openedAt,
      );
  }

  hasRound(modelId: string, roundNumber: number): boolean {
    return (
      this.db
        .prepare('SELECT 1 FROM rounds WHERE model_id = ? AND round_number = ?')
        .get(modelId, roundNumber) !== undefined
    );
  }

  rounds(): RoundRow[] {
    const rows = this.db
      .prepare('SELECT * FROM rounds ORDER BY opened_at, round_id')
      .all() as Record<string, unknown>[];
    return rows.map((row) => ({
      roundId: row.round_id as string,
      modelId: row.model_id as string,
      roundNumber: row.round_number as number,
      params: new Uint8Array(row.params as Buffer),
      graphSeed: new Uint8Array(row.graph_seed as Buffer),
      roster: row.roster as string,
      openedAt: row.opened_at as number,
    }));
  }

  appendEvent(
    roundId: string,
    kind: EventKind,
    sender: number | null,
    payload: Uint8Array | null,
    at: number,
  ): void {
    try {
      this.db
        .prepare(
          `INSERT INTO events (round_id, seq, kind, sender, payload, at)
           VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE round_id = ?), ?, ?, ?, ?)`,
        )
        .run(roundId, roundId, kind, sender, payload === null ? null : Buffer.from(payload), at);
    } catch (error) {
      throw new PersistenceError(
        `could not record ${kind} event of round ${roundId}: ${(error as Error).message}`,
      );
    }
  }

  events(roundId: string): RoundEvent[] {
    const rows = this.db
      .prepare('SELECT seq, kind, sender, payload, at FROM events WHERE round_id = ? ORDER BY seq')
      .all(roundId) as Record<string, unknown>[];
    return rows.map((row) => ({
      seq: row.seq as number,
      kind: row.kind as EventKind,
      sender: (row.sender as number | null) ?? null,
      payload: row.payload === null ? null : new Uint8Array(row.payload as Buffer),
      at: row.at as number,
    }));
  }

  /** Folder of one round's blobs; round ids contain '/', so the folder is named by a hash. */
  roundDirectory(roundId: string): string {
    const name = createHash('sha256').update(roundId).digest('hex').slice(0, 32);
    const directory = join(this.directory, 'blobs', name);
    mkdirSync(directory, { recursive: true, mode: 0o700 });
    return directory;
  }

  uploadPath(roundId: string, index: number): string {
    return join(this.roundDirectory(roundId), `upload-${index}.u32`);
  }

  aggregatePath(roundId: string): string {
    return join(this.roundDirectory(roundId), 'aggregate.u32');
  }

  /**
   * Removes every staged file (`*.partial`) left by a process that was killed while writing it:
   * none of them was acknowledged. Returns how many were removed.
   */
  sweepPartials(): number {
    const blobs = join(this.directory, 'blobs');
    let removed = 0;
    for (const name of readdirSync(blobs, { recursive: true, encoding: 'utf8' })) {
      if (!name.endsWith('.partial')) continue;
      rmSync(join(blobs, name), { force: true });
      removed++;
    }
    return removed;
  }

  /** Makes a fully written temp file durable under its final name (fsync file, rename, fsync dir). */
  commitFile(temporaryPath: string, finalPath: string): void {
    const file = openSync(temporaryPath, 'r');
    try {
      fsyncSync(file);
    } finally {
      closeSync(file);
    }
    renameSync(temporaryPath, finalPath);
    const directory = openSync(join(finalPath, '..'), 'r');
    try {
      fsyncSync(directory);
    } finally {
      closeSync(directory);
    }
  }

  close(): void {
    this.db.close();
  }
}
