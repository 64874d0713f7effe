import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { polynomialToBytes } from '../../crypto/ckks/key-ceremony.ts';
import { floodingSigmaFor, SUM_8192 } from '../../crypto/ckks/parameters.ts';
import {
  checkStatement,
  openShare,
  planHash,
  shareAssociatedData,
} from '../../services/keyholder/ceremony-messages.ts';
import { KeyholderClient } from '../../services/keyholder/keyholder-client.ts';
import { CeremonyColluder, CeremonyRelay } from '../support/ceremony-colluder.ts';
import { refusalOf } from '../support/refusal.ts';

/**
 * REVIEW: at the dealer check a colluding responder sent a wrong test partial for an honest
 * dealer's window and the honest dealer was named. Defence: the complaint round
 * (services/keyholder/ceremony.ts `answer`): the accused dealer reveals the keys of the shares it
 * dealt to the failing window (each sealed share commits to its key), leaves the ceremony, and
 * every keyholder names whoever is at fault from them (dealer-check.ts `dealerTestVerdict`).
 * The stage is ckks-ceremony-dealers.test.ts's (test/support/ceremony-colluder.ts `CeremonyRelay`):
 * two honest keyholder processes over gRPC, the colluder and the relay played by the test.
 */
let relay: CeremonyRelay;
let engine: CkksEngine;
let colluder: CeremonyColluder;
let clients: KeyholderClient[];

beforeAll(async () => {
  relay = await CeremonyRelay.start();
  ({ engine, colluder, clients } = relay);
}, 120_000);

afterAll(async () => {
  await relay?.stop();
});

describe('REVIEW: a colluding responder frames an honest dealer at the dealer check', () => {
  it('a wrong test partial from keyholder-3 for dealer 1 names keyholder-3, not the honest dealer keyholder-1', async () => {
    const plan = relay.newPlan('framed-dealer');
    const { share, proof } = relay.honestColluderShare(plan);
    const joins = [
      ...(await Promise.all(clients.map((client) => client.join(plan)))),
      colluder.join(plan, polynomialToBytes(share.publicShare)),
    ];
    const honest = await Promise.all(clients.map((client) => client.deal(plan, joins)));
    // Everything dealt honestly, the colluder included.
    const dealings = [
      ...honest,
      colluder.deal(
        plan,
        joins,
        polynomialToBytes(share.publicShare),
        proof,
        relay.dealShares(share),
      ),
    ];
    const honestChecks = await Promise.all(
      clients.map((client) => client.check(plan, joins, dealings)),
    );
    const own = colluder.check(engine, plan, joins, dealings, floodingSigmaFor(SUM_8192, 2, 5e-5));
    // The colluder answers dealer 1's test (window 2,3) with its partial of dealer 3's test: a
    // well-formed partial, signed by itself, computed with the wrong share.
    const substitute = own.partials.find((p) => p.dealer === 3 && p.windowStart === 2)!.partial;
    const unsigned = {
      ...own,
      signature: Buffer.alloc(0),
      partials: own.partials.map((p) =>
        p.dealer === 1 && p.windowStart === 2 ? { ...p, partial: substitute } : p,
      ),
    };
    const forged = {
      ...unsigned,
      signature: (colluder as unknown as { sign(s: Uint8Array): Buffer }).sign(
        checkStatement(plan, planHash(plan), unsigned),
      ),
    };
    const checks = [...honestChecks, forged];
    // The test of dealer 1 (window 2,3) fails; nobody is named before dealer 1 can answer.
    for (const client of clients) {
      const error = await refusalOf(client.finish(plan, checks));
      // Keyholder-1 dealt honestly: it must not be the one named.
      expect(error.message).not.toMatch(/dealt by keyholder keyholder-1 \(index 1\)/);
      expect(error.message).toMatch(
        /test decryptions of keyholder keyholder-1 \(index 1\) failed; before anyone is named its answer to the complaint is needed/,
      );
    }
    // The complaint round: keyholder-1 reveals the keys of the shares it dealt to window 2,3
    // (and leaves the ceremony); keyholder-2's tests all passed, it reveals nothing.
    const answers = await Promise.all(clients.map((client) => client.answer(plan, checks)));
    expect(answers[0]!.revealed.map((r) => r.toIndex)).toEqual([2, 3]);
    expect(answers[1]!.revealed).toEqual([]);
    answers.push(colluder.answer(plan, joins, dealings, checks, []));
    const error = await refusalOf(clients[1]!.finish(plan, checks, answers));
    expect(error.message).toMatch(
      /keyholder keyholder-3 \(index 3\) sent test partials that are not its dealt share's \(dealer 1, window 2,3\)/,
    );
    expect(error.message).not.toMatch(/dealt by keyholder keyholder-1 \(index 1\)/);
    // What the answer handed everyone (the relay and the colluder included): the keys open
    // exactly dealer 1's shares to 2 and 3 and no other sealed share of the ceremony...
    const opened: string[] = [];
    for (const dealing of dealings)
      for (const sealed of dealing.shares)
        for (const revealed of answers[0]!.revealed)
          try {
            openShare(
              revealed.shareKey,
              sealed.sealed,
              shareAssociatedData(plan, planHash(plan), dealing.index, sealed.toIndex),
            );
            opened.push(`${dealing.index}->${sealed.toIndex}`);
          } catch {
            // not this key's share
          }
    expect(opened.sort()).toEqual(['1->2', '1->3']);
    // ...which with t = 2 rebuild keyholder-1's s_1 of this ceremony: keyholder-1 left it when
    // it answered (it never attests a key whose shares it revealed), keyholder-2 abandoned it, and
    // no key with this s_1 is held or registered.
    const gone = await refusalOf(clients[0]!.finish(plan, checks, answers));
    expect(gone.message).toMatch(
      /has not joined ceremony framed-dealer \(or restarted or abandoned it since\)/,
    );
    await relay.nobodyAttested(
      [...honest.map((dealing) => relay.publicShareOf(dealing)), share.publicShare],
      plan,
    );
  }, 240_000);
});
