import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { Mode, Phase, type Round } from '../../proto/gen/veilsum/v1/round.ts';
import { UpdateState } from '../../proto/gen/veilsum/v1/member.ts';
import type { Ledger } from '../../ledger/ledger.ts';
import { clippingReport, clippingWarning, type ClippingReport } from '../../sdk/clipping-report.ts';
import { UnmaskJournal, updateDigest } from '../../sdk/unmask-journal.ts';
import type { Progress, VeilsumClient } from '../../sdk/veilsum-client.ts';
import type { MemberMetrics } from './metrics.ts';
import { countUpdateBytes } from './young-garbage.ts';
import { digestsOfSlices, prepareSecAgg, type PreparedSecAggUpdate } from './prepared-update.ts';
import { FINAL_STATES, type QueuedRecord, type UpdateQueue } from './update-queue.ts';

/** Phases in which a round still takes a member that has not joined yet. */
export const JOINABLE_PHASES: readonly Phase[] = [
  Phase.PHASE_ADVERTISE_KEYS,
  Phase.PHASE_COLLECTING,
];

/** A round as the peer last saw it. */
export interface RoundView {
  readonly phase: Phase;
  /** Who the round waits for in this phase, and why if the coordinator knows. */
  readonly missing: readonly { readonly memberId: string; readonly reason: string }[];
}

export interface FollowerOptions {
  readonly queue: UpdateQueue;
  readonly client: VeilsumClient;
  readonly memberId: string;
  readonly journalDirectory: string;
  readonly ledger: Ledger | undefined;
  readonly expectedKeySha256: Uint8Array | undefined;
  readonly pollIntervalMs: number;
  /**
   * While the ledger's events wake the follower (`eventsLive`), queued updates look for rounds
   * on the coordinator only this often, in case an event was missed (an update in a round is
   * still followed every pollIntervalMs). After an event (or a new update) the next
   * FAST_POLLS_AFTER_KICK ticks list rounds at pollIntervalMs: on Fabric the bank's peer can
   * commit a round's block before the coordinator lists the round.
   */
  readonly fallbackPollMs?: number;
  /** Whether round events from the bank's ledger view currently arrive (RoundEvents.live). */
  readonly eventsLive?: () => boolean;
  readonly logger: Logger;
  readonly metrics: MemberMetrics;
}

/**
 * The queued file must still hold what the caller sent and the peer acknowledged (the header's
 * SHA-256, checked at submission): a file changed on disk since (a restored backup, a disk error,
 * another process) is never quantized and uploaded in the caller's name.
 */
function requireUnchanged(record: QueuedRecord, payloadSha256: string): void {
  if (payloadSha256 !== record.sha256)
    throw new Error(
      `its file on disk no longer matches the SHA-256 acknowledged at submission (${record.sha256}, now ${payloadSha256}): submit the update again`,
    );
}

/**
 * Timer ticks that still list rounds at pollIntervalMs after a kick (a ledger event or a new
 * update), before polling slows to the fallback. Kicks themselves are coalesced: one lists at
 * once only when the last listing is at least pollIntervalMs old, otherwise the next timer tick
 * lists for it; so a stream of events (which the coordinator can commit at will) costs at most
 * one listing per interval beside the timer's, as polling without events does.
 */
const FAST_POLLS_AFTER_KICK = 5;

/** At most this many absent members are kept per round for WatchUpdate (a roster's size). */
const MAX_MISSING_SHOWN = 1_000;

/**
 * Follows the coordinator's rounds that list the bank and takes part in each with a queued
 * update: the model's oldest update queued for it (or for that round by id), after the bank's
 * own checks (consent on its ledger view; its policy, checked by the SDK). Restarted, it settles
 * what a crash interrupted: an update whose round may hold it (its re-run journal entry exists,
 * written before the upload) is followed to the round's end; one that never left is dropped
 * from the round. No update is ever handed to a second round.
 */
export class RoundFollower {
  private readonly options: FollowerOptions;
  private readonly journal: UnmaskJournal;
  private readonly busy = new Set<string>();
  /** Each round as last seen, by round id: its phase and who it waits for (for WatchUpdate). */
  readonly views = new Map<string, RoundView>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  /** A kick arrived while a listing was under way: list again once it ends. */
  private kickedWhilePolling = false;
  /** A kick came within pollIntervalMs of the last listing: the next timer tick lists for it. */
  private kickDeferred = false;
  private fastPollsLeft = 0;
  private lastListedAt = 0;
  private stopped = false;

  constructor(options: FollowerOptions) {
    this.options = options;
    this.journal = new UnmaskJournal(options.journalDirectory);
  }

  start(): void {
    for (const record of this.options.queue.all())
      if (
        record.state === UpdateState.UPDATE_STATE_IN_ROUND ||
        record.state === UpdateState.UPDATE_STATE_UPLOADED
      )
        this.track(record.updateId, () => this.afterInterruption(record));
    this.timer = setInterval(() => this.kick(false), this.options.pollIntervalMs);
    this.kick();
    // The first listing is not an event: no fast polls after it.
    this.fastPollsLeft = 0;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /**
   * Looks for rounds to join now: a new update was queued or a round event arrived (`now`), or
   * the timer fired (then rounds are listed for queued updates only every fallbackPollMs while
   * the ledger's events arrive).
   */
  kick(now = true): void {
    if (this.stopped) return;
    if (now) this.fastPollsLeft = FAST_POLLS_AFTER_KICK;
    if (this.polling) {
      // The listing under way may have been answered before the round this kick is about.
      if (now) this.kickedWhilePolling = true;
      return;
    }
    if (now && Date.now() - this.lastListedAt < this.options.pollIntervalMs) {
      // Listed less than an interval ago: the next tick (at most an interval away) lists.
      this.kickDeferred = true;
      return;
    }
    if (!now && this.kickDeferred) now = true;
    this.kickDeferred = false;
    this.polling = true;
    this.poll(now)
      .catch((error: unknown) =>
        this.options.logger.warn(
          { event: 'poll-failed', reason: (error as Error).message },
          'could not list the coordinator rounds',
        ),
      )
      .finally(() => {
        this.polling = false;
        if (this.kickedWhilePolling) {
          this.kickedWhilePolling = false;
          this.kick();
        }
      });
  }

  private async poll(now: boolean): Promise<void> {
    const { queue, client, memberId } = this.options;
    const waiting = queue.all().filter((r) => r.state === UpdateState.UPDATE_STATE_QUEUED);
    // Rounds are listed while an update waits for one, or is in one (its watchers see the
    // round's phase and who it waits for).
    if (waiting.length === 0 && this.busy.size === 0) return;
    const fast = !now && this.fastPollsLeft > 0;
    if (fast) this.fastPollsLeft--;
    const fallbackOnly =
      !now && !fast && this.busy.size === 0 && this.options.eventsLive?.() === true;
    if (fallbackOnly && Date.now() - this.lastListedAt < (this.options.fallbackPollMs ?? 0)) return;
    this.lastListedAt = Date.now();
    const rounds = await client.listRounds();
    for (const round of rounds) this.see(round);
    if (waiting.length === 0) return;
    // Rounds an update already went into (a queued one names its round only as a target).
    const taken = new Set(
      queue
        .all()
        .filter((record) => record.state !== UpdateState.UPDATE_STATE_QUEUED)
        .map((record) => record.roundId),
    );
    for (const round of rounds.sort((a, b) => Number(a.openedAtMs) - Number(b.openedAtMs))) {
      if (!JOINABLE_PHASES.includes(round.phase) || taken.has(round.roundId)) continue;
      const me = round.roster.find((entry) => entry.memberId === memberId);
      if (me === undefined || round.params === undefined) continue;
      const record =
        waiting.find((r) => r.roundId === round.roundId) ??
        waiting.find((r) => r.roundId === '' && r.modelId === round.params!.modelId);
      if (record === undefined || this.busy.has(record.updateId)) continue;
      taken.add(round.roundId);
      waiting.splice(waiting.indexOf(record), 1);
      this.track(record.updateId, () => this.takePart(record, round, me.index));
    }
  }

  /** Notes a round as the coordinator shows it; watchers of its update hear of a change. */
  private see(round: Round): void {
    // Kept only for rounds one of the bank's unfinished updates is in, and bounded: a
    // coordinator listing ever new rounds with long absence lists must not grow the peer.
    const watched = this.options.queue
      .all()
      .some((record) => record.roundId === round.roundId && !this.isFinal(record));
    if (!watched) {
      this.views.delete(round.roundId);
      return;
    }
    const missing = round.missing
      .filter((absent) => absent.phase === round.phase)
      .slice(0, MAX_MISSING_SHOWN)
      .map((absent) => ({
        memberId: absent.memberId.slice(0, 256),
        reason: absent.reason.slice(0, 1_000),
      }));
    const before = this.views.get(round.roundId);
    const view: RoundView = { phase: round.phase, missing };
    this.views.set(round.roundId, view);
    if (before !== undefined && JSON.stringify(before) === JSON.stringify(view)) return;
    for (const record of this.options.queue.all())
      if (record.roundId === round.roundId && !this.isFinal(record))
        this.options.queue.notify(record.updateId);
  }

  private track(updateId: string, run: () => Promise<void>): void {
    this.busy.add(updateId);
    run()
      .catch((error: unknown) =>
        this.options.logger.error(
          { event: 'participation-failed', update: updateId, reason: (error as Error).message },
          'participation failed',
        ),
      )
      .finally(() => {
        this.busy.delete(updateId);
        this.options.metrics.updateStates(this.options.queue.all());
      });
  }

  private drop(record: QueuedRecord, roundId: string, detail: string): void {
    this.options.queue.transition(record.updateId, UpdateState.UPDATE_STATE_DROPPED, detail, {
      roundId,
    });
    this.options.logger.info(
      { event: 'update-dropped', update: record.updateId, round: roundId, reason: detail },
      'the bank left the round',
    );
  }

  private async takePart(record: QueuedRecord, listed: Round, memberIndex: number): Promise<void> {
    const { queue, client, ledger, memberId } = this.options;
    // One view of the round for every check and for the participation: the listing is the
    // coordinator's word, never checked against the ledger, and a coordinator could list the
    // round with other parameters (a clip range 100 times wider) than the one the SDK checks.
    let round: Round;
    try {
      round = await client.getRound(listed.roundId);
    } catch (error) {
      return this.drop(
        record,
        listed.roundId,
        `the bank left round ${listed.roundId}: the coordinator did not answer for it (${(error as Error).message})`,
      );
    }
    const params = round.params!;
    const roundId = round.roundId;
    if (params.modelId !== record.modelId)
      return this.drop(
        record,
        roundId,
        `round ${roundId} trains model ${params.modelId}, but the update was queued for model ${record.modelId}`,
      );
    if (params.dimension !== record.values)
      return this.drop(
        record,
        roundId,
        `the update has ${record.values} values but round ${roundId} of model ${params.modelId} takes ${params.dimension}: submit an update of the model's current shape`,
      );
    if (ledger !== undefined) {
      const consent = await ledger.consentInForce(memberId, params.modelId, Date.now());
      if (consent === undefined)
        return this.drop(
          record,
          roundId,
          `${memberId} has no consent in force for model ${params.modelId} on its ledger view (granted, not revoked, not expired): the bank stays out of round ${roundId}; grant one with \`veilsum consent grant\` for the next round`,
        );
    }
    // SecAgg: the levels, quantized slice by slice from disk (the floats are never held whole);
    // CKKS encrypts the whole update at once (its ciphertexts dwarf it anyway).
    let prepared: PreparedSecAggUpdate | undefined;
    let values: Float32Array | undefined;
    let clipping: ClippingReport | undefined;
    let digest: string;
    try {
      if (params.mode === Mode.MODE_CKKS) {
        values = queue.values(record.updateId);
        requireUnchanged(
          record,
          createHash('sha256')
            .update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength))
            .digest('hex'),
        );
        digest = updateDigest(values);
        const clipRange = params.ckks?.clipRange ?? 0;
        clipping = clipRange > 0 ? clippingReport(values, clipRange) : undefined;
      } else {
        prepared = prepareSecAgg(
          queue.slices(record.updateId),
          params.dimension,
          params.quantization!,
        );
        requireUnchanged(record, prepared.payloadSha256);
        digest = prepared.digest;
        clipping = prepared.clipping;
      }
    } catch (error) {
      return this.drop(
        record,
        roundId,
        `the bank left round ${roundId}: its queued update could not be prepared (${(error as Error).message})`,
      );
    }
    const warning = clipping !== undefined ? clippingWarning(clipping) : undefined;
    queue.transition(
      record.updateId,
      UpdateState.UPDATE_STATE_IN_ROUND,
      warning ?? `taking part in round ${roundId}`,
      { roundId, memberIndex },
    );
    this.options.logger.info(
      { event: 'round-joined', update: record.updateId, round: roundId, mode: params.mode },
      'taking part in the round',
    );
    const started = Date.now();
    let sent = 0;
    const onProgress = (progress: Progress) => {
      // The masked input's upload: its serialised and framed copies are scavenged as it goes.
      if (progress.step === 'masked-input' && progress.bytesSent !== undefined) {
        // A retried upload starts again from 0.
        countUpdateBytes(
          progress.bytesSent >= sent ? progress.bytesSent - sent : progress.bytesSent,
        );
        sent = progress.bytesSent;
      }
      if (
        record.state === UpdateState.UPDATE_STATE_IN_ROUND &&
        ['consistency-check', 'unmasking', 'waiting-for-result'].includes(progress.step)
      )
        queue.transition(
          record.updateId,
          UpdateState.UPDATE_STATE_UPLOADED,
          `the coordinator acknowledged the bank's ${params.mode === Mode.MODE_CKKS ? 'encrypted' : 'masked'} upload to round ${roundId}`,
        );
    };
    // One update per training slot: the journal refuses a second update trained from the same
    // model version (a coordinator's re-run with a near copy), whatever round it names.
    const trainedFrom = record.trainedFrom === undefined ? {} : { trainedFrom: record.trainedFrom };
    try {
      const result =
        values !== undefined
          ? await client.participateCkks(roundId, values, {
              onProgress,
              ...trainedFrom,
              ...(this.options.expectedKeySha256
                ? { expectedKeySha256: this.options.expectedKeySha256 }
                : {}),
              expectedParamsHash: round.paramsHash,
            })
          : await client.participateQuantized(round, prepared!.levels, {
              onProgress,
              ...trainedFrom,
              updateSha256: digest,
              // The SDK checks the digest against the file, and the levels against its floats.
              quantizedFrom: () => queue.slices(record.updateId),
              // The levels are the SDK's from here (masked in place): no second full-length copy.
              handOverLevels: true,
            });
      this.options.metrics.participationSeconds.observe((Date.now() - started) / 1000);
      this.finish(record, result.round, result.included);
    } catch (error) {
      const reason = (error as Error).message;
      // Past the journal entry (written before the upload) the update may be in the sum.
      if (this.mayBeInSum(record, digest)) await this.settle(record, reason);
      else this.drop(record, roundId, `the bank left round ${roundId}: ${reason}`);
    }
  }

  private finish(
    record: QueuedRecord,
    round: Round,
    included: boolean,
    contributions = round.included.length,
  ): void {
    if (round.phase === Phase.PHASE_ABORTED)
      return this.drop(
        record,
        round.roundId,
        `round ${round.roundId} aborted: ${round.abortReason}`,
      );
    // Logged before watchers hear of the final state.
    this.options.logger.info(
      { event: 'update-settled', update: record.updateId, round: round.roundId, included },
      'round finished',
    );
    if (included)
      this.options.queue.transition(
        record.updateId,
        UpdateState.UPDATE_STATE_INCLUDED,
        `round ${round.roundId} finished with the bank's update in its aggregate of ${contributions} contributions`,
      );
    else
      this.drop(
        record,
        round.roundId,
        `round ${round.roundId} finished without the bank's update (the coordinator did not receive it in time)`,
      );
  }

  private mayBeInSum(record: QueuedRecord, digest: string): boolean {
    try {
      this.journal.check({
        modelId: record.modelId,
        roundNumber: 0,
        roundId: record.roundId,
        updateSha256: digest,
      });
      return false;
    } catch {
      return true;
    }
  }

  /** A crash interrupted this update's round: settle it without taking part again. */
  private async afterInterruption(record: QueuedRecord): Promise<void> {
    // Both digests from the file as it is now, in one pass: the journal is asked about the
    // update the file holds, and only if that is still the update acknowledged at submission.
    let digests: { digest: string; payloadSha256: string } | Error;
    try {
      digests = digestsOfSlices(this.options.queue.slices(record.updateId));
    } catch (error) {
      // Deleted or cut inside a float while the peer was down: as a changed file, below.
      digests = error as Error;
    }
    if (digests instanceof Error || digests.payloadSha256 !== record.sha256) {
      // Changed on disk since: the journal cannot say whether the acknowledged update was
      // uploaded, so the round's included set decides (it never takes part again either way).
      this.options.logger.warn(
        { event: 'queued-file-changed', update: record.updateId, round: record.roundId },
        'the queued file changed on disk during a round; following the round to its end',
      );
      return this.settle(
        record,
        `the peer restarted during the round and the queued file no longer matches the SHA-256 acknowledged at submission (${record.sha256}, now ${digests instanceof Error ? `unreadable: ${digests.message}` : digests.payloadSha256})`,
      );
    }
    const { digest } = digests;
    if (!this.mayBeInSum(record, digest))
      return this.drop(
        record,
        record.roundId,
        `the peer restarted during round ${record.roundId} before its upload: the round's keys were in memory only, so the bank left the round and the update was not sent`,
      );
    await this.settle(record, 'the peer restarted after its upload');
  }

  /**
   * Follows the round to its end and reads whether the bank's update is in the aggregate: from
   * the round closed on the bank's ledger view (its included member ids) when the peer has one —
   * the coordinator's Round could leave the bank out of a sum that holds its update — and from
   * the coordinator's Round only without a ledger view.
   */
  private async settle(record: QueuedRecord, why: string): Promise<void> {
    const { ledger, memberId } = this.options;
    for (;;) {
      if (this.stopped) return;
      try {
        const round = await this.options.client.getRound(record.roundId);
        this.see(round);
        const finished = round.phase === Phase.PHASE_DONE || round.phase === Phase.PHASE_ABORTED;
        if (ledger === undefined) {
          if (finished)
            return this.finish(record, round, round.included.includes(record.memberIndex));
        } else {
          const closed = await ledger.getRound(record.roundId).then(
            (r) => (r.status === 'closed' ? r : undefined),
            () => undefined,
          );
          // Closed on the ledger: its included set decides, whatever the coordinator says.
          if (closed !== undefined)
            return this.finish(
              record,
              { ...round, phase: Phase.PHASE_DONE },
              closed.included.includes(memberId),
              closed.included.length,
            );
          // Aborted and never closed on the ledger: no sum was recorded with the update.
          if (round.phase === Phase.PHASE_ABORTED) return this.finish(record, round, false);
          if (finished)
            throw new Error(
              `the coordinator says round ${record.roundId} is done but the bank's ledger view has not closed it`,
            );
        }
      } catch (error) {
        this.options.logger.warn(
          { event: 'settle-retry', update: record.updateId, why, reason: (error as Error).message },
          'waiting for the round to finish',
        );
      }
      await new Promise((resolve) => setTimeout(resolve, this.options.pollIntervalMs));
    }
  }

  isFinal(record: QueuedRecord): boolean {
    return FINAL_STATES.includes(record.state);
  }
}
