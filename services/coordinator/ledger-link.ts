import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { merkleRoot } from '../../crypto/merkle.ts';
import { ContractError } from '../../ledger/contract.ts';
import type { Ledger } from '../../ledger/ledger.ts';
import {
  type EmbeddedAccess,
  openLedger,
  type LedgerConfig,
  type OpenLedger,
} from '../../ledger/ledger-factory.ts';
import type {
  RoundManifest,
  RoundPhaseName,
  RoundRecord,
  UploadReceipt,
} from '../../ledger/records.ts';
import { createHash } from 'node:crypto';
import { RequestError } from '../../sdk/common/grpc-errors.ts';
import type { Round } from '../../proto/gen/veilsum/v1/round.ts';

/** What closing a round on the ledger reads from it (SecAgg and CKKS rounds alike). */
/** The member's consent for the round's model is not in force: it stays out of that round. */
export class ConsentRefusal extends RequestError {
  constructor(message: string) {
    super(status.FAILED_PRECONDITION, message);
    this.name = 'ConsentRefusal';
  }
}

export interface ClosableRound {
  readonly id: string;
  readonly roster: readonly { readonly memberId: string }[];
  snapshot(): Round;
  /** CKKS rounds: the included members' signed upload receipts. */
  receipts?(): UploadReceipt[];
}

/**
 * What the coordinator writes to and checks against the consortium ledger: one transaction when
 * a round opens (parameters hash, roster, consents in force), one when it closes (participant-set
 * commitment, Merkle root of upload commitments, aggregate hash, dropout count) — never per
 * client or per chunk — and a consent check before a member may take part.
 */
export class LedgerLink {
  readonly ledger: Ledger;
  readonly identity: string;
  private readonly opened: OpenLedger;
  private readonly logger: Logger;
  private readonly rounds = new Map<string, RoundRecord>();
  private readonly closing = new Map<string, Promise<void>>();

  /** `tls`: the coordinator's certificate and key sign its embedded-ledger blocks. */
  constructor(config: LedgerConfig, tls: EmbeddedAccess, logger: Logger) {
    this.opened = openLedger(config, 'veilsum-coordinator', undefined, tls);
    this.ledger = this.opened.ledger;
    this.identity = this.opened.memberId;
    this.logger = logger;
  }

  /**
   * The last embedded-ledger block this coordinator wrote or verified (served with each round so
   * members can check their view holds it); undefined on Fabric.
   */
  get head(): { number: number; hash: string } | undefined {
    return this.opened.embedded?.verifiedHead;
  }

  /**
   * Registers the coordinator (first registration bootstraps the ledger), the members and the
   * auditors (who read everything, e.g. through the compliance console).
   */
  async bootstrap(memberIds: readonly string[], auditorIds: readonly string[] = []): Promise<void> {
    if (!(await this.isRegistered(this.identity)))
      await this.ledger.registerMember(this.identity, ['coordinator']);
    for (const id of memberIds)
      if (!(await this.isRegistered(id))) await this.ledger.registerMember(id, ['member']);
    for (const id of auditorIds)
      if (!(await this.isRegistered(id))) await this.ledger.registerMember(id, ['auditor']);
  }

  async openRound(
    roundId: string,
    modelId: string,
    roundNumber: number,
    paramsHash: Uint8Array,
    roster: string[],
    manifest: RoundManifest | null = null,
  ): Promise<RoundRecord> {
    const record = await this.ledger.openRound(
      roundId,
      modelId,
      roundNumber,
      Buffer.from(paramsHash).toString('hex'),
      roster,
      manifest,
    );
    this.rounds.set(roundId, record);
    return record;
  }

  /**
   * Commits a SecAgg phase's participant set (one ledger transaction per round and phase). After
   * a restart the same set is found already committed and nothing is written.
   */
  async commitPhase(roundId: string, phase: RoundPhaseName, members: number[]): Promise<void> {
    try {
      const existing = await this.ledger.getRoundPhase(roundId, phase);
      if (existing.members.join(',') === members.join(',')) return;
    } catch (error) {
      if (!(error instanceof ContractError && error.kind === 'not-found')) throw error;
    }
    await this.ledger.commitRoundPhase(roundId, phase, members);
    this.logger.info(
      { event: 'ledger-phase-committed', round: roundId, phase, members: members.length },
      'participant set committed on the ledger',
    );
  }

  /** Names a member caught misbehaving, with the SHA-256 of the evidence the coordinator keeps. */
  async recordMisbehaviour(
    roundId: string,
    memberId: string,
    reason: string,
    evidence: Uint8Array,
  ): Promise<void> {
    const digest = createHash('sha256').update(evidence).digest('hex');
    await this.ledger.recordMisbehaviour(roundId, memberId, reason.slice(0, 1000), digest);
    this.logger.warn(
      { event: 'ledger-misbehaviour', round: roundId, member: memberId, reason },
      'member named for misbehaviour on the ledger',
    );
  }

  /**
   * A member may take part only under the consent that was in force for the model when the
   * round opened, and only while that consent is still neither revoked nor expired.
   */
  async requireConsent(roundId: string, memberId: string): Promise<void> {
    const round = await this.round(roundId);
    const recorded = round.consents.find((consent) => consent.memberId === memberId);
    const history = await this.ledger.consentHistory(memberId);
    if (recorded === undefined) {
      const latest = history.filter((c) => c.purpose === round.modelId).at(-1);
      const detail =
        latest === undefined
          ? 'it has never granted one'
          : latest.revokedAt !== null
            ? `its latest, consent ${latest.consentId} for dataset ${latest.datasetId}, was revoked at ${new Date(latest.revokedAt).toISOString()}`
            : `its latest, consent ${latest.consentId}, was not valid at that time`;
      throw new ConsentRefusal(
        `member ${memberId} had no consent in force for ${round.modelId} when round ${roundId} opened (${detail}); ` +
          `grant one with purpose "${round.modelId}" before the next round`,
      );
    }
    const consent = history.find((c) => c.consentId === recorded.consentId);
    const now = Date.now();
    if (consent === undefined || consent.revokedAt !== null || consent.expiresAt <= now) {
      const why =
        consent?.revokedAt != null
          ? `was revoked at ${new Date(consent.revokedAt).toISOString()}`
          : `expired at ${new Date(consent?.expiresAt ?? 0).toISOString()}`;
      throw new ConsentRefusal(
        `consent ${recorded.consentId} of member ${memberId} for dataset ${recorded.datasetId} ${why}; ` +
          `${memberId} cannot submit to round ${roundId}`,
      );
    }
  }

  /**
   * Closes the round on the ledger with its commitments (idempotent after a restart). Callers
   * that race — the round finishing and a RecordModelVersion — share one transaction: on Fabric a
   * close takes an ordering round trip, and a second close would be refused as a conflict.
   */
  closeRound(runtime: ClosableRound): Promise<void> {
    const inFlight = this.closing.get(runtime.id);
    if (inFlight) return inFlight;
    const closing = this.closeOnce(runtime).finally(() => this.closing.delete(runtime.id));
    this.closing.set(runtime.id, closing);
    return closing;
  }

  private async closeOnce(runtime: ClosableRound): Promise<void> {
    const round = await this.round(runtime.id, true);
    if (round.status === 'closed') return;
    const snapshot = runtime.snapshot();
    const included = snapshot.included.map((index) => runtime.roster[index - 1]!.memberId);
    const root = merkleRoot(snapshot.uploadSha256.map((digest) => new Uint8Array(digest)));
    const closed = await this.ledger.closeRound(
      runtime.id,
      included,
      Buffer.from(root).toString('hex'),
      Buffer.from(snapshot.aggregateSha256).toString('hex'),
      runtime.roster.length - included.length,
      runtime.receipts?.() ?? [],
    );
    this.rounds.set(runtime.id, closed);
    this.logger.info(
      { event: 'ledger-round-closed', round: runtime.id, included: included.length },
      'round closed on the ledger',
    );
  }

  async round(roundId: string, refresh = false): Promise<RoundRecord> {
    let record = refresh ? undefined : this.rounds.get(roundId);
    if (record === undefined) {
      record = await this.ledger.getRound(roundId);
      this.rounds.set(roundId, record);
    }
    return record;
  }

  close(): void {
    this.opened.close();
  }

  private async isRegistered(mspId: string): Promise<boolean> {
    try {
      await this.ledger.getMember(mspId);
      return true;
    } catch (error) {
      if (error instanceof ContractError && error.kind === 'not-found') return false;
      throw error;
    }
  }
}
