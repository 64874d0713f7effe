import { createHash } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/**
 * Durable round state: SQLite (WAL, synchronous=FULL) for round rows and the append-only event
 * log of every accepted message and phase transition; files for the large blobs (masked uploads,
 * aggregates). An event is written before the client is acknowledged, so a coordinator killed at
 * any moment restarts by replaying the log and loses no acknowledged upload. Every round row and
 * event carries a SHA-256 of its fields, checked whenever it is read, and every blob is checked
 * against the digest its event recorded: what the disk corrupted is refused by name, never used.
 */
export type EventKind =
  | 'advertise'
  | 'reveal-seed'
  | 'share'
  | 'masked'
  | 'sign'
  | 'unmask'
  | 'reveal-pairwise'
  | 'close'
  | 'abort'
  | 'finish'
  | 'ckks-upload'
  | 'ckks-close'
  | 'ckks-result'
  | 'ckks-responders'
  | 'decline';

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

/** A stored record or blob that does not match its digest; `record` names it. */
export class CorruptRecordError extends Error {
  override name = 'CorruptRecordError';
  readonly record: string;
  constructor(record: string, problem: string) {
    super(`${record} ${problem}`);
    this.record = record;
  }
}

/** A round row as read back: `corrupt` says why it cannot be trusted, when it cannot. */
export interface StoredRoundRow extends RoundRow {
  readonly corrupt?: string;
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
    this.addDigests();
  }

  /** Stores of earlier versions had no digests: add them, trusting the rows as they are now. */
  private addDigests(): void {
    const columns = (table: string) =>
      (this.db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map(
        (column) => column.name,
      );
    this.db.transaction(() => {
      if (!columns('rounds').includes('digest')) {
        this.db.exec('ALTER TABLE rounds ADD COLUMN digest BLOB');
        for (const row of this.db.prepare('SELECT * FROM rounds').all() as RawRound[]) {
          this.db
            .prepare('UPDATE rounds SET digest = ? WHERE round_id = ?')
            .run(roundDigest(fromRawRound(row)), row.round_id);
        }
      }
      if (!columns('events').includes('digest')) {
        this.db.exec('ALTER TABLE events ADD COLUMN digest BLOB');
        for (const row of this.db.prepare('SELECT * FROM events').all() as RawEvent[]) {
          this.db
            .prepare('UPDATE events SET digest = ? WHERE round_id = ? AND seq = ?')
            .run(eventDigest(row.round_id, fromRawEvent(row)), row.round_id, row.seq);
        }
      }
    })();
  }

  insertRound(row: RoundRow): void {
    this.db
      .prepare(
        `INSERT INTO rounds (round_id, model_id, round_number, params, graph_seed, roster, opened_at, digest)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(...roundFields(row), roundDigest(row));
  }

  hasRound(modelId: string, roundNumber: number): boolean {
    return (
      this.db
        .prepare('SELECT 1 FROM rounds WHERE model_id = ? AND round_number = ?')
        .get(modelId, roundNumber) !== undefined
    );
  }

  /** Every round row; a row that does not match its digest comes back marked `corrupt`. */
  rounds(): StoredRoundRow[] {
    const rows = this.db
      .prepare('SELECT * FROM rounds ORDER BY opened_at, round_id')
      .all() as RawRound[];
    return rows.map((raw) => {
      const row = fromRawRound(raw);
      const stored = raw.digest === null ? undefined : new Uint8Array(raw.digest);
      if (stored !== undefined && Buffer.from(roundDigest(row)).equals(stored)) return row;
      return { ...row, corrupt: `the round record of ${row.roundId} does not match its digest` };
    });
  }

  appendEvent(
    roundId: string,
    kind: EventKind,
    sender: number | null,
    payload: Uint8Array | null,
    at: number,
  ): void {
    try {
      this.db.transaction(() => {
        const { last } = this.db
          .prepare('SELECT COALESCE(MAX(seq), 0) AS last FROM events WHERE round_id = ?')
          .get(roundId) as { last: number };
        const event: RoundEvent = { seq: last + 1, kind, sender, payload, at };
        this.db
          .prepare(
            `INSERT INTO events (round_id, seq, kind, sender, payload, at, digest)
             VALUES (?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
            roundId,
            event.seq,
            kind,
            sender,
            payload === null ? null : Buffer.from(payload),
            at,
            eventDigest(roundId, event),
          );
      })();
    } catch (error) {
      throw new PersistenceError(
        `could not record ${kind} event of round ${roundId}: ${(error as Error).message}`,
      );
    }
  }

  /**
   * A round's events in order, each checked against its digest and the sequence checked for
   * gaps: throws CorruptRecordError naming the first event that cannot be trusted.
   */
  events(roundId: string): RoundEvent[] {
    const rows = this.db
      .prepare('SELECT * FROM events WHERE round_id = ? ORDER BY seq')
      .all(roundId) as RawEvent[];
    return rows.map((raw, i) => {
      const event = fromRawEvent(raw);
      const name = `event ${raw.seq} (${String(raw.kind)}) of round ${roundId}`;
      if (raw.seq !== i + 1)
        throw new CorruptRecordError(`event ${i + 1} of round ${roundId}`, 'is missing');
      if (raw.digest === null || !Buffer.from(eventDigest(roundId, event)).equals(raw.digest))
        throw new CorruptRecordError(name, 'does not match its digest');
      return event;
    });
  }

  /** A blob's bytes, checked against the SHA-256 recorded when it was accepted. */
  readVerified(path: string, sha256: Uint8Array, what: string): Buffer {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (error) {
      throw new CorruptRecordError(
        `${what} (${path})`,
        `cannot be read: ${(error as Error).message}`,
      );
    }
    if (!createHash('sha256').update(bytes).digest().equals(sha256)) {
      throw new CorruptRecordError(
        `${what} (${path})`,
        `does not match its recorded SHA-256 ${Buffer.from(sha256).toString('hex').slice(0, 16)}…`,
      );
    }
    return bytes;
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

interface RawRound {
  round_id: string;
  model_id: string;
  round_number: number;
  params: Buffer;
  graph_seed: Buffer;
  roster: string;
  opened_at: number;
  digest: Buffer | null;
}

interface RawEvent {
  round_id: string;
  seq: number;
  kind: string;
  sender: number | null;
  payload: Buffer | null;
  at: number;
  digest: Buffer | null;
}

function fromRawRound(row: RawRound): RoundRow {
  return {
    roundId: row.round_id,
    modelId: row.model_id,
    roundNumber: row.round_number,
    params: new Uint8Array(row.params),
    graphSeed: new Uint8Array(row.graph_seed),
    roster: row.roster,
    openedAt: row.opened_at,
  };
}

function fromRawEvent(row: RawEvent): RoundEvent {
  return {
    seq: row.seq,
    kind: row.kind as EventKind,
    sender: row.sender ?? null,
    payload: row.payload === null ? null : new Uint8Array(row.payload),
    at: row.at,
  };
}

/** SHA-256 over length-prefixed fields under a domain tag: no two records encode alike. */
function digestOf(tag: string, fields: readonly (Uint8Array | string | number | null)[]): Buffer {
  const hash = createHash('sha256').update(tag);
  for (const field of fields) {
    const bytes =
      field === null
        ? Buffer.alloc(0)
        : typeof field === 'string'
          ? Buffer.from(field, 'utf8')
          : typeof field === 'number'
            ? Buffer.from(String(field), 'utf8')
            : Buffer.from(field);
    const header = Buffer.alloc(5);
    header.writeUInt8(field === null ? 0 : 1, 0);
    header.writeUInt32BE(bytes.length, 1);
    hash.update(header).update(bytes);
  }
  return hash.digest();
}

/** A round row's columns in table order (round_id … opened_at). */
function roundFields(
  row: RoundRow,
): [string, string, number, Uint8Array, Uint8Array, string, number] {
  return [
    row.roundId,
    row.modelId,
    row.roundNumber,
    row.params,
    row.graphSeed,
    row.roster,
    row.openedAt,
  ];
}

function roundDigest(row: RoundRow): Buffer {
  return digestOf('veilsum/coordinator/round/v1', roundFields(row));
}

function eventDigest(roundId: string, event: RoundEvent): Buffer {
  return digestOf('veilsum/coordinator/event/v1', [
    roundId,
    event.seq,
    event.kind,
    event.sender,
    event.payload,
    event.at,
  ]);
}
