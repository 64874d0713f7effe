import type {
  ConsentRecord,
  Lineage,
  MemberRecord,
  ModelVersionRecord,
  Role,
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
}

/** The typed ledger every service, the SDK and the CLI use, whatever the backend. */
export class Ledger {
  private readonly gateway: ContractGateway;

  constructor(gateway: ContractGateway) {
    this.gateway = gateway;
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
  ): Promise<RoundRecord> {
    return this.gateway.submit('openRound', [roundId, modelId, roundNumber, paramsHash, roster]);
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
