import { afterEach, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import type { OpenLedger } from '../../ledger/ledger-factory.ts';
import type { LedgerEvent } from '../../ledger/records.ts';
import { RoundEvents } from '../../services/member/round-events.ts';
import { followerOf, queuedUpdate, removeFollowerFolders } from '../support/member-follower.ts';

afterEach(removeFollowerFolders);

const settle = () => new Promise((resolve) => setImmediate(resolve));

/**
 * A follower with one queued update and a coordinator that counts its ListRounds calls; each
 * call answers when `answer` is called if `held`, at once otherwise.
 */
function follower(eventsLive: boolean, held = false) {
  let listed = 0;
  const pending: (() => void)[] = [];
  const roundFollower = followerOf(
    queuedUpdate(new Float32Array(2), '00'.repeat(32)),
    {
      listRounds: () => {
        listed++;
        return held
          ? new Promise<[]>((resolve) => pending.push(() => resolve([])))
          : Promise.resolve([]);
      },
    },
    { fallbackPollMs: 600_000, eventsLive: () => eventsLive },
  );
  return { roundFollower, listed: () => listed, answer: () => pending.shift()?.() };
}

describe("the member peer follows its ledger's round events, polling as a bounded fallback", () => {
  it('with events arriving, the timer does not list rounds before the fallback interval; an event does at the next tick', async () => {
    const { roundFollower, listed } = follower(true);
    roundFollower.start(); // lists once at start
    await settle();
    roundFollower.kick(false); // the timer
    await settle();
    expect(listed()).toBe(1);
    roundFollower.kick(); // a round event (or a new update), within an interval of the listing
    await settle();
    expect(listed()).toBe(1); // coalesced: at most one listing per pollIntervalMs
    roundFollower.kick(false); // the next tick lists for it, fallback or not
    await settle();
    expect(listed()).toBe(2);
    roundFollower.stop();
  });

  it('after an event, the next few timer ticks list rounds (the coordinator may list the round a moment after the ledger shows it), then polling slows again', async () => {
    const { roundFollower, listed } = follower(true);
    roundFollower.start();
    try {
      await settle();
      roundFollower.kick(); // the event: the coordinator's listing does not show the round yet
      roundFollower.kick(false); // the tick that lists for it
      await settle();
      expect(listed()).toBe(2);
      // Before: the update waited for the fallback poll (10 intervals, up to 60 s).
      for (let tick = 0; tick < 8; tick++) {
        roundFollower.kick(false);
        await settle();
      }
      expect(listed()).toBe(2 + 5); // FAST_POLLS_AFTER_KICK, then the fallback again
    } finally {
      roundFollower.stop();
    }
  });

  it('an event during a listing lists again once that listing ends', async () => {
    const { roundFollower, listed, answer } = follower(true, true);
    roundFollower.start(); // a listing under way, answered before the round was opened
    try {
      await settle();
      roundFollower.kick(); // the round's event arrives meanwhile
      await settle();
      expect(listed()).toBe(1);
      answer();
      await settle();
      roundFollower.kick(false); // the next tick (listing again at once is the coalescing's job)
      await settle();
      // Before: that event was dropped, and the round waited for the fallback poll.
      expect(listed()).toBe(2);
    } finally {
      answer();
      roundFollower.stop();
    }
  });

  it('without events, every timer tick lists rounds', async () => {
    const { roundFollower, listed } = follower(false);
    roundFollower.start();
    await settle();
    roundFollower.kick(false);
    await settle();
    expect(listed()).toBe(2);
    roundFollower.stop();
  });

  it("an embedded ledger view's round events wake the follower; other events do not", () => {
    let listener: ((event: LedgerEvent, block: number) => void) | undefined;
    const opened = {
      embedded: {
        onEvent: (l: (event: LedgerEvent, block: number) => void) => {
          listener = l;
          return () => (listener = undefined);
        },
      },
    } as unknown as OpenLedger;
    let woken = 0;
    const events = new RoundEvents(
      opened,
      '/nonexistent',
      () => woken++,
      pino({ level: 'silent' }),
    );
    events.start();
    listener!({ name: 'ConsentGranted', payload: {} }, 1);
    listener!({ name: 'RoundOpened', payload: {} }, 2);
    listener!({ name: 'RoundClosed', payload: {} }, 3);
    expect(woken).toBe(2);
    events.stop();
    expect(listener).toBeUndefined();
  });
});
