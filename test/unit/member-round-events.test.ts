import { afterEach, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import type { OpenLedger } from '../../ledger/ledger-factory.ts';
import type { LedgerEvent } from '../../ledger/records.ts';
import { RoundEvents } from '../../services/member/round-events.ts';
import { followerOf, queuedUpdate, removeFollowerFolders } from '../support/member-follower.ts';

afterEach(removeFollowerFolders);

const settle = () => new Promise((resolve) => setImmediate(resolve));

/** A follower with one queued update and a coordinator that counts its ListRounds calls. */
function follower(eventsLive: boolean) {
  let listed = 0;
  const roundFollower = followerOf(
    queuedUpdate(new Float32Array(2), '00'.repeat(32)),
    {
      listRounds: () => {
        listed++;
        return Promise.resolve([]);
      },
    },
    { fallbackPollMs: 600_000, eventsLive: () => eventsLive },
  );
  return { roundFollower, listed: () => listed };
}

describe("the member peer follows its ledger's round events, polling as a bounded fallback", () => {
  it('with events arriving, the timer does not list rounds before the fallback interval; an event does at once', async () => {
    const { roundFollower, listed } = follower(true);
    roundFollower.start(); // lists once at start
    await settle();
    roundFollower.kick(false); // the timer
    await settle();
    expect(listed()).toBe(1);
    roundFollower.kick(); // a round event (or a new update)
    await settle();
    expect(listed()).toBe(2);
    roundFollower.stop();
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
