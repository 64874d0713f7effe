import type { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import type { FabricLedger } from '../../ledger/fabric/fabric-ledger.ts';
import type { LedgerEventName } from '../../ledger/records.ts';

/** A contract event with where the ledger holds it: what every number on a console page cites. */
export interface HistoryEvent {
  readonly name: LedgerEventName;
  readonly payload: Record<string, unknown>;
  readonly block: number;
  readonly transactionId: string;
  /** When the block was committed (embedded: the block's time; Fabric: not known here). */
  readonly committedAt: number | null;
}

export interface ChainHealth {
  readonly backend: 'embedded' | 'fabric';
  readonly height: number;
  readonly headHash: string | null;
  readonly verifiedAt: number;
  /** Embedded: every block's hash, link, signature and writes checked; Fabric: the peer's word. */
  readonly verification: string;
}

/**
 * The console's view of the ledger's history, read through its own ledger view (never the
 * coordinator): events in block order, verified before they are returned.
 */
export interface LedgerHistory {
  /** Events of the blocks after `afterBlock`, in order, and the last block they cover. */
  read(afterBlock: number): Promise<{ events: HistoryEvent[]; lastBlock: number }>;
  health(): Promise<ChainHealth>;
  close(): void;
}

export class EmbeddedHistory implements LedgerHistory {
  private readonly database: EmbeddedLedgerDatabase;
  private lastHash: string | null = null;
  private height = 0;

  constructor(database: EmbeddedLedgerDatabase) {
    this.database = database;
  }

  async read(afterBlock: number): Promise<{ events: HistoryEvent[]; lastBlock: number }> {
    const blocks = await this.database.verifiedBlocksAfter(afterBlock);
    const events: HistoryEvent[] = [];
    let lastBlock = afterBlock;
    for (const block of blocks) {
      for (const event of block.events)
        events.push({
          name: event.name,
          payload: event.payload,
          block: block.number,
          transactionId: block.hash,
          committedAt: block.timestamp,
        });
      lastBlock = block.number;
      this.lastHash = block.hash;
      this.height = block.number;
    }
    return { events, lastBlock };
  }

  async health(): Promise<ChainHealth> {
    await this.database.verifiedBlocksAfter(this.height);
    return {
      backend: 'embedded',
      height: this.height,
      headHash: this.lastHash,
      verifiedAt: Date.now(),
      verification:
        'every block replayed: hash, link to its predecessor, writer signature against the consortium CA, its transaction re-run through the contract',
    };
  }

  close(): void {
    this.database.close();
  }
}

/**
 * Fabric: the chaincode events the console's own peer delivers, from the first block, buffered
 * by a background reader (the gateway's event stream is a long-lived call).
 */
export class FabricHistory implements LedgerHistory {
  private readonly fabric: FabricLedger;
  private readonly buffered: HistoryEvent[] = [];
  private readonly stop = new AbortController();
  private readonly reader: Promise<void>;

  constructor(fabric: FabricLedger) {
    this.fabric = fabric;
    this.reader = this.follow();
  }

  private async follow(): Promise<void> {
    try {
      for await (const event of this.fabric.events({ startBlock: 0n })) {
        if (this.stop.signal.aborted) return;
        this.buffered.push({
          name: event.name,
          payload: event.payload,
          block: Number(event.blockNumber),
          transactionId: event.transactionId,
          committedAt: null,
        });
      }
    } catch {
      // A closed gateway ends the stream; health() reports the peer's height regardless.
    }
  }

  read(afterBlock: number): Promise<{ events: HistoryEvent[]; lastBlock: number }> {
    const events = this.buffered.filter((event) => event.block > afterBlock);
    const lastBlock = events.reduce((last, event) => Math.max(last, event.block), afterBlock);
    return Promise.resolve({ events, lastBlock });
  }

  async health(): Promise<ChainHealth> {
    return {
      backend: 'fabric',
      height: await this.fabric.chainHeight(),
      headHash: null,
      verifiedAt: Date.now(),
      verification:
        "read through this bank's own peer: blocks validated by the peer against the channel's endorsement policy",
    };
  }

  close(): void {
    this.stop.abort();
    this.fabric.close();
    void this.reader;
  }
}
