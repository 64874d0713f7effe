import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { pino } from 'pino';
import type { OpenLedger } from '../../ledger/ledger-factory.ts';
import { LedgerClockTicker } from '../../services/common/ledger-clock-ticker.ts';

/**
 * Attacker review (review-a): every member peer and keyholder ticks at start and then
 * `intervalMs` after its last advance FINISHED, with no jitter and without first reading the
 * clock. Parties started together (a deployment, a restart after a network outage, the demo)
 * all send advanceClock at the same instant; all are endorsed against the same clock version,
 * one commits and the rest are ordered into the same block and invalidated
 * (MVCC_READ_CONFLICT; FabricLedger.submit then re-endorses each up to 3 times). They all
 * finish with that block, so they stay in lockstep: n transactions per interval on the
 * channel, n − 1 of them invalid blocks' worth of ledger kept forever, where one per interval
 * is what bounds a held openRound. Here: 20 parties, a 2 s commit, 10 minutes.
 */
const silent = pino({ level: 'silent' });
afterEach(() => {
  jest.useRealTimers();
});

/** A seeded uniform [0, 1) source (mulberry32), so the run is the same every time. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('attack (resources): the ledger clock tickers of n parties', () => {
  it('spread their advances over the interval instead of sending n in the same instant', async () => {
    jest.useFakeTimers();
    const parties = 20;
    const intervalMs = 60_000;
    const sent: number[] = [];
    const commits: number[] = [];
    let lastCommit = -Infinity;
    const ledger = {
      fabric: {
        advanceClock: () => {
          sent.push(Date.now());
          const endorsedAgainst = lastCommit;
          return new Promise<number>((resolve, reject) =>
            setTimeout(() => {
              // Committed only if nobody's advance committed since this one was endorsed.
              if (lastCommit === endorsedAgainst && Date.now() - lastCommit >= 10_000) {
                lastCommit = Date.now();
                commits.push(lastCommit);
                resolve(lastCommit);
              } else
                reject(
                  new Error('advanceClock: transaction was not committed: MVCC_READ_CONFLICT'),
                );
            }, 2_000),
          );
        },
      },
    } as unknown as OpenLedger;
    const start = Date.now();
    const random = seeded(20261207);
    const tickers = Array.from({ length: parties }, () =>
      LedgerClockTicker.start({ ledger, intervalMs, logger: silent, random }),
    );
    await jest.advanceTimersByTimeAsync(10 * intervalMs);
    const stopped = Promise.all(tickers.map((ticker) => ticker!.stop()));
    await jest.advanceTimersByTimeAsync(5_000);
    await stopped;
    const perInterval = sent.length / 10;
    // The largest number of advances sent within one second of each other.
    let burst = 0;
    for (const at of sent)
      burst = Math.max(burst, sent.filter((t) => t >= at && t < at + 1_000).length);
    // How far apart the parties' first advances are (each party's first send is among the
    // first `parties` sends: a jittered next one comes at least half an interval later).
    const firstSpread = sent[parties - 1]! - sent[0]!;
    console.log({ sent: sent.length, perInterval, burst, firstSpread, commits: commits.length });
    // Fails on the code under review: all 20 in the same instant (burst 20, spread 0).
    expect(burst).toBeLessThanOrEqual(parties / 4);
    expect(firstSpread).toBeGreaterThanOrEqual(intervalMs / 2);
    // No re-sends in lockstep: each party sends about once per interval, no more.
    expect(perInterval).toBeLessThanOrEqual(parties * 1.2);
    // The clock still moves: at least one committed advance per interval.
    expect(commits.length).toBeGreaterThanOrEqual(10);
    expect(sent[0]! - start).toBeLessThan(intervalMs);
  });
});
