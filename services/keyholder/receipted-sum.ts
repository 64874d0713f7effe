import { createHash, type Hash } from 'node:crypto';
import { nativeCurve25519 } from '../../crypto/curve25519-native.ts';
import type { CiphertextSum, CkksEngine, PendingUpdate } from '../../crypto/ckks/engine.ts';
import {
  ciphertextRange,
  InvalidEncryptionProofError,
  type ProofStatement,
} from '../../crypto/ckks/encryption-proof.ts';
import { verifyUploadReceipt } from '../../crypto/ckks/upload-receipt.ts';
import type { RoundRecord, UploadReceipt } from '../../ledger/records.ts';
import { failedPrecondition, invalidArgument } from '../../sdk/common/grpc-errors.ts';
import { verifiedIdentityOf } from '../../sdk/pki/certificates.ts';

/** The fewest contributions a keyholder decrypts the sum of, whatever a round says. */
export const MIN_CONTRIBUTORS_FLOOR = 2;

/**
 * Checks one encryption proof (crypto/ckks/encryption-proof.ts `verifyEncryptionProof`): resolves
 * when it verifies, rejects otherwise. The keyholder runs it on worker threads (CkksVerifyPool).
 */
export type ProofVerifier = (
  statement: ProofStatement,
  first: number,
  wires: readonly Uint8Array[],
  proof: Uint8Array,
) => Promise<void>;

/**
 * The receipts of a closed round, checked before any upload is read: at least
 * max(2, min_contributors) of them, from distinct members that are on the ledger's roster and
 * included, and exactly one per included member — the aggregate must be the sum of exactly
 * these uploads.
 */
export function checkReceipts(
  round: RoundRecord,
  minContributors: number,
): readonly UploadReceipt[] {
  const receipts = round.receipts ?? [];
  const needed = Math.max(MIN_CONTRIBUTORS_FLOOR, minContributors);
  const members = new Set(receipts.map((receipt) => receipt.memberId));
  if (members.size !== receipts.length)
    throw failedPrecondition(
      `round ${round.roundId} carries two upload receipts of one member; refusing to decrypt`,
    );
  for (const { memberId } of receipts) {
    if (!round.roster.includes(memberId) || !round.included.includes(memberId))
      throw failedPrecondition(
        `round ${round.roundId} has an upload receipt of ${memberId}, who is not an included roster member; refusing to decrypt`,
      );
  }
  if (members.size < needed)
    throw failedPrecondition(
      `round ${round.roundId} has signed upload receipts from ${members.size} distinct members ` +
        `(it claims ${round.included.length} contributors); a keyholder decrypts only a sum of at least ${needed}`,
    );
  if (round.included.length !== receipts.length)
    throw failedPrecondition(
      `round ${round.roundId} includes ${round.included.length} members but carries ${receipts.length} upload receipts; ` +
        'the aggregate must be the sum of exactly the receipted uploads',
    );
  return receipts;
}

/**
 * Re-adds the receipted uploads of a round as they stream in, and checks the sum against the
 * ledger's aggregate: the check that keeps a coordinator from presenting one bank's
 * (re-randomised) upload as a multi-member aggregate (issue 10, item 6). Each upload is
 * checked against its receipt — the member's certificate issued by the consortium CA with
 * subject O = the member, the receipt's signature under that certificate's key, the bytes'
 * SHA-256 — and against its encryption proofs (crypto/ckks/encryption-proof.ts: every c1 is
 * v·a + e1 for short v, e1, so the member's upload cannot turn the sum into the secret key),
 * so nothing here rests on the coordinator's word.
 */
export class ReceiptedSum {
  private readonly round: RoundRecord;
  private readonly receipts: readonly UploadReceipt[];
  private readonly paramsHash: Uint8Array;
  private readonly chunks: number;
  private readonly caPem: string;
  private readonly refusedSigners: ReadonlySet<string>;
  private readonly sum: CiphertextSum;
  private readonly verifyProof: ProofVerifier;
  private readonly keySha256: Uint8Array;
  /** Proof checks under way; each settles to undefined or to the refusal it calls for. */
  private readonly proofChecks: Promise<Error | undefined>[] = [];
  private next = 0;
  private current:
    | {
        receipt: UploadReceipt;
        pending: PendingUpdate;
        hash: Hash;
        /** Ciphertexts since the last verified proof, and how many were proved before them. */
        unproved: Uint8Array[];
        proved: number;
      }
    | undefined;

  constructor(options: {
    round: RoundRecord;
    receipts: readonly UploadReceipt[];
    engine: CkksEngine;
    verifyProof: ProofVerifier;
    /** SHA-256 of the collective public key (the proofs' statement names it). */
    keySha256: Uint8Array;
    chunks: number;
    caPem: string;
    /** Identities that may never sign a receipt (coordinators, administrators, keyholders). */
    refusedSigners: ReadonlySet<string>;
  }) {
    this.round = options.round;
    this.receipts = options.receipts;
    this.paramsHash = new Uint8Array(Buffer.from(options.round.paramsHash, 'hex'));
    this.chunks = options.chunks;
    this.caPem = options.caPem;
    this.refusedSigners = options.refusedSigners;
    this.verifyProof = options.verifyProof;
    this.keySha256 = options.keySha256;
    this.sum = options.engine.newSum(options.chunks);
  }

  /** The next upload begins: its member must be the next receipt's, its certificate genuine. */
  startUpload(memberId: string, certificatePem: Uint8Array): void {
    this.finishUpload();
    const receipt = this.receipts[this.next];
    if (receipt === undefined)
      throw invalidArgument(
        `round ${this.round.roundId} has ${this.receipts.length} receipted uploads; a further one was sent`,
      );
    if (memberId !== receipt.memberId)
      throw invalidArgument(
        `upload ${this.next + 1} must be ${receipt.memberId}'s (the ledger's receipt order), not ${memberId}'s`,
      );
    let identity;
    try {
      identity = verifiedIdentityOf(
        Buffer.from(certificatePem),
        this.caPem,
        `the certificate sent for ${memberId}`,
      );
    } catch (error) {
      throw failedPrecondition(`${(error as Error).message}; refusing to decrypt`);
    }
    if (identity.organisation !== memberId)
      throw failedPrecondition(
        `the certificate sent for ${memberId} names O=${identity.organisation}; refusing to decrypt`,
      );
    if (this.refusedSigners.has(memberId))
      throw failedPrecondition(
        `${memberId} is a coordinator, administrator or keyholder, not a member: its receipt does not count; refusing to decrypt`,
      );
    const valid = verifyUploadReceipt(
      nativeCurve25519,
      identity.identityKey,
      this.round.roundId,
      this.paramsHash,
      new Uint8Array(Buffer.from(receipt.uploadSha256, 'hex')),
      new Uint8Array(Buffer.from(receipt.signature, 'hex')),
    );
    if (!valid)
      throw failedPrecondition(
        `the upload receipt of ${memberId} on the ledger is not signed by ${memberId}'s certificate key; refusing to decrypt`,
      );
    this.current = {
      receipt,
      pending: this.sum.begin(),
      hash: createHash('sha256'),
      unproved: [],
      proved: 0,
    };
    this.next++;
  }

  addCiphertext(wire: Uint8Array): void {
    const current = this.current;
    if (current === undefined) throw invalidArgument('a ciphertext arrived before its upload');
    const position = current.pending.size;
    try {
      current.pending.push(wire);
    } catch (error) {
      throw invalidArgument(
        `upload of ${current.receipt.memberId}, ciphertext ${position}: ${(error as Error).message}`,
      );
    }
    current.hash.update(wire);
    current.unproved.push(wire);
  }

  /**
   * The proof of the ciphertexts of the current upload sent since its previous proof. It is
   * checked on a worker while the stream goes on; `finish` waits for every check.
   */
  addProof(proof: Uint8Array): void {
    const current = this.current;
    if (current === undefined) throw invalidArgument('a proof arrived before its upload');
    const { memberId } = current.receipt;
    const first = current.proved;
    const wires = current.unproved;
    this.proofChecks.push(
      this.verifyProof(
        {
          roundId: this.round.roundId,
          paramsHash: this.paramsHash,
          keySha256: this.keySha256,
          memberId,
          totalCiphertexts: this.chunks,
        },
        first,
        wires,
        proof,
      ).then(
        () => undefined,
        (error: unknown) => {
          const reason =
            error instanceof InvalidEncryptionProofError
              ? error.message
              : `${ciphertextRange(first, wires.length)}: ${(error as Error).message}`;
          return failedPrecondition(
            `the upload of ${memberId} fails its encryption proof (${reason}); refusing to decrypt`,
          );
        },
      ),
    );
    current.proved += wires.length;
    current.unproved = [];
  }

  /**
   * After the last upload: every proof verified, and the SHA-256 of the sum, which must be the
   * ledger's aggregate hash.
   */
  async finish(): Promise<string> {
    this.finishUpload();
    if (this.next !== this.receipts.length)
      throw invalidArgument(
        `${this.next} of the ${this.receipts.length} receipted uploads of round ${this.round.roundId} arrived`,
      );
    for (const refusal of await Promise.all(this.proofChecks)) if (refusal) throw refusal;
    const hash = createHash('sha256');
    for (const chunk of this.sum.result()) hash.update(chunk);
    const computed = hash.digest('hex');
    if (computed !== this.round.aggregateHash)
      throw failedPrecondition(
        `forged aggregate: the aggregate committed for round ${this.round.roundId} ` +
          `(SHA-256 ${String(this.round.aggregateHash).slice(0, 16)}…) is not the homomorphic sum of its ` +
          `${this.receipts.length} receipted uploads (${computed.slice(0, 16)}…); refusing to decrypt`,
      );
    return computed;
  }

  dispose(): void {
    this.current?.pending.discard();
    this.current = undefined;
    this.sum.dispose();
  }

  private finishUpload(): void {
    const current = this.current;
    if (current === undefined) return;
    this.current = undefined;
    const { receipt, pending, hash } = current;
    if (pending.size !== this.chunks) {
      pending.discard();
      throw invalidArgument(
        `the upload of ${receipt.memberId} has ${pending.size} ciphertexts; the round's updates have ${this.chunks}`,
      );
    }
    if (current.proved !== this.chunks) {
      pending.discard();
      throw failedPrecondition(
        `the upload of ${receipt.memberId} came without an encryption proof for ` +
          `${ciphertextRange(current.proved, this.chunks - current.proved)}; refusing to decrypt`,
      );
    }
    const digest = hash.digest('hex');
    if (digest !== receipt.uploadSha256) {
      pending.discard();
      throw failedPrecondition(
        `the upload sent for ${receipt.memberId} (SHA-256 ${digest.slice(0, 16)}…) is not the one it receipted ` +
          `(${receipt.uploadSha256.slice(0, 16)}…); refusing to decrypt`,
      );
    }
    pending.commit();
  }
}
