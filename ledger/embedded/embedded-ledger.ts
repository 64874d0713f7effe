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
import {
  type Block,
  blockHash,
  LEDGER_FORMAT_VERSION,
  ledgerFormatVersion,
  oldFormatHint,
  openDatabase,
  readBlocks,
} from './block.ts';
import {
  appendedBlockProblem,
  notExtending,
  readSnapshot,
  type Replay,
  stateMismatch,
  type VerifyOptions,
  type VerifyResult,
  verifyChainWithoutReplay,
} from './chain-verification.ts';
import { ReplayState, transactionIdOf } from './contract-replay.ts';
import { LedgerRolledBackError, LedgerTamperedError } from './ledger-errors.ts';
import { type LedgerHead, readCheckpoint, writeCheckpoint } from './ledger-head.ts';
import { verifyInTwoThreads } from './two-thread-open.ts';
import { verifyInWorker } from './verify-sync.ts';

export { ledgerWriter, type LedgerWriter } from './block-signature.ts';
export { type Block, blockHash } from './block.ts';
export type { VerifyResult } from './chain-verification.ts';
export { LedgerRolledBackError, LedgerTamperedError } from './ledger-errors.ts';
export type { LedgerHead } from './ledger-head.ts';

/**
 * The default ledger for one machine: the contract runs in-process against a SQLite file. Every
 * submitted transaction becomes a block (its writer, function, arguments, time, writes and
 * events) hash-chained to the previous one and signed by the writer's certificate key
 * (block-signature.ts). The ledger is a replicated state machine of the contract: a block counts
 * only if replaying its transaction through the contract, as its signer and at its time, writes
 * and emits exactly what the block records (contract-replay.ts). The state table is only a cache
 * of what the blocks wrote. The file is verified when it is opened (every link, hash, signature,
 * transaction and state row; a tampered file is refused with LedgerTamperedError naming the
 * first bad block or row), every block another process appends is verified and replayed before
 * it is used, and every state row a transaction reads — and, on each append, the whole state
 * table — must equal the replayed state. Once tampering is seen, this handle refuses every
 * further transaction.
 *
 * Rollback: with a checkpoint file (`EmbeddedLedgerOptions.checkpoint`) the handle records the
 * last head it verified and refuses a file that does not extend it (LedgerRolledBackError naming
 * both heads); a later open re-verifies only the blocks after that head in full (the earlier
 * ones must still hash-chain to it). What stays possible: whoever owns the file can show a
 * party that never saw a later head a shorter or different branch (a fork shown only to someone
 * who never saw the other one); members guard against that with Fabric, not with this file.
 */
export interface EmbeddedLedgerOptions {
  /**
   * This party's checkpoint file: the last head it verified. Read when the ledger is opened (the
   * file must extend it) and rewritten whenever this handle verifies a newer head.
   */
  readonly checkpoint?: string;
  /**
   * Check every block's signature when opening, not only each writer certificate's last one
   * (which covers the earlier blocks through the hash chain). An auditor's tool needs it: a
   * block whose stored signature alone was garbled opens otherwise, and evidence exported from
   * it would fail `audit verify-bundle` as if its writer had altered it.
   */
  readonly everySignature?: boolean;
}

export class EmbeddedLedgerDatabase {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly caCertificatePem: string;
  private readonly verifier: BlockSignatureVerifier;
  private readonly checkpoint: string | undefined;
  private readonly listeners = new Set<(event: LedgerEvent, block: number) => void>();
  /** Transactions run one at a time, like an ordering service: no lost updates. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly replay: Replay;
  private tampered: LedgerTamperedError | undefined;

  /**
   * Opens (or creates) the ledger file and verifies it against `caCertificatePem`, the
   * consortium CA that issues writers' certificates, replaying every transaction through the
   * contract; throws LedgerTamperedError if it does not verify, LedgerRolledBackError if it does
   * not extend the head in `options.checkpoint`.
   */
  constructor(
    path: string,
    caCertificatePem: string | Buffer,
    options: EmbeddedLedgerOptions = {},
  ) {
    this.path = path;
    this.caCertificatePem = caCertificatePem.toString();
    this.verifier = new BlockSignatureVerifier(caCertificatePem);
    this.checkpoint = options.checkpoint;
    this.db = openDatabase(path);
    let trusted: LedgerHead | undefined;
    try {
      trusted = this.checkpoint === undefined ? undefined : readCheckpoint(this.checkpoint, path);
      const file = { path, caCertificatePem: this.caCertificatePem, withState: true };
      const verified = verifyFile(this.db, file, trusted === undefined ? {} : { trusted }, {
        everySignature: options.everySignature === true,
      });
      let { result } = verified;
      if (!result.ok && result.rolledBack) {
        // A different branch may hide a forged or re-signed block: name it if there is one.
        const full = verifyFile(this.db, file, { anchor: trusted! }).result;
        if (!full.ok && !full.rolledBack) result = full;
      }
      const { replay } = verified;
      if (!result.ok)
        throw result.rolledBack
          ? new LedgerRolledBackError(path, trusted!, result.reason)
          : new LedgerTamperedError(
              path,
              result.block,
              result.reason,
              oldFormatHint(this.db, path),
            );
      // Verified in full by this version: the file is of the current format.
      if (ledgerFormatVersion(this.db) < LEDGER_FORMAT_VERSION)
        this.db.pragma(`user_version = ${LEDGER_FORMAT_VERSION}`);
      this.replay = replay;
    } catch (error) {
      this.db.close();
      throw error;
    }
    this.recordHead(trusted);
  }

  /**
   * Verifies a ledger file without refusing it: what `audit verify-chain` reports. With `anchor`
   * (a head verified before, e.g. a checkpoint or a signed head), the file must also extend it.
   */
  static inspect(
    path: string,
    caCertificatePem: string | Buffer,
    anchor?: LedgerHead,
  ): VerifyResult {
    return EmbeddedLedgerDatabase.inspectWithHead(path, caCertificatePem, anchor).result;
  }

  /** As `inspect`, with the head the verification reached. */
  static inspectWithHead(
    path: string,
    caCertificatePem: string | Buffer,
    anchor?: LedgerHead,
  ): { result: VerifyResult; head: LedgerHead } {
    const db = openDatabase(path, true);
    try {
      const { result, replay } = verifyFile(
        db,
        { path, caCertificatePem: caCertificatePem.toString(), withState: false },
        anchor === undefined ? {} : { anchor },
      );
      if (!result.ok && !result.rolledBack)
        return {
          result: { ...result, reason: result.reason + oldFormatHint(db, path) },
          head: replay.head,
        };
      return { result, head: replay.head };
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
      head: () => this.head(),
      holds: (head) => this.holds(head),
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
      head: () => this.head(),
      holds: (head) => this.holds(head),
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

  /** The last head verified, after verifying whatever was appended since. */
  head(): Promise<LedgerHead> {
    return this.serialised(async () => {
      this.db.exec('BEGIN');
      try {
        await this.catchUp();
      } finally {
        this.db.exec('COMMIT');
      }
      return { ...this.replay.head };
    });
  }

  /** The last head this handle verified or wrote, without reading the file. */
  get verifiedHead(): LedgerHead {
    return { ...this.replay.head };
  }

  /**
   * Whether the chain this handle verified holds `head` — after verifying what was appended
   * since: 'behind' when it ends before that block, 'differs' when its block there is another.
   */
  holds(head: LedgerHead): Promise<'holds' | 'behind' | 'differs'> {
    return this.serialised(async () => {
      this.db.exec('BEGIN');
      try {
        await this.catchUp();
        if (head.number > this.replay.head.number) return 'behind';
        if (head.number === 0) return 'holds';
        const row = this.db.prepare('SELECT hash FROM blocks WHERE number = ?').get(head.number) as
          { hash: string } | undefined;
        return row?.hash === head.hash ? 'holds' : 'differs';
      } finally {
        this.db.exec('COMMIT');
      }
    });
  }

  /**
   * Blocks after `number`, each verified (hash, link, signature, its transaction replayed through
   * the contract) before it is returned, including blocks other processes appended since this
   * handle last looked: what a reader that follows the ledger (the console) consumes.
   */
  verifiedBlocksAfter(number: number): Promise<Block[]> {
    return this.serialised(async () => {
      this.db.exec('BEGIN');
      try {
        await this.catchUp();
        return readBlocks(this.db, number).filter(
          (block) => block.number <= this.replay.head.number,
        );
      } finally {
        this.db.exec('COMMIT');
      }
    });
  }

  /**
   * Recomputes every block hash, link and signature, replays every transaction through the
   * contract, compares the state; with a checkpoint, also that the file extends its head.
   */
  verify(): VerifyResult {
    const anchor =
      this.checkpoint === undefined ? undefined : readCheckpoint(this.checkpoint, this.path);
    return EmbeddedLedgerDatabase.inspect(this.path, this.caCertificatePem, anchor);
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

  /** Writes the verified head to this party's checkpoint when it moved past `recorded`. */
  private recordHead(recorded: LedgerHead | undefined): void {
    if (this.checkpoint === undefined) return;
    const { head } = this.replay;
    if (recorded?.number === head.number && recorded.hash === head.hash) return;
    writeCheckpoint(this.checkpoint, this.path, head);
  }

  /**
   * Brings the verified replay up to the file's last block: checks that the last verified block
   * is unchanged and verifies, and replays through the contract, each block appended since (by
   * any process) before applying it.
   */
  private async catchUp(): Promise<void> {
    if (this.tampered) throw this.tampered;
    const before = { ...this.replay.head };
    if (before.number > 0) {
      const row = this.db.prepare('SELECT hash FROM blocks WHERE number = ?').get(before.number) as
        { hash: string } | undefined;
      if (row?.hash !== before.hash) {
        const last = this.db
          .prepare('SELECT number, hash FROM blocks ORDER BY number DESC LIMIT 1')
          .get() as LedgerHead | undefined;
        this.tampered = new LedgerRolledBackError(
          this.path,
          before,
          notExtending(
            before,
            row === undefined
              ? (last ?? { number: 0, hash: '' })
              : { number: before.number, hash: row.hash },
          ),
        );
        throw this.tampered;
      }
    }
    for (const block of readBlocks(this.db, before.number)) {
      const reason = await appendedBlockProblem(this.replay, block, this.verifier);
      if (reason !== undefined) this.refuse(block.number, reason);
    }
    this.recordHead(before);
  }

  /** The whole state table against the replay (on each append). */
  private checkAllState(): void {
    const rows = this.db.prepare('SELECT key, value FROM state').all() as {
      key: string;
      value: string;
    }[];
    const mismatch = stateMismatch(rows, this.replay);
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
    givenArgs: unknown[],
    clock: number,
    writer: LedgerWriter | undefined,
  ): Promise<T> {
    if (!Object.hasOwn(contract, fn)) {
      throw new ContractError('invalid', `unknown contract function ${String(fn)}`);
    }
    // The contract sees the arguments exactly as the block records them (JSON), so replaying
    // the block runs the same transaction.
    const args = JSON.parse(JSON.stringify(givenArgs ?? [])) as unknown[];
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
        for (const key of this.replay.state.keysWithPrefix(prefix))
          if (!merged.has(key)) this.checkedRow(key, undefined);
        for (const [key, value] of writes) if (key.startsWith(prefix)) merged.set(key, value);
        return Promise.resolve(
          [...merged.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, value]) => value),
        );
      },
    };
    // The transaction's time: the writer's clock, but never before the last block's (read once
    // the chain is caught up, when the context is made).
    let timestamp = clock;
    const context = (): TransactionContext => ({
      state,
      callerMspId: caller,
      timestamp: (timestamp = Math.max(clock, this.replay.lastTimestamp)),
      transactionId: transactionIdOf(this.replay.head.hash, caller, fn, args, timestamp),
      emit: (event) => events.push(event),
    });
    if (!submit) {
      // One read snapshot: the blocks verified and the rows read are of the same moment.
      this.db.exec('BEGIN');
      try {
        await this.catchUp();
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
      await this.catchUp();
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
    const before = { ...this.replay.head };
    for (const [key, value] of block.writes) this.replay.state.set(key, value, block.number);
    this.replay.head = { number: block.number, hash: block.hash };
    this.replay.lastTimestamp = block.timestamp;
    this.recordHead(before);
    for (const event of events)
      for (const listener of this.listeners) listener(event, block.number);
    return result;
  }
}

/**
 * Verifies the file: here when no block needs its transaction replayed (nothing after the
 * trusted head), else in a worker thread, since the contract is async and opening is not.
 */
function verifyFile(
  db: Database.Database,
  file: { path: string; caCertificatePem: string; withState: boolean },
  options: VerifyOptions,
  { everySignature }: { readonly everySignature: boolean } = { everySignature: false },
): { result: VerifyResult; replay: Replay } {
  const after = options.trusted?.number ?? 0;
  const pending = db
    .prepare('SELECT COUNT(*) AS count FROM blocks WHERE number > ?')
    .get(after) as {
    count: number;
  };
  if (pending.count === 0) {
    const verified = verifyChainWithoutReplay(readSnapshot(db), options);
    if (verified !== undefined) return verified;
  }
  // Opening: on both cores, one signature per writer (two-thread-open.ts), when the chain
  // verifies; else, and for an auditor (inspect), block by block, naming the first problem.
  if (file.withState && !everySignature) {
    const verified = verifyInTwoThreads(db, file.caCertificatePem, options);
    if (verified !== undefined) return verified;
  }
  const { result, head, lastTimestamp, state } = verifyInWorker({ ...file, options });
  return { result, replay: { head, lastTimestamp, state: ReplayState.fromEntries(state) } };
}
