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

/**
 * The default ledger for one machine: the contract runs in-process against a SQLite file. Every
 * submitted transaction becomes a block (its caller, function, arguments, writes and events)
 * hash-chained to the previous one, so `verify` can recompute the chain and the state from
 * genesis and name the first block that does not match.
 */
export interface Block {
  readonly number: number;
  readonly previousHash: string;
  readonly timestamp: number;
  readonly caller: string;
  readonly fn: string;
  readonly args: unknown[];
  readonly writes: [string, string][];
  readonly events: LedgerEvent[];
  readonly hash: string;
}

export type VerifyResult =
  { ok: true; blocks: number } | { ok: false; blocks: number; block: number; reason: string };

const GENESIS_HASH = '0'.repeat(64);

export class EmbeddedLedgerDatabase {
  private readonly db: Database.Database;
  private readonly listeners = new Set<(event: LedgerEvent, block: number) => void>();
  /** Transactions run one at a time, like an ordering service: no lost updates. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    // Other processes (the CLI next to a running coordinator) may hold the write lock briefly.
    this.db.pragma('busy_timeout = 10000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS blocks (
        number INTEGER PRIMARY KEY,
        previous_hash TEXT NOT NULL,
        timestamp INTEGER NOT NULL,
        caller TEXT NOT NULL,
        fn TEXT NOT NULL,
        args TEXT NOT NULL,
        writes TEXT NOT NULL,
        events TEXT NOT NULL,
        hash TEXT NOT NULL
      );
    `);
  }

  /** A gateway that acts as `mspId` (on one machine the caller is configured, not proven). */
  as(mspId: string, now: () => number = Date.now): ContractGateway {
    return {
      submit: <T>(fn: ContractFunction, args: unknown[]) =>
        this.serialised(() => this.run<T>(mspId, fn, args, now(), true)),
      evaluate: <T>(fn: ContractFunction, args: unknown[]) =>
        this.serialised(() => this.run<T>(mspId, fn, args, now(), false)),
    };
  }

  /** Chaincode-style events of every later block. */
  onEvent(listener: (event: LedgerEvent, block: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  blocks(): Block[] {
    return (
      this.db.prepare('SELECT * FROM blocks ORDER BY number').all() as Record<string, unknown>[]
    ).map(rowToBlock);
  }

  /** Recomputes every block hash and link, replays the writes, and compares with the state table. */
  verify(): VerifyResult {
    const blocks = this.blocks();
    const replayed = new Map<string, string>();
    let previous = GENESIS_HASH;
    for (const [i, block] of blocks.entries()) {
      const fail = (reason: string): VerifyResult => ({
        ok: false,
        blocks: blocks.length,
        block: block.number,
        reason,
      });
      if (block.number !== i + 1) return fail(`block numbers jump from ${i} to ${block.number}`);
      if (block.previousHash !== previous)
        return fail(`block ${block.number} does not link to block ${i}: previous hash differs`);
      if (blockHash(block) !== block.hash)
        return fail(`block ${block.number}'s contents do not match its hash`);
      for (const [key, value] of block.writes) replayed.set(key, value);
      previous = block.hash;
    }
    const state = this.db.prepare('SELECT key, value FROM state').all() as {
      key: string;
      value: string;
    }[];
    const lastBlock = blocks.length;
    for (const { key, value } of state) {
      if (replayed.get(key) !== value) {
        const writer = [...blocks].reverse().find((block) => block.writes.some(([k]) => k === key));
        return {
          ok: false,
          blocks: lastBlock,
          block: writer?.number ?? 0,
          reason: `state key ${key} does not match what the chain wrote`,
        };
      }
    }
    if (state.length !== replayed.size) {
      const present = new Set(state.map((row) => row.key));
      const missing = [...replayed.keys()].find((key) => !present.has(key))!;
      const writer = [...blocks]
        .reverse()
        .find((block) => block.writes.some(([k]) => k === missing));
      return {
        ok: false,
        blocks: lastBlock,
        block: writer?.number ?? 0,
        reason: `state key ${missing} written by the chain is missing`,
      };
    }
    return { ok: true, blocks: blocks.length };
  }

  close(): void {
    this.db.close();
  }

  private serialised<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async run<T>(
    caller: string,
    fn: ContractFunction,
    args: unknown[],
    timestamp: number,
    submit: boolean,
  ): Promise<T> {
    if (!Object.hasOwn(contract, fn)) {
      throw new ContractError('invalid', `unknown contract function ${String(fn)}`);
    }
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
      get: (key) =>
        Promise.resolve(
          writes.get(key) ?? (getRow.get(key) as { value: string } | undefined)?.value,
        ),
      put: (key, value) => {
        if (!submit)
          throw new ContractError('invalid', `${String(fn)} is a query and cannot write`);
        writes.set(key, value);
        return Promise.resolve();
      },
      list: (prefix) => {
        const merged = new Map<string, string>();
        for (const row of listRows.all(prefix, prefix + '\uffff') as {
          key: string;
          value: string;
        }[])
          merged.set(row.key, row.value);
        for (const [key, value] of writes) if (key.startsWith(prefix)) merged.set(key, value);
        return Promise.resolve(
          [...merged.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, value]) => value),
        );
      },
    };
    const head = () =>
      this.db.prepare('SELECT number, hash FROM blocks ORDER BY number DESC LIMIT 1').get() as
        { number: number; hash: string } | undefined;
    const context = (): TransactionContext => ({
      state,
      callerMspId: caller,
      timestamp,
      transactionId: transactionIdOf(head()?.hash ?? GENESIS_HASH, caller, fn, args, timestamp),
      emit: (event) => events.push(event),
    });
    if (!submit) return implementation(context(), ...args);
    // The whole transaction — reads included — runs under SQLite's write lock, so two processes
    // sharing the file cannot interleave a read and a commit.
    this.db.exec('BEGIN IMMEDIATE');
    let block: Block;
    try {
      const result = await implementation(context(), ...args);
      const last = this.db
        .prepare('SELECT number, hash FROM blocks ORDER BY number DESC LIMIT 1')
        .get() as { number: number; hash: string } | undefined;
      const unsigned = {
        number: (last?.number ?? 0) + 1,
        previousHash: last?.hash ?? GENESIS_HASH,
        timestamp,
        caller,
        fn,
        args,
        writes: [...writes.entries()],
        events,
      };
      block = { ...unsigned, hash: blockHash(unsigned) };
      const upsert = this.db.prepare(
        'INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      );
      for (const [key, value] of block.writes) upsert.run(key, value);
      this.db
        .prepare(
          'INSERT INTO blocks (number, previous_hash, timestamp, caller, fn, args, writes, events, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(
          block.number,
          block.previousHash,
          block.timestamp,
          block.caller,
          block.fn,
          JSON.stringify(block.args),
          JSON.stringify(block.writes),
          JSON.stringify(block.events),
          block.hash,
        );
      this.db.exec('COMMIT');
      for (const event of events)
        for (const listener of this.listeners) listener(event, block.number);
      return result;
    } catch (error) {
      this.db.exec('ROLLBACK');
      throw error;
    }
  }
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
export function blockHash(block: Omit<Block, 'hash'>): string {
  const { number, previousHash, timestamp, caller, fn, args, writes, events } = block;
  return createHash('sha256')
    .update(canonicalJson({ number, previousHash, timestamp, caller, fn, args, writes, events }))
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
    fn: row.fn as string,
    args: JSON.parse(row.args as string) as unknown[],
    writes: JSON.parse(row.writes as string) as [string, string][],
    events: JSON.parse(row.events as string) as LedgerEvent[],
    hash: row.hash as string,
  };
}
