import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { z } from 'zod';
import { MIN_CLOCK_ADVANCE_MS } from '../../chaincode/ledger-clock.ts';
import type { OpenLedger } from '../../ledger/ledger-factory.ts';

/**
 * Advances the Fabric ledger clock every `intervalMs` (chaincode/ledger-clock.ts): an openRound
 * endorsed before an advance fails Fabric's version check when it is finally submitted, so a
 * coordinator that endorses a round while a consent is in force and holds it past the consent's
 * expiry gets no commit once any member or keyholder has ticked. The interval bounds the hold
 * (plus the peers' skew). The embedded ledger has no clock: nothing ticks there.
 *
 * One advance at a time: the next is scheduled when the last has finished, so a slow or
 * unreachable peer never piles up transactions. The first advance waits a random delay in
 * [0, interval) and each next one interval × U(0.5, 1.5): parties started together (a
 * deployment, a restart after an outage) do not all send their advance in the same instant —
 * where one commits and n − 1 are invalidated by MVCC conflicts, in lockstep forever — and the
 * clock does not move at a moment a coordinator holding an endorsed openRound can predict.
 * An advance the chaincode refuses because another party moved the clock less than
 * MIN_CLOCK_ADVANCE_MS ago (or one that lost a race to another party's: a version/MVCC
 * conflict) counts as `moved` and is not endorsed again: the clock advanced, which is what
 * matters.
 */
export const DEFAULT_LEDGER_CLOCK_INTERVAL_MS = 60_000;

/** The chaincode refuses advances closer together than this. */
export const MIN_LEDGER_CLOCK_INTERVAL_MS = MIN_CLOCK_ADVANCE_MS;

/**
 * A service config's `ledgerClockIntervalMs`: 0 (off) or at least MIN_LEDGER_CLOCK_INTERVAL_MS;
 * absent, DEFAULT_LEDGER_CLOCK_INTERVAL_MS.
 */
export const ledgerClockIntervalSchema = z
  .number()
  .int()
  .refine((ms) => ms === 0 || ms >= MIN_LEDGER_CLOCK_INTERVAL_MS, {
    message: `must be 0 (off) or at least ${MIN_LEDGER_CLOCK_INTERVAL_MS} ms: the chaincode refuses ledger clock advances closer together`,
  })
  .optional();

export type TickOutcome = 'advanced' | 'moved' | 'failed';

export interface LedgerClockTickerOptions {
  readonly ledger: OpenLedger;
  /** 0 turns the ticker off; otherwise at least MIN_LEDGER_CLOCK_INTERVAL_MS; default 60 s. */
  readonly intervalMs?: number | undefined;
  readonly logger: Logger;
  /** Where to register veilsum_ledger_clock_* metrics (a service's Prometheus registry). */
  readonly registry?: Registry;
  /** Called after each advance, with its outcome (tests, diagnostics). */
  readonly onTick?: (outcome: TickOutcome, clockMs: number | undefined) => void;
  /** Uniform in [0, 1) for the delays' jitter (tests make it predictable); Math.random. */
  readonly random?: () => number;
}

export class LedgerClockTicker {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private stopped = false;
  private readonly ticks: Counter<'outcome'> | undefined;
  private readonly clock: Gauge | undefined;

  private readonly advance: () => Promise<number>;
  private readonly intervalMs: number;
  private readonly random: () => number;
  private readonly options: LedgerClockTickerOptions;

  private constructor(
    advance: () => Promise<number>,
    intervalMs: number,
    options: LedgerClockTickerOptions,
  ) {
    this.advance = advance;
    this.intervalMs = intervalMs;
    this.random = options.random ?? Math.random;
    this.options = options;
    if (options.registry) {
      this.ticks = new Counter({
        name: 'veilsum_ledger_clock_ticks_total',
        help: 'Ledger clock advances sent, by outcome (advanced, moved by another party, failed)',
        labelNames: ['outcome'] as const,
        registers: [options.registry],
      });
      this.clock = new Gauge({
        name: 'veilsum_ledger_clock_seconds',
        help: 'The Fabric ledger clock this party last advanced to (seconds since the epoch)',
        registers: [options.registry],
      });
    }
  }

  /**
   * Starts ticking (the first advance after a random delay within one interval) on a Fabric ledger with a non-zero interval;
   * undefined when there is nothing to tick (embedded ledger, or turned off), said in the log.
   */
  static start(options: LedgerClockTickerOptions): LedgerClockTicker | undefined {
    const { ledger, logger } = options;
    const intervalMs = options.intervalMs ?? DEFAULT_LEDGER_CLOCK_INTERVAL_MS;
    if (intervalMs !== 0 && intervalMs < MIN_LEDGER_CLOCK_INTERVAL_MS)
      throw new Error(
        `ledgerClockIntervalMs ${intervalMs} is below ${MIN_LEDGER_CLOCK_INTERVAL_MS}: the chaincode refuses ledger clock advances closer together (0 turns the ticker off)`,
      );
    const fabric = ledger.fabric;
    if (fabric === undefined || intervalMs === 0) {
      logger.info(
        {
          event: 'ledger-clock-ticker-off',
          reason: fabric === undefined ? 'embedded ledger (no clock)' : 'interval 0',
        },
        'ledger clock ticker off',
      );
      return undefined;
    }
    // advanceClock is not endorsed again after a read conflict: another party advanced the clock.
    const ticker = new LedgerClockTicker(() => fabric.advanceClock(), intervalMs, options);
    logger.info({ event: 'ledger-clock-ticker-on', intervalMs }, 'ledger clock ticker on');
    ticker.schedule(ticker.intervalMs * ticker.random());
    return ticker;
  }

  /** Stops ticking and waits for an advance in flight to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.inFlight;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.inFlight = this.tick().finally(() => {
        this.inFlight = undefined;
        this.schedule(this.intervalMs * (0.5 + this.random()));
      });
    }, delayMs);
    // The service's server keeps the process alive, not this timer.
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const { logger, onTick } = this.options;
    let outcome: TickOutcome;
    let clockMs: number | undefined;
    try {
      clockMs = await this.advance();
      outcome = 'advanced';
      this.clock?.set(clockMs / 1000);
      logger.info(
        { event: 'ledger-clock-advanced', clock: new Date(clockMs).toISOString() },
        'ledger clock advanced',
      );
    } catch (error) {
      const message = (error as Error).message;
      outcome = /already reads|MVCC_READ_CONFLICT|PHANTOM_READ_CONFLICT|version conflict/i.test(
        message,
      )
        ? 'moved'
        : 'failed';
      if (outcome === 'moved')
        logger.debug({ event: 'ledger-clock-moved', message }, 'ledger clock moved by another');
      else
        logger.warn(
          { event: 'ledger-clock-failed', message },
          'ledger clock advance failed; retrying at the next interval',
        );
    }
    this.ticks?.inc({ outcome });
    onTick?.(outcome, clockMs);
  }
}
