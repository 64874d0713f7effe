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
 * What counts as the same — two names, each claimed once:
 * - The training slot (`trainedFrom`): what the application computed the update from — the
 *   digest of the global model version it trained from (and, if it keeps them apart, of the data
 *   snapshot). The bytes of an update cannot name it: the same training run again (another GPU,
 *   a re-serialised checkpoint, float64 → float32 twice) gives an update a few ulps away, another
 *   digest, and the same levels ±1 — and the difference of two sums gives x_v to within one
 *   level, all the attack needs. What such a near copy shares with the first is what it was
 *   trained from, which only the member's application knows: the coordinator chooses round ids,
 *   numbers and model ids, never this. A legitimate next round trains from the model version the
 *   last round produced, a new slot; a re-run of the same slot is refused. Without `trainedFrom`
 *   only exact copies are caught (the application's choice, said in ParticipateOptions).
 * - The update itself: SHA-256 of the update exactly as the application handed it to the SDK:
 *   the Float32Array's bytes for `participate`, the level array for `participateQuantized`
 *   (tagged apart), so an exact copy is refused whatever slot it is given.
 * - Neither name is taken from the round: every name a round carries is the coordinator's
 *   choice. It picks the round number when it opens a round (nothing stops it calling the re-run
 *   "round r + 1"), and the model id too — checked against the member's consent only with a
 *   ledger, and even then any model the member consented to would do; the contract does not make
 *   (model id, round number) unique either. So the rule is: one update, and one training slot,
 *   in at most one round, ever. It costs an honest member nothing it needs: each round trains
 *   from a new model version. A round that aborted after this member's upload leaves its slot
 *   spent — a sum may have been formed — so the member waits for the next model version.
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
 * Entries are files named by the update's digest (and `slot-` and the slot's digest), created
 * with link(2), so two processes of one member sharing the journal cannot both claim an update or
 * a slot; a crash leaves either no entry or a whole one (a slot claimed for an update that then
 * was refused is given back; a crash between the two leaves the slot claimed, which only errs on
 * the side of refusing).
 */
export interface JournalEntry {
  readonly modelId: string;
  readonly roundNumber: number;
  readonly roundId: string;
  readonly updateSha256: string;
  /** The training slot: what the update was computed from (see above); absent, only bytes count. */
  readonly trainedFrom?: string;
  /**
   * Other names of the same update, each checked and claimed like `updateSha256`: a quantized
   * update is named by its floats' digest and by its levels' digest, so the same levels shown
   * with other floats (a few ulps away) or with none are still the same update.
   */
  readonly alsoNamed?: readonly string[];
}

/**
 * The bytes of a typed array, read through the intrinsic %TypedArray% getters: a subclass (or an
 * own property) overriding `buffer`, `byteOffset` or `byteLength` cannot point a digest at other
 * bytes than its elements, which indexed reads always take from the array's own storage.
 */
export function ownBytes(view: Float32Array | Uint32Array): Uint8Array {
  return new Uint8Array(
    TYPED_ARRAY_BUFFER.call(view) as ArrayBuffer,
    TYPED_ARRAY_BYTE_OFFSET.call(view) as number,
    TYPED_ARRAY_BYTE_LENGTH.call(view) as number,
  );
}

/** The intrinsic element count of a typed array (a subclass's `length` getter is not asked). */
export function ownLength(view: Float32Array | Uint32Array): number {
  return TYPED_ARRAY_LENGTH.call(view) as number;
}

const intrinsicGetter = (name: string): ((this: unknown) => unknown) => {
  const descriptor = Object.getOwnPropertyDescriptor(
    Object.getPrototypeOf(Uint8Array.prototype) as object,
    name,
  )!;
  return (descriptor as { get: (this: unknown) => unknown }).get;
};
const TYPED_ARRAY_BUFFER = intrinsicGetter('buffer');
const TYPED_ARRAY_BYTE_OFFSET = intrinsicGetter('byteOffset');
const TYPED_ARRAY_BYTE_LENGTH = intrinsicGetter('byteLength');
const TYPED_ARRAY_LENGTH = intrinsicGetter('length');

export function updateDigest(update: Float32Array | Uint32Array): string {
  return updateDigestOf(update instanceof Float32Array ? 'f32' : 'u32', [ownBytes(update)]);
}

/** `updateDigest` of an update read in slices (its bytes in order), e.g. from a file. */
export function updateDigestOf(kind: 'f32' | 'u32', slices: Iterable<Uint8Array>): string {
  const digest = createHash('sha256').update(`veilsum/v1/update/${kind}\0`);
  for (const slice of slices) digest.update(slice);
  return digest.digest('hex');
}

export class UnmaskJournal {
  readonly directory: string;

  constructor(directory: string) {
    this.directory = directory;
  }

  /**
   * Refuses when this update, or another from the same training slot, already went into a round
   * (any round, the same id included).
   */
  check(entry: JournalEntry): void {
    const slot = this.slotPathOf(entry);
    const earlierSlot = slot === undefined ? undefined : this.read(slot);
    if (earlierSlot !== undefined) this.refuse(entry, earlierSlot, 'slot');
    for (const path of this.pathsOf(entry)) {
      const earlier = this.read(path);
      if (earlier !== undefined) this.refuse(entry, earlier, 'update');
    }
  }

  /**
   * Claims the update for this round, durably, before it can be unmasked; refuses when another
   * round holds it.
   */
  record(entry: JournalEntry): void {
    mkdirSync(this.directory, { recursive: true });
    const paths = this.pathsOf(entry);
    const slot = this.slotPathOf(entry);
    const temporary = `${paths[0]!}.${process.pid}.${Date.now()}.partial`;
    const file = openSync(temporary, 'wx');
    try {
      writeSync(file, JSON.stringify({ ...entry, recordedAt: new Date().toISOString() }));
      fsyncSync(file);
    } finally {
      closeSync(file);
    }
    try {
      if (slot !== undefined) this.claim(temporary, slot, entry, 'slot');
      // Every name of the update, or none: a name taken by another round gives back the others.
      const claimed: string[] = [];
      try {
        for (const path of paths) {
          this.claim(temporary, path, entry, 'update');
          claimed.push(path);
        }
      } catch (error) {
        for (const path of claimed) unlinkSync(path);
        if (slot !== undefined) unlinkSync(slot);
        throw error;
      }
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

  /** Links the written entry under `path`; refuses when another round holds that name. */
  private claim(temporary: string, path: string, entry: JournalEntry, kind: 'slot' | 'update') {
    try {
      linkSync(temporary, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      this.refuse(entry, this.read(path), kind);
    }
  }

  private slotPathOf(entry: JournalEntry): string | undefined {
    if (entry.trainedFrom === undefined) return undefined;
    if (entry.trainedFrom.length === 0)
      throw new Error('trainedFrom must name what the update was trained from, got ""');
    const digest = createHash('sha256')
      .update('veilsum/v1/training-slot\0')
      .update(entry.trainedFrom)
      .digest('hex');
    return join(this.directory, `slot-${digest}.json`);
  }

  /** One entry file per name of the update (`updateSha256` first, then `alsoNamed`). */
  private pathsOf(entry: JournalEntry): string[] {
    const names = [...new Set([entry.updateSha256, ...(entry.alsoNamed ?? [])])];
    for (const name of names)
      if (!/^[0-9a-f]{64}$/.test(name))
        throw new Error(`update digest must be 64 hex digits, got ${name}`);
    return names.map((name) => join(this.directory, `${name}.json`));
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

  private refuse(
    entry: JournalEntry,
    earlier: JournalEntry | 'unreadable' | undefined,
    kind: 'slot' | 'update',
  ): never {
    const where =
      earlier === undefined || earlier === 'unreadable'
        ? `a round whose journal entry in ${this.directory} cannot be read`
        : `round ${earlier.roundId} (model ${earlier.modelId}, round number ${earlier.roundNumber})`;
    const what =
      kind === 'update'
        ? 'this update already went into'
        : `an update trained from ${entry.trainedFrom} already went into`;
    const remedy =
      kind === 'update'
        ? 'Submit a fresh update (retrain) for this round'
        : 'Train from the model version the last completed round produced';
    throw new VeilsumError(
      'participate',
      status.FAILED_PRECONDITION,
      `refusing round ${entry.roundId}: ${what} ${where}; ` +
        'a second sum with it would let the coordinator subtract one sum from the other and learn the ' +
        `inputs of whoever it left out. ${remedy}`,
    );
  }
}
