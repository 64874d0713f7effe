import { createHash } from 'node:crypto';
import { openSync, readSync, closeSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { nativeCurve25519 } from '../../crypto/curve25519-native.ts';
import { createRoundContext, type RoundContext } from '../../crypto/secagg/config.ts';
import { SecAggError } from '../../crypto/secagg/errors.ts';
import { combineMasks, type MaskJob } from '../../crypto/secagg/masks.ts';
import type { Misbehaviour, SecAggPhase } from '../../crypto/secagg/messages.ts';
import type { RoundPhaseName } from '../../ledger/records.ts';
import { SecAggServer } from '../../crypto/secagg/server.ts';
import { Adversary, Phase, RoundParams, type Round } from '../../proto/gen/veilsum/v1/round.ts';
import {
  AdvertiseKeysRequest,
  RevealSeedRequest,
  type ShareComplaint,
  ShareComplaints,
  ShareKeysRequest,
  SignSurvivorsRequest,
  UnmaskRequest,
  RevealPairwiseRequest,
} from '../../proto/gen/veilsum/v1/secagg.ts';
import {
  advertiseKeysFromWire,
  complaintsFromWire,
  seedRevealFromWire,
  shareKeysFromWire,
  signSurvivorsFromWire,
  unmaskFromWire,
  revealPairwiseFromWire,
} from '../../proto/secagg-wire.ts';
import { aborted, failedPrecondition } from '../../sdk/common/grpc-errors.ts';
import type { ResolvedParams } from './round-params.ts';
import { MAX_TIMER_MS, paramsHash, toSecAggConfig } from './round-params.ts';
import {
  absentMembers,
  outOfRound,
  recordDecline,
  type Decline,
  decodeDecline,
  onlyDeclinedAreSilent,
  type PhaseAttendance,
} from './round-declines.ts';
import {
  PersistenceError,
  type RoundEvent,
  type RoundRow,
  type RoundStore,
} from './round-store.ts';

export interface RosterMember {
  readonly memberId: string;
  readonly index: number;
  readonly identityKey: Uint8Array;
  /** The member's certificate (PEM) from the coordinator's member directory. */
  readonly certificate: string;
}

export type RoundStatus = SecAggPhase | 'done' | 'aborted';

/** The roster as stored with a round row (identity keys as hex). */
export function parseRoster(json: string): RosterMember[] {
  return (
    JSON.parse(json) as {
      memberId: string;
      index: number;
      identityKey: string;
      certificate?: string;
    }[]
  ).map((member) => ({
    ...member,
    identityKey: new Uint8Array(Buffer.from(member.identityKey, 'hex')),
    certificate: member.certificate ?? '',
  }));
}

export function rosterToWire(roster: readonly RosterMember[]): Round['roster'] {
  return roster.map((member) => ({
    memberId: member.memberId,
    index: member.index,
    identityKey: Buffer.from(member.identityKey),
    certificate: Buffer.from(member.certificate, 'utf8'),
  }));
}

/** Expands the unmasking jobs; a worker pool in production, inline in tests. */
export type MaskCombiner = (jobs: readonly MaskJob[], dimension: number) => Promise<Uint32Array>;

export const inlineCombiner: MaskCombiner = (jobs, dimension) =>
  Promise.resolve(combineMasks(jobs, dimension, nativeCurve25519));

interface RuntimeDependencies {
  readonly store: RoundStore;
  readonly logger: Logger;
  readonly combine: MaskCombiner;
  readonly now: () => number;
  /** Called on every change of phase or participants (watchers, metrics). */
  readonly onChange: (runtime: RoundRuntime) => void;
  /**
   * Commits a closed phase's participant set (U1 'advertised', U2 'shared', U3 'masked') to the
   * agreement channel; members wait for it there before they go on. Called again for every
   * closed phase after a restart (the ledger answers a repeated, equal set with the stored one).
   */
  readonly commitPhase?: (runtime: RoundRuntime, phase: RoundPhaseName, members: number[]) => void;
}

const PHASE_TO_WIRE: Record<RoundStatus, Phase> = {
  'advertise-keys': Phase.PHASE_ADVERTISE_KEYS,
  'seed-reveal': Phase.PHASE_SEED_REVEAL,
  'share-keys': Phase.PHASE_SHARE_KEYS,
  'masked-input': Phase.PHASE_MASKED_INPUT,
  masking: Phase.PHASE_MASKED_INPUT,
  'consistency-check': Phase.PHASE_CONSISTENCY_CHECK,
  unmasking: Phase.PHASE_UNMASKING,
  'pairwise-reveal': Phase.PHASE_PAIRWISE_REVEAL,
  done: Phase.PHASE_DONE,
  aborted: Phase.PHASE_ABORTED,
};

const PHASE_ORDER: readonly RoundStatus[] = [
  'advertise-keys',
  'seed-reveal',
  'share-keys',
  'masked-input',
  'consistency-check',
  'unmasking',
  'pairwise-reveal',
  'done',
];

/**
 * One round at the coordinator: the SecAgg+ server state machine plus what a service adds —
 * persistence of every accepted message before it is acknowledged, replay after a restart,
 * per-phase deadlines that turn silent clients into dropouts, early close when everyone has
 * spoken, and waiters for the Await* calls.
 */
export class RoundRuntime {
  readonly id: string;
  readonly params: RoundParams;
  readonly roster: readonly RosterMember[];
  readonly graphSeed: Uint8Array;
  readonly openedAt: number;
  readonly paramsHash: Uint8Array;
  private readonly context: RoundContext;
  private readonly server: SecAggServer;
  private readonly deps: RuntimeDependencies;
  private status: RoundStatus = 'advertise-keys';
  /** The phase the round was in last while it ran (an aborted round's last phase). */
  private lastActivePhase: RoundStatus = 'advertise-keys';
  private phaseStartedAt: number;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private finishing = false;
  private readonly uploadDigests = new Map<number, Uint8Array>();
  private misbehaving: readonly Misbehaviour[] = [];
  private included: readonly number[] = [];
  private aggregateSha256: Uint8Array = new Uint8Array(0);
  private abortReason = '';
  private readonly waiters = new Set<() => void>();
  private replaying = false;
  /** Members out of the round by their own word or the coordinator's consent check. */
  private readonly declines = new Map<number, Decline>();

  private constructor(row: RoundRow, deps: RuntimeDependencies) {
    this.id = row.roundId;
    this.params = RoundParams.decode(row.params);
    this.graphSeed = row.graphSeed;
    this.openedAt = row.openedAt;
    this.phaseStartedAt = row.openedAt;
    this.roster = parseRoster(row.roster);
    this.paramsHash = paramsHash(row.params, row.graphSeed);
    const resolved: ResolvedParams = {
      params: this.params,
      adversary:
        this.params.adversary === Adversary.ADVERSARY_SEMI_MALICIOUS
          ? 'semi-malicious'
          : 'semi-honest',
      degree: this.params.degree,
      threshold: this.params.threshold,
    };
    this.context = createRoundContext(
      toSecAggConfig(
        row.roundId,
        resolved,
        row.graphSeed,
        this.roster.map((member) => member.identityKey),
        this.paramsHash,
      ),
    );
    this.server = new SecAggServer({ context: this.context, curve: nativeCurve25519 });
    this.deps = deps;
  }

  static open(row: RoundRow, deps: RuntimeDependencies): RoundRuntime {
    deps.store.insertRound(row);
    const runtime = new RoundRuntime(row, deps);
    runtime.scheduleDeadline();
    return runtime;
  }

  /** Rebuilds a round from its event log after a restart, then resumes its deadline. */
  static restore(row: RoundRow, deps: RuntimeDependencies): RoundRuntime {
    const runtime = new RoundRuntime(row, deps);
    runtime.replaying = true;
    for (const event of deps.store.events(row.roundId)) runtime.replay(event);
    runtime.replaying = false;
    if (!runtime.isSettled()) {
      runtime.scheduleDeadline();
      runtime.closeEarlyIfEveryoneSpoke();
    }
    return runtime;
  }

  get phase(): RoundStatus {
    return this.status;
  }

  get dimension(): number {
    return this.params.dimension;
  }

  /** SHA-256 of the stored aggregate file (once done), checked whenever it is read. */
  get aggregateFileSha256(): Uint8Array {
    return this.aggregateSha256;
  }

  isSettled(): boolean {
    return this.status === 'done' || this.status === 'aborted';
  }

  indexOf(memberId: string): number | undefined {
    return this.roster.find((member) => member.memberId === memberId)?.index;
  }

  // ── accepted messages: apply (validates), persist, then maybe close the phase early ─────────

  advertiseKeys(index: number, request: AdvertiseKeysRequest): void {
    this.requireNotDeclined(index);
    this.server.receiveAdvertiseKeys(advertiseKeysFromWire(index, request));
    this.record('advertise', index, AdvertiseKeysRequest.encode(request).finish());
  }

  revealSeed(index: number, request: RevealSeedRequest): void {
    this.requireNotDeclined(index);
    this.server.receiveSeedReveal(seedRevealFromWire(index, request));
    this.record('reveal-seed', index, RevealSeedRequest.encode(request).finish());
  }

  shareKeys(index: number, request: ShareKeysRequest): void {
    this.requireNotDeclined(index);
    this.server.receiveShareKeys(shareKeysFromWire(index, request));
    this.record('share', index, ShareKeysRequest.encode(request).finish());
  }

  /** Checks, before any byte is stored, that `index` may upload now. */
  checkUploadAllowed(index: number, words: number): void {
    this.requireActive();
    if (this.status !== 'masked-input') {
      throw failedPrecondition(
        `round ${this.id} is in phase ${this.status}, not masked-input: the upload deadline has passed`,
      );
    }
    this.requireNotDeclined(index);
    if (this.uploadDigests.has(index)) {
      throw new SecAggError(
        'duplicate-message',
        `member ${index} already uploaded its masked input; the first upload is kept`,
      );
    }
    if (!this.server.isEligible(index)) {
      throw new SecAggError(
        'unexpected-sender',
        `member ${index} did not complete ShareKeys and cannot upload in round ${this.id}`,
      );
    }
    if (words !== this.dimension) {
      throw new SecAggError(
        'malformed-message',
        `vector length ${words} does not match round length ${this.dimension}`,
      );
    }
  }

  /** A complete, verified upload in `temporaryPath`: accept it into the sum, then make it durable. */
  acceptUpload(
    index: number,
    temporaryPath: string,
    sha256: Uint8Array,
    complaints: readonly ShareComplaint[] = [],
  ): void {
    this.checkUploadAllowed(index, this.dimension);
    const vector = readVector(temporaryPath, this.dimension);
    this.server.receiveMaskedInput({
      sender: index,
      maskedInput: vector,
      complaints: complaintsFromWire(complaints),
    });
    // From here the upload is in the running sum: if it cannot also be made durable, the process
    // must not go on serving a sum that a restart would not reproduce (the client has no receipt
    // yet, so it retries against the restarted coordinator and nothing is lost).
    try {
      this.deps.store.commitFile(temporaryPath, this.deps.store.uploadPath(this.id, index));
    } catch (error) {
      throw new PersistenceError(
        `could not store the upload of member ${index}: ${(error as Error).message}`,
      );
    }
    this.uploadDigests.set(index, sha256);
    const logged = ShareComplaints.encode({ complaints: [...complaints] }).finish();
    const payload = new Uint8Array(32 + logged.length);
    payload.set(sha256, 0);
    payload.set(logged, 32);
    this.record('masked', index, payload);
  }

  signSurvivors(index: number, request: SignSurvivorsRequest): void {
    this.requireNotDeclined(index);
    this.server.receiveConsistencySignature(signSurvivorsFromWire(index, request));
    this.record('sign', index, SignSurvivorsRequest.encode(request).finish());
  }

  unmask(index: number, request: UnmaskRequest): void {
    this.requireNotDeclined(index);
    this.server.receiveUnmasking(unmaskFromWire(index, request));
    this.record('unmask', index, UnmaskRequest.encode(request).finish());
  }

  revealPairwise(index: number, request: RevealPairwiseRequest): void {
    this.requireNotDeclined(index);
    this.server.receivePairwiseReveal(revealPairwiseFromWire(index, request));
    this.record('reveal-pairwise', index, RevealPairwiseRequest.encode(request).finish());
  }

  /**
   * `index` is out of the round (DeclineRound, or refused by the coordinator's consent check):
   * recorded before it applies, shown in Round.missing, and the open phase closes at once if it
   * waited only for members that declined. Idempotent: the first reason is kept.
   */
  decline(index: number, by: Decline['by'], reason: string): void {
    this.requireActive();
    if (!recordDecline(this.deps, this.id, this.declines, index, by, reason)) return;
    this.changed();
    this.closeEarlyIfEveryoneSpoke();
  }

  private requireNotDeclined(index: number): void {
    const decline = this.declines.get(index);
    if (decline !== undefined) throw outOfRound(this.id, index, decline);
  }

  /** Each phase reached so far: whom it expected and who spoke (seed-reveal shows in share-keys). */
  private attendance(): PhaseAttendance[] {
    const sets = this.server.participantSets();
    const semiMalicious = this.params.adversary === Adversary.ADVERSARY_SEMI_MALICIOUS;
    const reached =
      this.status === 'done' ? PHASE_ORDER.length : PHASE_ORDER.indexOf(this.lastActivePhase);
    type Row = [RoundStatus, readonly number[], readonly number[]];
    const checked: Row[] = semiMalicious ? [['consistency-check', sets.masked, sets.signed]] : [];
    const phases: Row[] = [
      ['advertise-keys', this.roster.map((member) => member.index), sets.advertised],
      ['share-keys', sets.advertised, sets.shared],
      ['masked-input', sets.shared, sets.masked],
      ...checked,
      ['unmasking', semiMalicious ? sets.signed : sets.masked, sets.unmasked],
      ['pairwise-reveal', ...this.server.pairwiseRevealAttendance()],
    ];
    return phases
      .filter(([phase]) => PHASE_ORDER.indexOf(phase) <= reached)
      .map(([phase, expected, spoke]) => ({
        phase: PHASE_TO_WIRE[phase],
        expected,
        spoke: new Set(spoke),
        closed: this.isSettled() || PHASE_ORDER.indexOf(phase) < reached,
      }));
  }

  // ── what clients wait for ───────────────────────────────────────────────────────────────

  /** Resolves once the round has reached `target` (or moved past it, or settled). */
  async waitForPhase(target: RoundStatus, signal: AbortSignal): Promise<void> {
    const reached = () =>
      this.isSettled() || PHASE_ORDER.indexOf(this.status) >= PHASE_ORDER.indexOf(target);
    while (!reached()) {
      if (signal.aborted) throw failedPrecondition('the call was cancelled');
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          signal.removeEventListener('abort', wake);
          resolve();
        };
        this.waiters.add(wake);
        signal.addEventListener('abort', wake, { once: true });
      });
    }
  }

  /** The phase's answer for `index`, or the precise reason it cannot have one. */
  answerFor<T>(target: RoundStatus, index: number, produce: () => T): T {
    this.requireActive();
    if (this.status !== target) {
      throw failedPrecondition(
        `round ${this.id} has moved on to phase ${this.status}; the ${target} phase is closed`,
      );
    }
    if (!this.server.isEligible(index)) {
      throw failedPrecondition(
        `member ${index} did not complete the phase before ${target} and counts as dropped`,
      );
    }
    return produce();
  }

  seedCommitmentsFor(index: number) {
    return this.answerFor('seed-reveal', index, () => this.server.seedCommitments());
  }

  keysFor(index: number) {
    return this.answerFor('share-keys', index, () => this.server.keysFor(index));
  }

  sharesFor(index: number) {
    return this.answerFor('masked-input', index, () => this.server.sharesFor(index));
  }

  consistencyCheckFor(index: number) {
    return this.answerFor('consistency-check', index, () => this.server.consistencyCheckRequest());
  }

  unmaskingRequestFor(index: number) {
    return this.answerFor('unmasking', index, () => this.server.unmaskingRequest());
  }

  pairwiseRevealRequestFor(index: number) {
    return this.answerFor('pairwise-reveal', index, () => this.server.pairwiseRevealRequest());
  }

  // ── phase transitions ────────────────────────────────────────────────────────────────────

  private closeEarlyIfEveryoneSpoke(): void {
    if (this.replaying || this.isSettled()) return;
    if (this.server.everyoneHasSpoken()) this.closePhase('everyone spoke');
    else if (onlyDeclinedAreSilent(this.attendance().at(-1), this.declines))
      this.closePhase('every member that did not decline spoke');
  }

  /** Closes the current phase (deadline or everyone spoke); records it before applying it. */
  private closePhase(reason: string): void {
    if (this.isSettled() || this.finishing) return;
    const phase = this.server.currentPhase;
    if (phase === 'unmasking' || phase === 'pairwise-reveal') {
      this.finish(reason).catch((error: unknown) => {
        // Not a protocol failure (those abort the round inside finish): the aggregate could not
        // be stored. Restarting replays the log and finishes the round again.
        this.deps.logger.fatal(
          { event: 'finish-failed', round: this.id, reason: (error as Error).message },
          'cannot finish round; exiting',
        );
        process.exit(70);
      });
      return;
    }
    this.deps.store.appendEvent(
      this.id,
      'close',
      null,
      new TextEncoder().encode(phase),
      this.deps.now(),
    );
    this.applyClose(phase, this.deps.now());
    this.deps.logger.info(
      { event: 'phase-closed', round: this.id, phase, reason, next: this.status },
      'phase closed',
    );
    if (!this.isSettled()) {
      this.scheduleDeadline();
      this.closeEarlyIfEveryoneSpoke();
    }
  }

  private applyClose(phase: string, at: number): void {
    try {
      if (phase === 'advertise-keys') this.server.closeAdvertiseKeys();
      else if (phase === 'seed-reveal') this.server.closeSeedReveal();
      else if (phase === 'share-keys') this.server.closeShareKeys();
      else if (phase === 'masked-input')
        this.server.closeMaskedInputCollection((sender) =>
          readVector(this.deps.store.uploadPath(this.id, sender), this.dimension),
        );
      else if (phase === 'consistency-check') this.server.closeConsistencyCheck();
      else if (phase === 'unmasking') this.server.closeUnmasking();
      this.enteredPhase(at);
      this.commitClosedPhase(phase);
    } catch (error) {
      if (!(error instanceof SecAggError)) throw error;
      this.markAborted(error.message, at);
    }
    this.changed();
  }

  /** The round's status follows the protocol server's phase, entered at `at`. */
  private enteredPhase(at: number): void {
    this.status = this.server.currentPhase;
    if (!this.isSettled()) this.lastActivePhase = this.status;
    this.phaseStartedAt = at;
  }

  /** The participant set a phase closed with, to the agreement channel. */
  private commitClosedPhase(phase: string): void {
    const sets = this.server.participantSets();
    const committed: Partial<Record<string, [RoundPhaseName, readonly number[]]>> = {
      'advertise-keys': ['advertised', sets.advertised],
      'share-keys': ['shared', sets.shared],
      'masked-input': ['masked', sets.masked],
    };
    const entry = committed[phase];
    if (entry !== undefined) this.deps.commitPhase?.(this, entry[0], [...entry[1]]);
  }

  /** Members caught misbehaving (named in the round record). */
  get misbehaviour(): readonly Misbehaviour[] {
    return this.misbehaving;
  }

  private async finish(reason: string): Promise<void> {
    this.finishing = true;
    clearTimeout(this.deadlineTimer);
    try {
      if (this.server.currentPhase === 'unmasking' && !this.closeUnmasking(reason)) return;
      if (this.server.currentPhase === 'pairwise-reveal') this.server.closePairwiseReveal();
      const jobs = this.server.planUnmasking();
      const maskTotal = await this.deps.combine(jobs, this.dimension);
      const result = this.server.finish(maskTotal);
      this.misbehaving = result.misbehaving;
      const aggregate = Buffer.from(
        result.sum.buffer,
        result.sum.byteOffset,
        result.sum.byteLength,
      );
      const temporary = `${this.deps.store.aggregatePath(this.id)}.partial`;
      writeFileSync(temporary, aggregate);
      this.deps.store.commitFile(temporary, this.deps.store.aggregatePath(this.id));
      const digest = new Uint8Array(createHash('sha256').update(aggregate).digest());
      const included = Uint8Array.from(
        result.included.flatMap((index) => [index >> 8, index & 0xff]),
      );
      const payload = new Uint8Array(32 + included.length);
      payload.set(digest, 0);
      payload.set(included, 32);
      this.deps.store.appendEvent(this.id, 'finish', null, payload, this.deps.now());
      this.applyFinish(payload);
      this.deps.logger.info(
        {
          event: 'round-done',
          round: this.id,
          reason,
          included: result.included.length,
          aggregateSha256: Buffer.from(digest).toString('hex'),
        },
        'round done',
      );
    } catch (error) {
      if (!(error instanceof SecAggError)) throw error;
      this.deps.store.appendEvent(
        this.id,
        'abort',
        null,
        new TextEncoder().encode(error.message),
        this.deps.now(),
      );
      this.markAborted(error.message, this.deps.now());
      this.changed();
    } finally {
      this.finishing = false;
    }
  }

  /**
   * Closes Unmasking; false when a dropped member's masks need the second reveal (the phase is
   * then recorded as closed, like any other, and the round waits for its neighbours' secrets).
   */
  private closeUnmasking(reason: string): boolean {
    if (this.server.closeUnmasking() === 'ready') return true;
    const at = this.deps.now();
    this.deps.store.appendEvent(this.id, 'close', null, new TextEncoder().encode('unmasking'), at);
    this.enteredPhase(at);
    const { dropped } = this.server.pairwiseRevealRequest();
    this.deps.logger.warn(
      { event: 'pairwise-reveal', round: this.id, reason, dropped },
      'dropped members’ masks need their neighbours’ pairwise secrets',
    );
    this.changed();
    this.scheduleDeadline();
    queueMicrotask(() => this.closeEarlyIfEveryoneSpoke());
    return false;
  }

  private applyFinish(payload: Uint8Array): void {
    this.aggregateSha256 = payload.slice(0, 32);
    const included: number[] = [];
    for (let i = 32; i < payload.length; i += 2)
      included.push((payload[i]! << 8) | payload[i + 1]!);
    this.included = included;
    this.status = 'done';
    clearTimeout(this.deadlineTimer);
    this.changed();
  }

  private markAborted(reason: string, at: number): void {
    this.status = 'aborted';
    this.abortReason = reason;
    this.phaseStartedAt = at;
    clearTimeout(this.deadlineTimer);
    this.deps.logger.warn({ event: 'round-aborted', round: this.id, reason }, 'round aborted');
  }

  private scheduleDeadline(): void {
    clearTimeout(this.deadlineTimer);
    const remaining = Math.max(0, this.deadlineAt() - this.deps.now());
    this.deadlineTimer = setTimeout(
      () => (remaining > MAX_TIMER_MS ? this.scheduleDeadline() : this.closePhase('deadline')),
      Math.min(remaining, MAX_TIMER_MS),
    );
    this.deadlineTimer.unref();
  }

  deadlineAt(): number {
    const d = this.params.deadlines!;
    const byPhase: Partial<Record<RoundStatus, number>> = {
      'advertise-keys': d.advertiseKeysMs,
      // One short exchange, like AdvertiseKeys (no parameter of its own: the params hash stays).
      'seed-reveal': d.advertiseKeysMs,
      'share-keys': d.shareKeysMs,
      'masked-input': d.maskedInputMs,
      'consistency-check': d.consistencyCheckMs,
      unmasking: d.unmaskingMs,
      // One short exchange after Unmasking (no parameter of its own: the params hash stays).
      'pairwise-reveal': d.unmaskingMs,
    };
    return this.phaseStartedAt + (byPhase[this.status] ?? 0);
  }

  private record(
    kind: 'advertise' | 'reveal-seed' | 'share' | 'masked' | 'sign' | 'unmask' | 'reveal-pairwise',
    index: number,
    payload: Uint8Array,
  ): void {
    if (!this.replaying)
      this.deps.store.appendEvent(this.id, kind, index, payload, this.deps.now());
    this.changed();
    this.closeEarlyIfEveryoneSpoke();
  }

  private replay(event: RoundEvent): void {
    const sender = event.sender ?? 0;
    const payload = event.payload ?? new Uint8Array(0);
    switch (event.kind) {
      case 'advertise':
        return this.advertiseKeys(sender, AdvertiseKeysRequest.decode(payload));
      case 'reveal-seed':
        return this.revealSeed(sender, RevealSeedRequest.decode(payload));
      case 'share':
        return this.shareKeys(sender, ShareKeysRequest.decode(payload));
      case 'masked': {
        // Re-checked against the digest logged when it was accepted: a corrupt file is refused.
        const bytes = this.deps.store.readVerified(
          this.deps.store.uploadPath(this.id, sender),
          payload.subarray(0, 32),
          `the upload of member ${sender}`,
        );
        const vector = new Uint32Array(this.dimension);
        new Uint8Array(vector.buffer).set(bytes.subarray(0, vector.byteLength));
        const { complaints } = ShareComplaints.decode(payload.subarray(32));
        this.server.receiveMaskedInput({
          sender,
          maskedInput: vector,
          complaints: complaintsFromWire(complaints),
        });
        this.uploadDigests.set(sender, payload.slice(0, 32));
        return;
      }
      case 'sign':
        return this.signSurvivors(sender, SignSurvivorsRequest.decode(payload));
      case 'unmask':
        return this.unmask(sender, UnmaskRequest.decode(payload));
      case 'reveal-pairwise':
        return this.revealPairwise(sender, RevealPairwiseRequest.decode(payload));
      case 'close':
        return this.applyClose(new TextDecoder().decode(payload), event.at);
      case 'finish':
        return this.applyFinish(payload);
      case 'abort':
        this.markAborted(new TextDecoder().decode(payload), event.at);
        return;
      case 'decline':
        this.declines.set(sender, decodeDecline(payload));
        return;
    }
  }

  private requireActive(): void {
    if (this.status === 'aborted')
      throw aborted(`round ${this.id} was aborted: ${this.abortReason}`);
    if (this.status === 'done') throw failedPrecondition(`round ${this.id} is already done`);
  }

  private changed(): void {
    for (const wake of [...this.waiters]) wake();
    if (!this.replaying) this.deps.onChange(this);
  }

  /** The wire view of this round. */
  snapshot(): Round {
    const sets = this.server.participantSets();
    return {
      roundId: this.id,
      params: this.params,
      phase: PHASE_TO_WIRE[this.status],
      roster: rosterToWire(this.roster),
      graphSeed: Buffer.from(this.graphSeed),
      paramsHash: Buffer.from(this.paramsHash),
      openedAtMs: this.openedAt,
      phaseDeadlineMs: this.isSettled() ? 0 : this.deadlineAt(),
      advertised: [...sets.advertised],
      shared: [...sets.shared],
      masked: [...sets.masked],
      signed: [...sets.signed],
      unmasked: [...sets.unmasked],
      included: [...this.included],
      aggregateSha256: Buffer.from(this.aggregateSha256),
      uploadSha256: this.included.map((index) =>
        Buffer.from(this.uploadDigests.get(index) ?? new Uint8Array(0)),
      ),
      abortReason: this.abortReason,
      misbehaving: this.misbehaving.map(({ member, reason }) => ({
        index: member,
        memberId: this.roster[member - 1]!.memberId,
        reason,
      })),
      missing: absentMembers(this.roster, this.attendance(), this.declines),
      ledgerHead: undefined,
    };
  }

  stop(): void {
    clearTimeout(this.deadlineTimer);
    for (const wake of [...this.waiters]) wake();
  }
}

function readVector(path: string, words: number): Uint32Array {
  const vector = new Uint32Array(words);
  const view = new Uint8Array(vector.buffer);
  const file = openSync(path, 'r');
  try {
    let offset = 0;
    while (offset < view.length) {
      const read = readSync(file, view, offset, Math.min(1 << 20, view.length - offset), offset);
      if (read === 0) throw new Error(`upload file ${path} is shorter than ${words} words`);
      offset += read;
    }
  } finally {
    closeSync(file);
  }
  return vector;
}
