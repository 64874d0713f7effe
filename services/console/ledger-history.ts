import { setTimeout as sleep } from 'node:timers/promises';
import type { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { decodeBlock } from '../../ledger/fabric/fabric-blocks.ts';
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
  /** Why the console's view may be behind the ledger now (its peer is unreachable, …). */
  readonly problem?: string;
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
  /** Why new blocks are not arriving now, if they are not (read between two `read`s). */
  problem?(): string | undefined;
  /**
   * A history that arrives as a stream (Fabric): the channel's height now, and how many blocks
   * have arrived, so the console serves its first page only once it has the chain up to then.
   */
  catchUp?: {
    target(): Promise<number>;
    received(): number;
    idleMs(): number;
    /**
     * Resolves when there is something to do: `target` blocks received, the reader waiting for
     * room (the index must read), the stream opened — or after `timeoutMs`.
     */
    progress(target: number | undefined, timeoutMs: number): Promise<void>;
    /**
     * Whether the blocks from the last one received up to `target` hold nothing for the view
     * (no valid transaction of the contract): a quiet stream alone proves nothing, the peer may
     * be scanning a flood of other blocks. 'caught-up': none; 'checking': a batch of blocks
     * checked, more to check (the next call resumes); 'behind': a block whose events the stream
     * has yet to deliver, or the peer did not answer.
     */
    confirm(target: number): Promise<'caught-up' | 'checking' | 'behind'>;
    /** The console serves pages before reaching `target`: every page says how far it is. */
    partial(target: number): void;
  };
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

/** Blocks a catch-up checks per call for transactions of the contract (qscc reads). */
const CONFIRM_BATCH = 200;

/** Events a FabricHistory holds between two reads, at most (plus the rest of one block). */
export const MAX_BUFFERED_EVENTS = 10_000;

/**
 * Fabric: the chaincode events the console's own peer delivers, from the first block, read by a
 * background reader (the gateway's event stream is a long-lived call). Memory stays bounded on a
 * long ledger: events the index has acknowledged (by reading after their block) are dropped, and
 * the reader stops pulling from the peer while `maxBufferedEvents` are held — at a block boundary,
 * so a read never returns part of a block.
 */
export class FabricHistory implements LedgerHistory {
  private readonly fabric: FabricLedger;
  private readonly maxBufferedEvents: number;
  private buffered: HistoryEvent[] = [];
  private readonly stop = new AbortController();
  private readonly reader: Promise<void>;
  private wakeReader: (() => void) | undefined;
  /** The next block whose events the reader has not received. */
  private nextBlock = 0;
  /** When the event stream was last open on a trusted peer or delivered an event (0: never). */
  private lastHeardAt = 0;
  private streamProblem: string | undefined;
  /** Waits before asking a peer that could not be reached again (ms; tests shorten it). */
  private readonly retryMs: number;
  /** Blocks before this one are received or checked to hold no transaction of the contract. */
  private checkedTo = 0;
  /** The height the console started serving before it reached (0: it reached it). */
  private partialTarget = 0;
  /** A catch-up waiting for progress, and the height it waits for. */
  private progressWaiter: { target: number | undefined; resolve: () => void } | undefined;

  constructor(
    fabric: FabricLedger,
    options: { maxBufferedEvents?: number; retryMs?: number } = {},
  ) {
    this.fabric = fabric;
    this.maxBufferedEvents = options.maxBufferedEvents ?? MAX_BUFFERED_EVENTS;
    this.retryMs = options.retryMs ?? 2_000;
    this.reader = this.follow();
  }

  /**
   * Follows the peer's chaincode events; when the stream breaks (the peer stopped, the network
   * failed) the reason is reported through problem() — every page then says the view may be
   * behind — and the reader asks the peer again every `retryMs`, resuming after the last block
   * it received (a block's events come in one response from the peer, so none is half read).
   */
  private async follow(): Promise<void> {
    while (!this.stop.signal.aborted) {
      try {
        // Some peer answers again. That alone does not make the view current (with failover it
        // may be another bank's peer): the problem is cleared only once the event stream is open
        // again on a trusted peer (followFrom).
        await this.fabric.chainInfo();
        await this.followFrom(BigInt(this.nextBlock));
      } catch (error) {
        if (this.stop.signal.aborted) return;
        this.streamProblem = `the console cannot read new blocks from ${this.fabric.peer.name} (the error: ${error instanceof Error ? error.message : String(error)}); it tries again every ${this.retryMs / 1000} s, and what is shown is as of block ${this.nextBlock - 1}`;
      }
      await sleep(this.retryMs, undefined, { signal: this.stop.signal }).catch(() => undefined);
    }
  }

  private async followFrom(startBlock: bigint): Promise<void> {
    // The stream open on a trusted peer (or its first block): until a new block arrives, the
    // view is as current as it is.
    const current = () => {
      const opened = this.lastHeardAt === 0;
      this.streamProblem = undefined;
      this.lastHeardAt = Date.now();
      if (opened) this.progressed();
    };
    for await (const event of this.fabric.events({ startBlock, onOpen: current })) {
      if (this.stop.signal.aborted) return;
      current();
      const block = Number(event.blockNumber);
      // A new block while the buffer is full: wait for a read (the previous block is whole).
      while (
        this.buffered.length >= this.maxBufferedEvents &&
        block > this.buffered.at(-1)!.block &&
        !this.stop.signal.aborted
      ) {
        const room = new Promise<void>((resolve) => (this.wakeReader = resolve));
        this.progressed();
        await room;
        // The stream was not quiet while the index read: it was held back.
        this.lastHeardAt = Date.now();
      }
      if (this.stop.signal.aborted) return;
      this.buffered.push({
        name: event.name,
        payload: event.payload,
        block,
        transactionId: event.transactionId,
        committedAt: null,
      });
      this.nextBlock = block + 1;
      const waiting = this.progressWaiter?.target;
      if (waiting !== undefined && this.nextBlock >= waiting) this.progressed();
    }
    // A stream that ends without an error was closed with the gateway.
    if (!this.stop.signal.aborted) throw new Error('the peer closed the event stream');
  }

  problem(): string | undefined {
    if (this.streamProblem !== undefined) return this.streamProblem;
    const through = Math.max(this.nextBlock, this.checkedTo);
    if (through < this.partialTarget)
      return `the console is still reading the channel from its peer ${this.fabric.peer.name}: what is shown is as of block ${through - 1} of the ${this.partialTarget} blocks the channel had when it started`;
    return undefined;
  }

  /**
   * Wakes a waiting catch-up — on the next turn of the event loop, after the rest of this
   * block's events (one response from the peer) are buffered: a read never splits a block.
   */
  private progressed(): void {
    const waiter = this.progressWaiter;
    if (waiter === undefined) return;
    this.progressWaiter = undefined;
    setImmediate(waiter.resolve);
  }

  readonly catchUp = {
    target: async (): Promise<number> => (await this.fabric.chainInfo({ ownPeer: true })).height,
    progress: (target: number | undefined, timeoutMs: number): Promise<void> =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(done, timeoutMs);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        // Already there, or the reader already waiting for room: no need to wait.
        if ((target !== undefined && this.nextBlock >= target) || this.wakeReader !== undefined)
          setImmediate(done);
        else this.progressWaiter = { target, resolve: done };
      }),
    received: (): number => this.nextBlock,
    confirm: async (target: number): Promise<'caught-up' | 'checking' | 'behind'> => {
      this.checkedTo = Math.max(this.checkedTo, this.nextBlock);
      const batchEnd = Math.min(target, this.checkedTo + CONFIRM_BATCH);
      try {
        for (let number = this.checkedTo; number < batchEnd; number++) {
          const block = decodeBlock(await this.fabric.blockBytes(number));
          const holdsContract = block.transactions.some(
            (tx) =>
              tx.validationCode === 0 &&
              tx.writes.some((write) => write.namespace === this.fabric.chaincodeName),
          );
          // Its events are still to come through the stream: not caught up.
          if (holdsContract) return 'behind';
          this.checkedTo = Math.max(this.checkedTo, number + 1);
        }
      } catch {
        return 'behind';
      }
      return this.checkedTo >= target ? 'caught-up' : 'checking';
    },
    partial: (target: number): void => {
      this.partialTarget = target;
    },
    /**
     * How long the open stream has been quiet (Infinity before it first opened; 0 while the
     * reader holds a block back for room: a slow index is not a caught-up one).
     */
    idleMs: (): number =>
      this.lastHeardAt === 0
        ? Infinity
        : this.wakeReader !== undefined
          ? 0
          : Date.now() - this.lastHeardAt,
  };

  /**
   * The buffered events after `afterBlock`. Asking for blocks after `afterBlock` acknowledges
   * everything up to it: those events are dropped (the index holds what it needs), and a reader
   * waiting for room goes on.
   */
  read(afterBlock: number): Promise<{ events: HistoryEvent[]; lastBlock: number }> {
    this.buffered = this.buffered.filter((event) => event.block > afterBlock);
    if (this.buffered.length < this.maxBufferedEvents) this.wake();
    const events = [...this.buffered];
    const lastBlock = events.reduce((last, event) => Math.max(last, event.block), afterBlock);
    return Promise.resolve({ events, lastBlock });
  }

  private wake(): void {
    const wake = this.wakeReader;
    this.wakeReader = undefined;
    wake?.();
  }

  async health(): Promise<ChainHealth> {
    // The console's own peer only: another bank's peer (a failover) is not its view of the chain.
    const peer = this.fabric.ownPeer.name;
    try {
      const { height, headHash } = await this.fabric.chainInfo({ ownPeer: true });
      return {
        backend: 'fabric',
        height,
        headHash,
        verifiedAt: Date.now(),
        verification: `read through the peer ${peer}: each block validated by that peer against the channel's endorsement policy before it committed it`,
        ...(this.streamProblem ? { problem: this.streamProblem } : {}),
      };
    } catch (error) {
      return {
        backend: 'fabric',
        height: this.nextBlock,
        headHash: null,
        verifiedAt: Date.now(),
        verification: `not reached: ${peer} did not answer`,
        problem: `the console cannot reach its peer ${peer}: ${error instanceof Error ? error.message : String(error)}; what is shown is as of block ${this.nextBlock - 1}`,
      };
    }
  }

  close(): void {
    this.stop.abort();
    this.wake();
    this.fabric.close();
    void this.reader;
  }
}
