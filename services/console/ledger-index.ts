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

/** The contract reads applying events needs. */
type IndexReads = Pick<
  Ledger,
  | 'getRound'
  | 'getRoundPhase'
  | 'roundMisbehaviour'
  | 'consentHistory'
  | 'getCollectiveKey'
  | 'getMember'
>;

/** Reads a batch of events starts at once (a Fabric evaluate is a round trip to the peer). */
const READS_IN_FLIGHT = 16;

/**
 * The reads of one batch of events: each asked once (a bank's hundred consents need its consent
 * history once, not a hundred times), at most READS_IN_FLIGHT at a time, started before the
 * events are applied in order. A read returns the record as it is now, whenever it is asked:
 * asking early changes nothing the sequential reads would have shown.
 */
function batchReads(ledger: Ledger): IndexReads & { prefetch(event: HistoryEvent): void } {
  const cache = new Map<string, Promise<unknown>>();
  let inFlight = 0;
  const waiting: (() => void)[] = [];
  const read = <T>(key: string, call: () => Promise<T>): Promise<T> => {
    let promise = cache.get(key) as Promise<T> | undefined;
    if (promise === undefined) {
      promise = (async () => {
        if (inFlight >= READS_IN_FLIGHT) await new Promise<void>((go) => waiting.push(go));
        inFlight++;
        try {
          return await call();
        } finally {
          inFlight--;
          waiting.shift()?.();
        }
      })();
      // A prefetch nobody awaits must not be an unhandled rejection; apply sees the error.
      promise.catch(() => undefined);
      cache.set(key, promise);
    }
    return promise;
  };
  const reads: IndexReads = {
    getRound: (roundId) => read(`round ${roundId}`, () => ledger.getRound(roundId)),
    getRoundPhase: (roundId, phase) =>
      read(`phase ${roundId} ${phase}`, () => ledger.getRoundPhase(roundId, phase)),
    roundMisbehaviour: (roundId) =>
      read(`misbehaviour ${roundId}`, () => ledger.roundMisbehaviour(roundId)),
    consentHistory: (memberId) =>
      read(`consents ${memberId}`, () => ledger.consentHistory(memberId)),
    getCollectiveKey: (keySha256) =>
      read(`key ${keySha256}`, () => ledger.getCollectiveKey(keySha256)),
    getMember: (mspId) => read(`member ${mspId}`, () => ledger.getMember(mspId)),
  };
  return {
    ...reads,
    prefetch(event) {
      const payload = event.payload;
      switch (event.name) {
        case 'RoundOpened':
        case 'RoundClosed':
          void reads.getRound(String(payload.roundId));
          return;
        case 'RoundPhaseCommitted':
          if (ROUND_PHASES.includes(payload.phase as RoundPhaseName))
            void reads.getRoundPhase(String(payload.roundId), payload.phase as RoundPhaseName);
          return;
        case 'MisbehaviourRecorded':
          void reads.roundMisbehaviour(String(payload.roundId));
          return;
        case 'ConsentGranted':
        case 'ConsentRevoked':
          void reads.consentHistory(String(payload.memberId));
          return;
        case 'CollectiveKeyAttested':
          void reads.getCollectiveKey(String(payload.keySha256));
          return;
      }
    },
  };
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
    const reads = batchReads(this.ledger);
    for (const event of events) reads.prefetch(event);
    for (const event of events) await this.apply(event, reads);
    this.lastBlock = lastBlock;
    return events;
  }

  private async apply(event: HistoryEvent, reads: IndexReads): Promise<void> {
    const at = provenanceOf(event);
    const payload = event.payload;
    switch (event.name) {
      case 'RoundOpened':
      case 'RoundClosed': {
        const roundId = String(payload.roundId);
        const record = await reads.getRound(roundId);
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
        for (const memberId of record.roster) await this.learnMember(memberId, reads);
        return;
      }
      case 'RoundPhaseCommitted': {
        const roundId = String(payload.roundId);
        const phase = payload.phase as RoundPhaseName;
        if (!ROUND_PHASES.includes(phase)) return;
        const round = this.rounds.get(roundId);
        if (round !== undefined)
          round.phases[phase] = { record: await reads.getRoundPhase(roundId, phase), at };
        return;
      }
      case 'MisbehaviourRecorded': {
        const roundId = String(payload.roundId);
        const round = this.rounds.get(roundId);
        if (round === undefined) return;
        const memberId = String(payload.memberId);
        const record = (await reads.roundMisbehaviour(roundId)).find(
          (entry) => entry.memberId === memberId,
        );
        if (record !== undefined) round.misbehaviour.push({ record, at });
        return;
      }
      case 'ConsentGranted':
      case 'ConsentRevoked': {
        const consentId = String(payload.consentId);
        const memberId = String(payload.memberId);
        await this.learnMember(memberId, reads);
        const record = (await reads.consentHistory(memberId)).find(
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
        const record = await reads.getCollectiveKey(keySha256);
        const existing = this.keys.get(keySha256);
        this.keys.set(keySha256, { record, at: existing?.at ?? at });
        for (const holder of record.participants) await this.learnMember(holder, reads);
        return;
      }
      case 'MemberRegistered': {
        const mspId = String(payload.mspId);
        this.members.delete(mspId);
        await this.learnMember(mspId, reads);
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

  private async learnMember(memberId: string, reads: IndexReads): Promise<void> {
    if (this.members.has(memberId)) return;
    try {
      this.members.set(memberId, await reads.getMember(memberId));
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
