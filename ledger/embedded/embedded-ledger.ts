import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import {
  contract,
  ContractError,
  type ContractFunction,
  type TransactionContext,
  type WorldState,
} from '../contract.ts';
import type { ContractGateway } from '../ledger.ts';
import type { LedgerEvent } from '../records.ts';
import { BlockSignatureVerifier, type LedgerWriter, signBlockHash } from './block-signature.ts';

export { ledgerWriter, type LedgerWriter } from './block-signature.ts';

/**
 * The default ledger for one machine: the contract runs in-process against a SQLite file. Every
 * submitted transaction becomes a block (its writer, function, arguments, writes and events)
 * hash-chained to the previous one and signed by the writer's certificate key
 * (block-signature.ts). The state table is only a cache of what the blocks wrote: the file is
 * verified when it is opened (every link, hash, signature and state row; a tampered file is
 * refused with LedgerTamperedError naming the first bad block or row), every block another
 * process appends is verified before it is used, and every state row a transaction reads — and,
 * on each append, the whole state table — must equal the state replayed from the verified
 * blocks. Once tampering is seen, this handle refuses every further transaction.
 *
 * What signatures cannot stop: whoever holds a writer's key (e.g. the coordinator's) can re-sign
 * that writer's blocks, and so drop later blocks it re-links. Members guard against that with
 * Fabric (their own peers), not with this single-machine ledger.
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

export type VerifyResult =
  { ok: true; blocks: number } | { ok: false; blocks: number; block: number; reason: string };

/** The ledger file was altered outside the contract: it is not used. */
export class LedgerTamperedError extends Error {
  override name = 'LedgerTamperedError';
  readonly block: number;
  constructor(path: string, block: number, reason: string) {
    super(`the ledger ${path} was tampered with: ${reason}; refusing to use it`);
    this.block = block;
  }
}

const GENESIS_HASH = '0'.repeat(64);

interface Replay {
  head: { number: number; hash: string };
  /** Each key's value and the block that last wrote it. */
  state: Map<string, { value: string; block: number }>;
}

export class EmbeddedLedgerDatabase {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly verifier: BlockSignatureVerifier;
  private readonly listeners = new Set<(event: LedgerEvent, block: number) => void>();
  /** Transactions run one at a time, like an ordering service: no lost updates. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly replay: Replay;
  private tampered: LedgerTamperedError | undefined;

  /**
   * Opens (or creates) the ledger file and verifies it against `caCertificatePem`, the
   * consortium CA that issues writers' certificates; throws LedgerTamperedError if it does not
   * verify.
   */
  constructor(path: string, caCertificatePem: string | Buffer) {
    this.path = path;
    this.verifier = new BlockSignatureVerifier(caCertificatePem);
    this.db = openDatabase(path);
    const { result, replay } = replayChain(this.db, this.verifier);
    if (!result.ok) {
      this.db.close();
      throw new LedgerTamperedError(path, result.block, result.reason);
    }
    this.replay = replay;
  }

  /** Verifies a ledger file without refusing it: what `audit verify-chain` reports. */
  static inspect(path: string, caCertificatePem: string | Buffer): VerifyResult {
    const db = openDatabase(path, true);
    try {
      return replayChain(db, new BlockSignatureVerifier(caCertificatePem)).result;
    } finally {
      db.close();
    }
  }

  /** A gateway that writes as `writer` (its certificate's O), each block signed with its key. */
  as(writer: LedgerWriter, now: () => number = Date.now): ContractGateway {
    return {
      submit: <T>(fn: ContractFunction, args: unknown[]) =>
        this.serialised(() => this.run<T>(writer.organisation, fn, args, now(), writer)),
      evaluate: <T>(fn: ContractFunction, args: unknown[]) =>
        this.serialised(() => this.run<T>(writer.organisation, fn, args, now(), undefined)),
    };
  }

  /** A gateway that only reads, as `mspId` (queries' access rules apply; writing needs a key). */
  reader(mspId: string, now: () => number = Date.now): ContractGateway {
    return {
      submit: () =>
        Promise.reject(
          new ContractError(
            'access-denied',
            `${mspId} reads the ledger without a signing key; a transaction needs the writer's certificate and private key`,
          ),
        ),
      evaluate: <T>(fn: ContractFunction, args: unknown[]) =>
        this.serialised(() => this.run<T>(mspId, fn, args, now(), undefined)),
    };
  }

  /** Chaincode-style events of every later block. */
  onEvent(listener: (event: LedgerEvent, block: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  blocks(): Block[] {
    return readBlocks(this.db, 0);
  }

  /**
   * Blocks after `number`, each verified (hash, link, signature, writes) before it is returned,
   * including blocks other processes appended since this handle last looked: what a reader that
   * follows the ledger (the console) consumes.
   */
  verifiedBlocksAfter(number: number): Block[] {
    this.catchUp();
    return readBlocks(this.db, number).filter((block) => block.number <= this.replay.head.number);
  }

  /** Recomputes every block hash, link and signature, replays the writes, compares the state. */
  verify(): VerifyResult {
    return replayChain(this.db, this.verifier).result;
  }

  close(): void {
    this.db.close();
  }

  private serialised<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private refuse(block: number, reason: string): never {
    this.tampered = new LedgerTamperedError(this.path, block, reason);
    throw this.tampered;
  }

  /**
   * Brings the verified replay up to the file's last block: checks that the last verified block
   * is unchanged and verifies each block appended since (by any process) before applying it.
   */
  private catchUp(): void {
    if (this.tampered) throw this.tampered;
    const { head, state } = this.replay;
    if (head.number > 0) {
      const row = this.db.prepare('SELECT hash FROM blocks WHERE number = ?').get(head.number) as
        { hash: string } | undefined;
      if (row?.hash !== head.hash)
        this.refuse(head.number, `block ${head.number} changed after it was verified`);
    }
    for (const block of readBlocks(this.db, head.number)) {
      const reason = blockProblem(block, head, this.verifier);
      if (reason !== undefined) this.refuse(block.number, reason);
      for (const [key, value] of block.writes) state.set(key, { value, block: block.number });
      head.number = block.number;
      head.hash = block.hash;
    }
  }

  /** The whole state table against the replay (on each append). */
  private checkAllState(): void {
    const mismatch = stateMismatch(this.db, this.replay);
    if (mismatch !== undefined) this.refuse(mismatch.block, mismatch.reason);
  }

  private checkedRow(key: string, row: string | undefined): string | undefined {
    const expected = this.replay.state.get(key);
    if (row !== expected?.value)
      this.refuse(
        expected?.block ?? this.replay.head.number,
        expected === undefined
          ? `state row ${key} was written by no block`
          : `state row ${key} does not match what block ${expected.block} wrote`,
      );
    return row;
  }

  private async run<T>(
    caller: string,
    fn: ContractFunction,
    args: unknown[],
    timestamp: number,
    writer: LedgerWriter | undefined,
  ): Promise<T> {
    if (!Object.hasOwn(contract, fn)) {
      throw new ContractError('invalid', `unknown contract function ${String(fn)}`);
    }
    const submit = writer !== undefined;
    const implementation = (contract[fn] as (...args: unknown[]) => Promise<T>).bind(contract) as (
      ctx: TransactionContext,
      ...args: unknown[]
    ) => Promise<T>;
    const writes = new Map<string, string>();
    const events: LedgerEvent[] = [];
    const getRow = this.db.prepare('SELECT value FROM state WHERE key = ?');
    const listRows = this.db.prepare(
      'SELECT key, value FROM state WHERE key >= ? AND key < ? ORDER BY key',
    );
    const state: WorldState = {
      get: (key) => {
        if (writes.has(key)) return Promise.resolve(writes.get(key));
        const row = (getRow.get(key) as { value: string } | undefined)?.value;
        return Promise.resolve(this.checkedRow(key, row));
      },
      put: (key, value) => {
        if (!submit)
          throw new ContractError('invalid', `${String(fn)} is a query and cannot write`);
        writes.set(key, value);
        return Promise.resolve();
      },
      list: (prefix) => {
        const merged = new Map<string, string>();
        const rows = listRows.all(prefix, prefix + '\uffff') as { key: string; value: string }[];
        for (const row of rows) merged.set(row.key, this.checkedRow(row.key, row.value)!);
        for (const key of this.replay.state.keys())
          if (key.startsWith(prefix) && !merged.has(key)) this.checkedRow(key, undefined);
        for (const [key, value] of writes) if (key.startsWith(prefix)) merged.set(key, value);
        return Promise.resolve(
          [...merged.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, value]) => value),
        );
      },
    };
    const context = (): TransactionContext => ({
      state,
      callerMspId: caller,
      timestamp,
      transactionId: transactionIdOf(this.replay.head.hash, caller, fn, args, timestamp),
      emit: (event) => events.push(event),
    });
    if (!submit) {
      // One read snapshot: the blocks verified and the rows read are of the same moment.
      this.db.exec('BEGIN');
      try {
        this.catchUp();
        return await implementation(context(), ...args);
      } finally {
        this.db.exec('COMMIT');
      }
    }
    // The whole transaction — reads included — runs under SQLite's write lock, so two processes
    // sharing the file cannot interleave a read and a commit.
    this.db.exec('BEGIN IMMEDIATE');
    let block: Block;
    let result: T;
    try {
      this.catchUp();
      this.checkAllState();
      result = await implementation(context(), ...args);
      const unsigned = {
        number: this.replay.head.number + 1,
        previousHash: this.replay.head.hash,
        timestamp,
        caller,
        certificate: writer.certificatePem,
        fn,
        args,
        writes: [...writes.entries()],
        events,
      };
      const hash = blockHash(unsigned);
      block = { ...unsigned, hash, signature: signBlockHash(writer, hash) };
      const upsert = this.db.prepare(
        'INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      );
      for (const [key, value] of block.writes) upsert.run(key, value);
      this.db
        .prepare(
          'INSERT INTO blocks (number, previous_hash, timestamp, caller, certificate, fn, args, writes, events, hash, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(
          block.number,
          block.previousHash,
          block.timestamp,
          block.caller,
          block.certificate,
          block.fn,
          JSON.stringify(block.args),
          JSON.stringify(block.writes),
          JSON.stringify(block.events),
          block.hash,
          block.signature,
        );
      this.db.exec('COMMIT');
    } catch (error) {
      this.db.exec('ROLLBACK');
      throw error;
    }
    for (const [key, value] of block.writes)
      this.replay.state.set(key, { value, block: block.number });
    this.replay.head.number = block.number;
    this.replay.head.hash = block.hash;
    for (const event of events)
      for (const listener of this.listeners) listener(event, block.number);
    return result;
  }
}

function openDatabase(path: string, mustExist = false): Database.Database {
  const db = new Database(path, { fileMustExist: mustExist });
  // Other processes (the CLI next to a running coordinator, banks opening the file at once) may
  // hold the write lock briefly: wait, from the first statement on.
  db.pragma('busy_timeout = 10000');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
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

function readBlocks(db: Database.Database, after: number): Block[] {
  return (
    db.prepare('SELECT * FROM blocks WHERE number > ? ORDER BY number').all(after) as Record<
      string,
      unknown
    >[]
  ).map(rowToBlock);
}

function blockProblem(
  block: Block,
  previous: { number: number; hash: string },
  verifier: BlockSignatureVerifier,
): string | undefined {
  if (block.number !== previous.number + 1)
    return `block numbers jump from ${previous.number} to ${block.number}`;
  if (block.previousHash !== previous.hash)
    return `block ${block.number} does not link to block ${previous.number}: previous hash differs`;
  if (blockHash(block) !== block.hash)
    return `block ${block.number}'s contents do not match its hash`;
  return verifier.problem(block, block.certificate || null, block.signature || null);
}

/**
 * Verifies the whole chain from genesis and compares the state table with its replay, in one
 * read snapshot: another process committing a block meanwhile is neither half-seen nor blamed.
 */
function replayChain(
  db: Database.Database,
  verifier: BlockSignatureVerifier,
): { result: VerifyResult; replay: Replay } {
  if (db.inTransaction) return replayChainInSnapshot(db, verifier);
  db.exec('BEGIN');
  try {
    return replayChainInSnapshot(db, verifier);
  } finally {
    db.exec('COMMIT');
  }
}

function replayChainInSnapshot(
  db: Database.Database,
  verifier: BlockSignatureVerifier,
): { result: VerifyResult; replay: Replay } {
  const replay: Replay = { head: { number: 0, hash: GENESIS_HASH }, state: new Map() };
  const blocks = readBlocks(db, 0);
  for (const block of blocks) {
    const reason = blockProblem(block, replay.head, verifier);
    if (reason !== undefined)
      return { result: { ok: false, blocks: blocks.length, block: block.number, reason }, replay };
    for (const [key, value] of block.writes) replay.state.set(key, { value, block: block.number });
    replay.head = { number: block.number, hash: block.hash };
  }
  const mismatch = stateMismatch(db, replay);
  if (mismatch !== undefined)
    return { result: { ok: false, blocks: blocks.length, ...mismatch }, replay };
  return { result: { ok: true, blocks: blocks.length }, replay };
}

/** The first state row (in key order) that differs from the replay, and the block to blame. */
function stateMismatch(
  db: Database.Database,
  replay: Replay,
): { block: number; reason: string } | undefined {
  const rows = db.prepare('SELECT key, value FROM state ORDER BY key').all() as {
    key: string;
    value: string;
  }[];
  for (const { key, value } of rows) {
    const expected = replay.state.get(key);
    if (expected === undefined)
      return { block: replay.head.number, reason: `state key ${key} was written by no block` };
    if (expected.value !== value)
      return {
        block: expected.block,
        reason: `state key ${key} does not match what the chain wrote (block ${expected.block})`,
      };
  }
  if (rows.length !== replay.state.size) {
    const present = new Set(rows.map((row) => row.key));
    const [missing, { block }] = [...replay.state].find(([key]) => !present.has(key))!;
    return { block, reason: `state key ${missing} written by the chain is missing` };
  }
  return undefined;
}

/**
 * The id a transaction runs under: the hash of the chain head it extends and of what it runs,
 * so it is fixed by the ledger's state, not picked by the caller.
 */
function transactionIdOf(
  previousHash: string,
  caller: string,
  fn: string,
  args: unknown[],
  timestamp: number,
): string {
  return createHash('sha256')
    .update(canonicalJson({ previousHash, caller, fn, args, timestamp }))
    .digest('hex');
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

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
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
