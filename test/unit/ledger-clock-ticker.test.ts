import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { OpenLedger } from '../../ledger/ledger-factory.ts';
import {
  LedgerClockTicker,
  ledgerClockIntervalSchema,
} from '../../services/common/ledger-clock-ticker.ts';

/**
 * The ticker's own rules (its effect on a held openRound runs on a real Fabric network in
 * test/adversarial/review-fabric-held-endorsement.test.ts): off on the embedded ledger, an
 * interval the chaincode accepts, one advance at a time, nothing after stop().
 */
const silent = pino({ level: 'silent' });
afterEach(() => {
  jest.useRealTimers();
});

/** A Fabric ledger whose advanceClock answers when the test says so. */
function fabricLedger() {
  const pending: ((clockMs: number) => void)[] = [];
  let calls = 0;
  const ledger = {
    fabric: {
      advanceClock: () => {
        calls++;
        return new Promise<number>((resolve) => pending.push(resolve));
      },
    },
  } as unknown as OpenLedger;
  return { ledger, pending, calls: () => calls };
}

describe('LedgerClockTicker', () => {
  it('does not tick the embedded ledger (no clock) nor when turned off', () => {
    expect(
      LedgerClockTicker.start({ ledger: {} as OpenLedger, intervalMs: 60_000, logger: silent }),
    ).toBeUndefined();
    expect(
      LedgerClockTicker.start({ ledger: fabricLedger().ledger, intervalMs: 0, logger: silent }),
    ).toBeUndefined();
  });

  it('refuses an interval shorter than the chaincode allows between advances', () => {
    expect(() =>
      LedgerClockTicker.start({ ledger: fabricLedger().ledger, intervalMs: 9_999, logger: silent }),
    ).toThrow(/below 10000/);
    expect(ledgerClockIntervalSchema.safeParse(9_999).success).toBe(false);
    expect(ledgerClockIntervalSchema.safeParse(0).success).toBe(true);
    expect(ledgerClockIntervalSchema.safeParse(10_000).success).toBe(true);
  });

  it('advances after a random part of the interval, then a jittered interval after the last advance finished, and stops', async () => {
    jest.useFakeTimers();
    const fake = fabricLedger();
    const registry = new Registry();
    const ticker = LedgerClockTicker.start({
      ledger: fake.ledger,
      intervalMs: 10_000,
      logger: silent,
      registry,
      // First delay interval × 0.5, then interval × (0.5 + 0.5).
      random: () => 0.5,
    })!;
    await jest.advanceTimersByTimeAsync(4_999);
    expect(fake.calls()).toBe(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(fake.calls()).toBe(1);
    // A slow peer: no second advance while the first is in flight, however long it takes.
    await jest.advanceTimersByTimeAsync(60_000);
    expect(fake.calls()).toBe(1);
    fake.pending.shift()!(1_800_000_000_000);
    await jest.advanceTimersByTimeAsync(9_999);
    expect(fake.calls()).toBe(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(fake.calls()).toBe(2);
    // stop() waits for the advance in flight; nothing is sent after it.
    let stopped = false;
    const stopping = ticker.stop().then(() => (stopped = true));
    await jest.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false);
    fake.pending.shift()!(1_800_000_010_000);
    await stopping;
    await jest.advanceTimersByTimeAsync(100_000);
    expect(fake.calls()).toBe(2);
    expect(await registry.getSingleMetricAsString('veilsum_ledger_clock_ticks_total')).toMatch(
      /veilsum_ledger_clock_ticks_total\{outcome="advanced"\} 2/,
    );
  });
});
