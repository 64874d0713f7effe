import { createHash } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { VeilsumError } from './errors.ts';

/**
 * A member's durable record of which update went into which round, so that no update of its
 * own is ever unmasked in two different sums.
 *
 * The attack: a coordinator runs a round, collects the Unmask reveals (so it can compute
 * Σ_{U3} x), then aborts it or never closes it, and re-runs the round without member v. Every
 * other member, retrying with the update it already had, lands in a second sum; the difference
 * of the two sums is x_v exactly. The remedy is on the members that are re-run, not on v: each
 * refuses to put the same update into a second round.
 *
 * What counts as the same:
 * - "Same update" is SHA-256 of the update exactly as the application handed it to the SDK:
 *   the Float32Array's bytes for `participate`, the level array for `participateQuantized`
 *   (tagged apart). Not the quantized levels of a float update: quantization rounds
 *   stochastically, so two runs of the same floats differ in the last level, and the difference
 *   of two sums still gives x_v to within one level — the floats are the update.
 * - "Same model version" is not taken from the round at all: every name a round carries is the
 *   coordinator's choice. It picks the round number when it opens a round (nothing stops it
 *   calling the re-run "round r + 1"), and the model id too — checked against the member's
 *   consent only with a ledger, and even then any model the member consented to would do. So
 *   the journal treats any two rounds as possibly the same model version, and the rule is: one
 *   update in at most one round, ever. It costs an honest member nothing it needs: an update is
 *   trained from one version of one model, so a new version, or another model, means a new
 *   update; a member whose round aborted before any sum could be formed submits a fresh one.
 *   (The model id and round number are kept in the entry, to name the earlier round.)
 *
 * When: the entry is written, durably, before the masked input is uploaded — the first moment
 * the update can end up in a sum, since from then on its neighbours' Unmask reveals unmask it
 * without any further act of this member (refusing only our own Unmask reveals in the second
 * round would not keep our input out of it). It is checked when a round starts and again,
 * atomically, when written. Not even the same round id may be joined again: a member cannot
 * resume a round (every participation draws fresh keys), and a coordinator can open a second
 * round under an id it used before, so a second participation is a second sum.
 *
 * Entries are files named by the update's digest, created with link(2), so two
 * processes of one member sharing the journal cannot both claim an update; a crash leaves
 * either no entry or a whole one.
 */
export interface JournalEntry {
  readonly modelId: string;
  readonly roundNumber: number;
  readonly roundId: string;
  readonly updateSha256: string;
}

export function updateDigest(update: Float32Array | Uint32Array): string {
  const kind = update instanceof Float32Array ? 'f32' : 'u32';
  return createHash('sha256')
    .update(`veilsum/v1/update/${kind}\0`)
    .update(new Uint8Array(update.buffer, update.byteOffset, update.byteLength))
    .digest('hex');
}

export class UnmaskJournal {
  readonly directory: string;

  constructor(directory: string) {
    this.directory = directory;
  }

  /** Refuses when this update already went into a round (any round, the same id included). */
  check(entry: JournalEntry): void {
    const earlier = this.read(this.pathOf(entry));
    if (earlier !== undefined) this.refuse(entry, earlier);
  }

  /**
   * Claims the update for this round, durably, before it can be unmasked; refuses when another
   * round holds it.
   */
  record(entry: JournalEntry): void {
    mkdirSync(this.directory, { recursive: true });
    const path = this.pathOf(entry);
    const temporary = `${path}.${process.pid}.${Date.now()}.partial`;
    const file = openSync(temporary, 'wx');
    try {
      writeSync(file, JSON.stringify({ ...entry, recordedAt: new Date().toISOString() }));
      fsyncSync(file);
    } finally {
      closeSync(file);
    }
    try {
      linkSync(temporary, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      this.refuse(entry, this.read(path));
      return;
    } finally {
      unlinkSync(temporary);
    }
    const directory = openSync(this.directory, 'r');
    try {
      fsyncSync(directory);
    } finally {
      closeSync(directory);
    }
  }

  private pathOf(entry: JournalEntry): string {
    if (!/^[0-9a-f]{64}$/.test(entry.updateSha256))
      throw new Error(`update digest must be 64 hex digits, got ${entry.updateSha256}`);
    return join(this.directory, `${entry.updateSha256}.json`);
  }

  private read(path: string): JournalEntry | 'unreadable' | undefined {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return 'unreadable';
    }
    try {
      return JSON.parse(text) as JournalEntry;
    } catch {
      return 'unreadable';
    }
  }

  private refuse(entry: JournalEntry, earlier: JournalEntry | 'unreadable' | undefined): void {
    const where =
      earlier === undefined || earlier === 'unreadable'
        ? `a round whose journal entry in ${this.directory} cannot be read`
        : `round ${earlier.roundId} (model ${earlier.modelId}, round number ${earlier.roundNumber})`;
    throw new VeilsumError(
      'participate',
      status.FAILED_PRECONDITION,
      `refusing round ${entry.roundId}: this update already went into ${where}; ` +
        'a second sum with it would let the coordinator subtract one sum from the other and learn the ' +
        'inputs of whoever it left out. Submit a fresh update (retrain) for this round',
    );
  }
}
