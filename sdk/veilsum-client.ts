import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { nativeCurve25519 } from '../crypto/curve25519-native.ts';
import { quantize } from '../crypto/quantize.ts';
import { readFileSync } from 'node:fs';
import { systemRandom } from '../crypto/random.ts';
import { SecAggError } from '../crypto/secagg/errors.ts';
import type { ShareComplaint } from '../crypto/secagg/messages.ts';
import { ContractError } from '../ledger/contract.ts';
import { LedgerTamperedError } from '../ledger/embedded/ledger-errors.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { RoundPhaseName } from '../ledger/records.ts';
import { toServiceError } from './common/grpc-errors.ts';
import {
  checkRoster,
  checkRoundAgainstLedger,
  checkThreatModel,
  IdentityKeyVerifier,
  type MemberThreatModel,
} from './round-verification.ts';
import { SecAggClient } from '../crypto/secagg/client.ts';
import { createRoundContext, needsContributedSeed } from '../crypto/secagg/config.ts';
import type { DropoutPhase } from '../crypto/secagg/simulation.ts';
import {
  Adversary,
  Mode,
  Phase,
  RoundAdminServiceClient,
  RoundParams,
  type InclusionProof,
  type Round,
} from '../proto/gen/veilsum/v1/round.ts';
import {
  SecAggServiceClient,
  SecAggServiceService,
  type ConsistencyCheckRequest,
  type KeysBroadcast,
  type SeedCommitments,
  type SharesDelivery,
  type UnmaskingRequest,
  type PairwiseRevealRequest,
  type UploadChunk,
} from '../proto/gen/veilsum/v1/secagg.ts';
import {
  advertiseKeysToWire,
  complaintsToWire,
  keysBroadcastFromWire,
  seedRevealToWire,
  sharesDeliveryFromWire,
  shareKeysToWire,
  unmaskingRequestFromWire,
  consistencyCheckFromWire,
  unmaskToWire,
  pairwiseRevealRequestFromWire,
  revealPairwiseToWire,
} from '../proto/secagg-wire.ts';
import { hasConsistentParamsHash, secAggConfigOf } from '../proto/round-wire.ts';
import { isServiceError, RoundAbortedError, toVeilsumError, VeilsumError } from './errors.ts';
import { DEFAULT_RETRY, type RetryPolicy, withRetry } from './retry.ts';
import { ownBytes, UnmaskJournal, updateDigest } from './unmask-journal.ts';
import { digestOfQuantizedFrom } from './quantized-origin.ts';
import { deadline, tlsChannel, type TlsIdentity, unary } from './grpc-channel.ts';
import { clientWithBytesSerializers } from './oneof-bytes-serializer.ts';
import { assertQuantizedLevels } from './update-file.ts';
import {
  CkksServiceClient,
  CkksServiceService,
  type EncryptedUploadChunk,
  type EncryptionKey,
} from '../proto/gen/veilsum/v1/ckks.ts';
import { CkksEncryptPool } from './compute/ckks-encrypt-pool.ts';
import { keySha256 } from '../crypto/ckks/key-ceremony.ts';
import { ciphertextsFor, parameterSetNamed } from '../crypto/ckks/parameters.ts';
import { signUploadReceipt } from '../crypto/ckks/upload-receipt.ts';
import { proofRange, type ProofStatement } from '../crypto/ckks/encryption-proof.ts';
import {
  checkCkksMinContributors,
  checkCkksKeyholders,
  checkCkksRoundAgainstLedger,
} from './ckks-round-verification.ts';

/** The coordinator's host:port and this member's consortium certificate (TlsIdentity). */
export interface ConnectOptions extends TlsIdentity {
  readonly retry?: RetryPolicy;
  /**
   * This member's own view of the consortium ledger, acting as itself (embedded: the ledger file
   * opened as this member; Fabric: a FabricLedger on its own peer). SecAgg rounds are then
   * checked against it; without it the member trusts the coordinator's word.
   */
  readonly ledger?: Ledger;
  /** The weakest threat model this member accepts in a SecAgg round (MEMBER_POLICY_DEFAULTS). */
  readonly threatModel?: MemberThreatModel;
  /**
   * The consortium's member ids (profile `members`, written by `veilsum pki init`): a SecAgg
   * roster may list only these, each once. Required without a ledger; with one, the ledger's
   * roles are checked as well.
   */
  readonly consortiumMembers?: readonly string[];
  /** How long to wait for the coordinator to commit a phase's set on the ledger (default 60 s). */
  readonly ledgerWaitMs?: number;
  /**
   * Directory of this member's re-run journal (unmask-journal.ts): an update goes
   * into one SecAgg round only, ever. A profile puts it next to itself; without one, nothing is kept.
   */
  readonly journal?: string;
}

export interface Progress {
  readonly step:
    | 'advertise-keys'
    | 'share-keys'
    | 'masked-input'
    | 'consistency-check'
    | 'unmasking'
    | 'encrypting'
    | 'waiting-for-result'
    | 'done';
  readonly bytesSent?: number;
  readonly totalBytes?: number;
}

/**
 * What the update was trained from — the digest of the global model version (and data snapshot)
 * the application started from. The re-run journal takes one update per such slot, so a
 * retraining that gives an update a few ulps from one already summed is refused
 * (unmask-journal.ts); without it only an exact copy is.
 */
interface TrainedFrom {
  readonly trainedFrom?: string;
}

export interface ParticipateOptions extends TrainedFrom {
  readonly onProgress?: (progress: Progress) => void;
  /** Test hook: go silent before this phase, as a crashed or disconnected client would. */
  readonly dropBefore?: DropoutPhase;
  /** Test hook: a slow client, waiting this long before it uploads its masked input. */
  readonly delayUploadMs?: number;
  /** Wait for the round's result after unmasking (default true). */
  readonly waitForResult?: boolean;
  /**
   * participateQuantized: the re-run journal's digest of the update (default: of the levels).
   * A caller that quantized a float update itself names it by `updateDigest` of the floats, so
   * that the same floats quantized again (stochastic rounding) are still the same update. Checked
   * against `quantizedFrom`, which it needs.
   */
  readonly updateSha256?: string;
  /**
   * participateQuantized: the floats the levels were quantized from, read again (e.g. slice by
   * slice from a file). Their `updateDigest` becomes the journal's digest; refused unless every
   * level is a rounding of its float and the digest is `updateSha256` (when given).
   */
  readonly quantizedFrom?: () => Iterable<Float32Array>;
  /**
   * participateQuantized: the caller hands its levels over instead of the SDK copying them (a
   * full-length vector less: the bank's peer quantizes a 10^7-value update straight into them).
   * The caller must neither read nor change the array afterwards: it is checked, journalled and
   * then masked in place. Only a plain Uint32Array over its own (unshared) ArrayBuffer is taken
   * so; anything else is still copied.
   */
  readonly handOverLevels?: boolean;
}

export interface CkksParticipateOptions extends TrainedFrom {
  readonly onProgress?: (progress: Progress) => void;
  /** SHA-256 of the collective key from the consortium's published key file. */
  readonly expectedKeySha256?: Uint8Array;
  /**
   * The params hash of the round the caller already checked (its model, length, clip range):
   * refused if the coordinator now serves the round with other parameters.
   */
  readonly expectedParamsHash?: Uint8Array;
  /** Encryption threads (default: all cores). */
  readonly threads?: number;
  /** Test hook: encrypt, then go silent instead of uploading (a dropout). */
  readonly dropBefore?: 'masked-input';
  readonly waitForResult?: boolean;
}

export interface ParticipationResult {
  readonly round: Round;
  /** SHA-256 of this member's masked upload, as stored by the coordinator. */
  readonly uploadSha256: Uint8Array | undefined;
  readonly included: boolean;
}

const CHUNK_WORDS = 1 << 18; // 1 MiB per message, under grpc-js's 4 MiB default limit
const PROOF_PIECE_BYTES = 1 << 20; // encryption proofs travel in 1 MiB pieces
const UNARY_DEADLINE_MS = 30_000;
/** Collective keys a client keeps between CKKS rounds (`ckksKeys`). */
const CACHED_CKKS_KEYS = 4;
/** A decline is a courtesy: the member's own error is not held up waiting for it. */
const DECLINE_DEADLINE_MS = 5_000;
/** The generated client, with an upload's ciphertexts written to the stream in one copy. */
const CkksClient = clientWithBytesSerializers<typeof CkksServiceClient>(
  CkksServiceService,
  'veilsum.v1.CkksService',
  { uploadEncrypted: { ciphertext: 2, proof: 3 } },
);
/** Likewise for a masked input's words (the generated encoder copies each 1 MiB piece four times). */
const SecAggServiceStreamClient = clientWithBytesSerializers<typeof SecAggServiceClient>(
  SecAggServiceService,
  'veilsum.v1.SecAggService',
  { uploadMaskedInput: { data: 2 } },
);
const AWAIT_DEADLINE_MS = 15 * 60_000;

/**
 * A consortium member's connection to a coordinator: open and inspect rounds, and take part in
 * a secure-aggregation round with a Float32Array update. Transient failures (the coordinator
 * restarting) are retried; everything else surfaces as a VeilsumError naming the failed step.
 */
export class VeilsumClient {
  readonly memberId: string;
  private readonly admin: RoundAdminServiceClient;
  private readonly secagg: SecAggServiceClient;
  private readonly ckks: CkksServiceClient;
  private readonly identitySecretKey: Uint8Array;
  private readonly identityKey: Uint8Array;
  private readonly retry: RetryPolicy;
  private readonly ledger: Ledger | undefined;
  private readonly threatModel: MemberThreatModel | undefined;
  private readonly consortiumMembers: readonly string[] | undefined;
  private readonly ledgerWaitMs: number;
  private readonly identityKeys: IdentityKeyVerifier;
  private readonly journal: UnmaskJournal | undefined;
  /**
   * Collective public keys this member checked and used, by their SHA-256 (hex) as its own
   * ledger attests it: `participateCkks` fetches a round's key only when the one the ledger
   * names for the round is not here (at most CACHED_CKKS_KEYS, the most recent).
   */
  private readonly ckksKeys = new Map<string, Uint8Array>();

  private constructor(options: ConnectOptions) {
    const { credentials, channelOptions, organisation, identitySecretKey } = tlsChannel(options);
    this.admin = new RoundAdminServiceClient(options.address, credentials, channelOptions);
    this.secagg = new SecAggServiceStreamClient(options.address, credentials, channelOptions);
    this.ckks = new CkksClient(options.address, credentials, channelOptions);
    this.identitySecretKey = identitySecretKey;
    this.identityKey = nativeCurve25519.ed25519PublicKey(identitySecretKey);
    this.memberId = organisation;
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.ledger = options.ledger;
    this.threatModel = options.threatModel;
    this.consortiumMembers = options.consortiumMembers;
    this.ledgerWaitMs = options.ledgerWaitMs ?? 60_000;
    this.identityKeys = new IdentityKeyVerifier(readFileSync(options.caCertificate, 'utf8'));
    this.journal = options.journal === undefined ? undefined : new UnmaskJournal(options.journal);
  }

  static connect(options: ConnectOptions): VeilsumClient {
    return new VeilsumClient(options);
  }

  /** Closes all three service clients: their shared connection goes when the last one does. */
  close(): void {
    this.admin.close();
    this.secagg.close();
    this.ckks.close();
  }

  // ── rounds ───────────────────────────────────────────────────────────────────────────────

  openRound(params: RoundParams): Promise<Round> {
    return withRetry('OpenRound', this.retry, () =>
      unary<Round>((done) =>
        this.admin.openRound({ params }, new grpc.Metadata(), deadline(UNARY_DEADLINE_MS), done),
      ),
    );
  }

  getRound(roundId: string): Promise<Round> {
    return withRetry('GetRound', this.retry, () =>
      unary<Round>((done) =>
        this.admin.getRound({ roundId }, new grpc.Metadata(), deadline(UNARY_DEADLINE_MS), done),
      ),
    );
  }

  async listRounds(modelId = ''): Promise<Round[]> {
    const response = await withRetry('ListRounds', this.retry, () =>
      unary<{ rounds: Round[] }>((done) =>
        this.admin.listRounds({ modelId }, new grpc.Metadata(), deadline(UNARY_DEADLINE_MS), done),
      ),
    );
    return response.rounds;
  }

  /**
   * Tells the coordinator this member will not take part in `roundId`, and why: the round names
   * it in Round.missing and stops waiting for it. Sent by participate and participateCkks when
   * this member's own checks refuse a round.
   */
  declineRound(roundId: string, reason: string): Promise<Round> {
    return unary<Round>((done) =>
      this.admin.declineRound(
        { roundId, reason },
        new grpc.Metadata(),
        deadline(DECLINE_DEADLINE_MS),
        done,
      ),
    );
  }

  /**
   * Runs this member's checks of a round before it says anything in it. A refusal of the round
   * (FAILED_PRECONDITION: parameters, roster, the ledger's record, threat model, key) is told to
   * the coordinator, best effort, so the others need not wait out the phase deadline for this
   * member. A ledger this member could not read is no refusal of the round: it may retry.
   */
  private async declineIfRefused<T>(roundId: string, checks: () => Promise<T>): Promise<T> {
    try {
      return await checks();
    } catch (error) {
      if (
        error instanceof VeilsumError &&
        error.code === status.FAILED_PRECONDITION &&
        !error.step.startsWith('ledger ')
      )
        await this.declineRound(roundId, error.detail).catch(() => undefined);
      throw error;
    }
  }

  /** Yields the round on every change until it is done or aborted. */
  async *watchRound(roundId: string): AsyncGenerator<Round> {
    const stream = this.admin.watchRound(
      { roundId },
      new grpc.Metadata(),
      deadline(AWAIT_DEADLINE_MS),
    );
    try {
      for await (const round of stream as AsyncIterable<Round>) yield round;
    } catch (error) {
      throw toVeilsumError('WatchRound', error);
    }
  }

  /**
   * Waits until the round is done (or aborted), surviving coordinator restarts; `onPairwiseReveal`
   * runs once if the round enters the second reveal (a SecAgg member's part in it).
   */
  async waitForResult(roundId: string, onPairwiseReveal?: () => Promise<void>): Promise<Round> {
    let revealed = false;
    return withRetry('WatchRound', this.retry, async () => {
      let last: Round | undefined;
      const stream = this.admin.watchRound(
        { roundId },
        new grpc.Metadata(),
        deadline(AWAIT_DEADLINE_MS),
      );
      for await (const round of stream as AsyncIterable<Round>) {
        last = round;
        if (round.phase === Phase.PHASE_PAIRWISE_REVEAL && onPairwiseReveal && !revealed) {
          revealed = true;
          await onPairwiseReveal();
        }
      }
      if (
        last === undefined ||
        (last.phase !== Phase.PHASE_DONE && last.phase !== Phase.PHASE_ABORTED)
      ) {
        throw Object.assign(new Error('watch ended before the round settled'), {
          code: status.UNAVAILABLE,
        });
      }
      return last;
    });
  }

  /** The round's collective key as the coordinator serves it (checked by the caller). */
  private fetchEncryptionKey(roundId: string): Promise<EncryptionKey> {
    return withRetry('GetEncryptionKey', this.retry, () =>
      unary<EncryptionKey>((done) =>
        this.ckks.getEncryptionKey(
          { roundId },
          new grpc.Metadata(),
          deadline(UNARY_DEADLINE_MS),
          done,
        ),
      ),
    );
  }

  /** This member's upload commitment in a finished round, with its Merkle path. */
  proveInclusion(roundId: string): Promise<InclusionProof> {
    return withRetry('ProveInclusion', this.retry, () =>
      unary<InclusionProof>((done) =>
        this.admin.proveInclusion(
          { roundId },
          new grpc.Metadata(),
          deadline(UNARY_DEADLINE_MS),
          done,
        ),
      ),
    );
  }

  /** Records on the ledger that `modelHash` was produced from this round (administrators). */
  async recordModelVersion(roundId: string, modelHash: Uint8Array): Promise<void> {
    await withRetry('RecordModelVersion', this.retry, () =>
      unary((done) =>
        this.admin.recordModelVersion(
          { roundId, modelHash: Buffer.from(modelHash) },
          new grpc.Metadata(),
          deadline(UNARY_DEADLINE_MS),
          done,
        ),
      ),
    );
  }

  /** The aggregate of a finished SecAgg round: the sum modulo 2^modulus_bits of the included updates. */
  getAggregate(roundId: string): Promise<Uint32Array> {
    return this.readAggregate(roundId, (d) => new Uint32Array(d));
  }

  /** The decrypted sum of a finished CKKS round (float64, one value per parameter). */
  getCkksResult(roundId: string): Promise<Float64Array> {
    return this.readAggregate(roundId, (d) => new Float64Array(d));
  }

  private readAggregate<T extends Uint32Array | Float64Array>(
    roundId: string,
    allocate: (dimension: number) => T,
  ): Promise<T> {
    return withRetry('GetAggregate', this.retry, async () => {
      const round = await this.getRound(roundId);
      const out = allocate(round.params!.dimension);
      const bytes = new Uint8Array(out.buffer);
      for await (const chunk of this.aggregateChunks(roundId))
        bytes.set(chunk.data, chunk.offsetWords * 4);
      return out;
    });
  }

  /**
   * A finished round's aggregate file as the coordinator streams it, in order (offsets in 32-bit
   * words; SecAgg: uint32 sums, CKKS: float64), for a caller that converts or forwards it piece
   * by piece instead of holding it. Only a stream that ends without error is the aggregate (the
   * coordinator checks its digest at the end). Not retried.
   */
  aggregateChunks(roundId: string): AsyncIterable<{ offsetWords: number; data: Buffer }> {
    return this.admin.getAggregate(
      { roundId },
      new grpc.Metadata(),
      deadline(AWAIT_DEADLINE_MS),
    ) as AsyncIterable<{ offsetWords: number; data: Buffer }>;
  }

  // ── taking part in a round ───────────────────────────────────────────────────────────────

  /** Quantizes `update` with the round's parameters and runs every SecAgg+ phase. */
  async participate(
    roundId: string,
    update: Float32Array,
    options: ParticipateOptions = {},
  ): Promise<ParticipationResult> {
    const round = await this.getRound(roundId);
    const params = round.params!;
    if (update.length !== params.dimension) {
      throw new VeilsumError(
        'participate',
        status.INVALID_ARGUMENT,
        `update length ${update.length} does not match round length ${params.dimension}`,
      );
    }
    let levels: Uint32Array;
    try {
      levels = quantize(update, params.quantization!, systemRandom);
    } catch (error) {
      throw new VeilsumError('participate', status.INVALID_ARGUMENT, (error as Error).message);
    }
    return this.runSecAgg(round, levels, options, updateDigest(update));
  }

  /**
   * Takes part in a CKKS round: clips `update` to the round's range, encrypts it under the
   * round's collective key on a worker pool (both cores), and streams the ciphertexts. The key is
   * checked against the round's parameters (whose hash is on the ledger) and, when given,
   * against `expectedKeySha256` from the consortium's published key file.
   */
  async participateCkks(
    roundId: string,
    update: Float32Array,
    options: CkksParticipateOptions = {},
  ): Promise<ParticipationResult> {
    const progress = options.onProgress ?? (() => {});
    const round = await this.getRound(roundId);
    const params = round.params!;
    const fail = (message: string, code = status.FAILED_PRECONDITION): never => {
      throw new VeilsumError('participateCkks', code, message);
    };
    if (params.mode !== Mode.MODE_CKKS || params.ckks === undefined)
      fail(`round ${roundId} is not a CKKS round; use participate`);
    if (
      options.expectedParamsHash !== undefined &&
      !Buffer.from(round.paramsHash).equals(Buffer.from(options.expectedParamsHash))
    )
      fail(
        `the coordinator served round ${roundId} with parameters other than those checked a moment ago; refusing to take part`,
      );
    if (update.length !== params.dimension) {
      fail(
        `update length ${update.length} does not match round length ${params.dimension}`,
        status.INVALID_ARGUMENT,
      );
    }
    const { publicKey, computed } = await this.declineIfRefused(roundId, async () => {
      if (!hasConsistentParamsHash(round))
        fail('the round parameters do not match their hash; refusing to take part');
      // With its own ledger view, the member knows which key the round names (RoundOpened's
      // manifest) before asking for it: a key it already holds whose hash it recomputes to that
      // is used as is, without the ~393 KB fetch. Every check below runs on it all the same.
      const record =
        this.ledger === undefined
          ? undefined
          : await this.checkLedgerHead(round).then(() =>
              this.fromLedger('GetRound', () => this.roundOnLedger(roundId)),
            );
      const named = record?.manifest?.mode === 'ckks' ? record.manifest.ckksKeySha256 : undefined;
      const held = typeof named === 'string' ? this.ckksKeys.get(named) : undefined;
      const publicKey =
        held !== undefined && Buffer.from(keySha256(held)).toString('hex') === named
          ? held
          : (await this.fetchEncryptionKey(roundId)).publicKey;
      const computed = keySha256(publicKey);
      if (
        !Buffer.from(computed).equals(Buffer.from(params.ckks!.keySha256)) ||
        (options.expectedKeySha256 !== undefined &&
          !Buffer.from(computed).equals(Buffer.from(options.expectedKeySha256)))
      ) {
        fail(
          "the coordinator served a public key that is not the round's collective key; refusing to encrypt under it",
        );
      }
      // The key's hash above is the coordinator's word: only the ledger (or the consortium's key
      // file) says which key the keyholders made.
      if (this.ledger !== undefined) {
        const hex = Buffer.from(computed).toString('hex');
        const attested = await this.ledger.getCollectiveKey(hex).catch((error: unknown) => {
          if (error instanceof ContractError && error.kind === 'not-found') return undefined;
          return this.fromLedger('GetCollectiveKey', () => Promise.reject(error as Error));
        });
        checkCkksRoundAgainstLedger(round, record!, hex, attested);
        // Who holds that key, by this member's own ledger view and policy.
        const roles = new Map<string, readonly string[] | undefined>();
        for (const participant of attested!.participants) {
          const member = await this.ledger.getMember(participant).catch((error: unknown) => {
            if (error instanceof ContractError && error.kind === 'not-found') return undefined;
            return this.fromLedger('GetMember', () => Promise.reject(error as Error));
          });
          roles.set(participant, member?.roles);
        }
        checkCkksKeyholders(attested!, roles, this.threatModel);
        // Kept by the hash this member's ledger attests (a key's life is R rounds), never by
        // anything the coordinator says; the most recent few only.
        this.ckksKeys.delete(hex);
        this.ckksKeys.set(hex, publicKey);
        for (const old of this.ckksKeys.keys())
          if (this.ckksKeys.size > CACHED_CKKS_KEYS) this.ckksKeys.delete(old);
      } else if (
        this.threatModel?.trustedKeyholders !== undefined ||
        this.threatModel?.minimumKeyThreshold !== undefined
      ) {
        fail(
          "refusing to encrypt: this member's policy names who may hold the key (trustedKeyholders / minimumKeyThreshold), which only its own ledger view (ConnectOptions.ledger, veilsum submit --ledger) can show",
        );
      } else if (options.expectedKeySha256 === undefined) {
        fail(
          "refusing to encrypt: without its own ledger view (ConnectOptions.ledger) or the consortium's key file (expectedKeySha256, veilsum submit --key-file) this member cannot tell the keyholders' collective key from one the coordinator made; give one of them",
        );
      }
      // The served roster is the ledger's when the member has one (checked just above).
      checkCkksMinContributors(round, round.roster.length, this.threatModel);
      return { publicKey, computed };
    });
    // The same journal as SecAgg: two decrypted sums with and without this update give it away.
    const journalEntry = {
      modelId: params.modelId,
      roundNumber: params.roundNumber,
      roundId,
      updateSha256: updateDigest(update),
      ...(options.trainedFrom === undefined ? {} : { trainedFrom: options.trainedFrom }),
    };
    this.journal?.check(journalEntry);
    const clip = params.ckks!.clipRange;
    // A plain loop: Float32Array.from with a mapping function takes V8's slow generic path.
    const clipped = new Float32Array(update.length);
    for (let i = 0; i < update.length; i++) {
      const v = update[i]!;
      if (!Number.isFinite(v))
        fail('the update contains NaN or infinite values', status.INVALID_ARGUMENT);
      clipped[i] = v < -clip ? -clip : v > clip ? clip : v;
    }
    progress({ step: 'encrypting' });
    const pool = await CkksEncryptPool.create(
      params.ckks!.parameterSet,
      publicKey,
      options.threads,
    );
    // The proofs bind this member, round, parameters, key and every ciphertext byte.
    const statement: ProofStatement = {
      roundId,
      paramsHash: round.paramsHash,
      keySha256: computed,
      memberId: this.memberId,
      totalCiphertexts: ciphertextsFor(
        parameterSetNamed(params.ckks!.parameterSet),
        params.dimension,
      ),
    };
    let encrypted: { wires: Uint8Array[]; proofs: Uint8Array[] };
    try {
      encrypted = await pool.encryptAll(clipped, statement);
    } finally {
      await pool.close();
    }
    if (options.dropBefore === 'masked-input')
      return { round, uploadSha256: undefined, included: false };
    // The receipt the member signs: what the keyholders will require the aggregate to contain.
    const digest = createHash('sha256');
    for (const ciphertext of encrypted.wires) digest.update(ciphertext);
    const receiptSignature = signUploadReceipt(
      nativeCurve25519,
      this.identitySecretKey,
      roundId,
      round.paramsHash,
      new Uint8Array(digest.digest()),
    );
    // From the upload on, the update can be in a decrypted sum: claim it first.
    this.journal?.record(journalEntry);
    const sha256 = await this.uploadEncrypted(
      roundId,
      encrypted,
      computed,
      receiptSignature,
      progress,
    );
    if (options.waitForResult === false) return { round, uploadSha256: sha256, included: true };
    progress({ step: 'waiting-for-result' });
    const finished = await this.waitForResult(roundId);
    if (finished.phase === Phase.PHASE_ABORTED)
      throw new RoundAbortedError('WatchRound', finished.abortReason);
    progress({ step: 'done' });
    const index = finished.roster.find((m) => m.memberId === this.memberId)?.index ?? 0;
    return { round: finished, uploadSha256: sha256, included: finished.included.includes(index) };
  }

  private uploadEncrypted(
    roundId: string,
    { wires, proofs }: { wires: readonly Uint8Array[]; proofs: readonly Uint8Array[] },
    key: Uint8Array,
    receiptSignature: Uint8Array,
    progress: (p: Progress) => void,
  ): Promise<Uint8Array> {
    const header: EncryptedUploadChunk = {
      content: {
        $case: 'header',
        value: {
          roundId,
          ciphertexts: wires.length,
          keySha256: Buffer.from(key),
          receiptSignature: Buffer.from(receiptSignature),
        },
      },
    };
    // Each proof follows the ciphertexts it covers, in pieces under the message size limit.
    const body: { message: EncryptedUploadChunk; bytes: Uint8Array; committed?: boolean }[] = [];
    for (const proof of proofs) {
      const { first, count } = proofRange(proof);
      for (const wire of wires.slice(first, first + count))
        body.push({
          message: { content: { $case: 'ciphertext', value: Buffer.from(wire) } },
          bytes: wire,
        });
      for (let offset = 0; offset < proof.length; offset += PROOF_PIECE_BYTES) {
        const piece = proof.subarray(offset, offset + PROOF_PIECE_BYTES);
        body.push({
          message: { content: { $case: 'proof', value: Buffer.from(piece) } },
          bytes: piece,
          committed: false,
        });
      }
    }
    return this.streamUpload(
      'UploadEncrypted',
      (done) => this.ckks.uploadEncrypted(new grpc.Metadata(), deadline(AWAIT_DEADLINE_MS), done),
      header,
      body,
      progress,
    );
  }

  /**
   * Streams one upload (header, then data messages with backpressure) and checks the receipt's
   * SHA-256 against the bytes sent. Retried as a whole on transient failures; a retry answered
   * ALREADY_EXISTS means an earlier attempt was stored, which is success.
   */
  private streamUpload<Chunk>(
    step: string,
    open: (
      done: (error: grpc.ServiceError | null, value?: { sha256: Uint8Array }) => void,
    ) => grpc.ClientWritableStream<Chunk>,
    header: Chunk,
    body: readonly { message: Chunk; bytes: Uint8Array; committed?: boolean }[],
    progress: (p: Progress) => void,
  ): Promise<Uint8Array> {
    // The receipt's SHA-256 covers the committed bytes (for CKKS: the ciphertexts, not proofs).
    const hash = createHash('sha256');
    for (const { bytes, committed } of body) if (committed !== false) hash.update(bytes);
    const localSha256 = new Uint8Array(hash.digest());
    const totalBytes = body.reduce((total, { bytes }) => total + bytes.length, 0);
    return withRetry(step, this.retry, async (attemptNumber) => {
      try {
        const receipt = await new Promise<{ sha256: Uint8Array }>((resolve, reject) => {
          const stream = open((error, value) => (error ? reject(error) : resolve(value!)));
          const send = async () => {
            stream.write(header);
            let sent = 0;
            for (const { message, bytes } of body) {
              if (!stream.write(message))
                await new Promise<void>((drained) => stream.once('drain', drained));
              sent += bytes.length;
              progress({ step: 'masked-input', bytesSent: sent, totalBytes });
            }
            stream.end();
          };
          send().catch(reject);
        });
        if (!Buffer.from(receipt.sha256).equals(Buffer.from(localSha256))) {
          throw new VeilsumError(
            step,
            status.DATA_LOSS,
            'the coordinator hashed different bytes than were sent',
          );
        }
        return localSha256;
      } catch (error) {
        if (attemptNumber > 1 && isServiceError(error) && error.code === status.ALREADY_EXISTS)
          return localSha256;
        throw error;
      }
    });
  }

  /**
   * As `participate`, for an update already quantized into the round's levels (each in [0, L],
   * L = 2^levelBits − 1; anything else is INVALID_ARGUMENT). The roster must list distinct
   * consortium members only (checkRoster). With a ledger (ConnectOptions.ledger) the member
   * checks the served round against the ledger's RoundOpened manifest and, before each phase,
   * the participant set the coordinator committed there; every refusal is a FAILED_PRECONDITION
   * naming what differed. Unless that ledger is an agreement channel (Fabric; not the embedded
   * file, which its owner can fork) the member takes only semi-malicious complete-graph rounds
   * (signed survivor sets). Either way the round must meet the member's policy
   * (ConnectOptions.threatModel, defaults MEMBER_POLICY_DEFAULTS).
   */
  participateQuantized(
    round: Round,
    input: Uint32Array,
    options: ParticipateOptions = {},
  ): Promise<ParticipationResult> {
    // A copy taken before any check (from the array's own storage, whatever its class): the
    // caller's array may change after this returns, and only the levels checked and journalled
    // may enter the sum. A caller that hands its levels over (and may not touch them again)
    // gives a plain, unshared array: that one is taken as it is.
    const levels =
      options.handOverLevels === true && isPlainUnsharedUint32Array(input)
        ? input
        : new Uint32Array(input);
    let names: JournalNames;
    try {
      names = quantizedDigest(round, levels, options);
    } catch (error) {
      return Promise.reject(
        new VeilsumError('participate', status.INVALID_ARGUMENT, (error as Error).message),
      );
    }
    return this.runSecAgg(round, levels, options, names.updateSha256, names.alsoNamed);
  }

  private async runSecAgg(
    round: Round,
    input: Uint32Array,
    options: ParticipateOptions,
    updateSha256: string,
    alsoNamed: readonly string[] = [],
  ): Promise<ParticipationResult> {
    const roundId = round.roundId;
    const params = round.params!;
    const progress = options.onProgress ?? (() => {});
    const random = systemRandom;
    if (input.length !== params.dimension)
      throw new VeilsumError(
        'participate',
        status.INVALID_ARGUMENT,
        `update length ${input.length} does not match round length ${params.dimension}`,
      );
    try {
      assertQuantizedLevels(input, params.quantization!);
    } catch (error) {
      throw new VeilsumError('participate', status.INVALID_ARGUMENT, (error as Error).message);
    }
    const me = await this.declineIfRefused(roundId, async () => {
      if (!hasConsistentParamsHash(round)) {
        throw new VeilsumError(
          'participate',
          status.FAILED_PRECONDITION,
          'the round parameters do not match their hash; refusing to take part',
        );
      }
      const me = round.roster.find((member) => member.memberId === this.memberId);
      if (me === undefined) {
        throw new VeilsumError(
          'participate',
          status.PERMISSION_DENIED,
          `member ${this.memberId} is not on the roster of round ${roundId}`,
        );
      }
      if (!Buffer.from(me.identityKey).equals(Buffer.from(this.identityKey))) {
        throw new VeilsumError(
          'participate',
          status.FAILED_PRECONDITION,
          `refusing the round: the roster lists another identity key for ${this.memberId} than its own certificate's`,
        );
      }
      await checkRoster(round, {
        ...(this.ledger ? { ledger: this.ledger } : {}),
        ...(this.consortiumMembers ? { consortiumMembers: this.consortiumMembers } : {}),
      });
      if (this.ledger !== undefined) {
        await this.checkLedgerHead(round);
        const record = await this.fromLedger('GetRound', () => this.roundOnLedger(roundId));
        checkRoundAgainstLedger(round, record);
      }
      checkThreatModel(round, this.threatModel, {
        agreement: this.ledger?.agreementChannel === true,
      });
      return me;
    });
    const journalEntry = {
      modelId: params.modelId,
      roundNumber: params.roundNumber,
      roundId,
      updateSha256,
      ...(alsoNamed.length === 0 ? {} : { alsoNamed }),
      ...(options.trainedFrom === undefined ? {} : { trainedFrom: options.trainedFrom }),
    };
    this.journal?.check(journalEntry);
    const context = this.secAggStep('participate', () => createRoundContext(secAggConfigOf(round)));
    const client = new SecAggClient({
      context,
      index: me.index,
      identitySecretKey: this.identitySecretKey,
      curve: nativeCurve25519,
      random,
    });
    const stopsBefore = (phase: DropoutPhase) => options.dropBefore === phase;
    const dropped = (): ParticipationResult => ({
      round,
      uploadSha256: undefined,
      included: false,
    });

    if (stopsBefore('advertise-keys')) return dropped();
    progress({ step: 'advertise-keys' });
    const advertised = advertiseKeysToWire(roundId, client.advertiseKeys());
    await this.write('AdvertiseKeys', (done) =>
      this.secagg.advertiseKeys(advertised, new grpc.Metadata(), deadline(UNARY_DEADLINE_MS), done),
    );

    if (needsContributedSeed(context)) {
      // The sparse graph's seed: reveal our contribution only once U1 is committed and the
      // digest of U1's commitments is fixed (graph-seed.ts).
      if (stopsBefore('seed-reveal')) return dropped();
      const commitments = await this.await<SeedCommitments>('AwaitSeedCommitments', (done) =>
        this.secagg.awaitSeedCommitments(
          { roundId },
          new grpc.Metadata(),
          deadline(AWAIT_DEADLINE_MS),
          done,
        ),
      );
      const advertisedSet = await this.committedSet(round, 'advertised');
      const reveal = this.secAggStep('RevealSeed', () =>
        seedRevealToWire(
          roundId,
          client.revealSeed({ digest: new Uint8Array(commitments.digest) }, advertisedSet),
        ),
      );
      await this.write('RevealSeed', (done) =>
        this.secagg.revealSeed(reveal, new grpc.Metadata(), deadline(UNARY_DEADLINE_MS), done),
      );
    }

    if (stopsBefore('share-keys')) return dropped();
    const keys = await this.await<KeysBroadcast>('AwaitKeys', (done) =>
      this.secagg.awaitKeys({ roundId }, new grpc.Metadata(), deadline(AWAIT_DEADLINE_MS), done),
    );
    const u1 = await this.committedSet(round, 'advertised');
    progress({ step: 'share-keys' });
    const shares = this.secAggStep('ShareKeys', () =>
      shareKeysToWire(roundId, client.shareKeys(keysBroadcastFromWire(keys), u1)),
    );
    // The keys that matter are the neighbours' (known once the graph is): they sign the keys
    // this member shares with. Checked before any share leaves.
    for (const peer of client.shareHolders) {
      if (peer === me.index) continue;
      const entry = round.roster[peer - 1]!;
      this.identityKeys.check(entry.memberId, entry.identityKey, entry.certificate);
    }
    await this.write('ShareKeys', (done) =>
      this.secagg.shareKeys(shares, new grpc.Metadata(), deadline(UNARY_DEADLINE_MS), done),
    );

    if (stopsBefore('masked-input')) return dropped();
    const delivery = await this.await<SharesDelivery>('AwaitShares', (done) =>
      this.secagg.awaitShares({ roundId }, new grpc.Metadata(), deadline(AWAIT_DEADLINE_MS), done),
    );
    const u2 = await this.committedSet(round, 'shared');
    progress({ step: 'masked-input', bytesSent: 0, totalBytes: input.length * 4 });
    const jobs = this.secAggStep('MaskedInput', () =>
      client.prepareMasks(sharesDeliveryFromWire(delivery), u2),
    );
    // `input` is the SDK's own vector (quantized here, copied or handed over): masked in place.
    const { maskedInput: masked, complaints } = client.completeMaskedInputInPlace(input, jobs);
    if (options.delayUploadMs)
      await new Promise((resolve) => setTimeout(resolve, options.delayUploadMs));
    // From the upload on, our neighbours' reveals can unmask this update: claim it first.
    this.journal?.record(journalEntry);
    const uploadSha256 = await this.upload(roundId, masked, complaints ?? [], progress);

    if (stopsBefore('consistency-check') || stopsBefore('unmasking')) {
      // Gone before the survivor set is known: nothing more is revealed.
      return { ...dropped(), uploadSha256 };
    }
    // U3 is read once MaskedInputCollection has closed (the Await answers come after it).
    let u3: number[] | undefined;
    if (params.adversary === Adversary.ADVERSARY_SEMI_MALICIOUS) {
      const check = await this.await<ConsistencyCheckRequest>('AwaitConsistencyCheck', (done) =>
        this.secagg.awaitConsistencyCheck(
          { roundId },
          new grpc.Metadata(),
          deadline(AWAIT_DEADLINE_MS),
          done,
        ),
      );
      u3 = await this.committedSet(round, 'masked');
      const survivors = u3;
      progress({ step: 'consistency-check' });
      const signature = this.secAggStep(
        'SignSurvivors',
        () => client.signSurvivors(consistencyCheckFromWire(check), survivors).signature,
      );
      await this.write('SignSurvivors', (done) =>
        this.secagg.signSurvivors(
          { roundId, signature: Buffer.from(signature) },
          new grpc.Metadata(),
          deadline(UNARY_DEADLINE_MS),
          done,
        ),
      );
    }

    const request = await this.await<UnmaskingRequest>('AwaitUnmasking', (done) =>
      this.secagg.awaitUnmasking(
        { roundId },
        new grpc.Metadata(),
        deadline(AWAIT_DEADLINE_MS),
        done,
      ),
    );
    u3 ??= await this.committedSet(round, 'masked');
    const survivors = u3;
    progress({ step: 'unmasking' });
    const answer = this.secAggStep('Unmask', () =>
      unmaskToWire(roundId, client.unmask(unmaskingRequestFromWire(request), survivors)),
    );
    await this.write('Unmask', (done) =>
      this.secagg.unmask(answer, new grpc.Metadata(), deadline(UNARY_DEADLINE_MS), done),
    );

    if (options.waitForResult === false) return { round, uploadSha256, included: true };
    progress({ step: 'waiting-for-result' });
    // Only a round whose dropped member's s^SK failed to reconstruct has this phase: then our
    // pairwise secrets with such members (client.revealPairwiseSecrets checks them) finish it.
    const finished = await this.waitForResult(roundId, () => this.revealPairwise(roundId, client));
    if (finished.phase === Phase.PHASE_ABORTED)
      throw new RoundAbortedError('WatchRound', finished.abortReason);
    progress({ step: 'done' });
    return { round: finished, uploadSha256, included: finished.included.includes(me.index) };
  }

  /**
   * The second reveal: the members the coordinator asks about, answered by the protocol client
   * (which refuses a member of the U3 it unmasked with, and reveals each pair once). A member
   * the round does not ask (no requested member is its neighbour) is told so and has nothing to do.
   */
  private async revealPairwise(roundId: string, client: SecAggClient): Promise<void> {
    let request: PairwiseRevealRequest;
    try {
      request = await this.await<PairwiseRevealRequest>('AwaitPairwiseReveal', (done) =>
        this.secagg.awaitPairwiseReveal(
          { roundId },
          new grpc.Metadata(),
          deadline(AWAIT_DEADLINE_MS),
          done,
        ),
      );
    } catch (error) {
      if (error instanceof VeilsumError && error.code === status.FAILED_PRECONDITION) return;
      throw error;
    }
    const answer = this.secAggStep('RevealPairwise', () =>
      revealPairwiseToWire(
        roundId,
        client.revealPairwiseSecrets(pairwiseRevealRequestFromWire(request)),
      ),
    );
    await this.write('RevealPairwise', (done) =>
      this.secagg.revealPairwise(answer, new grpc.Metadata(), deadline(UNARY_DEADLINE_MS), done),
    );
  }

  /** A client-side protocol check that failed, as a status naming the step and the reason. */
  private secAggStep<T>(step: string, run: () => T): T {
    try {
      return run();
    } catch (error) {
      if (!(error instanceof SecAggError)) throw error;
      const { code } = toServiceError(error);
      throw new VeilsumError(step, code, `refusing to go on: ${error.message}`);
    }
  }

  /**
   * The round's record on this member's ledger view. The coordinator opened it through its own
   * peer; on Fabric this member's peer may commit that block a moment later, so it is waited for
   * (its RoundOpened event) before a missing round counts as not on the ledger.
   */
  private async roundOnLedger(roundId: string): Promise<Awaited<ReturnType<Ledger['getRound']>>> {
    const ledger = this.ledger!;
    const read = () => ledger.getRound(roundId);
    // Only a backend whose copies lag (Fabric) is waited for, and not for long: a round the
    // coordinator never wrote is refused within ROUND_COMMIT_WAIT_MS.
    if (!ledger.readerMayLag) return read();
    const record = await ledger.whenCommitted(
      () => read().catch(absentIfNotFound),
      (event) => event.name === 'RoundOpened' && event.payload.roundId === roundId,
      Math.min(this.ledgerWaitMs, ROUND_COMMIT_WAIT_MS),
    );
    // Not there in time: the ledger's own refusal (not-found) says why.
    return record ?? read();
  }

  /**
   * The embedded-ledger head the coordinator served with the round must be a block of this
   * member's own verified view: otherwise the coordinator wrote on another copy (an older one,
   * a tail dropped, a fork) than the one this member reads.
   */
  private async checkLedgerHead(round: Round): Promise<void> {
    if (this.ledger === undefined || round.ledgerHead === undefined) return;
    const head = {
      number: Number(round.ledgerHead.number),
      hash: Buffer.from(round.ledgerHead.hash).toString('hex'),
    };
    const held = await this.fromLedger('head', () => this.ledger!.holds(head));
    if (held === undefined || held === 'holds') return;
    throw new VeilsumError(
      'ledger head',
      status.DATA_LOSS,
      `refusing the round: the coordinator is at ledger block ${head.number} (hash ${head.hash.slice(0, 16)}…) but this member's verified ledger ${
        held === 'behind' ? 'ends before that block' : 'holds another block there'
      }: not the same chain (an older copy, a dropped tail or another branch)`,
    );
  }

  private async fromLedger<T>(step: string, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      if (error instanceof VeilsumError) throw error;
      if (error instanceof LedgerTamperedError)
        throw new VeilsumError(`ledger ${step}`, status.DATA_LOSS, error.message);
      throw new VeilsumError(
        `ledger ${step}`,
        status.FAILED_PRECONDITION,
        `refusing the round: ${(error as Error).message}`,
      );
    }
  }

  /**
   * A phase's participant set as agreed: with a ledger, the one the coordinator committed there
   * (waited for, one read per phase once it is there); without one, the coordinator's word.
   */
  private async committedSet(round: Round, phase: RoundPhaseName): Promise<number[]> {
    if (this.ledger === undefined) {
      const served = await this.getRound(round.roundId);
      return [
        ...(phase === 'advertised'
          ? served.advertised
          : phase === 'shared'
            ? served.shared
            : served.masked),
      ];
    }
    const { roundId } = round;
    const ledger = this.ledger;
    let committed: readonly number[] | undefined;
    try {
      // On Fabric: as soon as this member's own peer committed the coordinator's block.
      committed = await ledger.whenCommitted(
        () =>
          ledger.getRoundPhase(roundId, phase).then((record) => record.members, absentIfNotFound),
        (event) =>
          event.name === 'RoundPhaseCommitted' &&
          event.payload.roundId === roundId &&
          event.payload.phase === phase,
        this.ledgerWaitMs,
      );
    } catch (error) {
      throw new VeilsumError(`ledger ${phase}`, status.UNAVAILABLE, (error as Error).message);
    }
    if (committed === undefined)
      throw new VeilsumError(
        `ledger ${phase}`,
        status.DEADLINE_EXCEEDED,
        `refusing to go on: the coordinator committed no ${phase} set for round ${roundId} on the ledger within ${this.ledgerWaitMs} ms`,
      );
    return [...committed];
  }

  /** A write that may be retried: ALREADY_EXISTS on a retry means the first try was accepted. */
  private write<T>(
    step: string,
    call: (done: (error: grpc.ServiceError | null, value?: T) => void) => void,
  ): Promise<void> {
    return withRetry(step, this.retry, async (attemptNumber) => {
      try {
        await unary<T>(call);
      } catch (error) {
        if (attemptNumber > 1 && isServiceError(error) && error.code === status.ALREADY_EXISTS)
          return;
        throw error;
      }
    });
  }

  private await<T>(
    step: string,
    call: (done: (error: grpc.ServiceError | null, value?: T) => void) => void,
  ): Promise<T> {
    return withRetry(step, this.retry, () => unary<T>(call));
  }

  /** Client-streaming upload in 1 MiB chunks, honouring backpressure; retried whole on failure. */
  private upload(
    roundId: string,
    masked: Uint32Array,
    complaints: readonly ShareComplaint[],
    progress: (p: Progress) => void,
  ): Promise<Uint8Array> {
    const bytes = Buffer.from(masked.buffer, masked.byteOffset, masked.byteLength);
    const body: { message: UploadChunk; bytes: Uint8Array }[] = [];
    for (let offset = 0; offset < bytes.length; offset += CHUNK_WORDS * 4) {
      const data = bytes.subarray(offset, Math.min(bytes.length, offset + CHUNK_WORDS * 4));
      body.push({ message: { content: { $case: 'data', value: data } }, bytes: data });
    }
    return this.streamUpload<UploadChunk>(
      'UploadMaskedInput',
      (done) =>
        this.secagg.uploadMaskedInput(new grpc.Metadata(), deadline(AWAIT_DEADLINE_MS), done),
      {
        content: {
          $case: 'header',
          value: { roundId, words: masked.length, complaints: complaintsToWire(complaints) },
        },
      },
      body,
      progress,
    );
  }
}

/** How long a member's own Fabric peer gets to commit the block that opened a round. */
const ROUND_COMMIT_WAIT_MS = 15_000;

/** A Fabric backend reports a missing key as its own error kind; the embedded one as ContractError. */
function isNotFound(error: unknown): boolean {
  return (error as { kind?: string })?.kind === 'not-found';
}

/** A missing record as undefined (it may not be committed yet); any other failure rethrown. */
function absentIfNotFound(error: unknown): undefined {
  if (error instanceof ContractError && error.kind === 'not-found') return undefined;
  if (isNotFound(error)) return undefined;
  throw error;
}

/**
 * A Uint32Array of the intrinsic class over an ArrayBuffer (not a SharedArrayBuffer another
 * thread could write while the SDK checks and masks it): what `handOverLevels` takes uncopied.
 */
function isPlainUnsharedUint32Array(input: Uint32Array): boolean {
  return (
    Object.getPrototypeOf(input) === Uint32Array.prototype &&
    ['length', 'buffer', 'byteOffset', 'byteLength'].every(
      (name) => Object.getOwnPropertyDescriptor(input, name) === undefined,
    ) &&
    !(ownBytes(input).buffer instanceof SharedArrayBuffer)
  );
}

/** The journal's names of a quantized update: see quantizedDigest. */
interface JournalNames {
  readonly updateSha256: string;
  readonly alsoNamed: readonly string[];
}

/**
 * The journal names participateQuantized claims: the digest of the floats shown (checked), else
 * of the levels — and the levels' digest always besides, so the same levels shown with other
 * floats (a few ulps away) or without any are refused as the same update.
 */
function quantizedDigest(
  round: Round,
  levels: Uint32Array,
  options: ParticipateOptions,
): JournalNames {
  const levelsDigest = updateDigest(levels);
  if (options.quantizedFrom === undefined) {
    if (options.updateSha256 !== undefined)
      throw new Error(
        'updateSha256 names the update by its floats but no quantizedFrom shows them: pass the floats the levels were quantized from',
      );
    return { updateSha256: levelsDigest, alsoNamed: [] };
  }
  const quantization = round.params?.quantization;
  if (quantization === undefined) throw new Error('the round has no quantization parameters');
  const digest = digestOfQuantizedFrom(levels, options.quantizedFrom(), quantization);
  if (options.updateSha256 !== undefined && options.updateSha256 !== digest)
    throw new Error(
      `updateSha256 ${options.updateSha256} is not the digest of the floats the levels were quantized from (${digest})`,
    );
  return { updateSha256: digest, alsoNamed: [levelsDigest] };
}
