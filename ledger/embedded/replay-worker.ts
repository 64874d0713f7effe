import type { MessagePort } from 'node:worker_threads';
import { BlockSignatureVerifier } from './block-signature.ts';
import type { BlockRow } from './block.ts';
import { executeTransaction, ReplayState } from './contract-replay.ts';

/**
 * Runs in a worker thread while the opening thread reads the file (two-thread-open.ts): the
 * half of a ledger's first open that must run in block order on one thread — every block's
 * writer certificate, its transaction replayed through the contract, and the signature of each
 * writer certificate's last block. The opening thread checks numbers, links, hashes, times and
 * state rows over the same rows, which it sends here raw, in batches.
 *
 * One signature per writer certificate: every block's certificate is checked (a consortium CA
 * issued it, its subject O is the block's writer, it was valid at the block's time), but only
 * the LAST block of each certificate has its Ed25519 signature verified. That signature is over
 * a hash that chains every earlier block, so it fixes their contents, and an earlier block
 * claiming the same writer can only be that writer's: the writer's own ledger verified every
 * block before it appended the one it signed (EmbeddedLedgerDatabase catches up, block by block,
 * before each transaction) and would have refused one it had not signed. By induction on the
 * order in which the writer signed, whether it verified each signature or, in the same way, the
 * last of each writer. A block claiming a writer that never signed a later one has its own
 * signature verified. Ed25519 verification was two thirds of a first open's CPU (five blocks in
 * six of a consortium's rounds are the coordinator's); this leaves one per writer. A block whose
 * stored signature alone is garbled (the signature is not part of the hash) while its writer
 * signed a later block is therefore accepted on open and reported by `audit verify-chain`,
 * which verifies every signature (chain-verification.ts): its contents are the writer's.
 */
export interface ReplayRequest {
  readonly caCertificatePem: string;
  /** Blocks up to this one are this party's checkpoint: their writes are applied, not replayed. */
  readonly trustedUpTo: number;
}

export type ReplayMessage = { readonly rows: BlockRow[] } | { readonly end: true };

export type ReplayVerdict = { ok: true } | { ok: false; block: number; reason: string };

/** Index of the refusal flag in the shared signal (index 0 says the verdict is posted). */
export const REFUSED_FLAG = 1;

export function replayRows(
  request: ReplayRequest,
  port: MessagePort,
  signal: Int32Array,
): Promise<ReplayVerdict> {
  const verifier = new BlockSignatureVerifier(request.caCertificatePem);
  const state = new ReplayState();
  const lastOfWriter = new Map<string, BlockRow>();
  let refused: ReplayVerdict | undefined;
  const refuse = (block: number, reason: string) => {
    refused = { ok: false, block, reason };
    // The opening thread stops reading at its next batch.
    Atomics.store(signal, REFUSED_FLAG, 1);
  };

  const replayRow = async (row: BlockRow) => {
    const [number, previousHash, timestamp, caller, certificate, fn, args, writes, events] = row;
    if (number <= request.trustedUpTo) {
      for (const [key, value] of JSON.parse(writes) as [string, string][])
        state.set(key, value, number);
      return;
    }
    const signature = row[10];
    const header = { number, caller, timestamp, hash: row[9] };
    const writer = verifier.writerProblem(header, certificate, signature);
    if (writer !== undefined) return refuse(number, writer);
    lastOfWriter.set(certificate!, row);
    const outcome = await executeTransaction(state, {
      previousHash,
      timestamp,
      caller,
      fn,
      args: JSON.parse(args) as unknown[],
    });
    if ('refused' in outcome)
      return refuse(number, `the contract refuses it: ${outcome.refused.message}`);
    // The ledger stores the JSON of what the contract wrote and emitted; anything else (even
    // equal once parsed) is left to the block-by-block check.
    if (JSON.stringify(outcome.writes) !== writes)
      return refuse(number, 'its writes are not what the contract writes');
    if (JSON.stringify(outcome.events) !== events)
      return refuse(number, 'its events are not what the contract emits');
    for (const [key, value] of outcome.writes) state.set(key, value, number);
  };

  const lastSignatures = (): ReplayVerdict => {
    for (const row of lastOfWriter.values()) {
      const [number, , timestamp, caller, certificate] = row;
      const problem = verifier.problem(
        { number, caller, timestamp, hash: row[9] },
        certificate,
        row[10],
      );
      if (problem !== undefined) return { ok: false, block: number, reason: problem };
    }
    return { ok: true };
  };

  return new Promise((resolve) => {
    let work = Promise.resolve();
    port.on('message', (message: ReplayMessage) => {
      work = work
        .then(async () => {
          if ('end' in message) return resolve(refused ?? lastSignatures());
          for (const row of message.rows) {
            if (refused !== undefined) return;
            await replayRow(row);
          }
        })
        .catch((error: unknown) => {
          refuse(0, `the replay failed: ${String(error)}`);
          if ('end' in message) resolve(refused!);
        });
    });
  });
}
