import { encodeFields, equalBytes } from '../bytes.ts';
import { CURVE25519_KEY_BYTES, type Curve25519, ED25519_SIGNATURE_BYTES } from '../curve25519.ts';
import { deriveKey } from '../kdf.ts';
import { addInto, subtractInto } from '../prg.ts';
import { combineMasks, type MaskJob } from './masks.ts';
import { reduceModulus } from '../quantize.ts';
import {
  checkEncodedShare,
  decodeShare,
  decodeWithErrors,
  InconsistentSharesError,
  lagrangeCoefficients,
  lagrangeCoefficientsBatch,
  reconstructSecret,
  reconstructWithCoefficients,
  type Share,
} from '../shamir.ts';
import { CryptoInputError } from '../validate.ts';
import { bigIntToBytes } from '../field.ts';
import { needsContributedSeed, type RoundContext, withGraphSeed } from './config.ts';
import {
  contributedGraphSeed,
  SEED_CONTRIBUTION_BYTES,
  seedCommitment,
  seedCommitmentsDigest,
} from './graph-seed.ts';
import {
  DuplicateMessageError,
  InvalidSignatureError,
  MalformedMessageError,
  PhaseOrderError,
  ReconstructionError,
  TooFewParticipantsError,
  UnexpectedSenderError,
} from './errors.ts';
import type {
  AdvertiseKeysMessage,
  ConsistencyCheckRequest,
  ConsistencySignatureMessage,
  EncryptedShare,
  KeysBroadcast,
  MaskedInputMessage,
  Misbehaviour,
  SecAggPhase,
  SeedCommitmentsMessage,
  SeedRevealMessage,
  Conviction,
  ShareComplaint,
  SharesDelivery,
  ShareKeysMessage,
  UnmaskingMessage,
  UnmaskingRequest,
  PairwiseReveal,
  PairwiseRevealMessage,
  PairwiseRevealRequest,
} from './messages.ts';
import type { EdwardsPoint } from '@noble/curves/abstract/edwards.js';
import { MaskingKeyIndex } from './pairwise-reveal.ts';
import {
  judgeShareComplaint,
  SHARE_BOX_CIPHERTEXT_BYTES,
  shareBoxCommitments,
  signedShareBoxes,
} from './share-box.ts';
import {
  advertiseKeysPayload,
  maskingKeyPossessionContext,
  pairwiseRevealContext,
  selfMaskCommitment,
  shareCommitment,
  survivorSetPayload,
} from './transcript.ts';
import {
  DLEQ_POINT_BYTES,
  DLEQ_PROOF_BYTES,
  liftPeerKey,
  verifyKeyPossessionOfLift,
  verifySharedSecret,
} from '../dleq.ts';

export interface SecAggResult {
  /** Σ_{u∈U3} x_u in Z_{2^modulusBits}. */
  readonly sum: Uint32Array;
  /** U3: exactly the clients whose inputs are in the sum. */
  readonly included: readonly number[];
  /** U2 \ U3: shared keys, then dropped (or were excluded); their pairwise masks were removed. */
  readonly droppedAfterSharing: readonly number[];
  /** Members caught breaking the protocol: excluded from the sum where that was still possible. */
  readonly misbehaving: readonly Misbehaviour[];
  readonly participantSets: {
    readonly advertised: readonly number[];
    readonly shared: readonly number[];
    readonly masked: readonly number[];
    readonly signed: readonly number[];
    readonly unmasked: readonly number[];
  };
}

export interface SecAggServerOptions {
  readonly context: RoundContext;
  readonly curve: Curve25519;
}

/**
 * The aggregator's side of a SecAgg+ round. Messages are accepted one at a time, each checked
 * for phase, sender and shape before it changes any state; `close…` ends a phase (a deadline in
 * the service layer), turning silent clients into dropouts. Memory is O(n·k) for keys and shares
 * plus one O(d) running sum: masked inputs are added as they arrive, never stored.
 */
export class SecAggServer {
  /** Replaced once, when a sparse graph's contributed seed is fixed. */
  private context: RoundContext;
  private readonly curve: Curve25519;
  private phase: SecAggPhase = 'advertise-keys';

  private readonly advertised = new Map<number, AdvertiseKeysMessage>();
  /** Each advertised masking key's cleared lift, computed on arrival for its proof check. */
  private readonly maskingLifts = new Map<number, EdwardsPoint>();
  /** The ownership index over those lifts, built on the first ownership check (dispute path). */
  private maskingKeyIndex: MaskingKeyIndex | undefined;
  /** D over U1's seed commitments, fixed when AdvertiseKeys closes (sparse graphs). */
  private seedDigest: Uint8Array = new Uint8Array(0);
  private readonly seedReveals = new Map<number, Uint8Array>();
  /** U1's reveals in member order, as every member receives them (built once). */
  private seedRevealList: SeedRevealMessage[] = [];
  private readonly shared = new Map<number, ShareKeysMessage>();
  /** Each sender's boxes in their delivered form (with paths), by sender, as they arrive. */
  private readonly deliverable = new Map<number, EncryptedShare[]>();
  /** Boxes by recipient, filled when ShareKeys closes. */
  private readonly boxesByRecipient = new Map<number, EncryptedShare[]>();
  private readonly masked = new Set<number>();
  /** Complaints about share boxes, by accuser, sent with its masked input. */
  private readonly complaints = new Map<number, readonly ShareComplaint[]>();
  private readonly misbehaving = new Map<number, { reason: string; evidence: Uint8Array[] }>();
  private readonly runningSum: Uint32Array;
  private survivors: number[] = [];
  /** Complaints upheld when MaskedInputCollection closed, served for members to judge again. */
  private convictions: Conviction[] = [];
  /** Their accused, sorted and distinct: signed with U3. */
  private convicted: number[] = [];
  private readonly consistencySignatures = new Map<number, Uint8Array>();
  /** What each survivor signs (U3 and the convicted, fixed once MaskedInput closed): built once. */
  private survivorPayload: Uint8Array | undefined;
  private relayedSignatures: ConsistencySignatureMessage[] | undefined;
  private readonly unmasked = new Set<number>();
  /** Checked on arrival, decoded only when used (most reconstructions need just t of them). */
  private readonly selfMaskShares = new Map<number, StoredShare[]>();
  private readonly maskingKeyShares = new Map<number, StoredShare[]>();
  /** Proven pairwise secrets with convicted members: convicted → (survivor → X25519 secret). */
  private readonly pairwiseSecrets = new Map<number, Map<number, Uint8Array>>();
  /** Dropped members whose masks need the second reveal (set once, when Unmasking closes). */
  private secondRevealFor: ReadonlySet<number> = new Set();
  /** Who answered the second reveal. */
  private readonly secondRevealed = new Set<number>();
  private secondRevealDone = false;
  /** Every mask to remove, once Unmasking (and any second reveal) closed. */
  private plannedJobs: MaskJob[] | undefined;
  private readonly lagrangeCache = new Map<string, bigint[]>();

  constructor(options: SecAggServerOptions) {
    this.context = options.context;
    this.curve = options.curve;
    this.runningSum = new Uint32Array(options.context.config.dimension);
  }

  get currentPhase(): SecAggPhase {
    return this.phase;
  }

  /** The round context, with the graph once its seed is fixed. */
  get roundContext(): RoundContext {
    return this.context;
  }

  /** Who has completed each phase so far (U1..U5), sorted. */
  participantSets(): SecAggResult['participantSets'] {
    const sorted = (values: Iterable<number>) => [...values].sort((a, b) => a - b);
    return {
      advertised: sorted(this.advertised.keys()),
      shared: sorted(this.shared.keys()),
      masked: sorted(this.masked),
      signed: sorted(this.consistencySignatures.keys()),
      unmasked: sorted(this.unmasked),
    };
  }

  /** Whether `client` may still speak in the current phase (it completed the previous one). */
  isEligible(client: number): boolean {
    switch (this.phase) {
      case 'advertise-keys':
        return client >= 1 && client <= this.context.config.clients;
      case 'seed-reveal':
      case 'share-keys':
        return this.advertised.has(client);
      case 'masked-input':
        return this.shared.has(client);
      case 'consistency-check':
        return this.masked.has(client);
      case 'unmasking':
        return this.context.config.adversary === 'semi-malicious'
          ? this.consistencySignatures.has(client)
          : this.masked.has(client);
      case 'pairwise-reveal':
        return this.secondRevealers().has(client);
      default:
        return false;
    }
  }

  /** Whether every client eligible in the current phase has spoken (so it can close early). */
  everyoneHasSpoken(): boolean {
    const spoken = {
      'advertise-keys': this.advertised.size,
      'seed-reveal': this.seedReveals.size,
      'share-keys': this.shared.size,
      'masked-input': this.masked.size,
      'consistency-check': this.consistencySignatures.size,
      unmasking: this.unmasked.size,
      'pairwise-reveal': this.secondRevealed.size,
    } as Partial<Record<SecAggPhase, number>>;
    const eligible = {
      'advertise-keys': this.context.config.clients,
      'seed-reveal': this.advertised.size,
      'share-keys': this.advertised.size,
      'masked-input': this.shared.size,
      'consistency-check': this.masked.size,
      unmasking:
        this.context.config.adversary === 'semi-malicious'
          ? this.consistencySignatures.size
          : this.masked.size,
      'pairwise-reveal': this.secondRevealers().size,
    } as Partial<Record<SecAggPhase, number>>;
    const count = spoken[this.phase];
    return count !== undefined && count === eligible[this.phase];
  }

  // ── Round 0: AdvertiseKeys ────────────────────────────────────────────────────────────────

  receiveAdvertiseKeys(message: AdvertiseKeysMessage): void {
    this.expectPhase('advertise-keys');
    const sender = this.expectSender(message.sender, 'AdvertiseKeys');
    if (this.advertised.has(sender))
      throw new DuplicateMessageError(`client ${sender} already advertised keys`);
    assertLength(
      message.encryptionPublicKey,
      CURVE25519_KEY_BYTES,
      `client ${sender}'s encryption public key`,
    );
    assertLength(
      message.maskingPublicKey,
      CURVE25519_KEY_BYTES,
      `client ${sender}'s masking public key`,
    );
    assertLength(
      message.sealingPublicKey,
      CURVE25519_KEY_BYTES,
      `client ${sender}'s sealing public key`,
    );
    assertLength(message.seedCommitment, 32, `client ${sender}'s seed commitment`);
    assertLength(message.signature, ED25519_SIGNATURE_BYTES, `client ${sender}'s signature`);
    // A masking key off the prime-order group would keep its neighbours from proving their
    // pairwise secrets with it once it is convicted (and so let it stop the round).
    const maskingLift = liftPeerKey(message.maskingPublicKey);
    if (maskingLift === undefined) {
      throw new MalformedMessageError(
        `client ${sender}'s masking public key is not a point of the curve's prime-order group`,
      );
    }
    const payload = advertiseKeysPayload(
      this.context.binding,
      sender,
      message.encryptionPublicKey,
      message.maskingPublicKey,
      message.sealingPublicKey,
      message.seedCommitment,
    );
    if (
      !this.curve.verify(this.context.config.identityKeys[sender - 1]!, payload, message.signature)
    ) {
      throw new InvalidSignatureError(
        `client ${sender}'s advertised keys are not signed by its identity key`,
      );
    }
    // Without a proof that it knows s^SK, a member convicted later (its boxes garbled for
    // k − t + 1 holders) could have neither its pairwise secrets revealed nor its s^SK
    // reconstructed, and so stop the round: it is refused here, before it is in U1 (issue 17).
    if (
      !verifyKeyPossessionOfLift(
        message.maskingPublicKey,
        maskingLift,
        message.maskingKeyProof,
        maskingKeyPossessionContext(this.context.binding, sender),
      )
    ) {
      throw new MalformedMessageError(
        `client ${sender}'s proof of possession of its masking key does not verify`,
      );
    }
    this.advertised.set(sender, message);
    this.maskingLifts.set(sender, maskingLift);
  }

  closeAdvertiseKeys(): void {
    this.expectPhase('advertise-keys');
    this.requireContributors(this.advertised.size, 'clients advertised keys');
    if (!needsContributedSeed(this.context)) {
      this.phase = 'share-keys';
      return;
    }
    this.seedDigest = seedCommitmentsDigest(
      this.context.binding,
      new Map([...this.advertised].map(([member, message]) => [member, message.seedCommitment])),
    );
    this.phase = 'seed-reveal';
  }

  // ── Seed reveal (sparse graphs; graph-seed.ts) ────────────────────────────────────────────

  /** What every member of U1 sees before it reveals: D, fixing all contributions. */
  seedCommitments(): SeedCommitmentsMessage {
    this.expectPhase('seed-reveal');
    return { digest: this.seedDigest };
  }

  receiveSeedReveal(message: SeedRevealMessage): void {
    this.expectPhase('seed-reveal');
    const sender = this.expectSender(message.sender, 'SeedReveal', this.advertised);
    if (this.seedReveals.has(sender))
      throw new DuplicateMessageError(`client ${sender} already revealed its seed contribution`);
    assertLength(message.contribution, SEED_CONTRIBUTION_BYTES, `client ${sender}'s seed reveal`);
    const committed = this.advertised.get(sender)!.seedCommitment;
    if (
      !equalBytes(seedCommitment(this.context.binding, sender, message.contribution), committed)
    ) {
      throw new MalformedMessageError(
        `client ${sender}'s seed reveal does not open the commitment in its signed AdvertiseKeys`,
      );
    }
    this.seedReveals.set(sender, message.contribution);
  }

  /**
   * Every U1 member's reveal or none: a seed computed without a withheld reveal would let the
   * member that withheld it choose between two seeds, so the round aborts instead.
   */
  closeSeedReveal(): void {
    this.expectPhase('seed-reveal');
    const missing = [...this.advertised.keys()].filter((member) => !this.seedReveals.has(member));
    if (missing.length > 0) {
      this.phase = 'aborted';
      throw new TooFewParticipantsError(
        `member(s) ${missing.sort((a, b) => a - b).join(', ')} of U1 withheld their graph-seed ` +
          `reveal; the seed needs every one (without them it would be a second seed to choose from)`,
      );
    }
    this.context = withGraphSeed(
      this.context,
      contributedGraphSeed(this.context.binding, this.seedReveals),
    );
    this.seedRevealList = [...this.seedReveals]
      .sort(([a], [b]) => a - b)
      .map(([sender, contribution]) => ({ sender, contribution }));
    this.phase = 'share-keys';
  }

  /** What client u receives: the signed keys of its neighbours in U1 (and U1's seed reveals). */
  keysFor(recipient: number): KeysBroadcast {
    this.expectPhase('share-keys');
    const keys = this.context.graph
      .neighbours(recipient)
      .flatMap((peer) => this.advertised.get(peer) ?? []);
    return this.seedRevealList.length === 0 ? { keys } : { keys, seedReveals: this.seedRevealList };
  }

  // ── Round 1: ShareKeys ────────────────────────────────────────────────────────────────────

  receiveShareKeys(message: ShareKeysMessage): void {
    this.expectPhase('share-keys');
    const sender = this.expectSender(message.sender, 'ShareKeys', this.advertised);
    if (this.shared.has(sender))
      throw new DuplicateMessageError(`client ${sender} already shared keys`);
    assertLength(message.selfMaskCommitment, 32, `client ${sender}'s self-mask commitment`);
    const expected = this.context.graph
      .neighbours(sender)
      .filter((peer) => this.advertised.has(peer));
    const recipients = message.encryptedShares.map((box) => box.peer).sort((a, b) => a - b);
    if (
      recipients.length !== expected.length ||
      recipients.some((peer, i) => peer !== expected[i])
    ) {
      throw new MalformedMessageError(
        `client ${sender} must send one share box to each neighbour that advertised keys ` +
          `(${expected.length} boxes), got boxes for [${recipients.join(',')}]`,
      );
    }
    const what = `client ${sender}'s share boxes`;
    for (const box of message.encryptedShares) {
      // The message is formed only for a box that fails (k boxes a message, most of them fine).
      if (!hasLength(box.ciphertext, SHARE_BOX_CIPHERTEXT_BYTES))
        assertLength(
          box.ciphertext,
          SHARE_BOX_CIPHERTEXT_BYTES,
          `${what}: the one for ${box.peer}`,
        );
    }
    assertLength(message.signature, ED25519_SIGNATURE_BYTES, `${what}: their signature`);
    assertLength(
      message.ephemeralSignature,
      ED25519_SIGNATURE_BYTES,
      `${what}: their ephemeral key's signature`,
    );
    // Every box relayed is one its sender signed: a member's unsigned box would otherwise make an
    // honest recipient stop the round, naming the coordinator. One signature covers them all.
    const delivered = signedShareBoxes(
      this.context.binding,
      message,
      this.advertised.get(sender)!.sealingPublicKey,
      this.context.config.identityKeys[sender - 1]!,
      (recipient) => this.advertised.get(recipient)!.encryptionPublicKey,
      this.curve,
    );
    if (delivered === undefined) {
      throw new InvalidSignatureError(`${what} are not signed by client ${sender}'s identity key`);
    }
    this.shared.set(sender, message);
    this.deliverable.set(sender, delivered);
  }

  closeShareKeys(): void {
    this.expectPhase('share-keys');
    this.requireContributors(this.shared.size, 'clients shared keys');
    for (const sender of this.shared.keys()) {
      const message = this.shared.get(sender)!;
      const delivered = this.deliverable.get(sender)!;
      message.encryptedShares.forEach((box, i) => {
        if (!this.shared.has(box.peer)) return; // recipients outside U2 never get their boxes
        let list = this.boxesByRecipient.get(box.peer);
        if (list === undefined) this.boxesByRecipient.set(box.peer, (list = []));
        list.push(delivered[i]!);
      });
    }
    this.phase = 'masked-input';
  }

  /** What client v receives: the boxes its neighbours in U2 sealed for it. */
  sharesFor(recipient: number): SharesDelivery {
    this.expectPhase('masked-input');
    return { encryptedShares: this.boxesByRecipient.get(recipient) ?? [] };
  }

  // ── Round 2: MaskedInputCollection ────────────────────────────────────────────────────────

  receiveMaskedInput(message: MaskedInputMessage): void {
    this.expectPhase('masked-input');
    const sender = this.expectSender(message.sender, 'MaskedInput', this.shared);
    if (this.masked.has(sender))
      throw new DuplicateMessageError(`client ${sender} already sent its masked input`);
    const { dimension } = this.context.config;
    if (!(message.maskedInput instanceof Uint32Array) || message.maskedInput.length !== dimension) {
      throw new MalformedMessageError(
        `client ${sender}'s masked input has length ${message.maskedInput?.length}, the round expects ${dimension}`,
      );
    }
    const complaints = message.complaints ?? [];
    const accused = new Set<number>();
    for (const complaint of complaints) {
      const box = this.boxFrom(complaint.accused, sender);
      if (box === undefined || accused.has(complaint.accused)) {
        throw new MalformedMessageError(
          `client ${sender} complains about a share box from client ${complaint.accused}, which sent it none (or it complains twice)`,
        );
      }
      const { evidence } = complaint;
      if (evidence !== undefined) {
        const what = `client ${sender}'s complaint against ${complaint.accused}`;
        assertLength(evidence.publicPoint, DLEQ_POINT_BYTES, `${what}: its public point`);
        assertLength(evidence.sharedPoint, DLEQ_POINT_BYTES, `${what}: its shared point`);
        assertLength(evidence.proof, DLEQ_PROOF_BYTES, `${what}: its proof`);
      }
      accused.add(complaint.accused);
    }
    addInto(this.runningSum, message.maskedInput);
    this.masked.add(sender);
    if (complaints.length > 0) this.complaints.set(sender, complaints);
  }

  /**
   * Members whose share boxes a survivor complained about, judged from public data only
   * (judgeShareComplaint): the box as its sender signed it, the accuser's advertised key and the
   * proven shared secret. A signed box that does not open under the proven key names and excludes
   * its sender, as if it had dropped after ShareKeys — its holders then reveal its s^SK shares,
   * never its b shares, so excluding it reveals nothing. Any other complaint (no proof, a proof
   * that does not verify, a box that opens) names the accuser and nobody else: one lying member
   * cannot get an honest one excluded.
   */
  private judgeComplaints(): Set<number> {
    const excluded = new Set<number>();
    for (const [accuser, complaints] of [...this.complaints].sort(([a], [b]) => a - b)) {
      for (const complaint of complaints) {
        const { accused } = complaint;
        const box = this.boxFrom(accused, accuser)!;
        const recipientPublicKey = this.advertised.get(accuser)!.encryptionPublicKey;
        const verdict = judgeShareComplaint(
          { binding: this.context.binding, sender: accused, recipient: accuser },
          box,
          this.context.config.identityKeys[accused - 1]!,
          recipientPublicKey,
          complaint,
          this.curve,
        );
        // Self-contained: with the round binding and the roster, anyone judges it again.
        const evidence = encodeFields(
          recipientPublicKey,
          box.ephemeralPublicKey,
          box.ciphertext,
          box.signature,
          box.ephemeralSignature,
          encodeFields(
            ...box.path.map((step) => encodeFields(step.siblingOnLeft ? 1 : 0, step.sibling)),
          ),
          complaint.evidence?.publicPoint ?? new Uint8Array(0),
          complaint.evidence?.sharedPoint ?? new Uint8Array(0),
          complaint.evidence?.proof ?? new Uint8Array(0),
        );
        if (verdict.guilty === 'accused') {
          this.blame(accused, verdict.reason, evidence);
          excluded.add(accused);
          this.convictions.push({
            accuser,
            box,
            recipientPublicKey,
            complaint,
          });
        } else {
          this.blame(accuser, verdict.reason, evidence);
        }
      }
    }
    return excluded;
  }

  /**
   * Ends MaskedInputCollection: judges complaints and excludes the senders of bad share boxes;
   * `withdraw` returns the masked input an excluded member uploaded, so it leaves the sum.
   */
  closeMaskedInputCollection(withdraw?: (sender: number) => Uint32Array): void {
    this.expectPhase('masked-input');
    for (const member of this.judgeComplaints()) {
      if (!this.masked.has(member)) continue;
      if (withdraw === undefined) {
        throw new PhaseOrderError(
          `client ${member} must leave the sum, but no way to withdraw its masked input was given`,
        );
      }
      subtractInto(this.runningSum, withdraw(member));
      this.masked.delete(member);
    }
    this.requireContributors(this.masked.size, 'clients sent masked inputs');
    this.survivors = [...this.masked].sort((a, b) => a - b);
    this.convicted = [...new Set(this.convictions.map((c) => c.complaint.accused))].sort(
      (a, b) => a - b,
    );
    this.phase =
      this.context.config.adversary === 'semi-malicious' ? 'consistency-check' : 'unmasking';
  }

  /** The complaints upheld when MaskedInputCollection closed (served with U3). */
  get upheldConvictions(): readonly Conviction[] {
    return this.convictions;
  }

  /** Members caught misbehaving so far, by index. */
  misbehaviour(): Misbehaviour[] {
    return [...this.misbehaving]
      .sort(([a], [b]) => a - b)
      .map(([member, { reason, evidence }]) => ({
        member,
        reason,
        evidence: encodeFields(...evidence),
      }));
  }

  private blame(member: number, reason: string, evidence: Uint8Array): void {
    const earlier = this.misbehaving.get(member);
    if (earlier === undefined) this.misbehaving.set(member, { reason, evidence: [evidence] });
    else
      this.misbehaving.set(member, {
        reason: `${earlier.reason}; ${reason}`,
        evidence: [...earlier.evidence, evidence],
      });
  }

  /** The box `sender` signed for `recipient`, as delivered (with its path). */
  private boxFrom(sender: number, recipient: number): EncryptedShare | undefined {
    const index = this.shared
      .get(sender)
      ?.encryptedShares.findIndex((box) => box.peer === recipient);
    return index === undefined || index < 0 ? undefined : this.deliverable.get(sender)![index];
  }

  // ── Round 3: ConsistencyCheck (semi-malicious server model) ───────────────────────────────

  consistencyCheckRequest(): ConsistencyCheckRequest {
    this.expectPhase('consistency-check');
    return { survivors: this.survivors, convictions: this.convictions };
  }

  receiveConsistencySignature(message: ConsistencySignatureMessage): void {
    this.expectPhase('consistency-check');
    const sender = this.expectSender(message.sender, 'ConsistencyCheck', this.masked);
    if (this.consistencySignatures.has(sender)) {
      throw new DuplicateMessageError(`client ${sender} already signed the survivor set`);
    }
    assertLength(message.signature, ED25519_SIGNATURE_BYTES, `client ${sender}'s signature`);
    const payload = (this.survivorPayload ??= survivorSetPayload(
      this.context.binding,
      this.survivors,
      this.convicted,
    ));
    if (
      !this.curve.verify(this.context.config.identityKeys[sender - 1]!, payload, message.signature)
    ) {
      throw new InvalidSignatureError(
        `client ${sender}'s signature on the survivor set is invalid`,
      );
    }
    this.consistencySignatures.set(sender, message.signature);
  }

  closeConsistencyCheck(): void {
    this.expectPhase('consistency-check');
    this.requireAtLeast(this.consistencySignatures.size, 'clients signed the survivor set');
    this.phase = 'unmasking';
  }

  // ── Round 4: Unmasking ────────────────────────────────────────────────────────────────────

  /**
   * U3 and t of the survivor-set signatures (each verified on arrival): t distinct valid signers
   * are what a member checks (survivor-signatures.ts), so the rest would be bytes for nothing.
   */
  unmaskingRequest(): UnmaskingRequest {
    this.expectPhase('unmasking');
    this.relayedSignatures ??= [...this.consistencySignatures]
      .sort(([a], [b]) => a - b)
      .slice(0, this.context.config.threshold)
      .map(([sender, signature]) => ({ sender, signature }));
    return {
      survivors: this.survivors,
      signatures: this.relayedSignatures,
      convictions: this.convictions,
    };
  }

  /** Validates the whole message first; a rejected message leaves every share store unchanged. */
  receiveUnmasking(message: UnmaskingMessage): void {
    this.expectPhase('unmasking');
    const allowed =
      this.context.config.adversary === 'semi-malicious' ? this.consistencySignatures : this.masked;
    const sender = this.expectSender(message.sender, 'Unmasking', allowed);
    if (this.unmasked.has(sender))
      throw new DuplicateMessageError(`client ${sender} already sent its shares`);
    const owners = new Set<number>();
    const accept = (
      kind: 'self-mask' | 'masking-key',
      owner: number,
      encoded: Uint8Array,
    ): StoredShare => {
      if (owners.has(owner)) {
        throw new MalformedMessageError(`client ${sender} revealed two shares for client ${owner}`);
      }
      owners.add(owner);
      const survived = this.masked.has(owner);
      if (kind === 'self-mask' ? !survived : survived || !this.shared.has(owner)) {
        throw new MalformedMessageError(
          `client ${sender} revealed a ${kind} share for client ${owner}, which ${survived ? 'survived' : 'did not survive'} MaskedInputCollection`,
        );
      }
      const holder = owner === sender || this.context.graph.areNeighbours(owner, sender);
      if (!holder || (kind === 'masking-key' && owner === sender)) {
        throw new MalformedMessageError(
          `client ${sender} holds no ${kind} share of client ${owner}`,
        );
      }
      let x: number;
      try {
        x = checkEncodedShare(encoded);
      } catch (error) {
        throw new MalformedMessageError(
          `client ${sender}'s share for client ${owner}: ${(error as Error).message}`,
        );
      }
      if (x !== sender) {
        throw new MalformedMessageError(
          `client ${sender} sent a share with index ${x}, expected its own index`,
        );
      }
      return { x, encoded };
    };
    const selfMask = message.selfMaskShares.map(
      (s) => [s.owner, accept('self-mask', s.owner, s.share)] as const,
    );
    const maskingKey = message.maskingKeyShares.map(
      (s) => [s.owner, accept('masking-key', s.owner, s.share)] as const,
    );
    // Only a member of U3 masked with a convicted neighbour.
    const pairwise = this.verifiedPairwiseSecrets(
      sender,
      message.pairwiseSecrets ?? [],
      this.masked.has(sender) ? new Set(this.convicted) : new Set(),
      'convicted',
    );
    for (const [owner, share] of selfMask) appendTo(this.selfMaskShares, owner, share);
    for (const [owner, share] of maskingKey) appendTo(this.maskingKeyShares, owner, share);
    for (const [peer, secret] of pairwise) this.keepPairwiseSecret(peer, sender, secret);
    this.unmasked.add(sender);
  }

  /**
   * Closes Unmasking: reconstructs b_u for every u in U3 and s_v^SK for every v in U2 \ U3, and
   * lists the masks to remove. Fast path: t shares with cached Lagrange weights, checked against
   * the owner's commitment (b) or advertised public key (s^SK); on mismatch, every received
   * share is used and checked, which names tampered shares instead of returning a wrong sum.
   *
   * 'pairwise-reveal' when some dropped member v's masks cannot come off that way (a wrong,
   * inconsistent or missing s^SK; v is named) but v proved it owns its masking key
   * (pairwise-reveal.ts): then v's surviving neighbours are asked for their pairwise secrets with
   * it (pairwiseRevealRequest), and closePairwiseReveal finishes the plan. 'ready' otherwise: the
   * fast path has no second exchange.
   */
  closeUnmasking(): 'ready' | 'pairwise-reveal' {
    if (this.plannedJobs !== undefined) return 'ready';
    this.expectPhase('unmasking');
    this.requireAtLeast(this.unmasked.size, 'clients sent unmasking shares');
    const { binding } = this.context;
    this.prepareLagrangeWeights([
      ...this.survivors.map((owner) => this.selfMaskShares.get(owner) ?? []),
      ...this.droppedAfterSharing().map((owner) => this.maskingKeyShares.get(owner) ?? []),
    ]);
    const jobs: MaskJob[] = [];
    for (const owner of this.survivors) {
      const commitment = this.shared.get(owner)!.selfMaskCommitment;
      const secret = this.reconstruct(
        owner,
        this.selfMaskShares.get(owner) ?? [],
        'self-mask',
        (candidate) => equalBytes(selfMaskCommitment(binding, owner, candidate), commitment),
      );
      jobs.push({ kind: 'seed', seed: deriveKey(secret, 'secagg/self-mask', binding), sign: 1 });
    }
    const pending: number[] = [];
    for (const owner of this.droppedAfterSharing()) {
      // A convicted member: every surviving neighbour proved its pairwise secret with it, so its
      // masks come off without its s^SK (whose shares it may have dealt as garbage) — if it
      // proved it knows its masking key's secret (else those are not its secrets to give).
      const fromSecrets = this.pairwiseJobs(owner);
      if (fromSecrets !== undefined) {
        jobs.push(...fromSecrets);
        continue;
      }
      try {
        jobs.push(...this.reconstructedPairwiseJobs(owner));
      } catch (error) {
        // Its s^SK cannot be had through its own doing (named: convicted, or its shares are off
        // its key). Its surviving neighbours can still remove its masks, once, if its key is its
        // own: v is outside the committed U3, so nobody reveals b_v and the pair secrets give at
        // most what t shares of s_v^SK would. Too few shares of a member nobody named (its
        // holders dropped too) stays an abort: that is more dropouts than the round allows.
        const recoverable =
          (error instanceof ReconstructionError || error instanceof TooFewParticipantsError) &&
          this.misbehaving.has(owner) &&
          this.ownsMaskingKey(owner);
        if (!recoverable) throw error;
        pending.push(owner);
      }
    }
    this.plannedJobs = jobs;
    if (pending.length === 0) return 'ready';
    this.secondRevealFor = new Set(pending);
    this.phase = 'pairwise-reveal';
    return 'pairwise-reveal';
  }

  /**
   * Closes Unmasking and lists every mask to remove (closeUnmasking, then, after a second reveal,
   * closePairwiseReveal). A round that needs a second reveal cannot be planned before it ran.
   */
  planUnmasking(): MaskJob[] {
    if (this.phase === 'unmasking' && this.closeUnmasking() === 'pairwise-reveal') {
      throw new PhaseOrderError(
        `the masks of client(s) ${[...this.secondRevealFor].join(', ')} need their neighbours' pairwise secrets: serve pairwiseRevealRequest() and call closePairwiseReveal() first`,
      );
    }
    if (this.plannedJobs === undefined || (this.phase !== 'unmasking' && !this.secondRevealDone)) {
      throw new PhaseOrderError(`the round is in phase ${this.phase}, not unmasking`);
    }
    this.phase = 'done';
    return this.plannedJobs;
  }

  // ── Second reveal (only after a failed reconstruction of a dropped member's s^SK) ──────────

  /** What every surviving neighbour of a member in the request receives. */
  pairwiseRevealRequest(): PairwiseRevealRequest {
    this.expectPhase('pairwise-reveal');
    return { dropped: [...this.secondRevealFor].sort((a, b) => a - b) };
  }

  /**
   * Each secret checked before it is kept (a proof against the revealer's advertised masking
   * key, for a requested member it neighbours, once); a rejected message changes nothing.
   */
  receivePairwiseReveal(message: PairwiseRevealMessage): void {
    this.expectPhase('pairwise-reveal');
    const sender = this.expectSender(message.sender, 'PairwiseReveal', this.secondRevealers());
    if (this.secondRevealed.has(sender))
      throw new DuplicateMessageError(`client ${sender} already revealed its pairwise secrets`);
    const verified = this.verifiedPairwiseSecrets(
      sender,
      message.pairwiseSecrets ?? [],
      this.secondRevealFor,
      'requested',
    );
    for (const [peer, secret] of verified) this.keepPairwiseSecret(peer, sender, secret);
    this.secondRevealed.add(sender);
  }

  /**
   * Ends the second reveal: each requested member's masks come off from its surviving
   * neighbours' proven secrets, or the round stops naming it (a neighbour that stayed silent is
   * the only other cause, and it is not named: silence is a dropout).
   */
  closePairwiseReveal(): void {
    this.expectPhase('pairwise-reveal');
    const jobs = [...(this.plannedJobs ?? [])];
    for (const owner of [...this.secondRevealFor].sort((a, b) => a - b)) {
      const fromSecrets = this.pairwiseJobs(owner);
      if (fromSecrets === undefined) {
        this.phase = 'aborted';
        const missing = this.survivingNeighbours(owner).filter(
          (peer) => !(this.pairwiseSecrets.get(owner)?.has(peer) ?? false),
        );
        throw new TooFewParticipantsError(
          `client ${owner}'s masks cannot be removed: its s^SK shares do not give its key and neighbour(s) ${missing.join(', ')} revealed no pairwise secret with it`,
        );
      }
      jobs.push(...fromSecrets);
    }
    this.plannedJobs = jobs;
    this.secondRevealDone = true;
  }

  /** U2 \ U3, sorted: their pairwise masks are in their surviving neighbours' inputs. */
  private droppedAfterSharing(): number[] {
    return [...this.shared.keys()]
      .filter((client) => !this.masked.has(client))
      .sort((a, b) => a - b);
  }

  private survivingNeighbours(owner: number): number[] {
    return this.context.graph.neighbours(owner).filter((peer) => this.masked.has(peer));
  }

  /** Who is asked in the second reveal and who answered, sorted (both empty without one). */
  pairwiseRevealAttendance(): [number[], number[]] {
    const sorted = (values: Iterable<number>) => [...values].sort((a, b) => a - b);
    return [sorted(this.secondRevealers()), sorted(this.secondRevealed)];
  }

  /** Members of U3 that neighbour a member of the second reveal. */
  private secondRevealers(): Set<number> {
    const revealers = new Set<number>();
    for (const owner of this.secondRevealFor)
      for (const peer of this.survivingNeighbours(owner)) revealers.add(peer);
    return revealers;
  }

  /** Each revealed secret with a peer in `allowed` that neighbours `sender`, proven, once. */
  private verifiedPairwiseSecrets(
    sender: number,
    reveals: readonly PairwiseReveal[],
    allowed: ReadonlySet<number>,
    what: string,
  ): Map<number, Uint8Array> {
    const verified = new Map<number, Uint8Array>();
    for (const { peer, evidence } of reveals) {
      if (
        !allowed.has(peer) ||
        verified.has(peer) ||
        !this.context.graph.areNeighbours(sender, peer)
      ) {
        throw new MalformedMessageError(
          `client ${sender} reveals a pairwise secret with client ${peer}, which is not a ${what} neighbour (or twice)`,
        );
      }
      const secret =
        evidence === undefined
          ? undefined
          : verifySharedSecret(
              this.advertised.get(sender)!.maskingPublicKey,
              this.advertised.get(peer)!.maskingPublicKey,
              evidence,
              pairwiseRevealContext(this.context.binding, sender, peer),
            );
      if (secret === undefined) {
        throw new MalformedMessageError(
          `client ${sender}'s pairwise secret with client ${peer} carries no valid proof`,
        );
      }
      verified.set(peer, secret);
    }
    return verified;
  }

  private keepPairwiseSecret(owner: number, revealer: number, secret: Uint8Array): void {
    let secrets = this.pairwiseSecrets.get(owner);
    if (secrets === undefined)
      this.pairwiseSecrets.set(owner, (secrets = new Map<number, Uint8Array>()));
    secrets.set(revealer, secret);
  }

  /** v's masks from its surviving neighbours' proven secrets, if every one of them revealed. */
  private pairwiseJobs(owner: number): MaskJob[] | undefined {
    const secrets = this.pairwiseSecrets.get(owner);
    const survivingNeighbours = this.survivingNeighbours(owner);
    if (
      secrets === undefined ||
      !survivingNeighbours.every((peer) => secrets.has(peer)) ||
      !this.ownsMaskingKey(owner)
    )
      return undefined;
    const { binding } = this.context;
    const publicKey = this.advertised.get(owner)!.maskingPublicKey;
    return survivingNeighbours.map((peer) => ({
      kind: 'seed' as const,
      seed: deriveKey(
        secrets.get(peer)!,
        'secagg/pairwise-mask',
        binding,
        [peer, owner],
        [this.advertised.get(peer)!.maskingPublicKey, publicKey],
      ),
      sign: peer < owner ? 1 : -1,
    }));
  }

  /** v's masks from its reconstructed s^SK (throws when it cannot be reconstructed). */
  private reconstructedPairwiseJobs(owner: number): MaskJob[] {
    const { binding } = this.context;
    const publicKey = this.advertised.get(owner)!.maskingPublicKey;
    const secretKey = this.reconstruct(
      owner,
      this.maskingKeyShares.get(owner) ?? [],
      'masking-key',
      (candidate) => equalBytes(this.curve.x25519PublicKey(candidate), publicKey),
    );
    // The survivor `peer` added sign(peer, owner) · PRG(s_{peer,owner}); remove exactly that.
    return this.survivingNeighbours(owner).map((peer) => ({
      kind: 'pairwise' as const,
      secretKey,
      peerPublicKey: this.advertised.get(peer)!.maskingPublicKey,
      binding,
      pair: [peer, owner] as [number, number],
      publicKeys: [this.advertised.get(peer)!.maskingPublicKey, publicKey] as [
        Uint8Array,
        Uint8Array,
      ],
      sign: peer < owner ? 1 : -1,
    }));
  }

  /**
   * Whether `member` owns its masking key (pairwise-reveal.ts: a proof of possession bound to the
   * round and to it, its torsion-free part no other member's key up to sign): only then are
   * pairwise secrets revealed "with" it secrets it could compute itself. The proof was checked on
   * arrival already; it is checked again here, so that this rule does not rest on how the keys
   * got into `advertised`.
   */
  private ownsMaskingKey(member: number): boolean {
    // Advertised keys are fixed since AdvertiseKeys closed; their lifts were computed on arrival.
    this.maskingKeyIndex ??= new MaskingKeyIndex(
      [...this.advertised].map(
        ([index, message]) =>
          [
            index,
            message.maskingPublicKey,
            message.maskingKeyProof,
            this.maskingLifts.get(index),
          ] as const,
      ),
    );
    return this.maskingKeyIndex.owns(this.context.binding, member);
  }

  /** Σ y_u − Σ masks, reduced to Z_{2^modulusBits}. `maskTotal` = combineMasks(planUnmasking()). */
  finish(maskTotal: Uint32Array): SecAggResult {
    if (this.phase !== 'done')
      throw new PhaseOrderError(`server is in phase ${this.phase}; call planUnmasking first`);
    const sum = this.runningSum.slice();
    subtractInto(sum, maskTotal);
    reduceModulus(sum, this.context.modulusBits);
    const sorted = (values: Iterable<number>) => [...values].sort((a, b) => a - b);
    return {
      sum,
      included: this.survivors,
      droppedAfterSharing: sorted(
        [...this.shared.keys()].filter((client) => !this.masked.has(client)),
      ),
      misbehaving: this.misbehaviour(),
      participantSets: {
        advertised: sorted(this.advertised.keys()),
        shared: sorted(this.shared.keys()),
        masked: this.survivors,
        signed: sorted(this.consistencySignatures.keys()),
        unmasked: sorted(this.unmasked),
      },
    };
  }

  /** planUnmasking + combineMasks + finish on this thread. */
  finishUnmasking(): SecAggResult {
    return this.finish(
      combineMasks(this.planUnmasking(), this.context.config.dimension, this.curve),
    );
  }

  private reconstruct(
    owner: number,
    revealed: readonly StoredShare[],
    kind: 'self-mask' | 'masking-key',
    matchesCommitment: (secret: Uint8Array) => boolean,
  ): Uint8Array {
    const { threshold } = this.context.config;
    const what = kind === 'self-mask' ? 'self-mask seed' : 'masking key';
    let shares = revealed;
    if (shares.length < threshold) {
      throw new TooFewParticipantsError(
        `only ${shares.length} shares of client ${owner}'s ${what} arrived, threshold is ${threshold}: aborting rather than returning a wrong sum`,
      );
    }
    let sorted = [...shares].sort((a, b) => a.x - b.x);
    const basis = sorted.slice(0, threshold);
    // Usually computed already, with every other reconstruction's (prepareLagrangeWeights).
    const key = basis.map((share) => share.x).join(',');
    let coefficients = this.lagrangeCache.get(key);
    if (coefficients === undefined) {
      coefficients = lagrangeCoefficients(
        basis.map((share) => share.x),
        0,
      );
      this.lagrangeCache.set(key, coefficients);
    }
    const fast = reconstructWithCoefficients(
      coefficients,
      basis.map((share) => decodeShare(share.encoded)),
    );
    if (fast < 2n ** 256n) {
      const candidate = bigIntToBytes(fast, 32);
      if (matchesCommitment(candidate)) return candidate;
    }
    // Slow path (a dispute: the fast path's secret does not match the owner's commitment). Each
    // holder checked its box's shares against the owner's commitments when it opened the box, so
    // a revealed share that differs from the owner's commitment is the holder's doing: it is named
    // and left out. What remains is what the owner dealt (or its own share): whatever disagrees
    // is the owner's doing, never a holder's.
    shares = sorted.filter((share) => {
      if (share.x === owner) return true;
      const box = this.boxFrom(owner, share.x);
      const commitments = box === undefined ? undefined : shareBoxCommitments(box.ciphertext);
      const committed = commitments?.[kind === 'self-mask' ? 'selfMask' : 'maskingKey'];
      if (
        committed !== undefined &&
        equalBytes(
          shareCommitment(this.context.binding, owner, share.x, kind, share.encoded),
          committed,
        )
      )
        return true;
      this.blame(
        share.x,
        `it revealed a ${kind} share of client ${owner} other than the one client ${owner} committed to in its signed box`,
        encodeFields(share.encoded, box?.ciphertext ?? new Uint8Array(0)),
      );
      return false;
    });
    if (shares.length < threshold) {
      throw new ReconstructionError(
        `only ${shares.length} revealed shares of client ${owner}'s ${what} match what it committed to, threshold is ${threshold}`,
      );
    }
    sorted = [...shares];
    const decoded = sorted.map((share) => decodeShare(share.encoded));
    const evidence = () => this.dealerEvidence(owner, sorted);
    const consistent = consistentSecret(decoded, threshold);
    if (consistent !== undefined) {
      if (matchesCommitment(consistent)) return consistent;
      this.blame(
        owner,
        `all ${sorted.length} shares of its ${what} agree, but not with what it committed to`,
        evidence(),
      );
      if (sorted.length > threshold) {
        // b is what its holders hold: the sum uses it. A masking key that does not match the
        // advertised public key cannot remove the owner's pairwise masks.
        if (kind === 'self-mask') return consistent;
        throw new ReconstructionError(
          `client ${owner}'s ${what}: all ${sorted.length} shares agree but the secret does not match what client ${owner} committed to`,
        );
      }
      throw new ReconstructionError(
        `client ${owner}'s ${what} does not match its commitment, and with exactly ${threshold} shares the sum cannot tell which it used`,
      );
    }
    // Shares off one polynomial: the owner dealt them. Berlekamp–Welch finds its polynomial
    // while at most ⌊(m − t)/2⌋ of the m shares are off it.
    const decodedWithErrors = decodeWithErrors(decoded, threshold);
    if (decodedWithErrors !== undefined && decodedWithErrors.secret < 2n ** 256n) {
      const candidate = bigIntToBytes(decodedWithErrors.secret, 32);
      if (matchesCommitment(candidate)) {
        this.blame(
          owner,
          `it dealt shares of its ${what} off its polynomial (to client(s) ${decodedWithErrors.disagreeing.join(', ')}), each committed to in the box it signed`,
          evidence(),
        );
        return candidate;
      }
    }
    // More shares off it than that: where the t-subsets are few, one of t shares on the owner's
    // polynomial still gives the committed secret (a hash: a match is conclusive).
    const found = searchSubsets(decoded, threshold, matchesCommitment);
    if (found !== undefined) {
      this.blame(
        owner,
        `it dealt shares of its ${what} off its polynomial, each committed to in the box it signed`,
        evidence(),
      );
      return found;
    }
    this.blame(
      owner,
      `the shares of its ${what} it committed to in its signed boxes lie on no polynomial of degree < t through its committed secret`,
      evidence(),
    );
    throw new ReconstructionError(
      `shares of client ${owner}'s ${what}, each committed to by client ${owner}, are inconsistent beyond correction`,
    );
  }

  /**
   * The fast path's Lagrange weights (at 0, over the t lowest share indices) for every share list
   * about to be reconstructed, computed together: one field inversion for all of them instead of
   * one each (lagrangeCoefficientsBatch). Lists with fewer than t shares are left to reconstruct.
   */
  private prepareLagrangeWeights(shareLists: readonly (readonly StoredShare[])[]): void {
    const { threshold } = this.context.config;
    const missing = new Map<string, number[]>();
    for (const shares of shareLists) {
      if (shares.length < threshold) continue;
      const basis = shares
        .map((share) => share.x)
        .sort((a, b) => a - b)
        .slice(0, threshold);
      const key = basis.join(',');
      // Indices are distinct (one share per holder, its own index): a basis that is not is left
      // to reconstruct, as before.
      if (!this.lagrangeCache.has(key) && new Set(basis).size === basis.length)
        missing.set(key, basis);
    }
    const weights = lagrangeCoefficientsBatch([...missing.values()], 0);
    [...missing.keys()].forEach((key, i) => this.lagrangeCache.set(key, weights[i]!));
  }

  /**
   * What shows that `owner` dealt `shares`: each share with the box the owner signed for its
   * holder (the commitment, signature and path to the signed root); anyone with the round's
   * binding and the roster checks each share against its commitment and the shares' polynomial.
   */
  private dealerEvidence(owner: number, shares: readonly StoredShare[]): Uint8Array {
    return encodeFields(
      ...shares.map((share) => {
        const box = share.x === owner ? undefined : this.boxFrom(owner, share.x);
        return encodeFields(
          share.encoded,
          box?.ciphertext ?? new Uint8Array(0),
          box?.signature ?? new Uint8Array(0),
          encodeFields(
            ...(box?.path ?? []).map((step) =>
              encodeFields(step.siblingOnLeft ? 1 : 0, step.sibling),
            ),
          ),
        );
      }),
    );
  }

  /** At least t and at least min contributors: fewer is outside the threat model. */
  private requireContributors(count: number, what: string): void {
    const { minContributors } = this.context.config;
    if (count < minContributors) {
      this.phase = 'aborted';
      throw new TooFewParticipantsError(
        `only ${count} ${what}, below the round's ${minContributors} min contributors: round aborted`,
      );
    }
    this.requireAtLeast(count, what);
  }

  private requireAtLeast(count: number, what: string): void {
    const { threshold } = this.context.config;
    if (count < threshold) {
      this.phase = 'aborted';
      throw new TooFewParticipantsError(
        `only ${count} ${what}, threshold is ${threshold}: round aborted`,
      );
    }
  }

  private expectPhase(phase: SecAggPhase): void {
    if (this.phase !== phase) {
      throw new PhaseOrderError(`the round is in phase ${this.phase}, not ${phase}`);
    }
  }

  private expectSender(
    sender: number,
    phase: string,
    previous?: { has(client: number): boolean },
  ): number {
    const { clients } = this.context.config;
    if (!Number.isSafeInteger(sender) || sender < 1 || sender > clients) {
      throw new UnexpectedSenderError(
        `${phase} from unknown client ${sender}; participants are 1..${clients}`,
      );
    }
    if (previous !== undefined && !previous.has(sender)) {
      throw new UnexpectedSenderError(
        `${phase} from client ${sender}, which dropped out in an earlier phase`,
      );
    }
    return sender;
  }
}

function hasLength(bytes: Uint8Array, length: number): boolean {
  return bytes instanceof Uint8Array && bytes.length === length;
}

function assertLength(bytes: Uint8Array, length: number, what: string): void {
  if (!hasLength(bytes, length)) {
    throw new MalformedMessageError(`${what} must be ${length} bytes, got ${bytes?.length}`);
  }
}

interface StoredShare {
  readonly x: number;
  readonly encoded: Uint8Array;
}

function appendTo(map: Map<number, StoredShare[]>, owner: number, share: StoredShare): void {
  let list = map.get(owner);
  if (list === undefined) map.set(owner, (list = []));
  list.push(share);
}

/** At most this many t-subsets are tried (each one Lagrange interpolation and a hash). */
const MAX_SUBSETS = 4096;

/** The secret of some t of the shares that `matches` accepts, if the t-subsets are few. */
function searchSubsets(
  shares: readonly Share[],
  threshold: number,
  matches: (secret: Uint8Array) => boolean,
): Uint8Array | undefined {
  let count = 1;
  for (let i = 0; i < threshold; i++) {
    count = (count * (shares.length - i)) / (i + 1);
    if (count > MAX_SUBSETS) return undefined;
  }
  const chosen: Share[] = [];
  const visit = (from: number): Uint8Array | undefined => {
    if (chosen.length === threshold) {
      const secret = reconstructWithCoefficients(
        lagrangeCoefficients(
          chosen.map((share) => share.x),
          0,
        ),
        chosen,
      );
      if (secret >= 2n ** 256n) return undefined;
      const candidate = bigIntToBytes(secret, 32);
      return matches(candidate) ? candidate : undefined;
    }
    for (let i = from; i <= shares.length - (threshold - chosen.length); i++) {
      chosen.push(shares[i]!);
      const found = visit(i + 1);
      chosen.pop();
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return visit(0);
}

/** The secret the shares agree on (all of them checked when more than t), or undefined. */
function consistentSecret(shares: readonly Share[], threshold: number): Uint8Array | undefined {
  if (shares.length < threshold) return undefined;
  try {
    return reconstructSecret(shares, threshold);
  } catch (error) {
    if (error instanceof InconsistentSharesError || error instanceof CryptoInputError)
      return undefined;
    throw error;
  }
}
