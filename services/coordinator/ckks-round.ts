import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { splitCiphertexts } from '../../crypto/ckks/ciphertext-wire.ts';
import { verifyUploadReceipt } from '../../crypto/ckks/upload-receipt.ts';
import { nativeCurve25519 } from '../../crypto/curve25519-native.ts';
import { ED25519_SIGNATURE_BYTES } from '../../crypto/curve25519.ts';
import type { UploadReceipt } from '../../ledger/records.ts';
import type { CiphertextSum, CkksEngine, PendingUpdate } from '../../crypto/ckks/engine.ts';
import { ciphertextsFor, parameterSetNamed } from '../../crypto/ckks/parameters.ts';
import { Phase, RoundParams, type Round } from '../../proto/gen/veilsum/v1/round.ts';
import { paramsHash } from '../../proto/round-wire.ts';
import {
  aborted,
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  resourceExhausted,
  unauthenticated,
} from '../../sdk/common/grpc-errors.ts';
import { parseRoster, rosterToWire, type RosterMember } from './round-runtime.ts';
import { MAX_TIMER_MS } from './round-params.ts';
import {
  absentMembers,
  type Decline,
  decodeDecline,
  onlyDeclinedAreSilent,
  outOfRound,
  recordDecline,
  type PhaseAttendance,
} from './round-declines.ts';
import {
  PersistenceError,
  type RoundEvent,
  type RoundRow,
  type RoundStore,
} from './round-store.ts';

/** Proofs at rest: each as a u32 little-endian length and its bytes. */
export function encodeProofList(proofs: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(proofs.reduce((total, proof) => total + 4 + proof.length, 0));
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const proof of proofs) {
    view.setUint32(offset, proof.length, true);
    out.set(proof, offset + 4);
    offset += 4 + proof.length;
  }
  return out;
}

export function decodeProofList(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length;) {
    const length = view.getUint32(offset, true);
    out.push(bytes.subarray(offset + 4, offset + 4 + length));
    offset += 4 + length;
  }
  return out;
}

export type CkksStatus = 'collecting' | 'decrypting' | 'done' | 'aborted';

const PHASE_TO_WIRE: Record<CkksStatus, Phase> = {
  collecting: Phase.PHASE_COLLECTING,
  decrypting: Phase.PHASE_DECRYPTING,
  done: Phase.PHASE_DONE,
  aborted: Phase.PHASE_ABORTED,
};

/** What a CKKS round needs from the coordinator. */
export interface CkksRoundDependencies {
  readonly store: RoundStore;
  readonly logger: Logger;
  readonly now: () => number;
  readonly engine: CkksEngine;
  readonly publicKey: Uint8Array;
  readonly keySha256: Uint8Array;
  /** Records the round's commitments on the ledger (idempotent); keyholders check them there. */
  readonly closeOnLedger: (round: CkksRound) => Promise<void>;
  /** Asks t keyholders for partial decryptions of the aggregate and combines them. */
  readonly decrypt: (round: CkksRound, aggregate: Uint8Array[]) => Promise<Float64Array>;
  readonly onChange: (round: CkksRound) => void;
}

/**
 * One CKKS round at the coordinator. Members stream encrypted updates; each complete, valid
 * upload is added to the running homomorphic sum (one SEAL ciphertext per chunk: memory is
 * O(ciphertexts per update), not O(members)), stored durably and logged before it is
 * acknowledged. At the deadline — or when every member has uploaded — the round closes: with at
 * least min_contributors uploads the aggregate is committed on the ledger, t keyholders decrypt
 * it, and the decoded sum is published. Dropouts need no recovery: absent uploads are not summed.
 * After a restart the log is replayed (uploads re-added from their files) and an interrupted
 * decryption is asked for again.
 */
/** Malformed uploads one member may send per round before its uploads are refused unread. */
export const MAX_REFUSED_UPLOADS_PER_MEMBER = 8;

export class CkksRound {
  /** Refused (malformed) uploads per roster index: in memory, so a restart forgives them. */
  private readonly refusedUploads = new Map<number, number>();
  readonly id: string;
  readonly params: RoundParams;
  readonly roster: readonly RosterMember[];
  readonly graphSeed: Uint8Array;
  readonly openedAt: number;
  readonly paramsHash: Uint8Array;
  readonly chunks: number;
  private readonly deps: CkksRoundDependencies;
  private readonly sum: CiphertextSum;
  /** Accepted uploads by member index: SHA-256 and the member's signed receipt. */
  private readonly uploads = new Map<number, { sha256: Uint8Array; signature: Uint8Array }>();
  /** The responder set fixed for the decryption (logged before any keyholder is asked). */
  private responderSet: number[] | undefined;
  private status: CkksStatus = 'collecting';
  private phaseStartedAt: number;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private included: number[] = [];
  private aggregateSha256: Uint8Array = new Uint8Array(0);
  private resultSha256: Uint8Array = new Uint8Array(0);
  private abortReason = '';
  private replaying = false;
  private decrypting: Promise<void> | undefined;
  /** The closed sum on the wire, kept until it is decrypted. */
  private aggregate: Uint8Array[] | undefined;
  /** Members out of the round by their own word or the coordinator's consent check. */
  private readonly declines = new Map<number, Decline>();

  private constructor(row: RoundRow, deps: CkksRoundDependencies) {
    this.id = row.roundId;
    this.params = RoundParams.decode(row.params);
    this.graphSeed = row.graphSeed;
    this.openedAt = row.openedAt;
    this.phaseStartedAt = row.openedAt;
    this.paramsHash = paramsHash(row.params, row.graphSeed);
    this.roster = parseRoster(row.roster);
    this.deps = deps;
    this.chunks = ciphertextsFor(
      parameterSetNamed(this.params.ckks!.parameterSet),
      this.params.dimension,
    );
    this.sum = deps.engine.newSum(this.chunks);
  }

  static open(row: RoundRow, deps: CkksRoundDependencies): CkksRound {
    deps.store.insertRound(row);
    const round = new CkksRound(row, deps);
    round.scheduleDeadline();
    return round;
  }

  static restore(row: RoundRow, deps: CkksRoundDependencies): CkksRound {
    const round = new CkksRound(row, deps);
    round.replaying = true;
    try {
      for (const event of deps.store.events(row.roundId)) round.replay(event);
    } catch (error) {
      round.release();
      throw error;
    }
    round.replaying = false;
    if (round.status === 'collecting') {
      round.scheduleDeadline();
      round.closeIfEveryoneUploaded();
    } else if (round.status === 'decrypting') round.startDecryption();
    return round;
  }

  get phase(): CkksStatus {
    return this.status;
  }

  get dimension(): number {
    return this.params.dimension;
  }

  /** SHA-256 of the stored (decrypted) aggregate file, once done. */
  get aggregateFileSha256(): Uint8Array {
    return this.resultSha256;
  }

  isSettled(): boolean {
    return this.status === 'done' || this.status === 'aborted';
  }

  indexOf(memberId: string): number | undefined {
    return this.roster.find((member) => member.memberId === memberId)?.index;
  }

  /**
   * A member's upload was refused as malformed (INVALID_ARGUMENT, UNAUTHENTICATED): each costs
   * the coordinator its checks (~0.2 s of proof verification per bad batch), so a member has
   * MAX_REFUSED_UPLOADS_PER_MEMBER of them per round; then its uploads are refused at the header.
   */
  uploadRefused(index: number): void {
    this.refusedUploads.set(index, (this.refusedUploads.get(index) ?? 0) + 1);
  }

  /** Checked when an upload's header arrives, so a refused upload is refused before its data. */
  checkUploadAllowed(index: number, ciphertexts: number, keySha256: Uint8Array): void {
    if (this.status === 'aborted')
      throw aborted(`round ${this.id} was aborted: ${this.abortReason}`);
    const refused = this.refusedUploads.get(index) ?? 0;
    if (refused >= MAX_REFUSED_UPLOADS_PER_MEMBER)
      throw resourceExhausted(
        `member ${index} sent ${refused} refused uploads to round ${this.id}, the most a member may; it uploads nothing more to this round`,
      );
    if (this.status !== 'collecting') {
      throw failedPrecondition(
        `round ${this.id} is ${this.status}: uploads closed at ${new Date(this.deadlineAt()).toISOString()}`,
      );
    }
    const decline = this.declines.get(index);
    if (decline !== undefined) throw outOfRound(this.id, index, decline);
    if (this.uploads.has(index))
      throw alreadyExists(
        `member ${index} already uploaded to round ${this.id}; the first upload is kept`,
      );
    if (!Buffer.from(keySha256).equals(Buffer.from(this.deps.keySha256))) {
      throw invalidArgument(
        `the update was encrypted under key ${Buffer.from(keySha256).toString('hex').slice(0, 16)}…, ` +
          `round ${this.id} uses key ${Buffer.from(this.deps.keySha256).toString('hex').slice(0, 16)}…; fetch it with GetEncryptionKey`,
      );
    }
    if (ciphertexts !== this.chunks) {
      throw invalidArgument(
        `an update of ${this.dimension} values is ${this.chunks} ciphertexts, the header announces ${ciphertexts}`,
      );
    }
  }

  /** Where an upload's ciphertexts go, checked and loaded one by one as they arrive. */
  beginUpload(): PendingUpdate {
    return this.sum.begin();
  }

  /**
   * The member's receipt must be its signature, under its roster identity key (its certificate's),
   * over (round id, params hash, SHA-256 of the bytes that arrived): keyholders check the same
   * signature from the ledger before decrypting, so an upload without one could never be summed.
   */
  checkReceipt(index: number, sha256: Uint8Array, signature: Uint8Array): void {
    const member = this.roster[index - 1]!;
    if (signature.length !== ED25519_SIGNATURE_BYTES)
      throw unauthenticated(
        `the upload carries no receipt signature (${signature.length} bytes); sign (round id, params hash, upload SHA-256) with the member's certificate key`,
      );
    if (
      !verifyUploadReceipt(
        nativeCurve25519,
        member.identityKey,
        this.id,
        this.paramsHash,
        sha256,
        signature,
      )
    )
      throw unauthenticated(
        `the receipt signature of ${member.memberId} does not verify for round ${this.id} and the ` +
          `${Buffer.from(sha256).toString('hex').slice(0, 16)}… upload that arrived; nothing was stored`,
      );
  }

  /**
   * A complete upload, its ciphertexts checked and loaded (`pending`) and its bytes staged in
   * `temporaryPath`, with the member's signed receipt: added to the sum — all chunks or none —
   * then made durable and logged.
   */
  acceptUpload(
    index: number,
    pending: PendingUpdate,
    temporaryPath: string,
    sha256: Uint8Array,
    receiptSignature: Uint8Array,
    proofs: readonly Uint8Array[] = [],
  ): void {
    this.checkUploadAllowed(index, pending.size, this.deps.keySha256);
    this.checkReceipt(index, sha256, receiptSignature);
    // The verified encryption proofs are kept beside the upload (uploadProofsPath) so keyholders
    // can re-verify what they are asked to decrypt; they are written before the upload counts.
    if (proofs.length > 0) {
      const staged = `${this.uploadProofsPath(index)}.partial`;
      writeFileSync(staged, encodeProofList(proofs));
      this.deps.store.commitFile(staged, this.uploadProofsPath(index));
    }
    pending.commit();
    // From here the upload is in the running sum: if it cannot be made durable too, the
    // coordinator exits rather than serve a sum a restart would not reproduce.
    try {
      this.deps.store.commitFile(temporaryPath, this.uploadPath(index));
    } catch (error) {
      throw new PersistenceError(
        `could not store the upload of member ${index}: ${(error as Error).message}`,
      );
    }
    const payload = new Uint8Array(sha256.length + receiptSignature.length);
    payload.set(sha256, 0);
    payload.set(receiptSignature, sha256.length);
    this.deps.store.appendEvent(this.id, 'ckks-upload', index, payload, this.deps.now());
    this.uploads.set(index, { sha256, signature: receiptSignature });
    this.changed();
    this.closeIfEveryoneUploaded();
  }

  /** One receipt per included member, in roster order: what RoundClosed carries. */
  receipts(): UploadReceipt[] {
    return this.included.map((index) => {
      const upload = this.uploads.get(index)!;
      return {
        memberId: this.roster[index - 1]!.memberId,
        uploadSha256: Buffer.from(upload.sha256).toString('hex'),
        signature: Buffer.from(upload.signature).toString('hex'),
      };
    });
  }

  /** An included member's stored upload, as its ciphertexts on the wire. */
  uploadCiphertexts(index: number): Uint8Array[] {
    // Re-checked against the digest logged when it was accepted: a corrupt file is refused.
    // The ciphertexts are views of the bytes read (a fresh buffer of its own), not copies.
    const bytes = this.deps.store.readVerified(
      this.uploadPath(index),
      this.uploads.get(index)!.sha256,
      `the upload of member ${index}`,
    );
    // Full or compact (a member's SDK sends compact ones), each as its magic says.
    return splitCiphertexts(bytes, this.deps.engine.expectations, this.chunks);
  }

  /** An included member's stored encryption proofs, in batch order (none for older uploads). */
  uploadProofs(index: number): Uint8Array[] {
    const path = this.uploadProofsPath(index);
    return existsSync(path) ? decodeProofList(new Uint8Array(readFileSync(path))) : [];
  }

  /** The responder set fixed for this round's decryption, if one was. */
  get responders(): readonly number[] | undefined {
    return this.responderSet;
  }

  /**
   * Fixes (durably) the keyholders whose partials will be combined, before any of them is
   * asked: after a restart the same set is asked again and answers with the same bytes.
   */
  fixResponders(responders: readonly number[]): void {
    const sorted = [...responders].sort((a, b) => a - b);
    this.deps.store.appendEvent(
      this.id,
      'ckks-responders',
      null,
      new TextEncoder().encode(JSON.stringify(sorted)),
      this.deps.now(),
    );
    this.responderSet = sorted;
  }

  uploadPath(index: number): string {
    return this.deps.store.uploadPath(this.id, index).replace(/\.u32$/, '.ckks');
  }

  /** The upload's encryption proofs (`encodeProofList`), in batch order. */
  uploadProofsPath(index: number): string {
    return `${this.uploadPath(index)}.proofs`;
  }

  private encryptedAggregatePath(): string {
    return this.deps.store.aggregatePath(this.id).replace(/\.u32$/, '.ckks');
  }

  private closeIfEveryoneUploaded(): void {
    if (this.replaying || this.status !== 'collecting') return;
    if (this.uploads.size === this.roster.length) this.close('every member uploaded');
    else if (onlyDeclinedAreSilent(this.attendance(), this.declines))
      this.close('every member that did not decline uploaded');
  }

  /**
   * `index` is out of the round (DeclineRound, or refused by the coordinator's consent check):
   * recorded before it applies, shown in Round.missing; collection closes at once if it waited
   * only for members that declined. Idempotent: the first reason is kept.
   */
  decline(index: number, by: Decline['by'], reason: string): void {
    if (this.status === 'aborted')
      throw aborted(`round ${this.id} was aborted: ${this.abortReason}`);
    if (this.status === 'done') throw failedPrecondition(`round ${this.id} is already done`);
    if (!recordDecline(this.deps, this.id, this.declines, index, by, reason)) return;
    this.changed();
    this.closeIfEveryoneUploaded();
  }

  private attendance(): PhaseAttendance {
    return {
      phase: Phase.PHASE_COLLECTING,
      expected: this.roster.map((member) => member.index),
      spoke: new Set(this.uploads.keys()),
      closed: this.status !== 'collecting',
    };
  }

  private close(reason: string): void {
    if (this.status !== 'collecting') return;
    clearTimeout(this.deadlineTimer);
    const minimum = this.params.ckks!.minContributors;
    if (this.uploads.size < minimum) {
      this.abort(
        `only ${this.uploads.size} of the minimum ${minimum} members uploaded before the deadline`,
      );
      return;
    }
    this.deps.store.appendEvent(this.id, 'ckks-close', null, null, this.deps.now());
    this.applyClose(this.deps.now());
    this.deps.logger.info(
      { event: 'phase-closed', round: this.id, reason, contributors: this.included.length },
      'uploads closed; decrypting',
    );
    this.startDecryption();
  }

  private applyClose(at: number): void {
    this.status = 'decrypting';
    this.phaseStartedAt = at;
    this.included = [...this.uploads.keys()].sort((a, b) => a - b);
    this.aggregate = this.sum.result();
    const bytes = Buffer.concat(this.aggregate);
    this.aggregateSha256 = new Uint8Array(createHash('sha256').update(bytes).digest());
    this.changed();
  }

  private startDecryption(): void {
    this.decrypting ??= this.decryptAggregate()
      .catch((error: unknown) => {
        if (error instanceof PersistenceError) {
          this.deps.logger.fatal(
            { event: 'persistence-failed', round: this.id, reason: error.message },
            'cannot persist; exiting',
          );
          process.exit(70);
        }
        this.abort(`decryption failed: ${(error as Error).message}`);
      })
      .finally(() => {
        this.decrypting = undefined;
      });
  }

  private async decryptAggregate(): Promise<void> {
    const aggregate = this.aggregate!;
    const encrypted = `${this.encryptedAggregatePath()}.partial`;
    writeFileSync(encrypted, Buffer.concat(aggregate));
    this.deps.store.commitFile(encrypted, this.encryptedAggregatePath());
    await this.deps.closeOnLedger(this);
    const result = await this.deps.decrypt(this, aggregate);
    const bytes = Buffer.from(result.buffer, result.byteOffset, result.byteLength);
    const temporary = `${this.deps.store.aggregatePath(this.id)}.partial`;
    writeFileSync(temporary, bytes);
    this.deps.store.commitFile(temporary, this.deps.store.aggregatePath(this.id));
    const digest = new Uint8Array(createHash('sha256').update(bytes).digest());
    this.deps.store.appendEvent(this.id, 'ckks-result', null, digest, this.deps.now());
    this.resultSha256 = digest;
    this.status = 'done';
    this.phaseStartedAt = this.deps.now();
    this.release();
    this.deps.logger.info(
      {
        event: 'round-done',
        round: this.id,
        included: this.included.length,
        resultSha256: Buffer.from(digest).toString('hex'),
      },
      'round done',
    );
    this.changed();
  }

  private abort(reason: string): void {
    if (this.isSettled()) return;
    this.deps.store.appendEvent(
      this.id,
      'abort',
      null,
      new TextEncoder().encode(reason),
      this.deps.now(),
    );
    this.markAborted(reason, this.deps.now());
    this.changed();
  }

  /** A settled round keeps its files, not its ciphertexts. */
  private release(): void {
    this.aggregate = undefined;
    this.sum.dispose();
  }

  private markAborted(reason: string, at: number): void {
    this.release();
    this.status = 'aborted';
    this.abortReason = reason;
    this.phaseStartedAt = at;
    clearTimeout(this.deadlineTimer);
    this.deps.logger.warn({ event: 'round-aborted', round: this.id, reason }, 'round aborted');
  }

  private replay(event: RoundEvent): void {
    switch (event.kind) {
      case 'ckks-upload': {
        const index = event.sender ?? 0;
        const payload = event.payload ?? new Uint8Array(0);
        this.uploads.set(index, {
          sha256: payload.subarray(0, 32),
          signature: payload.subarray(32),
        });
        this.sum.add(this.uploadCiphertexts(index));
        return;
      }
      case 'ckks-responders':
        this.responderSet = JSON.parse(
          new TextDecoder().decode(event.payload ?? new Uint8Array(0)),
        ) as number[];
        return;
      case 'ckks-close':
        return this.applyClose(event.at);
      case 'ckks-result':
        this.resultSha256 = event.payload ?? new Uint8Array(0);
        this.status = 'done';
        this.phaseStartedAt = event.at;
        this.release();
        return;
      case 'abort':
        return this.markAborted(
          new TextDecoder().decode(event.payload ?? new Uint8Array(0)),
          event.at,
        );
      case 'decline':
        this.declines.set(event.sender ?? 0, decodeDecline(event.payload ?? new Uint8Array(0)));
        return;
      default:
        throw new Error(`event ${event.kind} does not belong to a CKKS round`);
    }
  }

  private scheduleDeadline(): void {
    clearTimeout(this.deadlineTimer);
    const remaining = Math.max(0, this.deadlineAt() - this.deps.now());
    this.deadlineTimer = setTimeout(
      () => (remaining > MAX_TIMER_MS ? this.scheduleDeadline() : this.close('deadline')),
      Math.min(remaining, MAX_TIMER_MS),
    );
    this.deadlineTimer.unref();
  }

  deadlineAt(): number {
    return this.openedAt + this.params.deadlines!.maskedInputMs;
  }

  private changed(): void {
    if (!this.replaying) this.deps.onChange(this);
  }

  snapshot(): Round {
    const uploaded = [...this.uploads.keys()].sort((a, b) => a - b);
    return {
      roundId: this.id,
      params: this.params,
      phase: PHASE_TO_WIRE[this.status],
      roster: rosterToWire(this.roster),
      graphSeed: Buffer.from(this.graphSeed),
      paramsHash: Buffer.from(this.paramsHash),
      openedAtMs: this.openedAt,
      phaseDeadlineMs: this.status === 'collecting' ? this.deadlineAt() : 0,
      advertised: [],
      shared: [],
      masked: uploaded,
      signed: [],
      unmasked: [],
      included: [...this.included],
      aggregateSha256: Buffer.from(this.aggregateSha256),
      uploadSha256: this.included.map((index) => Buffer.from(this.uploads.get(index)!.sha256)),
      abortReason: this.abortReason,
      misbehaving: [],
      missing: absentMembers(this.roster, [this.attendance()], this.declines),
      ledgerHead: undefined,
    };
  }

  stop(): void {
    clearTimeout(this.deadlineTimer);
  }
}
