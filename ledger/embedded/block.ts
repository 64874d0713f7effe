import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import type { LedgerEvent } from '../records.ts';
import { canonicalJson } from './contract-replay.ts';

/**
 * One transaction of the embedded ledger: its writer, function, arguments, time, the writes and
 * events the contract produced, hash-chained to the previous block and signed by the writer's
 * certificate key (block-signature.ts).
 */
export interface Block {
  readonly number: number;
  readonly previousHash: string;
  readonly timestamp: number;
  readonly caller: string;
  /** The writer's certificate (PEM); its subject O is `caller`. */
  readonly certificate: string;
  readonly fn: string;
  readonly args: unknown[];
  readonly writes: [string, string][];
  readonly events: LedgerEvent[];
  readonly hash: string;
  /** Ed25519 signature of the hash by the certificate's key (base64). */
  readonly signature: string;
}

export const GENESIS_HASH = '0'.repeat(64);

/** A point in the chain: a block number and that block's hash (block 0: the genesis hash). */
export interface LedgerHead {
  readonly number: number;
  readonly hash: string;
}

export function describeHead(head: LedgerHead): string {
  return `block ${head.number} (hash ${head.hash.slice(0, 16)}…)`;
}

/** SHA-256 over a canonical (sorted-key) JSON of the block without its hash. */
export function blockHash(block: Omit<Block, 'hash' | 'signature'>): string {
  const { number, previousHash, timestamp, caller, certificate, fn, args, writes, events } = block;
  return createHash('sha256')
    .update(
      canonicalJson({
        number,
        previousHash,
        timestamp,
        caller,
        // Absent on blocks from before signing: they hash as they did, then fail as unsigned.
        certificate: certificate || undefined,
        fn,
        args,
        writes,
        events,
      }),
    )
    .digest('hex');
}

/**
 * The ledger file format: 2 = every block signed by its writer and verified by replaying its
 * transaction through the contract. A file created before files carried a version reads 0.
 */
export const LEDGER_FORMAT_VERSION = 2;

export function ledgerFormatVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Why a file that fails verification may simply be old: a file with no format version may come
 * from a veilsum before blocks were signed and replayed, which this one cannot verify. Empty
 * for a current file.
 */
export function oldFormatHint(db: Database.Database, path: string): string {
  if (ledgerFormatVersion(db) >= LEDGER_FORMAT_VERSION) return '';
  return (
    `. ${path} carries no ledger format version: if it was written by a veilsum from before ` +
    `ledger blocks were signed and replayed through the contract, this version cannot verify ` +
    `it and no command converts it (each block would need its writer's signature again). Keep ` +
    `it as an archive, readable by the release that wrote it, and start a new ledger: move the ` +
    `file aside, then run 'veilsum ledger init --config <coordinator config>'`
  );
}

export function openDatabase(path: string, mustExist = false): Database.Database {
  const db = new Database(path, { fileMustExist: mustExist });
  // Other processes (the CLI next to a running coordinator, banks opening the file at once) may
  // hold the write lock briefly: wait, from the first statement on.
  db.pragma('busy_timeout = 10000');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  const created =
    db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'blocks'").get() ===
    undefined;
  if (created) db.pragma(`user_version = ${LEDGER_FORMAT_VERSION}`);
  db.exec(`
    CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS blocks (
      number INTEGER PRIMARY KEY,
      previous_hash TEXT NOT NULL,
      timestamp INTEGER NOT NULL,
      caller TEXT NOT NULL,
      certificate TEXT,
      fn TEXT NOT NULL,
      args TEXT NOT NULL,
      writes TEXT NOT NULL,
      events TEXT NOT NULL,
      hash TEXT NOT NULL,
      signature TEXT
    );
  `);
  // A file from before blocks were signed: its blocks then fail verification as unsigned.
  const columns = new Set(
    (db.prepare('PRAGMA table_info(blocks)').all() as { name: string }[]).map((c) => c.name),
  );
  for (const column of ['certificate', 'signature'])
    if (!columns.has(column)) db.exec(`ALTER TABLE blocks ADD COLUMN ${column} TEXT`);
  return db;
}

export function readBlocks(db: Database.Database, after: number): Block[] {
  return (
    db.prepare('SELECT * FROM blocks WHERE number > ? ORDER BY number').all(after) as Record<
      string,
      unknown
    >[]
  ).map(rowToBlock);
}

function rowToBlock(row: Record<string, unknown>): Block {
  return {
    number: row.number as number,
    previousHash: row.previous_hash as string,
    timestamp: row.timestamp as number,
    caller: row.caller as string,
    certificate: (row.certificate as string | null) ?? '',
    fn: row.fn as string,
    args: JSON.parse(row.args as string) as unknown[],
    writes: JSON.parse(row.writes as string) as [string, string][],
    events: JSON.parse(row.events as string) as LedgerEvent[],
    hash: row.hash as string,
    signature: (row.signature as string | null) ?? '',
  };
}

/** A block row as SQLite returns it raw: the columns of BLOCK_COLUMNS, in that order. */
export type BlockRow = [
  number: number,
  previousHash: string,
  timestamp: number,
  caller: string,
  certificate: string | null,
  fn: string,
  args: string,
  writes: string,
  events: string,
  hash: string,
  signature: string | null,
];

export const BLOCK_COLUMNS =
  'number, previous_hash, timestamp, caller, certificate, fn, args, writes, events, hash, signature';

/** The blocks after `after`, raw and one at a time (inside the caller's read transaction). */
export function iterateBlockRows(db: Database.Database, after: number): IterableIterator<BlockRow> {
  return db
    .prepare(`SELECT ${BLOCK_COLUMNS} FROM blocks WHERE number > ? ORDER BY number`)
    .raw(true)
    .iterate(after) as IterableIterator<BlockRow>;
}

export function blockOfRow(row: BlockRow): Block {
  const [number, previousHash, timestamp, caller, certificate, fn, args, writes, events, hash] =
    row;
  return {
    number,
    previousHash,
    timestamp,
    caller,
    certificate: certificate ?? '',
    fn,
    args: JSON.parse(args) as unknown[],
    writes: JSON.parse(writes) as [string, string][],
    events: JSON.parse(events) as LedgerEvent[],
    hash,
    signature: row[10] ?? '',
  };
}

/** Runs `read` in one read snapshot of the file (the caller's transaction, if it is in one). */
export function inReadTransaction<T>(db: Database.Database, read: () => T): T {
  if (db.inTransaction) return read();
  db.exec('BEGIN');
  try {
    return read();
  } finally {
    db.exec('COMMIT');
  }
}
