import { equalBytes } from '../bytes.ts';
import { proveKeyPossession, proveSharedSecret, x25519FromEd25519Batch } from '../dleq.ts';
import { CURVE25519_KEY_BYTES, type Curve25519 } from '../curve25519.ts';
import { isLiftableOfLargeOrder } from '../curve25519-points.ts';
import { deriveKey } from '../kdf.ts';
import { addInto } from '../prg.ts';
import { combineMasks, type MaskJob } from './masks.ts';
import type { RandomSource } from '../random.ts';
import { encodeShare, type Share, SHARE_BYTES, splitSecret } from '../shamir.ts';
import { needsContributedSeed, type RoundContext, shareHolders, withGraphSeed } from './config.ts';
import { checkSurvivorSignatures } from './survivor-signatures.ts';
import { checkConvictions } from './convictions.ts';
import { checkSeedReveals, SEED_CONTRIBUTION_BYTES, seedCommitment } from './graph-seed.ts';
import {
  CoordinatorTamperingError,
  InvalidSignatureError,
  LedgerMismatchError,
  MalformedMessageError,
  PhaseOrderError,
  RefusedRevealError,
  TooFewParticipantsError,
  UnexpectedSenderError,
} from './errors.ts';
import type {
  AdvertiseKeysMessage,
  ConsistencyCheckRequest,
  ConsistencySignatureMessage,
  Conviction,
  EncryptedShare,
  KeysBroadcast,
  MaskedInputMessage,
  PairwiseReveal,
  RevealedShare,
  SecAggPhase,
  SeedCommitmentsMessage,
  SeedRevealMessage,
  ShareComplaint,
  SharesDelivery,
  ShareKeysMessage,
  UnmaskingMessage,
  UnmaskingRequest,
  PairwiseRevealMessage,
  PairwiseRevealRequest,
} from './messages.ts';
import { MaskingKeyIndex } from './pairwise-reveal.ts';
import { isSignedBySender, openShareBox, sealShareBoxes, shareComplaint } from './share-box.ts';
import {
  advertiseKeysPayload,
  maskingKeyPossessionContext,
  pairwiseRevealContext,
  selfMaskCommitment,
  survivorSetPayload,
} from './transcript.ts';

export interface SecAggClientOptions {
  readonly context: RoundContext;
  readonly index: number;
  /** Ed25519 secret key whose public key is identityKeys[index − 1]. */
  readonly identitySecretKey: Uint8Array;
  readonly curve: Curve25519;
  readonly random: RandomSource;
}

interface PeerKeys {
  readonly encryptionPublicKey: Uint8Array;
  readonly maskingPublicKey: Uint8Array;
  /** As relayed; verified only before revealing a pairwise secret with the peer (pairwiseReveal). */
  readonly maskingKeyProof: Uint8Array | undefined;
  /** A_v, and E_v = u(A_v) (undefined if A_v has none: then no box of v opens). */
  readonly sealingPublicKey: Uint8Array;
  sealingX25519?: Uint8Array | undefined;
}

/**
 * One client's side of a SecAgg+ round: a state machine with one method per phase, each
 * refusing to run out of order. It never reveals, for the same peer, both the share of its
 * self-mask seed b and the share of its masking key s^SK — that pair would unmask the peer.
 *
 * The server's word is not enough for the sets that decide what a client reveals: each phase
 * takes the participant set the round committed to its agreement channel (the ledger; one value
 * per round and phase) — U1 at ShareKeys, U2 at MaskedInputCollection, U3 at ConsistencyCheck and
 * Unmasking — and the client refuses when what the server served differs from it. Since every
 * honest client then acts on the same U3, no two of them reveal different secrets of one peer.
 */
export class SecAggClient {
  readonly index: number;
  /** Replaced once, when a sparse graph's contributed seed is fixed (before ShareKeys). */
  private context: RoundContext;
  private readonly identitySecretKey: Uint8Array;
  private readonly curve: Curve25519;
  private readonly random: RandomSource;
  /** Empty until the graph is known. */
  private holders: ReadonlySet<number> = new Set();
  private phase: SecAggPhase = 'advertise-keys';

  /** r_u, our contribution to the graph seed, and what we checked before revealing it. */
  private seedContribution: Uint8Array = new Uint8Array(0);
  private seedDigest: Uint8Array | undefined;
  private seedAdvertised: readonly number[] = [];
  /** U1's revealed seed contributions' commitments c_u (checked against each neighbour's signed one). */
  private seedRevealCommitments: ReadonlyMap<number, Uint8Array> | undefined;

  private encryptionSecretKey: Uint8Array = new Uint8Array(0);
  private maskingSecretKey: Uint8Array = new Uint8Array(0);
  private encryptionPublicKey: Uint8Array = new Uint8Array(0);
  private maskingPublicKey: Uint8Array = new Uint8Array(0);
  /** σ and A: the key this client seals its share boxes under (share-box.ts). */
  private sealing: { seed: Uint8Array; publicKey: Uint8Array } = {
    seed: new Uint8Array(0),
    publicKey: new Uint8Array(0),
  };
  private selfMaskSecret: Uint8Array = new Uint8Array(0);
  /** Peers in U1 ∩ N(u), with their advertised keys. */
  private readonly peers = new Map<number, PeerKeys>();
  /** Our own shares of our own secrets (we are one of our share holders). */
  private ownShares: { maskingKey: Share; selfMask: Share } | undefined;
  /** Shares received from U2 ∩ N(u) in boxes that opened and held a share for us. */
  private readonly receivedShares = new Map<number, Uint8Array>();
  /** Neighbours in U2 whose boxes were bad: reported with the masked input. */
  private readonly complaints: ShareComplaint[] = [];
  /** The neighbours (U2) whose pairwise masks are in our masked input. */
  private maskedWith: ReadonlySet<number> = new Set();
  /** U3 as first shown to us: a second, different survivor set is refused. */
  private committedSurvivors: readonly number[] | undefined;
  /** The U3 this client unmasked with: the second reveal is only for members outside it. */
  private unmaskedWith: ReadonlySet<number> | undefined;
  /** Peers whose pairwise secret this client revealed (at most once per round). */
  private readonly revealedPairwise = new Set<number>();
  /** The round's masking keys' cleared lifts, built on the first pairwise reveal (dispute path). */
  private maskingKeyIndex: MaskingKeyIndex | undefined;
  /** The convicted ids signed with U3 (each conviction judged here first). */
  private committedConvicted: readonly number[] | undefined;

  constructor(options: SecAggClientOptions) {
    const { context, index } = options;
    if (!Number.isSafeInteger(index) || index < 1 || index > context.config.clients) {
      throw new UnexpectedSenderError(
        `client index ${index} is not in 1..${context.config.clients}`,
      );
    }
    const expected = context.config.identityKeys[index - 1]!;
    if (!equalBytes(options.curve.ed25519PublicKey(options.identitySecretKey), expected)) {
      throw new InvalidSignatureError(
        `identity secret key does not match the roster key of client ${index}`,
      );
    }
    this.context = context;
    this.index = index;
    this.identitySecretKey = options.identitySecretKey;
    this.curve = options.curve;
    this.random = options.random;
    if (!needsContributedSeed(context)) this.holders = new Set(shareHolders(context, index));
  }

  get currentPhase(): SecAggPhase {
    return this.phase;
  }

  /** The round context as this client has it (with the graph once the seed is fixed). */
  get roundContext(): RoundContext {
    return this.context;
  }

  /** This client's share holders (its neighbours and itself), once the graph is known. */
  get shareHolders(): readonly number[] {
    return [...this.holders].sort((a, b) => a - b);
  }

  /** Round 0: fresh X25519 key pairs for this round, signed with the identity key. */
  advertiseKeys(): AdvertiseKeysMessage {
    this.enter('advertise-keys');
    this.encryptionSecretKey = this.random(CURVE25519_KEY_BYTES);
    this.maskingSecretKey = this.random(CURVE25519_KEY_BYTES);
    const encryptionPublicKey = this.curve.x25519PublicKey(this.encryptionSecretKey);
    const maskingPublicKey = this.curve.x25519PublicKey(this.maskingSecretKey);
    this.encryptionPublicKey = encryptionPublicKey;
    this.maskingPublicKey = maskingPublicKey;
    const sealingSeed = this.random(CURVE25519_KEY_BYTES);
    this.sealing = { seed: sealingSeed, publicKey: this.curve.ed25519PublicKey(sealingSeed) };
    this.seedContribution = this.random(SEED_CONTRIBUTION_BYTES);
    const commitment = seedCommitment(this.context.binding, this.index, this.seedContribution);
    const signature = this.curve.sign(
      this.identitySecretKey,
      advertiseKeysPayload(
        this.context.binding,
        this.index,
        encryptionPublicKey,
        maskingPublicKey,
        this.sealing.publicKey,
        commitment,
      ),
    );
    this.phase = needsContributedSeed(this.context) ? 'seed-reveal' : 'share-keys';
    return {
      sender: this.index,
      encryptionPublicKey,
      maskingPublicKey,
      maskingKeyProof: proveKeyPossession(
        this.maskingSecretKey,
        maskingPublicKey,
        maskingKeyPossessionContext(this.context.binding, this.index),
        this.random,
      ),
      sealingPublicKey: this.sealing.publicKey,
      seedCommitment: commitment,
      signature,
    };
  }

  /**
   * Seed reveal (sparse graphs): once U1 is committed and the digest D of U1's seed commitments
   * is shown, reveal r_u. D fixes every contribution before ours is known, so no one who fixed
   * it can steer the seed (graph-seed.ts).
   */
  revealSeed(
    commitments: SeedCommitmentsMessage,
    advertised: readonly number[],
  ): SeedRevealMessage {
    this.enter('seed-reveal');
    if (!(commitments.digest instanceof Uint8Array) || commitments.digest.length !== 32) {
      throw new MalformedMessageError('the seed commitments digest must be 32 bytes');
    }
    this.committedSet(advertised, 'U1 (members that advertised keys)');
    this.seedDigest = commitments.digest.slice();
    this.seedAdvertised = [...advertised].sort((a, b) => a - b);
    this.phase = 'share-keys';
    return { sender: this.index, contribution: this.seedContribution };
  }

  /**
   * The graph from every U1 member's reveal, checked against the digest we saw before we
   * revealed; U1 must be the set we revealed to.
   */
  private fixGraph(broadcast: KeysBroadcast, advertised: readonly number[]): void {
    const u1 = [...advertised].sort((a, b) => a - b);
    if (this.seedDigest === undefined) {
      throw new PhaseOrderError(`client ${this.index} has not revealed its seed contribution`);
    }
    if (!sameSet(u1, this.seedAdvertised)) {
      throw new LedgerMismatchError(
        'U1 differs from the one this member revealed its graph-seed contribution to; refusing the seed',
      );
    }
    const { seed, commitments } = checkSeedReveals({
      binding: this.context.binding,
      self: this.index,
      ownContribution: this.seedContribution,
      committedDigest: this.seedDigest,
      advertised: u1,
      reveals: broadcast.seedReveals ?? [],
    });
    this.context = withGraphSeed(this.context, seed);
    this.holders = new Set(shareHolders(this.context, this.index));
    this.seedRevealCommitments = commitments;
  }

  /**
   * Round 1: check that the server forwarded the keys of every neighbour in the committed U1,
   * verify each neighbour's signature with its roster identity key, then Shamir-share s^SK and a
   * fresh self-mask seed b among those neighbours and ourselves, each share sealed to its holder.
   */
  shareKeys(broadcast: KeysBroadcast, advertised: readonly number[]): ShareKeysMessage {
    this.enter('share-keys');
    const { threshold } = this.context.config;
    const u1 = this.committedSet(advertised, 'U1 (members that advertised keys)');
    if (needsContributedSeed(this.context)) this.fixGraph(broadcast, advertised);
    for (const message of broadcast.keys) {
      const peer = message.sender;
      if (peer === this.index) continue;
      if (!this.holders.has(peer)) {
        throw new UnexpectedSenderError(
          `client ${peer} is not a neighbour of client ${this.index}`,
        );
      }
      if (!u1.has(peer)) {
        throw new LedgerMismatchError(
          `the coordinator forwarded keys of client ${peer}, which is not in the committed U1`,
        );
      }
      if (this.peers.has(peer))
        throw new MalformedMessageError(`keys of client ${peer} appear twice`);
      if (
        message.encryptionPublicKey.length !== CURVE25519_KEY_BYTES ||
        message.maskingPublicKey.length !== CURVE25519_KEY_BYTES ||
        !(message.sealingPublicKey instanceof Uint8Array) ||
        message.sealingPublicKey.length !== CURVE25519_KEY_BYTES
      ) {
        throw new MalformedMessageError(`client ${peer} advertised keys of the wrong length`);
      }
      if (equalBytes(message.encryptionPublicKey, message.maskingPublicKey)) {
        throw new MalformedMessageError(`client ${peer} advertised the same key twice`);
      }
      // The coordinator refuses such a key on arrival: relayed, it is the coordinator's doing. A
      // masking key off the prime-order curve would let its owner, once convicted, keep its
      // neighbours from proving their pairwise secrets with it (and so stop the round).
      // (Exactly liftPeerKey(key) !== undefined, without computing the lift.)
      if (!isLiftableOfLargeOrder(message.maskingPublicKey)) {
        throw new CoordinatorTamperingError(
          `the coordinator relayed client ${peer}'s masking key, which is not a point of the curve's prime-order group`,
        );
      }
      if (!(message.seedCommitment instanceof Uint8Array) || message.seedCommitment.length !== 32)
        throw new MalformedMessageError(`client ${peer} advertised no 32-byte seed commitment`);
      // Every neighbour's signature is checked here, whatever the adversary model: a server that
      // substituted keys would otherwise sit in the middle of the pairwise channels.
      const payload = advertiseKeysPayload(
        this.context.binding,
        peer,
        message.encryptionPublicKey,
        message.maskingPublicKey,
        message.sealingPublicKey,
        message.seedCommitment,
      );
      if (
        !this.curve.verify(this.context.config.identityKeys[peer - 1]!, payload, message.signature)
      ) {
        throw new InvalidSignatureError(
          `advertised keys of client ${peer} carry an invalid signature`,
        );
      }
      // A neighbour's reveal must open the commitment it signed (evidence against a substituted
      // reveal; the seed's unpredictability rests on our own contribution, not on this).
      // (checkSeedReveals computed each reveal's commitment already: compared, not hashed again.)
      const revealed = this.seedRevealCommitments?.get(peer);
      if (revealed !== undefined && !equalBytes(revealed, message.seedCommitment)) {
        throw new LedgerMismatchError(
          `the graph-seed reveal relayed for client ${peer} does not open the commitment it signed; refusing the seed`,
        );
      }
      this.peers.set(peer, {
        encryptionPublicKey: message.encryptionPublicKey,
        maskingPublicKey: message.maskingPublicKey,
        maskingKeyProof:
          message.maskingKeyProof instanceof Uint8Array
            ? message.maskingKeyProof.slice()
            : undefined,
        sealingPublicKey: message.sealingPublicKey,
      });
    }
    const withheld = [...this.holders].filter(
      (peer) => peer !== this.index && u1.has(peer) && !this.peers.has(peer),
    );
    if (withheld.length > 0) {
      throw new LedgerMismatchError(
        `the coordinator withheld the keys of neighbour(s) ${withheld.join(', ')} that the committed U1 lists; refusing to share`,
      );
    }
    // E_v for every neighbour, to open its box at MaskedInputCollection (one field inversion).
    const peerKeys = [...this.peers.values()];
    x25519FromEd25519Batch(peerKeys.map((keys) => keys.sealingPublicKey)).forEach(
      (x25519, i) => (peerKeys[i]!.sealingX25519 = x25519),
    );
    const holders = [...this.peers.keys(), this.index].sort((a, b) => a - b);
    if (holders.length < threshold) {
      throw new TooFewParticipantsError(
        `client ${this.index}: only ${holders.length} of its share holders advertised keys, threshold is ${threshold}`,
      );
    }
    this.selfMaskSecret = this.random(32);
    const maskingKeyShares = splitSecret(this.maskingSecretKey, threshold, holders, this.random);
    const selfMaskShares = splitSecret(this.selfMaskSecret, threshold, holders, this.random);
    const recipients = [];
    for (let i = 0; i < holders.length; i++) {
      const holder = holders[i]!;
      const maskingKey = maskingKeyShares[i]!;
      const selfMask = selfMaskShares[i]!;
      if (holder === this.index) {
        this.ownShares = { maskingKey, selfMask };
        continue;
      }
      const plaintext = new Uint8Array(2 * SHARE_BYTES);
      plaintext.set(encodeShare(maskingKey), 0);
      plaintext.set(encodeShare(selfMask), SHARE_BYTES);
      recipients.push({
        recipient: holder,
        publicKey: this.peers.get(holder)!.encryptionPublicKey,
        plaintext,
      });
    }
    const sealed = sealShareBoxes(
      this.context.binding,
      this.index,
      recipients,
      this.sealing,
      this.identitySecretKey,
      this.curve,
      this.random,
    );
    this.phase = 'masked-input';
    return {
      sender: this.index,
      selfMaskCommitment: selfMaskCommitment(this.context.binding, this.index, this.selfMaskSecret),
      ...sealed,
    };
  }

  /**
   * Round 2: the committed U2 says which neighbours shared keys; the server must deliver a box
   * from each. Mask the (already quantized) input with PRG(b) and, for every neighbour v in U2,
   * +PRG(s_{u,v}) if u < v and −PRG(s_{u,v}) if u > v, so the pairwise masks cancel in the sum.
   */
  maskInput(
    delivery: SharesDelivery,
    shared: readonly number[],
    quantizedInput: Uint32Array,
  ): MaskedInputMessage {
    this.assertInputShape(quantizedInput, 'input');
    const jobs = this.prepareMasks(delivery, shared);
    return this.completeMaskedInput(
      quantizedInput,
      combineMasks(jobs, quantizedInput.length, this.curve),
    );
  }

  /**
   * Round 2, first half: check the boxes against the committed U2 and open each now. A box that
   * opens is its sender's (sealed under the key it advertised, share-box.ts). One that does not is
   * checked for its sender's signature: signed, it is a complaint against its sender with
   * verifiable evidence, sent with the masked input, so the server can exclude that sender before
   * U3 is fixed; not signed, the coordinator altered it, and this member stops. Then list this
   * client's masks, so that a caller may expand them on several threads before
   * `completeMaskedInput`.
   */
  prepareMasks(delivery: SharesDelivery, shared: readonly number[]): MaskJob[] {
    const { threshold } = this.context.config;
    this.enter('masked-input');
    const u2 = this.committedSet(shared, 'U2 (members that shared keys)');
    const boxes = new Map<number, EncryptedShare>();
    for (const box of delivery.encryptedShares) {
      if (!this.peers.has(box.peer)) {
        throw new UnexpectedSenderError(
          `share box from client ${box.peer}, which is not a neighbour in U1`,
        );
      }
      if (boxes.has(box.peer))
        throw new MalformedMessageError(`two share boxes from client ${box.peer}`);
      if (!(box.ciphertext instanceof Uint8Array))
        throw new MalformedMessageError(`the share box from client ${box.peer} has no ciphertext`);
      boxes.set(box.peer, box);
    }
    for (const peer of boxes.keys()) {
      if (!u2.has(peer)) {
        throw new LedgerMismatchError(
          `the coordinator delivered a share box from client ${peer}, which is not in the committed U2`,
        );
      }
    }
    const withheld = [...this.peers.keys()].filter((peer) => u2.has(peer) && !boxes.has(peer));
    if (withheld.length > 0) {
      throw new LedgerMismatchError(
        `the coordinator withheld the share boxes of neighbour(s) ${withheld.join(', ')} that the committed U2 lists; refusing to mask`,
      );
    }
    if (boxes.size + 1 < threshold) {
      throw new TooFewParticipantsError(
        `client ${this.index}: only ${boxes.size + 1} share holders remain after ShareKeys, threshold is ${threshold}`,
      );
    }
    const complaints: ShareComplaint[] = [];
    for (const [peer, box] of boxes) {
      const parties = { binding: this.context.binding, sender: peer, recipient: this.index };
      const keys = this.peers.get(peer)!;
      const plaintext = openShareBox(
        parties,
        keys.sealingPublicKey,
        keys.sealingX25519,
        box.ciphertext,
        this.encryptionSecretKey,
        this.encryptionPublicKey,
        this.curve,
      );
      if (plaintext !== undefined) {
        this.receivedShares.set(peer, plaintext);
        continue;
      }
      // A box that does not open, and that its sender did not sign (for its advertised A), was
      // altered or forged on the way (the coordinator checks every signature on arrival).
      // Complaining would reveal a key to the one who tampered; instead this member reveals
      // nothing more and names the coordinator.
      if (
        !equalBytes(box.ephemeralPublicKey ?? new Uint8Array(0), keys.sealingPublicKey) ||
        !isSignedBySender(
          parties,
          box,
          this.context.config.identityKeys[peer - 1]!,
          this.encryptionPublicKey,
          this.curve,
        )
      ) {
        throw new CoordinatorTamperingError(
          `the share box from client ${peer} does not carry client ${peer}'s signature: ` +
            `the coordinator altered or forged it; revealing nothing further`,
        );
      }
      // Signed by its sender and still bad: the sender's doing, provably (share-box.ts).
      complaints.push(
        shareComplaint(
          parties,
          box,
          this.encryptionSecretKey,
          this.encryptionPublicKey,
          this.curve,
          this.random,
        ),
      );
    }
    this.complaints.push(...complaints);
    this.maskedWith = new Set(boxes.keys());
    const jobs: MaskJob[] = [
      {
        kind: 'seed',
        seed: deriveKey(this.selfMaskSecret, 'secagg/self-mask', this.context.binding),
        sign: 1,
      },
    ];
    for (const peer of boxes.keys()) {
      jobs.push({
        kind: 'pairwise',
        secretKey: this.maskingSecretKey,
        peerPublicKey: this.peers.get(peer)!.maskingPublicKey,
        binding: this.context.binding,
        pair: [this.index, peer],
        publicKeys: [this.maskingPublicKey, this.peers.get(peer)!.maskingPublicKey],
        sign: this.index < peer ? 1 : -1,
      });
    }
    this.phase = 'masking';
    return jobs;
  }

  /**
   * Round 2, second half: y_u = x_u + Σ masks, with maskTotal = combineMasks(prepareMasks()).
   * The sum is formed in `maskTotal`, which becomes the masked input (no third full-length
   * vector: a 10^7-parameter update would otherwise hold input, mask total and masked input).
   */
  completeMaskedInput(quantizedInput: Uint32Array, maskTotal: Uint32Array): MaskedInputMessage {
    if (this.phase !== 'masking') {
      throw new PhaseOrderError(`client ${this.index} is in phase ${this.phase}, not masking`);
    }
    this.assertInputShape(quantizedInput, 'input');
    this.assertInputShape(maskTotal, 'mask total');
    addInto(maskTotal, quantizedInput);
    return this.maskedInputMessage(maskTotal);
  }

  /**
   * Round 2, second half, in place: y_u = x_u + Σ masks formed in `quantizedInput` itself, the
   * masks of `jobs` (prepareMasks()) expanded straight into it, so a member holds one full-length
   * vector instead of its input and a mask total. The caller hands the vector over: on return it
   * holds the masked input (the message's `maskedInput`), no longer x_u.
   */
  completeMaskedInputInPlace(
    quantizedInput: Uint32Array,
    jobs: readonly MaskJob[],
  ): MaskedInputMessage {
    if (this.phase !== 'masking') {
      throw new PhaseOrderError(`client ${this.index} is in phase ${this.phase}, not masking`);
    }
    this.assertInputShape(quantizedInput, 'input');
    return this.maskedInputMessage(
      combineMasks(jobs, quantizedInput.length, this.curve, quantizedInput),
    );
  }

  /** The masked input y_u as this member's message; the client moves on to the next phase. */
  private maskedInputMessage(masked: Uint32Array): MaskedInputMessage {
    this.phase =
      this.context.config.adversary === 'semi-malicious' ? 'consistency-check' : 'unmasking';
    return { sender: this.index, maskedInput: masked, complaints: [...this.complaints] };
  }

  /** A caller's mistake, checked before any phase change so the call can be repeated. */
  private assertInputShape(vector: Uint32Array, what: string): void {
    const { dimension } = this.context.config;
    if (!(vector instanceof Uint32Array) || vector.length !== dimension) {
      throw new MalformedMessageError(
        `${what} length ${vector?.length} does not match the round dimension ${dimension}`,
      );
    }
  }

  /**
   * Round 3 (semi-malicious): judge every conviction served (convictions.ts), then sign the
   * committed U3 with the convicted ids, once; a later, different U3 or set of convictions is
   * refused.
   */
  signSurvivors(
    request: ConsistencyCheckRequest,
    masked: readonly number[],
  ): ConsistencySignatureMessage {
    this.enter('consistency-check');
    const survivors = this.checkSurvivors(request.survivors, masked);
    const convicted = this.judgeConvictions(request.convictions ?? [], survivors);
    this.committedSurvivors = survivors;
    this.committedConvicted = convicted;
    const signature = this.curve.sign(
      this.identitySecretKey,
      survivorSetPayload(this.context.binding, survivors, convicted),
    );
    this.phase = 'unmasking';
    return { sender: this.index, signature };
  }

  /**
   * Round 4: for each neighbour v in U2, reveal the share of b_v if v is in the committed U3
   * (its input arrived) or the share of s_v^SK if not (its pairwise masks must be removed) —
   * never both. Refused when U3 is not the committed one or is smaller than min contributors.
   */
  unmask(request: UnmaskingRequest, masked: readonly number[]): UnmaskingMessage {
    this.enter('unmasking');
    const { threshold, adversary, identityKeys } = this.context.config;
    const survivors = this.checkSurvivors(request.survivors, masked);
    const convicted =
      adversary === 'semi-malicious'
        ? [...(this.committedConvicted ?? [])]
        : this.judgeConvictions(request.convictions ?? [], survivors);
    if (adversary === 'semi-malicious') {
      if (!sameSet(survivors, this.committedSurvivors ?? [])) {
        throw new RefusedRevealError(
          `client ${this.index}: the unmasking survivor set differs from the one it signed; refusing to reveal`,
        );
      }
      checkSurvivorSignatures({
        binding: this.context.binding,
        survivors,
        convicted,
        signatures: request.signatures,
        threshold,
        identityKeys,
        curve: this.curve,
      });
    }
    const survivorSet = new Set(survivors);
    const selfMaskShares: RevealedShare[] = [];
    const maskingKeyShares: RevealedShare[] = [];
    selfMaskShares.push({ owner: this.index, share: encodeShare(this.ownShares!.selfMask) });
    for (const [peer, plaintext] of this.receivedShares) {
      const reveal = survivorSet.has(peer)
        ? plaintext.subarray(SHARE_BYTES, 2 * SHARE_BYTES)
        : plaintext.subarray(0, SHARE_BYTES);
      (survivorSet.has(peer) ? selfMaskShares : maskingKeyShares).push({
        owner: peer,
        share: reveal,
      });
    }
    // A convicted neighbour's masks are removed with our pairwise secret, which it can compute
    // itself only if it knows the secret key of the masking key it advertised (pairwiseReveal);
    // only for a member out of U3 (checkConvictions refused any in it), whose input is not in the
    // sum.
    const pairwiseSecrets: PairwiseReveal[] = [];
    for (const peer of convicted) {
      if (survivorSet.has(peer)) {
        throw new RefusedRevealError(`client ${peer} is convicted and in U3; refusing to reveal`);
      }
      const reveal = this.pairwiseReveal(peer);
      if (reveal !== undefined) pairwiseSecrets.push(reveal);
    }
    this.unmaskedWith = survivorSet;
    this.phase = 'done';
    return {
      sender: this.index,
      selfMaskShares,
      maskingKeyShares,
      undecryptable: this.complaints.map((complaint) => complaint.accused),
      ...(pairwiseSecrets.length > 0 ? { pairwiseSecrets } : {}),
    };
  }

  /**
   * The second reveal (after our Unmasking, only when the server asks): our pairwise secret with
   * each requested v, so that v's masks leave the sum although its s^SK cannot be reconstructed.
   * Nothing new leaks: v is outside the U3 we unmasked with (the committed one, signed in the
   * semi-malicious model), so nobody reveals b_v, and X25519(s_u, s_v^PK) is what t shares of
   * s_v^SK — which we already revealed — would give; it is revealed only if v owns its key
   * (pairwise-reveal.ts), only for a v whose masks are in our input, and at most once per round.
   * A requested member of U3 is the coordinator's doing: refused, nothing revealed.
   */
  revealPairwiseSecrets(request: PairwiseRevealRequest): PairwiseRevealMessage {
    const survivors = this.unmaskedWith;
    if (this.phase !== 'done' || survivors === undefined) {
      throw new PhaseOrderError(
        `client ${this.index} reveals pairwise secrets only after its Unmasking (it is in phase ${this.phase})`,
      );
    }
    const requested = new Set(request.dropped);
    if (requested.size !== request.dropped.length)
      throw new MalformedMessageError('the pairwise-reveal request lists a member twice');
    for (const peer of requested) {
      if (survivors.has(peer)) {
        throw new RefusedRevealError(
          `client ${peer} is in the committed U3 (its input is in the sum); refusing to reveal a pairwise secret with it`,
        );
      }
    }
    const pairwiseSecrets: PairwiseReveal[] = [];
    for (const peer of [...requested].sort((a, b) => a - b)) {
      const reveal = this.pairwiseReveal(peer);
      if (reveal !== undefined) pairwiseSecrets.push(reveal);
    }
    return { sender: this.index, pairwiseSecrets };
  }

  /**
   * Our proven secret with v, outside U3 (checked by the caller), if v's masks are in our input,
   * v owns its masking key, and we have not revealed it yet this round; else undefined.
   */
  private pairwiseReveal(peer: number): PairwiseReveal | undefined {
    if (!this.maskedWith.has(peer) || this.revealedPairwise.has(peer)) return undefined;
    const keys = this.peers.get(peer)!;
    // Every key this member knows for the round, its own included (fixed since ShareKeys).
    this.maskingKeyIndex ??= new MaskingKeyIndex([
      [this.index, this.maskingPublicKey, undefined],
      ...[...this.peers].map(
        ([other, p]) => [other, p.maskingPublicKey, p.maskingKeyProof] as const,
      ),
    ]);
    if (!this.maskingKeyIndex.owns(this.context.binding, peer)) return undefined;
    const evidence = proveSharedSecret(
      this.maskingSecretKey,
      keys.maskingPublicKey,
      pairwiseRevealContext(this.context.binding, this.index, peer),
      this.random,
    );
    if (evidence === undefined) return undefined;
    this.revealedPairwise.add(peer);
    return { peer, evidence };
  }

  /**
   * A committed participant set (from the ledger): it must contain us, and hold at least min
   * contributors — more dropouts than the threat model allows are refused, not absorbed.
   */
  private committedSet(members: readonly number[], what: string): Set<number> {
    const set = new Set(members);
    if (set.size !== members.length)
      throw new MalformedMessageError(`the committed ${what} lists a member twice`);
    if (!set.has(this.index)) {
      throw new RefusedRevealError(
        `client ${this.index} is not in the committed ${what}; refusing to go on`,
      );
    }
    const { minContributors } = this.context.config;
    if (set.size < minContributors) {
      throw new TooFewParticipantsError(
        `the committed ${what} has ${set.size} members, below the round's ${minContributors} min contributors; refusing to go on`,
      );
    }
    return set;
  }

  /**
   * U3 as served must be exactly the committed U3, a subset of U2 as we saw it, contain us, hold
   * at least min contributors and leave ≥ t of our holders.
   */
  private checkSurvivors(survivors: readonly number[], masked: readonly number[]): number[] {
    const { threshold } = this.context.config;
    const unique = [...new Set(survivors)].sort((a, b) => a - b);
    if (unique.length !== survivors.length)
      throw new MalformedMessageError('survivor set lists a client twice');
    const committed = [...this.committedSet(masked, 'U3 (members whose masked inputs count)')].sort(
      (a, b) => a - b,
    );
    if (!sameSet(unique, committed)) {
      const extra = unique.filter((member) => !masked.includes(member));
      const missing = committed.filter((member) => !unique.includes(member));
      throw new LedgerMismatchError(
        `the coordinator served a survivor set that differs from the committed U3 ` +
          `(not committed: [${extra.join(', ')}]; committed but not served: [${missing.join(', ')}]); refusing to reveal`,
      );
    }
    if (!unique.includes(this.index)) {
      throw new RefusedRevealError(
        `client ${this.index} sent its masked input but is not in the survivor set`,
      );
    }
    for (const survivor of unique) {
      if (
        !Number.isSafeInteger(survivor) ||
        survivor < 1 ||
        survivor > this.context.config.clients
      ) {
        throw new MalformedMessageError(`survivor ${survivor} is not a participant index`);
      }
      if (
        this.holders.has(survivor) &&
        survivor !== this.index &&
        !this.receivedShares.has(survivor) &&
        !this.complaints.some((complaint) => complaint.accused === survivor)
      ) {
        throw new RefusedRevealError(
          `client ${survivor} is listed as a survivor but never shared keys with client ${this.index}`,
        );
      }
    }
    const survivingHolders = unique.filter((survivor) => this.holders.has(survivor)).length;
    if (survivingHolders < threshold) {
      throw new TooFewParticipantsError(
        `client ${this.index}: only ${survivingHolders} of its share holders survived, threshold is ${threshold}`,
      );
    }
    return unique;
  }

  /** Each served conviction, judged here; the convicted ids (convictions.ts). */
  private judgeConvictions(
    convictions: readonly Conviction[],
    survivors: readonly number[],
  ): number[] {
    return checkConvictions({
      binding: this.context.binding,
      convictions,
      survivors,
      clients: this.context.config.clients,
      identityKeys: this.context.config.identityKeys,
      areNeighbours: (a, b) => this.context.graph.areNeighbours(a, b),
      curve: this.curve,
    });
  }

  /** A client that fails a check stays aborted: it never resumes a round it distrusts. */
  private enter(expected: SecAggPhase): void {
    if (this.phase !== expected) {
      throw new PhaseOrderError(`client ${this.index} is in phase ${this.phase}, not ${expected}`);
    }
    this.phase = 'aborted';
  }
}

function sameSet(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}
