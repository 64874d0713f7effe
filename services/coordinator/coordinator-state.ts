import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Round } from '../../proto/gen/veilsum/v1/round.ts';
import type { CkksEngine } from '../../crypto/ckks/engine.ts';
import type { MaskPool } from '../compute/mask-pool.ts';
import {
  aborted,
  dataLoss,
  failedPrecondition,
  invalidArgument,
  notFound,
  permissionDenied,
} from '../../sdk/common/grpc-errors.ts';
import { type AuthenticatedCall, callerOrganisation } from '../common/caller.ts';
import { rejection, unaryHandler } from '../common/service-edge.ts';
import type { CollectiveKeyFile } from '../keyholder/key-file.ts';
import type { KeyholderClient } from '../keyholder/keyholder-client.ts';
import type { CoordinatorConfig } from './config.ts';
import type { Member } from './member-directory.ts';
import type { CoordinatorMetrics } from './metrics.ts';
import { ConsentRefusal, type LedgerLink } from './ledger-link.ts';
import type { RoundPhaseName } from '../../ledger/records.ts';
import { inlineCombiner, RoundRuntime } from './round-runtime.ts';
import { CkksRound, type CkksRoundDependencies } from './ckks-round.ts';
import { PersistenceError, type RoundStore } from './round-store.ts';
import { thresholdDecrypt } from './threshold-decrypt.ts';
import { DEFAULT_UPLOAD_LIMITS, UploadLimits } from './upload-limits.ts';

/** Longest round id a request may carry (model ids are at most 128 characters). */
export const MAX_ROUND_ID_LENGTH = 160;

/** The collective CKKS key, its engine and a client per keyholder (when the config has ckks). */
export interface CkksKeyring {
  readonly key: CollectiveKeyFile;
  readonly engine: CkksEngine;
  readonly keyholders: Map<number, KeyholderClient>;
}

/**
 * What the coordinator's gRPC services share: its rounds, its store, ledger and members, and the
 * checks every handler makes (who is calling, which round, in which role) and the one place a
 * thrown error becomes a gRPC status.
 */
export class CoordinatorState {
  readonly rounds = new Map<string, RoundRuntime | CkksRound>();
  readonly watchers = new Map<string, Set<(round: Round) => void>>();
  /** Rounds whose stored data failed its digest check: never served, never summed. */
  readonly quarantined = new Map<string, string>();
  ckks: CkksKeyring | undefined;
  pool: MaskPool | undefined;
  private readonly closedOnLedger = new Set<string>();
  private readonly knownPhases = new Map<string, string>();

  readonly config: CoordinatorConfig;
  readonly logger: Logger;
  readonly metrics: CoordinatorMetrics;
  readonly store: RoundStore;
  readonly members: Map<string, Member>;
  readonly ledger: LedgerLink | undefined;
  readonly uploads: UploadLimits;

  constructor(parts: {
    config: CoordinatorConfig;
    logger: Logger;
    metrics: CoordinatorMetrics;
    store: RoundStore;
    members: Map<string, Member>;
    ledger: LedgerLink | undefined;
  }) {
    this.config = parts.config;
    this.logger = parts.logger;
    this.metrics = parts.metrics;
    this.store = parts.store;
    this.members = parts.members;
    this.ledger = parts.ledger;
    this.uploads = new UploadLimits({ ...DEFAULT_UPLOAD_LIMITS, ...parts.config.uploads });
  }

  // ── the service edge ────────────────────────────────────────────────────────────────────

  unary<Request, Response>(
    method: string,
    handler: (call: grpc.ServerUnaryCall<Request, Response>) => Response | Promise<Response>,
  ): grpc.handleUnaryCall<Request, Response> {
    return unaryHandler(
      handler,
      (error, send) => this.fail(method, error, send),
      () => this.metrics.requests.inc({ method, code: 'OK' }),
    );
  }

  fail(method: string, error: unknown, send: (error: grpc.ServiceError) => void): void {
    if (error instanceof PersistenceError) {
      // The in-memory round is ahead of the disk: restart from the log rather than serve it.
      this.logger.fatal(
        { event: 'persistence-failed', method, reason: error.message },
        'cannot persist; exiting',
      );
      process.exit(70);
    }
    const serviceError = rejection(this.logger, method, error);
    this.metrics.requests.inc({ method, code: grpc.status[serviceError.code] });
    send(serviceError);
  }

  uploadAccepted(
    method: string,
    roundId: string,
    member: number,
    bytes: number,
    digest: Uint8Array,
  ): void {
    this.metrics.uploadBytes.inc(bytes);
    this.metrics.requests.inc({ method, code: 'OK' });
    this.logger.info(
      {
        event: 'upload-accepted',
        round: roundId,
        member,
        bytes,
        sha256: Buffer.from(digest).toString('hex'),
      },
      'upload accepted',
    );
  }

  // ── who is calling, about which round ───────────────────────────────────────────────────

  requireCaller(call: AuthenticatedCall): { organisation: string } {
    const organisation = callerOrganisation(call);
    if (!this.members.has(organisation) && !this.config.admins.includes(organisation)) {
      throw permissionDenied(
        `organisation ${organisation} is neither a member nor an administrator of this coordinator`,
      );
    }
    return { organisation };
  }

  requireAdmin(call: AuthenticatedCall): void {
    const organisation = callerOrganisation(call);
    if (!this.config.admins.includes(organisation)) {
      throw permissionDenied(
        `organisation ${organisation} may not open rounds; administrators are: ${this.config.admins.join(', ')}`,
      );
    }
  }

  round(id: string): RoundRuntime | CkksRound {
    if (id.length > MAX_ROUND_ID_LENGTH) {
      throw invalidArgument(
        `round_id is ${id.length} characters; round ids are at most ${MAX_ROUND_ID_LENGTH}`,
      );
    }
    const runtime = this.rounds.get(id);
    if (runtime !== undefined) return runtime;
    const quarantine = this.quarantined.get(id);
    if (quarantine !== undefined) {
      throw dataLoss(
        `round ${id} is quarantined: ${quarantine}; its stored data is not used (restore the data folder from a backup, or open a new round)`,
      );
    }
    throw notFound(`round "${id}" does not exist; list rounds with veilsum round list`);
  }

  /** A round the caller may read: administrators read every round, members those they are on. */
  readableRound(call: AuthenticatedCall, id: string): RoundRuntime | CkksRound {
    const { organisation } = this.requireCaller(call);
    const runtime = this.round(id);
    if (!this.config.admins.includes(organisation) && runtime.indexOf(organisation) === undefined)
      throw permissionDenied(`organisation ${organisation} is not a member of round ${runtime.id}`);
    return runtime;
  }

  /** Whether the caller may see `runtime` in a listing. */
  mayRead(organisation: string, runtime: RoundRuntime | CkksRound): boolean {
    return this.config.admins.includes(organisation) || runtime.indexOf(organisation) !== undefined;
  }

  /**
   * Takes a round out of service because its stored data failed a digest check (`reason` names
   * the record). The other rounds go on; this one answers DATA_LOSS naming the record.
   */
  quarantine(id: string, reason: string): void {
    const runtime = this.rounds.get(id);
    runtime?.stop();
    this.rounds.delete(id);
    this.quarantined.set(id, reason);
    this.uploads.endRound(id, dataLoss(`round ${id} is quarantined: ${reason}`));
    this.logger.error({ event: 'round-quarantined', round: id, reason }, 'round quarantined');
    this.metrics.quarantinedRounds.set(this.quarantined.size);
    this.updatePhaseGauge();
  }

  participant(
    call: AuthenticatedCall,
    roundId: string,
  ): { runtime: RoundRuntime | CkksRound; index: number } {
    const organisation = callerOrganisation(call);
    const runtime = this.round(roundId);
    const index = runtime.indexOf(organisation);
    if (index === undefined) {
      throw permissionDenied(`organisation ${organisation} is not a member of round ${runtime.id}`);
    }
    return { runtime, index };
  }

  /**
   * The member's consent must be in force (with a ledger). A member refused for consent is out of
   * the round — the refusal is final, as the round's consent was fixed when it opened — so the
   * round names it in Round.missing and stops waiting for it.
   */
  async requireConsent(runtime: RoundRuntime | CkksRound, index: number): Promise<void> {
    try {
      await this.ledger?.requireConsent(runtime.id, runtime.roster[index - 1]!.memberId);
    } catch (error) {
      if (error instanceof ConsentRefusal && !runtime.isSettled())
        runtime.decline(index, 'coordinator', error.message);
      throw error;
    }
  }

  /** A SecAgg round and the caller's index in it. */
  secAggParticipant(
    call: AuthenticatedCall,
    roundId: string,
  ): { runtime: RoundRuntime; index: number } {
    const { runtime, index } = this.participant(call, roundId);
    if (!(runtime instanceof RoundRuntime)) {
      throw failedPrecondition(
        `round ${runtime.id} is a CKKS round: submit with veilsum submit --mode ckks (CkksService)`,
      );
    }
    return { runtime, index };
  }

  /** A CKKS round and the caller's index in it. */
  ckksParticipant(call: AuthenticatedCall, roundId: string): { round: CkksRound; index: number } {
    const { runtime, index } = this.participant(call, roundId);
    if (!(runtime instanceof CkksRound))
      throw failedPrecondition(`round ${runtime.id} is a SecAgg round, not a CKKS round`);
    return { round: runtime, index };
  }

  // ── what rounds need from the process ───────────────────────────────────────────────────

  runtimeDependencies() {
    return {
      store: this.store,
      logger: this.logger,
      combine: this.pool
        ? (jobs: Parameters<MaskPool['combine']>[0], d: number) => this.pool!.combine(jobs, d)
        : inlineCombiner,
      now: () => Date.now(),
      commitPhase: (runtime: RoundRuntime, phase: RoundPhaseName, members: number[]) =>
        this.commitPhase(runtime, phase, members),
      onChange: (runtime: RoundRuntime | CkksRound) => {
        const watchers = this.watchers.get(runtime.id);
        if (watchers && watchers.size > 0) {
          const snapshot = runtime.snapshot();
          for (const send of [...watchers]) send(snapshot);
        }
        // Per accepted message only watchers need waking; the rest happens on phase changes.
        if (this.knownPhases.get(runtime.id) === runtime.phase) return;
        this.knownPhases.set(runtime.id, runtime.phase);
        if (runtime.phase !== 'masked-input' && runtime.phase !== 'collecting') {
          this.uploads.endRound(
            runtime.id,
            runtime.phase === 'aborted'
              ? aborted(`round ${runtime.id} was aborted: ${runtime.snapshot().abortReason}`)
              : failedPrecondition(
                  `round ${runtime.id} moved on to phase ${runtime.phase}: the upload deadline has passed`,
                ),
          );
        }
        if (runtime.phase === 'done') {
          this.metrics.roundSeconds.observe((Date.now() - runtime.openedAt) / 1000);
          this.closeOnLedger(runtime);
          if (runtime instanceof RoundRuntime) this.recordMisbehaviour(runtime);
        }
        this.updatePhaseGauge();
      },
    };
  }

  ckksDependencies(): CkksRoundDependencies {
    const ckks = this.ckks;
    if (ckks === undefined) {
      throw new Error(
        'this coordinator has CKKS rounds but no CKKS key: set ckks.keyFile in its config',
      );
    }
    const { onChange, store, logger, now } = this.runtimeDependencies();
    return {
      store,
      logger,
      now,
      onChange,
      engine: ckks.engine,
      publicKey: ckks.key.publicKey,
      keySha256: ckks.key.keySha256,
      closeOnLedger: async (round: CkksRound) => {
        if (this.ledger === undefined) throw new Error('CKKS rounds need the ledger');
        await this.ledger.closeRound(round);
        this.closedOnLedger.add(round.id);
      },
      decrypt: (round: CkksRound, aggregate: Uint8Array[]) =>
        thresholdDecrypt(ckks, round, aggregate, {
          logger: this.logger,
          memberCertificate: (memberId) => this.memberCertificate(memberId),
        }),
    };
  }

  /** A member's certificate (PEM) as configured: keyholders check it against the consortium CA. */
  memberCertificate(memberId: string): Uint8Array {
    const member = this.config.members.find((m) => m.id === memberId);
    if (member === undefined) throw new Error(`member ${memberId} is not in the configuration`);
    return new Uint8Array(readFileSync(member.certificate));
  }

  /** A round as served to callers: with the embedded-ledger head the coordinator is at. */
  served(round: Round): Round {
    const head = this.ledger?.head;
    return head === undefined
      ? round
      : { ...round, ledgerHead: { number: head.number, hash: Buffer.from(head.hash, 'hex') } };
  }

  /** U1, U2, U3 of a SecAgg round to the ledger, where members check them before revealing. */
  private commitPhase(runtime: RoundRuntime, phase: RoundPhaseName, members: number[]): void {
    this.ledger?.commitPhase(runtime.id, phase, members).catch((error: Error) => {
      this.logger.error(
        { event: 'ledger-phase-commit-failed', round: runtime.id, phase, reason: error.message },
        'could not commit the participant set on the ledger; members will not go on',
      );
    });
  }

  /** Each member the round caught misbehaving, named on the ledger. */
  private recordMisbehaviour(runtime: RoundRuntime): void {
    for (const { member, reason, evidence } of runtime.misbehaviour) {
      const memberId = runtime.roster[member - 1]!.memberId;
      this.ledger
        ?.recordMisbehaviour(runtime.id, memberId, reason, evidence)
        .catch((error: Error) => {
          this.logger.error(
            {
              event: 'ledger-misbehaviour-failed',
              round: runtime.id,
              member: memberId,
              reason: error.message,
            },
            'could not record misbehaviour on the ledger',
          );
        });
    }
  }

  /** One RoundClosed transaction per finished round; failures are logged and retried at restart. */
  closeOnLedger(runtime: RoundRuntime | CkksRound): void {
    if (
      this.ledger === undefined ||
      runtime.phase !== 'done' ||
      this.closedOnLedger.has(runtime.id)
    )
      return;
    this.closedOnLedger.add(runtime.id);
    this.ledger.closeRound(runtime).catch((error: Error) => {
      this.closedOnLedger.delete(runtime.id);
      this.logger.error(
        { event: 'ledger-close-failed', round: runtime.id, reason: error.message },
        'could not close round on the ledger',
      );
    });
  }

  updatePhaseGauge(): void {
    this.metrics.roundsByPhase.reset();
    for (const runtime of this.rounds.values())
      this.metrics.roundsByPhase.inc({ phase: runtime.phase });
  }
}
