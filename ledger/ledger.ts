import type {
  CollectiveKeyLimits,
  CollectiveKeyRecord,
  ConsentRecord,
  KeyDecryptionRecord,
  LedgerEvent,
  Lineage,
  MemberRecord,
  MisbehaviourRecord,
  ModelVersionRecord,
  Role,
  RoundManifest,
  RoundPhaseName,
  RoundPhaseRecord,
  RoundRecord,
  UploadReceipt,
} from './records.ts';
import type { ContractFunction } from './contract.ts';

/**
 * How a backend runs contract functions: `submit` records a transaction (ordered, durable),
 * `evaluate` only reads. Two backends: EmbeddedLedger (SQLite, in-process) and, with a Fabric
 * network, a fabric-gateway contract.
 */
export interface ContractGateway {
  submit<T>(fn: ContractFunction, args: unknown[]): Promise<T>;
  evaluate<T>(fn: ContractFunction, args: unknown[]): Promise<T>;
  /**
   * A backend whose reader can lag the writer (Fabric: each peer commits blocks on its own)
   * reads once the reader's own copy committed the event that `matches` (FabricLedger).
   */
  awaitCommitted?<T>(
    read: () => Promise<T | undefined>,
    matches: (event: LedgerEvent) => boolean,
    timeoutMs: number,
  ): Promise<T | undefined>;
  /**
   * The last block this view verified (embedded ledger: after verifying whatever was appended
   * since). Fabric peers check their own chain; there this is absent.
   */
  head?(): Promise<{ number: number; hash: string }>;
  /** Whether this view's verified chain holds that block (embedded ledger only). */
  holds?(head: { number: number; hash: string }): Promise<'holds' | 'behind' | 'differs'>;
  /**
   * True only for a backend no single party can write past the contract or rewind (Fabric:
   * endorsed and ordered by several organisations). The embedded ledger is one file its owner
   * can fork or rewind, so it is not, and an unknown gateway is not either.
   */
  readonly agreementChannel?: boolean;
}

/** The typed ledger every service, the SDK and the CLI use, whatever the backend. */
export class Ledger {
  private readonly gateway: ContractGateway;

  constructor(gateway: ContractGateway) {
    this.gateway = gateway;
  }

  /** True if this reader's copy can lag what another party just wrote (a Fabric peer). */
  get readerMayLag(): boolean {
    return this.gateway.awaitCommitted !== undefined;
  }

  /**
   * A record another party wrote, as soon as this reader's own copy of the ledger has it:
   * `read` answers undefined while it is missing. On Fabric this waits for the reader's peer
   * to commit the block whose event `matches` (a push, not a poll); elsewhere it reads again
   * with short growing pauses. Undefined if it did not come within `timeoutMs`.
   */
  async whenCommitted<T>(
    read: () => Promise<T | undefined>,
    matches: (event: LedgerEvent) => boolean,
    timeoutMs: number,
  ): Promise<T | undefined> {
    if (this.gateway.awaitCommitted) return this.gateway.awaitCommitted(read, matches, timeoutMs);
    const deadline = Date.now() + timeoutMs;
    for (let pause = 10; ; pause = Math.min(pause * 2, 250)) {
      const found = await read();
      if (found !== undefined || Date.now() >= deadline) return found;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  /** This view's verified head (embedded ledger), or undefined where the backend has none. */
  head(): Promise<{ number: number; hash: string } | undefined> {
    return this.gateway.head?.() ?? Promise.resolve(undefined);
  }

  /**
   * Whether this view's verified chain holds the block `head` names (embedded ledger), or
   * undefined where the backend keeps no heads.
   */
  holds(head: {
    number: number;
    hash: string;
  }): Promise<'holds' | 'behind' | 'differs' | undefined> {
    return this.gateway.holds?.(head) ?? Promise.resolve(undefined);
  }

  /**
   * Whether members may rely on this ledger to agree on what every member sees (one U1–U3 per
   * round): Fabric yes; the embedded ledger no — its owner can show each reader another fork.
   */
  get agreementChannel(): boolean {
    return this.gateway.agreementChannel === true;
  }

  registerMember(mspId: string, roles: Role[]): Promise<MemberRecord> {
    return this.gateway.submit('registerMember', [mspId, roles]);
  }
  getMember(mspId: string): Promise<MemberRecord> {
    return this.gateway.evaluate('getMember', [mspId]);
  }
  grantConsent(
    consentId: string,
    datasetId: string,
    purpose: string,
    expiresAt: number,
  ): Promise<ConsentRecord> {
    return this.gateway.submit('grantConsent', [consentId, datasetId, purpose, expiresAt]);
  }
  revokeConsent(consentId: string): Promise<ConsentRecord> {
    return this.gateway.submit('revokeConsent', [consentId]);
  }
  consentHistory(memberId: string): Promise<ConsentRecord[]> {
    return this.gateway.evaluate('consentHistory', [memberId]);
  }
  /** Every member's consents (auditors and coordinators). */
  listConsents(): Promise<ConsentRecord[]> {
    return this.gateway.evaluate('listConsents', []);
  }
  consentInForce(
    memberId: string,
    purpose: string,
    at: number,
  ): Promise<ConsentRecord | undefined> {
    return this.gateway.evaluate('consentInForce', [memberId, purpose, at]);
  }
  openRound(
    roundId: string,
    modelId: string,
    roundNumber: number,
    paramsHash: string,
    roster: string[],
    manifest: RoundManifest | null = null,
  ): Promise<RoundRecord> {
    return this.gateway.submit('openRound', [
      roundId,
      modelId,
      roundNumber,
      paramsHash,
      roster,
      manifest,
    ]);
  }
  /** The caller (a member) pins its own Ed25519 identity key, hex. */
  registerIdentityKey(publicKey: string): Promise<string> {
    return this.gateway.submit('registerIdentityKey', [publicKey]);
  }
  /** Commits U1 ('advertised'), U2 ('shared') or U3 ('masked') of a SecAgg round, once. */
  commitRoundPhase(
    roundId: string,
    phase: RoundPhaseName,
    members: number[],
  ): Promise<RoundPhaseRecord> {
    return this.gateway.submit('commitRoundPhase', [roundId, phase, members]);
  }
  getRoundPhase(roundId: string, phase: RoundPhaseName): Promise<RoundPhaseRecord> {
    return this.gateway.evaluate('getRoundPhase', [roundId, phase]);
  }
  recordMisbehaviour(
    roundId: string,
    memberId: string,
    reason: string,
    evidenceSha256: string,
  ): Promise<MisbehaviourRecord> {
    return this.gateway.submit('recordMisbehaviour', [roundId, memberId, reason, evidenceSha256]);
  }
  roundMisbehaviour(roundId: string): Promise<MisbehaviourRecord[]> {
    return this.gateway.evaluate('roundMisbehaviour', [roundId]);
  }
  closeRound(
    roundId: string,
    included: string[],
    uploadsMerkleRoot: string,
    aggregateHash: string,
    dropoutCount: number,
    receipts: readonly UploadReceipt[] = [],
  ): Promise<RoundRecord> {
    return this.gateway.submit('closeRound', [
      roundId,
      included,
      uploadsMerkleRoot,
      aggregateHash,
      dropoutCount,
      receipts,
    ]);
  }
  /** A keyholder attests the collective key of a ceremony it took part in (its own identity). */
  attestCollectiveKey(
    keySha256: string,
    ceremonyId: string,
    threshold: number,
    participants: string[],
    limits: CollectiveKeyLimits,
  ): Promise<CollectiveKeyRecord> {
    return this.gateway.submit('attestCollectiveKey', [
      keySha256,
      ceremonyId,
      threshold,
      participants,
      limits,
    ]);
  }
  getCollectiveKey(keySha256: string): Promise<CollectiveKeyRecord> {
    return this.gateway.evaluate('getCollectiveKey', [keySha256]);
  }
  /**
   * A keyholder records a decryption under a key before it releases the partial: the round and
   * its counts, which the contract checks against the round; it charges the KL from the key's
   * attested limits and refuses (KEY_EXHAUSTED) past the key's life or budget over all records.
   */
  recordKeyDecryption(
    keySha256: string,
    aggregateSha256: string,
    roundId: string,
    counts: { ciphertexts: number; contributors: number },
  ): Promise<KeyDecryptionRecord> {
    return this.gateway.submit('recordKeyDecryption', [
      keySha256,
      aggregateSha256,
      roundId,
      counts.ciphertexts,
      counts.contributors,
    ]);
  }
  keyDecryptions(keySha256: string): Promise<KeyDecryptionRecord[]> {
    return this.gateway.evaluate('keyDecryptions', [keySha256]);
  }
  getRound(roundId: string): Promise<RoundRecord> {
    return this.gateway.evaluate('getRound', [roundId]);
  }
  recordModelVersion(modelHash: string, roundId: string): Promise<ModelVersionRecord> {
    return this.gateway.submit('recordModelVersion', [modelHash, roundId]);
  }
  lineage(modelHash: string): Promise<Lineage> {
    return this.gateway.evaluate('lineage', [modelHash]);
  }
}
