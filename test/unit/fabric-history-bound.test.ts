import { describe, expect, it, jest } from '@jest/globals';
import type { FabricLedger } from '../../ledger/fabric/fabric-ledger.ts';
import { FabricHistory, type HistoryEvent } from '../../services/console/ledger-history.ts';

const BLOCKS = 30;
const EVENTS_PER_BLOCK = 100;
const CAP = 500;

/**
 * A peer's chaincode-event stream of BLOCKS × EVENTS_PER_BLOCK events, counting how many the
 * console has pulled: the event stream of a long Fabric ledger, without a network.
 */
function longLedger(): { fabric: FabricLedger; pulled: () => number } {
  let pulled = 0;
  async function* events() {
    for (let block = 1; block <= BLOCKS; block++)
      for (let i = 0; i < EVENTS_PER_BLOCK; i++) {
        pulled++;
        yield {
          name: 'ConsentGranted',
          payload: { consentId: `c-${block}-${i}` },
          blockNumber: BigInt(block),
          transactionId: `tx-${block}`,
        };
        // Blocks arrive one response at a time.
        if (i === EVENTS_PER_BLOCK - 1) await new Promise((resolve) => setImmediate(resolve));
      }
    await new Promise(() => {}); // a live stream does not end
  }
  const fabric = {
    events,
    chainHeight: () => Promise.resolve(BLOCKS),
    chainInfo: () => Promise.resolve({ height: BLOCKS, headHash: '00' }),
    peer: { name: 'peer0' },
    close: () => {},
  } as unknown as FabricLedger;
  return { fabric, pulled: () => pulled };
}

const settle = async () => {
  for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('FabricHistory on a long ledger', () => {
  it('holds at most its cap of unread events (whole blocks), and hands over every event once, in order', async () => {
    const { fabric, pulled } = longLedger();
    const history = new FabricHistory(fabric, { maxBufferedEvents: CAP });
    try {
      await settle();
      // Five whole blocks wait; the reader pulled the first event of block 6 and stopped there.
      expect(pulled()).toBe(CAP + 1);
      const seen: HistoryEvent[] = [];
      let lastBlock = 0;
      for (let reads = 0; reads < 4 * BLOCKS && lastBlock < BLOCKS; reads++) {
        const page = await history.read(lastBlock);
        expect(page.events.length).toBeLessThanOrEqual(CAP);
        // Never part of a block: every block read is read whole.
        for (const block of new Set(page.events.map((event) => event.block)))
          expect(page.events.filter((event) => event.block === block)).toHaveLength(
            EVENTS_PER_BLOCK,
          );
        seen.push(...page.events);
        lastBlock = page.lastBlock;
        await settle();
        expect(pulled() - seen.length).toBeLessThanOrEqual(CAP + 1);
      }
      expect(seen.map((event) => event.payload.consentId)).toEqual(
        Array.from({ length: BLOCKS * EVENTS_PER_BLOCK }, (_, k) => {
          const block = Math.floor(k / EVENTS_PER_BLOCK) + 1;
          return `c-${block}-${k % EVENTS_PER_BLOCK}`;
        }),
      );
    } finally {
      history.close();
    }
  });
});

describe('FabricHistory catching up at the console’s start', () => {
  it('wakes the waiting start when its buffer is full and when the height is reached (no polling), and is never idle while it holds a block back', async () => {
    const { fabric } = longLedger();
    const history = new FabricHistory(fabric, { maxBufferedEvents: CAP });
    // Woken by the reader within a few turns of the event loop, not by the wait's timeout.
    const woken = (wait: Promise<void>) =>
      Promise.race([wait.then(() => true), settle().then(() => false)]);
    try {
      // Woken when the stream opens (its first block), then when the buffer is full.
      expect(await woken(history.catchUp.progress(BLOCKS, 60_000))).toBe(true);
      expect(await woken(history.catchUp.progress(BLOCKS, 60_000))).toBe(true);
      // Five whole blocks buffered; block 6 held back until the index reads.
      expect(history.catchUp.received()).toBe(CAP / EVENTS_PER_BLOCK + 1);
      // However long the index takes, a stream holding a block back is not a quiet one (a
      // quiet stream counts as caught up after 2 s, and the console would serve half a ledger).
      const clock = jest.spyOn(Date, 'now').mockReturnValue(Date.now() + 5_000);
      try {
        expect(history.catchUp.idleMs()).toBe(0);
      } finally {
        clock.mockRestore();
      }
      let lastBlock = 0;
      while (history.catchUp.received() < BLOCKS) {
        lastBlock = (await history.read(lastBlock)).lastBlock;
        expect(await woken(history.catchUp.progress(BLOCKS, 60_000))).toBe(true);
      }
    } finally {
      history.close();
    }
  });
});

describe('FabricHistory when its peer stops answering', () => {
  it('says why new blocks are not arriving, then resumes after the last block it received, none twice', async () => {
    let up = true;
    const starts: bigint[] = [];
    async function* events(options: { startBlock?: bigint }) {
      starts.push(options.startBlock ?? 0n);
      for (let block = Number(options.startBlock ?? 0n); block <= 6; block++) {
        // The peer stops after delivering block 3 the first time.
        if (block === 4 && starts.length === 1) {
          up = false;
          throw new Error('14 UNAVAILABLE: connection refused');
        }
        yield {
          name: 'ConsentGranted',
          payload: { consentId: `c-${block}` },
          blockNumber: BigInt(block),
          transactionId: `tx-${block}`,
        };
      }
      await new Promise(() => {});
    }
    const fabric = {
      events,
      peer: { name: 'peer0.bankc' },
      ownPeer: { name: 'peer0.bankc' },
      chainInfo: () =>
        up
          ? Promise.resolve({ height: 7, headHash: 'ab' })
          : Promise.reject(new Error('14 UNAVAILABLE: connection refused')),
      close: () => {},
    } as unknown as FabricLedger;
    const history = new FabricHistory(fabric, { retryMs: 20 });
    try {
      await settle();
      expect(history.problem()).toMatch(
        /^the console cannot read new blocks from peer0\.bankc \(the error: 14 UNAVAILABLE.*as of block 3$/,
      );
      expect((await history.health()).problem).toMatch(/cannot reach its peer peer0\.bankc/);
      const before = await history.read(-1);
      expect(before.events.map((event) => event.block)).toEqual([0, 1, 2, 3]);
      up = true;
      await new Promise((resolve) => setTimeout(resolve, 100));
      await settle();
      expect(history.problem()).toBeUndefined();
      expect(starts).toEqual([0n, 4n]);
      const after = await history.read(before.lastBlock);
      expect(after.events.map((event) => event.block)).toEqual([4, 5, 6]);
    } finally {
      history.close();
    }
  });
});
