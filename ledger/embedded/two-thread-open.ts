import type Database from 'better-sqlite3';
import {
  type Block,
  blockOfRow,
  type BlockRow,
  inReadTransaction,
  iterateBlockRows,
} from './block.ts';
import {
  type Replay,
  type VerifyOptions,
  type VerifyResult,
  walkChain,
} from './chain-verification.ts';
import { startSyncWorker } from './verify-sync.ts';
import { REFUSED_FLAG, type ReplayRequest, type ReplayVerdict } from './replay-worker.ts';

/**
 * Opening a ledger on both cores: this thread (opening is synchronous for its callers) reads
 * the file once, in one read transaction, checking every block's number, link, hash and time,
 * the checkpoint and the state rows, and builds the state the ledger then serves; it sends the
 * same rows raw to a worker thread (replay-worker.ts) that checks writers' certificates and
 * signatures and replays every transaction through the contract. Both see the same bytes, so
 * the checks split between them are the checks of one chain.
 *
 * Only the answer "it verifies" is taken from here: for anything else this returns undefined
 * and the caller verifies block by block (chain-verification.ts), which names the first problem
 * exactly as before. It never accepts what that check refuses, except a garbled signature on a
 * block whose writer signed a later one (replay-worker.ts says why that is sound).
 */
const BATCH_ROWS = 512;

export function verifyInTwoThreads(
  db: Database.Database,
  caCertificatePem: string,
  options: VerifyOptions,
): { result: VerifyResult; replay: Replay } | undefined {
  const worker = startSyncWorker<ReplayRequest, ReplayVerdict>(
    new URL('./replay-worker.ts', import.meta.url),
    'replayRows',
    { caCertificatePem, trustedUpTo: options.trusted?.number ?? 0 },
    1, // REFUSED_FLAG
  );
  try {
    let refused = false;
    let batch: BlockRow[] = [];
    const send = () => {
      if (batch.length > 0) worker.port.postMessage({ rows: batch });
      batch = [];
    };
    function* blocks(): Generator<Block> {
      for (const row of iterateBlockRows(db, 0)) {
        batch.push(row);
        if (batch.length === BATCH_ROWS) {
          send();
          if (Atomics.load(worker.signal, REFUSED_FLAG) !== 0) {
            refused = true;
            return;
          }
        }
        yield blockOfRow(row);
      }
    }
    const walked = inReadTransaction(db, () => {
      const { count } = db.prepare('SELECT COUNT(*) AS count FROM blocks').get() as {
        count: number;
      };
      const walk = walkChain(
        {
          blocks: blocks(),
          blockCount: count,
          stateRows: () =>
            db.prepare('SELECT key, value FROM state').all() as { key: string; value: string }[],
        },
        options,
      );
      // The contract's half is the worker's: every block is answered "no problem" here.
      let step = walk.next();
      while (!step.done) step = walk.next(undefined);
      return step.value;
    });
    if (refused || !walked.result.ok) return undefined;
    send();
    worker.port.postMessage({ end: true });
    try {
      return worker.answer('replaying the ledger').ok ? walked : undefined;
    } catch {
      // The worker failed (not the chain): the block-by-block check decides.
      return undefined;
    }
  } finally {
    worker.stop();
  }
}
