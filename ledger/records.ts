/**
 * The records the consortium ledger holds. Shared by the contract (chaincode and the embedded
 * backend) and by every reader; plain JSON-serialisable data, hashes as lowercase hex.
 * Large data never goes on chain: uploads and aggregates are represented by their SHA-256.
 */
export type Role = 'member' | 'coordinator' | 'keyholder' | 'auditor';

export const ROLES: readonly Role[] = ['member', 'coordinator', 'keyholder', 'auditor'];

export interface MemberRecord {
  readonly mspId: string;
  readonly roles: readonly Role[];
  readonly registeredAt: number;
}

export interface ConsentRecord {
  readonly consentId: string;
  readonly memberId: string;
  readonly datasetId: string;
  /** What the data may be used for; a round of model M uses consents whose purpose is M. */
  readonly purpose: string;
  readonly grantedAt: number;
  readonly expiresAt: number;
  readonly revokedAt: number | null;
  /**
   * When a round last opened using this consent, and which round. A revocation must be dated at or
   * after it, and on Fabric a revocation endorsed before that opening fails the version check on
   * this record: no revocation can be stamped before a round that was already using the consent.
   */
  readonly lastUsedAt?: number;
  readonly lastUsedBy?: string;
}

/** One consent as it stood when a round opened: what a contribution rests on. */
export interface ConsentInForce {
  readonly memberId: string;
  readonly datasetId: string;
  readonly consentId: string;
}

/**
 * A member's signature over (round id, params hash, upload SHA-256) with the Ed25519 key of its
 * consortium certificate (crypto/ckks/upload-receipt.ts): what a CKKS round's aggregate must be
 * the sum of. Signature as lowercase hex.
 */
export interface UploadReceipt {
  readonly memberId: string;
  readonly uploadSha256: string;
  readonly signature: string;
}

export interface RoundRecord {
  readonly roundId: string;
  readonly modelId: string;
  readonly roundNumber: number;
  readonly paramsHash: string;
  readonly roster: readonly string[];
  readonly openedAt: number;
  /** Consents in force at open, one per roster member that had one. */
  readonly consents: readonly ConsentInForce[];
  readonly status: 'open' | 'closed';
  readonly closedAt: number | null;
  /** Members whose updates are in the aggregate, and SHA-256 of their sorted, comma-joined ids. */
  readonly included: readonly string[];
  readonly participantSetCommitment: string | null;
  /** Merkle root (RFC 6962 style) of the included members' upload SHA-256s, in roster order. */
  readonly uploadsMerkleRoot: string | null;
  readonly aggregateHash: string | null;
  readonly dropoutCount: number | null;
  /** CKKS: one signed receipt per included member (empty for SecAgg rounds). */
  readonly receipts?: readonly UploadReceipt[];
  /** What the round's security rests on, committed at open (rounds opened with a manifest). */
  readonly manifest?: RoundManifest | null;
  /**
   * SHA-256 derived by the contract from the RoundOpened transaction id and the manifest: the
   * SecAgg+ graph seed, fixed after the roster and not chosen by the coordinator.
   */
  readonly graphSeed?: string | null;
  /** The RoundOpened transaction id (Fabric tx id; embedded: hash of the block's contents). */
  readonly openTransactionId?: string | null;
}

/**
 * The round manifest: every parameter the members' security depends on, committed on the ledger
 * with RoundOpened. Members read it on their own view of the ledger and refuse a round whose
 * coordinator serves anything else.
 */
export interface RoundManifest {
  readonly mode: 'secagg' | 'ckks';
  readonly dimension: number;
  /** Ed25519 identity key (hex) of each roster member, in roster order (index = position + 1). */
  readonly identityKeys: readonly string[];
  readonly adversary: 'semi-honest' | 'semi-malicious' | null;
  /** γ and δ of the threat model the (degree, threshold) were chosen for. */
  readonly corruptionRate: number;
  readonly dropoutRate: number;
  readonly degree: number;
  readonly threshold: number;
  /** The fewest contributions the aggregate may hold. */
  readonly minContributors: number;
  readonly quantization: {
    readonly clipRange: number;
    readonly levelBits: number;
    readonly modulusBits: number;
  } | null;
  /** CKKS rounds: SHA-256 (hex) of the collective public key. */
  readonly ckksKeySha256: string | null;
}

/**
 * A threshold-CKKS collective key as its ceremony's keyholders attested it on the ledger, each
 * with its own ledger identity. It counts as registered (registeredAt set) once every ceremony
 * participant attested the same hash, ceremony id, threshold and participants; only a
 * registered key may be named by a CKKS round manifest.
 */
export interface CollectiveKeyRecord {
  readonly keySha256: string;
  readonly ceremonyId: string;
  readonly threshold: number;
  /** Keyholder ids (ledger identities) of the ceremony, in ceremony index order. */
  readonly participants: readonly string[];
  readonly attestedBy: readonly string[];
  readonly registeredAt: number | null;
  /** What a decryption under the key may spend: fixed by the attestations, never by a record. */
  readonly limits: CollectiveKeyLimits;
}

/**
 * A key's decryption limits as every keyholder of its ceremony attested them (each from its own
 * configuration: they must agree). The contract charges each recorded decryption from these and
 * the round's own counts (`recordKeyDecryption`); no keyholder's record can name other limits.
 */
export interface CollectiveKeyLimits {
  /** CKKS parameter set (crypto/ckks/parameters.ts): values per ciphertext and the KL formula. */
  readonly parameterSet: string;
  /** The keyholders' per-coefficient flooding deviation σ_f for a threshold set of responders. */
  readonly floodingSigma: number;
  /** Most distinct aggregates the key decrypts. */
  readonly keyLifeRounds: number;
  /** Largest total KL divergence of the key's decryptions (parameters.ts `KEY_KL_BUDGET`). */
  readonly klBudget: number;
}

/**
 * One decryption a keyholder made under a collective key, recorded by that keyholder before it
 * released its partial: every keyholder sums all of them (one charge per distinct aggregate)
 * before answering, so keyholders taking turns share one key life and one KL budget.
 */
export interface KeyDecryptionRecord {
  readonly keySha256: string;
  readonly keyholder: string;
  readonly aggregateSha256: string;
  readonly roundId: string;
  readonly ciphertexts: number;
  readonly contributors: number;
  /**
   * The KL divergence this decryption adds to the key's total, computed by the contract from the
   * key's attested limits and the round's counts (parameters.ts `decryptionKl`).
   */
  readonly kl: number;
  readonly recordedAt: number;
}

/** SecAgg phases whose participant sets are committed: U1, U2, U3. */
export type RoundPhaseName = 'advertised' | 'shared' | 'masked';

export const ROUND_PHASES: readonly RoundPhaseName[] = ['advertised', 'shared', 'masked'];

/** One phase's participant set of one round: written once, never changed. */
export interface RoundPhaseRecord {
  readonly roundId: string;
  readonly phase: RoundPhaseName;
  /** Roster indices (1-based), ascending. */
  readonly members: readonly number[];
  readonly committedAt: number;
}

/** A member the coordinator caught breaking the protocol in a round, with what it did. */
export interface MisbehaviourRecord {
  readonly roundId: string;
  readonly memberId: string;
  readonly reason: string;
  /** SHA-256 (hex) of the evidence the coordinator keeps (e.g. the bad box and revealed key). */
  readonly evidenceSha256: string;
  readonly recordedAt: number;
}

export interface ModelVersionRecord {
  readonly modelHash: string;
  readonly modelId: string;
  readonly roundId: string;
  readonly recordedAt: number;
}

export interface Lineage {
  readonly modelVersion: ModelVersionRecord;
  readonly round: RoundRecord;
  readonly contributions: readonly { readonly memberId: string; readonly consent: ConsentRecord }[];
}

export type LedgerEventName =
  | 'ConsentGranted'
  | 'ConsentRevoked'
  | 'RoundOpened'
  | 'RoundClosed'
  | 'ModelVersionRecorded'
  | 'RoundPhaseCommitted'
  | 'MisbehaviourRecorded'
  | 'CollectiveKeyAttested'
  | 'MemberRegistered';

export interface LedgerEvent {
  readonly name: LedgerEventName;
  readonly payload: Record<string, unknown>;
}
