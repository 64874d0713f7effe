import type { Ledger } from '../../ledger/ledger.ts';
import type {
  CollectiveKeyRecord,
  KeyDecryptionRecord,
  ConsentRecord,
  MemberRecord,
  MisbehaviourRecord,
  ModelVersionRecord,
  RoundPhaseName,
  RoundPhaseRecord,
  RoundRecord,
} from '../../ledger/records.ts';
import { ROUND_PHASES } from '../../ledger/records.ts';
import type { HistoryEvent, LedgerHistory } from './ledger-history.ts';

/** Where a record sits on the ledger: the block and transaction that wrote it. */
export interface Provenance {
  readonly block: number;
  readonly transactionId: string;
  readonly committedAt: number | null;
}

export interface Cited<T> {
  readonly record: T;
  readonly at: Provenance;
}

export interface RoundEntry {
  record: RoundRecord;
  opened: Provenance;
  closed: Provenance | null;
  phases: Partial<Record<RoundPhaseName, Cited<RoundPhaseRecord>>>;
  misbehaviour: Cited<MisbehaviourRecord>[];
  modelVersions: Cited<ModelVersionRecord>[];
}

export interface ConsentEntry {
  record: ConsentRecord;
  granted: Provenance;
  revoked: Provenance | null;
  /** Rounds whose RoundOpened names this consent as the member's. */
  usedBy: string[];
}

export interface RoundFilter {
  readonly model?: string;
  readonly member?: string;
  readonly status?: 'open' | 'closed';
  /** Opened at or after / before (ms since the epoch). */
  readonly from?: number;
  readonly to?: number;
}

const provenanceOf = (event: HistoryEvent): Provenance => ({
  block: event.block,
  transactionId: event.transactionId,
  committedAt: event.committedAt,
});

/**
 * What the console shows, built from the ledger's events in block order and the contract's own
 * read functions (evaluated as the console's identity, so the contract's read rules apply). Every
 * record keeps the block and transaction it came from.
 */
export class LedgerIndex {
  private readonly ledger: Ledger;
  private readonly history: LedgerHistory;
  private lastBlock = 0;
  private refreshing: Promise<HistoryEvent[]> | undefined;
  readonly rounds = new Map<string, RoundEntry>();
  readonly consents = new Map<string, ConsentEntry>();
  readonly members = new Map<string, MemberRecord>();
  readonly keys = new Map<string, Cited<CollectiveKeyRecord>>();
  readonly modelVersions = new Map<string, Cited<ModelVersionRecord>>();

  constructor(ledger: Ledger, history: LedgerHistory) {
    this.ledger = ledger;
    this.history = history;
  }

  /** Every decryption the keyholders recorded under a CKKS key (read when a round page is shown). */
  keyDecryptions(keySha256: string): Promise<KeyDecryptionRecord[]> {
    return this.ledger.keyDecryptions(keySha256);
  }

  get height(): number {
    return this.lastBlock;
  }

  /** Reads the blocks committed since the last call; returns their events (one refresh at a time). */
  refresh(): Promise<HistoryEvent[]> {
    this.refreshing ??= this.readNew().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async readNew(): Promise<HistoryEvent[]> {
    const { events, lastBlock } = await this.history.read(this.lastBlock);
    for (const event of events) await this.apply(event);
    this.lastBlock = lastBlock;
    return events;
  }

  private async apply(event: HistoryEvent): Promise<void> {
    const at = provenanceOf(event);
    const payload = event.payload;
    switch (event.name) {
      case 'RoundOpened':
      case 'RoundClosed': {
        const roundId = String(payload.roundId);
        const record = await this.ledger.getRound(roundId);
        const existing = this.rounds.get(roundId);
        if (existing === undefined) {
          this.rounds.set(roundId, {
            record,
            opened: at,
            closed: null,
            phases: {},
            misbehaviour: [],
            modelVersions: [],
          });
          for (const consent of record.consents)
            this.consents.get(consent.consentId)?.usedBy.push(roundId);
        } else existing.record = record;
        if (event.name === 'RoundClosed') this.rounds.get(roundId)!.closed = at;
        for (const memberId of record.roster) await this.learnMember(memberId);
        return;
      }
      case 'RoundPhaseCommitted': {
        const roundId = String(payload.roundId);
        const phase = payload.phase as RoundPhaseName;
        if (!ROUND_PHASES.includes(phase)) return;
        const round = this.rounds.get(roundId);
        if (round !== undefined)
          round.phases[phase] = { record: await this.ledger.getRoundPhase(roundId, phase), at };
        return;
      }
      case 'MisbehaviourRecorded': {
        const roundId = String(payload.roundId);
        const round = this.rounds.get(roundId);
        if (round === undefined) return;
        const memberId = String(payload.memberId);
        const record = (await this.ledger.roundMisbehaviour(roundId)).find(
          (entry) => entry.memberId === memberId,
        );
        if (record !== undefined) round.misbehaviour.push({ record, at });
        return;
      }
      case 'ConsentGranted':
      case 'ConsentRevoked': {
        const consentId = String(payload.consentId);
        const memberId = String(payload.memberId);
        await this.learnMember(memberId);
        const record = (await this.ledger.consentHistory(memberId)).find(
          (consent) => consent.consentId === consentId,
        );
        if (record === undefined) return;
        const existing = this.consents.get(consentId);
        if (existing === undefined)
          this.consents.set(consentId, { record, granted: at, revoked: null, usedBy: [] });
        else existing.record = record;
        if (event.name === 'ConsentRevoked') this.consents.get(consentId)!.revoked = at;
        return;
      }
      case 'CollectiveKeyAttested': {
        const keySha256 = String(payload.keySha256);
        const record = await this.ledger.getCollectiveKey(keySha256);
        const existing = this.keys.get(keySha256);
        this.keys.set(keySha256, { record, at: existing?.at ?? at });
        for (const holder of record.participants) await this.learnMember(holder);
        return;
      }
      case 'MemberRegistered': {
        const mspId = String(payload.mspId);
        this.members.delete(mspId);
        await this.learnMember(mspId);
        return;
      }
      case 'ModelVersionRecorded': {
        const record = payload as unknown as ModelVersionRecord;
        const cited = { record, at };
        this.modelVersions.set(record.modelHash, cited);
        this.rounds.get(record.roundId)?.modelVersions.push(cited);
        return;
      }
    }
  }

  private async learnMember(memberId: string): Promise<void> {
    if (this.members.has(memberId)) return;
    try {
      this.members.set(memberId, await this.ledger.getMember(memberId));
    } catch {
      // Not registered (yet): it appears once a later event names it again.
    }
  }

  /** Rounds newest first, filtered. */
  listRounds(filter: RoundFilter = {}): RoundEntry[] {
    return [...this.rounds.values()]
      .filter(
        ({ record }) =>
          (filter.model === undefined || record.modelId === filter.model) &&
          (filter.member === undefined || record.roster.includes(filter.member)) &&
          (filter.status === undefined || record.status === filter.status) &&
          (filter.from === undefined || record.openedAt >= filter.from) &&
          (filter.to === undefined || record.openedAt < filter.to),
      )
      .sort((a, b) => b.opened.block - a.opened.block);
  }

  /** One member's consents, by dataset, oldest first. */
  consentsOf(memberId: string): ConsentEntry[] {
    return [...this.consents.values()]
      .filter((entry) => entry.record.memberId === memberId)
      .sort((a, b) =>
        a.record.datasetId === b.record.datasetId
          ? a.granted.block - b.granted.block
          : a.record.datasetId < b.record.datasetId
            ? -1
            : 1,
      );
  }

  /** The versions of `modelHash`'s model up to and including it, oldest first. */
  versionsUpTo(modelHash: string): Cited<ModelVersionRecord>[] {
    const target = this.modelVersions.get(modelHash);
    if (target === undefined) return [];
    return [...this.modelVersions.values()]
      .filter(
        (version) =>
          version.record.modelId === target.record.modelId && version.at.block <= target.at.block,
      )
      .sort((a, b) => a.at.block - b.at.block);
  }
}
