import type Database from 'better-sqlite3';
import type { BlockSignatureVerifier } from './block-signature.ts';
import {
  type Block,
  blockHash,
  describeHead,
  GENESIS_HASH,
  inReadTransaction,
  type LedgerHead,
  readBlocks,
} from './block.ts';
import { replayProblem, ReplayState } from './contract-replay.ts';

/**
 * Verifying the embedded chain from genesis: every block's number, link, hash and writer
 * signature, then its transaction replayed through the contract (contract-replay.ts), then the
 * state table against the replayed state. Optionally against a head verified before:
 *
 *   - `anchor`: the chain must extend it (block `anchor.number` has hash `anchor.hash`);
 *     otherwise it was truncated, rolled back or forked.
 *   - `trusted`: this party's own checkpoint. Blocks up to it hash-chain to a head this party
 *     already verified in full, so their signatures and transactions are not checked again
 *     (their hashes and links are: a changed block no longer chains to the trusted hash).
 */
export type VerifyResult =
  | { ok: true; blocks: number }
  | { ok: false; blocks: number; block: number; reason: string; rolledBack?: true };

export interface Replay {
  head: { number: number; hash: string };
  /** The last block's time: a block is never dated before its predecessor. */
  lastTimestamp: number;
  /** Each key's value and the block that last wrote it. */
  state: ReplayState;
}

/** The blocks and state rows of one read snapshot of the file. */
export interface ChainSnapshot {
  readonly blocks: Block[];
  readonly stateRows: { key: string; value: string }[];
}

export function readSnapshot(db: Database.Database): ChainSnapshot {
  return inReadTransaction(db, () => ({
    blocks: readBlocks(db, 0),
    stateRows: db.prepare('SELECT key, value FROM state').all() as { key: string; value: string }[],
  }));
}

export interface VerifyOptions {
  readonly anchor?: LedgerHead;
  readonly trusted?: LedgerHead;
}

type Verified = { result: VerifyResult; replay: Replay };

/**
 * How many blocks ahead of the replay their signatures are being verified: enough to keep every
 * thread of the pool busy while the contract replays on this one.
 */
const SIGNATURES_AHEAD = 1024;

/**
 * Verifies the chain block by block, replaying every block after the trusted head through the
 * contract and verifying its signature: what `audit verify-chain` does, and what names the first
 * problem of a file that opening it (two-thread-open.ts, which verifies only each writer's last
 * signature) did not accept.
 */
export async function verifyChain(
  snapshot: ChainSnapshot,
  verifier: BlockSignatureVerifier,
  options: VerifyOptions = {},
): Promise<Verified> {
  // Every block after the trusted head has its signature checked and its transaction replayed,
  // in block order, and the first problem names its block. The signatures (most of the work)
  // are verified on the thread pool, ahead of the replay, which runs here in order.
  const trustedUpTo = options.trusted?.number ?? 0;
  const { blocks } = snapshot;
  const signatures = new Map<number, Promise<string | undefined>>();
  const verify = (block: Block) =>
    verifier.problemAsync(block, block.certificate || null, block.signature || null);
  let next = blocks.findIndex((block) => block.number > trustedUpTo);
  if (next < 0) next = blocks.length;
  const startAhead = (upTo: number) => {
    for (; next < blocks.length && next <= upTo; next++) {
      const block = blocks[next]!;
      signatures.set(block.number, verify(block));
    }
  };
  const walk = walkChain(sourceOf(snapshot), options);
  let step = walk.next();
  let index = next;
  while (!step.done) {
    const [state, block] = step.value;
    // walkChain yields the blocks in file order, each once.
    while (index < blocks.length && blocks[index] !== block) index++;
    startAhead(index + SIGNATURES_AHEAD);
    const signed = signatures.get(block.number);
    signatures.delete(block.number);
    const problem = (await (signed ?? verify(block))) ?? (await replayProblem(state, block));
    step = walk.next(problem);
  }
  // Signature checks started for blocks after a refused one are not awaited: settle them.
  for (const pending of signatures.values()) void pending.catch(() => undefined);
  return step.value;
}

/**
 * As verifyChain when no block needs its signature and transaction checked (an empty file, or
 * one that ends at the trusted head): undefined when one does, to be verified by verifyChain.
 */
export function verifyChainWithoutReplay(
  snapshot: ChainSnapshot,
  options: VerifyOptions = {},
): Verified | undefined {
  const step = walkChain(sourceOf(snapshot), options).next();
  return step.done ? step.value : undefined;
}

/** The blocks of a chain in file order (read as they are walked, or all read before) and its state rows. */
export interface ChainSource {
  readonly blocks: Iterable<Block>;
  readonly blockCount: number;
  /** Read after the blocks, in the same read snapshot. */
  stateRows(): { key: string; value: string }[];
}

function sourceOf(snapshot: ChainSnapshot): ChainSource {
  return {
    blocks: snapshot.blocks,
    blockCount: snapshot.blocks.length,
    stateRows: () => snapshot.stateRows,
  };
}

/**
 * The verification loop: numbers, links, hashes and times of every block; yields each block
 * after the trusted head, whose signature and transaction the caller checks (it sends back the
 * problem, or undefined).
 */
export function* walkChain(
  source: ChainSource,
  options: VerifyOptions,
): Generator<[ReplayState, Block], Verified, string | undefined> {
  const { blocks, blockCount } = source;
  const replay: Replay = {
    head: { number: 0, hash: GENESIS_HASH },
    lastTimestamp: 0,
    state: new ReplayState(),
  };
  const anchor = options.anchor ?? options.trusted;
  const trustedUpTo = options.trusted?.number ?? 0;
  const fail = (block: number, reason: string, rolledBack = false): Verified => ({
    result: {
      ok: false as const,
      blocks: blockCount,
      block,
      reason,
      ...(rolledBack ? { rolledBack: true as const } : {}),
    },
    replay,
  });
  for (const block of blocks) {
    const structural = linkProblem(block, replay);
    if (structural !== undefined) return fail(block.number, structural);
    if (anchor !== undefined && block.number === anchor.number && block.hash !== anchor.hash)
      return fail(anchor.number, notExtending(anchor, block), true);
    if (block.number > trustedUpTo) {
      const problem = timeProblem(block) ?? (yield [replay.state, block]);
      if (problem !== undefined) return fail(block.number, problem);
    }
    apply(replay, block);
  }
  if (anchor !== undefined && replay.head.number < anchor.number)
    return fail(anchor.number, notExtending(anchor, replay.head), true);
  const mismatch = stateMismatch(source.stateRows(), replay);
  if (mismatch !== undefined) return fail(mismatch.block, mismatch.reason);
  return { result: { ok: true, blocks: blockCount }, replay };
}

/** Checks one block appended after `replay.head` and applies it; returns why it is refused. */
export async function appendedBlockProblem(
  replay: Replay,
  block: Block,
  verifier: BlockSignatureVerifier,
): Promise<string | undefined> {
  const problem =
    linkProblem(block, replay) ??
    timeProblem(block) ??
    verifier.problem(block, block.certificate || null, block.signature || null) ??
    (await replayProblem(replay.state, block));
  if (problem === undefined) apply(replay, block);
  return problem;
}

export function apply(replay: Replay, block: Block): void {
  for (const [key, value] of block.writes) replay.state.set(key, value, block.number);
  replay.head = { number: block.number, hash: block.hash };
  replay.lastTimestamp = block.timestamp;
}

export function notExtending(verified: LedgerHead, found: LedgerHead): string {
  return `it does not extend the head verified before, ${describeHead(verified)}: ${
    found.number < verified.number
      ? `its head is ${found.number === 0 ? 'empty (no blocks)' : describeHead(found)} — blocks were dropped or an older copy restored`
      : `its ${describeHead(found)} is another block — a different branch`
  }`;
}

/**
 * How far ahead of the verifier's clock a block may be dated. The contract's time is the
 * writer's; blocks are never dated before their predecessor (the ledger takes the later of the
 * writer's clock and the last block's time), so a block dated far ahead would drag every later
 * block's time with it.
 */
export const MAX_BLOCK_CLOCK_SKEW_MS = 5 * 60_000;

function timeProblem(block: Block): string | undefined {
  if (!Number.isSafeInteger(block.timestamp) || block.timestamp < 0)
    return `block ${block.number} carries no time`;
  if (block.timestamp > Date.now() + MAX_BLOCK_CLOCK_SKEW_MS)
    return `block ${block.number} is dated ${new Date(block.timestamp).toISOString()}, in the future`;
  return undefined;
}

function linkProblem(block: Block, replay: Replay): string | undefined {
  const previous = replay.head;
  if (block.number !== previous.number + 1)
    return `block numbers jump from ${previous.number} to ${block.number}`;
  if (block.previousHash !== previous.hash)
    return `block ${block.number} does not link to block ${previous.number}: previous hash differs`;
  if (blockHash(block) !== block.hash)
    return `block ${block.number}'s contents do not match its hash`;
  if (block.timestamp < replay.lastTimestamp)
    return `block ${block.number} is dated before block ${previous.number}: ${new Date(block.timestamp).toISOString()} < ${new Date(replay.lastTimestamp).toISOString()}`;
  return undefined;
}

/** The first state row (in key order) that differs from the replay, and the block to blame. */
export function stateMismatch(
  rows: { key: string; value: string }[],
  replay: Replay,
): { block: number; reason: string } | undefined {
  const sorted = [...rows].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const { key, value } of sorted) {
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
    for (const [missing, { block }] of replay.state.entries())
      if (!present.has(missing))
        return { block, reason: `state key ${missing} written by the chain is missing` };
  }
  return undefined;
}
