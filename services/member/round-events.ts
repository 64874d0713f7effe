import type { Logger } from 'pino';
import type { OpenLedger } from '../../ledger/ledger-factory.ts';
import type { LedgerEvent } from '../../ledger/records.ts';

/** How long a broken Fabric event stream waits before it is opened again (doubling, at most). */
const RETRY_MS = { first: 1_000, last: 30_000 };

/**
 * Wakes the round follower when the bank's own ledger view commits a round event (RoundOpened,
 * RoundPhaseCommitted, RoundClosed), so it joins a round as it opens instead of at its next
 * poll of the coordinator. Fabric: the checkpointed chaincode event stream
 * (`checkpointFile`): a restarted peer resumes after the last event it handled, and a broken
 * stream is opened again. Embedded: the database's events, raised as this process's view catches
 * up with the file. `live` says whether events arrive, so that the follower's polling of the
 * coordinator can slow down to a fallback (RoundFollower `fallbackPollMs`), never stop.
 */
export class RoundEvents {
  private stopped = false;
  private unsubscribe: (() => void) | undefined;
  live = false;

  private readonly opened: OpenLedger | undefined;
  private readonly checkpointFile: string;
  private readonly onRoundEvent: () => void;
  private readonly logger: Logger;

  constructor(
    opened: OpenLedger | undefined,
    checkpointFile: string,
    onRoundEvent: () => void,
    logger: Logger,
  ) {
    this.opened = opened;
    this.checkpointFile = checkpointFile;
    this.onRoundEvent = onRoundEvent;
    this.logger = logger;
  }

  start(): void {
    if (this.opened?.fabric !== undefined) {
      this.live = true;
      void this.followFabric();
    } else if (this.opened?.embedded !== undefined) {
      this.unsubscribe = this.opened.embedded.onEvent((event) => this.handle(event));
    }
  }

  stop(): void {
    this.stopped = true;
    this.live = false;
    this.unsubscribe?.();
  }

  private handle(event: LedgerEvent): void {
    if (event.name.startsWith('Round')) this.onRoundEvent();
  }

  private async followFabric(): Promise<void> {
    let delayMs = RETRY_MS.first;
    while (!this.stopped) {
      try {
        for await (const event of this.opened!.fabric!.events({
          checkpointFile: this.checkpointFile,
        })) {
          if (this.stopped) return;
          this.live = true;
          delayMs = RETRY_MS.first;
          this.handle(event);
        }
      } catch (error) {
        if (this.stopped) return;
        this.live = false;
        this.logger.warn(
          { event: 'ledger-events-failed', reason: (error as Error).message, retryMs: delayMs },
          "the ledger's event stream broke: polling the coordinator until it is back",
        );
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
      delayMs = Math.min(delayMs * 2, RETRY_MS.last);
    }
  }
}
