import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { generateKeyShare } from '../../crypto/ckks/collective-keys.ts';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { polynomialToBytes } from '../../crypto/ckks/key-ceremony.ts';
import { floodingSigmaFor, SUM_8192 } from '../../crypto/ckks/parameters.ts';
import { addPoly } from '../../crypto/ckks/rns.ts';
import { systemRandom } from '../../crypto/random.ts';
import type { CeremonyJoin } from '../../proto/gen/veilsum/v1/ckks.ts';
import { KeyholderClient } from '../../services/keyholder/keyholder-client.ts';
import { CeremonyColluder, CeremonyRelay } from '../support/ceremony-colluder.ts';
import { refusalOf } from '../support/refusal.ts';

/**
 * ATTACK (issue 18, item 1): a keyholder that runs any code, with the administrator who relays
 * the ceremony on its side, against two honest keyholder processes over gRPC (2 of 3). Before the
 * defence nothing bound a public share p_i to anything: the relay showed the colluder the honest
 * dealings first, it published p_m = (−a·s* + e*) − p_1 − p_2, every keyholder finished and
 * attested the key (−a·s* + e*, a), and the colluder alone decrypted every upload. Defences:
 * a signed commitment to p_i in every join (no dealing before all n), a proof of knowledge of
 * short (s_i, e_i) bound to the ceremony and keyholder, and test decryptions under each p_i with
 * the shares its dealer dealt, before anything is sealed or attested.
 */
let relay: CeremonyRelay;
let engine: CkksEngine;
let colluder: CeremonyColluder;
let clients: KeyholderClient[];

function subtract(x: BigUint64Array, y: BigUint64Array): BigUint64Array {
  const { degree, moduli } = engine.keyRns;
  const negated = y.map((value, c) => {
    const q = moduli[Math.floor(c / degree)]!;
    return value === 0n ? 0n : q - value;
  });
  return addPoly(x, negated, moduli, degree);
}

beforeAll(async () => {
  relay = await CeremonyRelay.start();
  ({ engine, colluder, clients } = relay);
}, 120_000);

afterAll(async () => {
  await relay?.stop();
});

describe('a keyholder and the relay cannot steer the collective key', () => {
  it('a dealer that picks its public share after seeing the others is refused and nobody attests', async () => {
    const plan = relay.newPlan('rogue-last');
    const a = relay.reference(plan);
    // The colluder must join (commit) before any honest keyholder deals: it commits to a share
    // it made honestly, since it knows no honest p_i yet.
    const committed = relay.honestColluderShare(plan);
    const joins: CeremonyJoin[] = [
      ...(await Promise.all(clients.map((client) => client.join(plan)))),
      colluder.join(plan, polynomialToBytes(committed.share.publicShare)),
    ];
    // The relay shows the colluder both honest dealings first.
    const honest = await Promise.all(clients.map((client) => client.deal(plan, joins)));
    const rogue = generateKeyShare(a, engine.keyRns, systemRandom); // (s*, e*): it alone decrypts
    const target = rogue.publicShare;
    const pm = subtract(
      subtract(target, relay.publicShareOf(honest[0]!)),
      relay.publicShareOf(honest[1]!),
    );
    const dealing = colluder.deal(
      plan,
      joins,
      polynomialToBytes(pm),
      committed.proof,
      relay.dealShares(rogue),
    );
    const dealings = [...honest, dealing];
    // Were the key made, it would be (−a·s* + e*, a): the colluder's key alone.
    for (const client of clients) {
      const error = await refusalOf(client.check(plan, joins, dealings));
      expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(error.message).toMatch(
        /keyholder keyholder-3 \(index 3\) revealed a public key share that is not the one it committed to/,
      );
      expect(error.message).toMatch(/Nothing was sealed or attested/);
    }
    // The ceremony is abandoned: finishing it is refused too.
    for (const client of clients) {
      const error = await refusalOf(client.finish(plan, []));
      expect(error.message).toMatch(
        /has not joined ceremony rogue-last \(or restarted or abandoned/,
      );
    }
    await relay.nobodyAttested([target], plan);
  }, 180_000);

  it('a dealer that re-commits after seeing the others (a second signed join) is refused', async () => {
    const plan = relay.newPlan('rogue-recommit');
    const a = relay.reference(plan);
    const committed = relay.honestColluderShare(plan);
    const honestJoins = await Promise.all(clients.map((client) => client.join(plan)));
    const joins = [
      ...honestJoins,
      colluder.join(plan, polynomialToBytes(committed.share.publicShare)),
    ];
    const honest = await Promise.all(clients.map((client) => client.deal(plan, joins)));
    const rogue = generateKeyShare(a, engine.keyRns, systemRandom);
    const pm = subtract(
      subtract(rogue.publicShare, relay.publicShareOf(honest[0]!)),
      relay.publicShareOf(honest[1]!),
    );
    // A fresh join committing to p_m, and the relay passes that join set on instead.
    const recommitted = [...honestJoins, colluder.join(plan, polynomialToBytes(pm))];
    const dealing = colluder.deal(
      plan,
      recommitted,
      polynomialToBytes(pm),
      committed.proof,
      relay.dealShares(rogue),
    );
    for (const client of clients) {
      const error = await refusalOf(client.check(plan, recommitted, [...honest, dealing]));
      expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(error.message).toMatch(/the joins of ceremony rogue-recommit changed since keyholder/);
      // Dealing again for the new joins is refused as well: p_1 and p_2 stay bound to the old.
      const again = await refusalOf(client.deal(plan, recommitted));
      expect(again.message).toMatch(/already dealt in ceremony rogue-recommit for other joins/);
    }
    await relay.nobodyAttested([rogue.publicShare], plan);
  }, 180_000);

  it('a dealer whose shares disagree with its public share is named at the ceremony', async () => {
    const plan = relay.newPlan('bad-shares');
    const { share, proof } = relay.honestColluderShare(plan);
    const publicShare = share.publicShare;
    const joins = [
      ...(await Promise.all(clients.map((client) => client.join(plan)))),
      colluder.join(plan, polynomialToBytes(publicShare)),
    ];
    const honest = await Promise.all(clients.map((client) => client.deal(plan, joins)));
    // Its public share and proof are right; the share it deals keyholder-2 is of another secret.
    const dealt = relay.dealShares(share);
    dealt[1] = relay.dealShares(
      generateKeyShare(relay.reference(plan), engine.keyRns, systemRandom),
    )[1]!;
    const dealings = [
      ...honest,
      colluder.deal(plan, joins, polynomialToBytes(publicShare), proof, dealt),
    ];
    const checks = [
      ...(await Promise.all(clients.map((client) => client.check(plan, joins, dealings)))),
      colluder.check(engine, plan, joins, dealings, floodingSigmaFor(SUM_8192, 2, 5e-5)),
    ];
    // Its tests fail: before anyone is named, the dealer must answer the complaint.
    for (const client of clients) {
      const error = await refusalOf(client.finish(plan, checks));
      expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(error.message).toMatch(
        /the test decryptions of keyholder keyholder-3 \(index 3\) failed; before anyone is named its answer to the complaint is needed/,
      );
    }
    const answers = await Promise.all(clients.map((client) => client.answer(plan, checks)));
    expect(answers.map((a) => a.revealed.length)).toEqual([0, 0]);
    // It answers, revealing the keys of the shares it dealt to the failing windows (1,2 and 2,3):
    // its revealed shares do not decrypt its tests, so it is named.
    answers.push(colluder.answer(plan, joins, dealings, checks, [1, 2, 3]));
    for (const client of clients) {
      const error = await refusalOf(client.finish(plan, checks, answers));
      expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(error.message).toMatch(
        /the Shamir shares dealt by keyholder keyholder-3 \(index 3\) \(its shares held by keyholders 1,2 and by 2,3 do not decrypt\) do not match its public key share/,
      );
      // The honest dealers' shares decrypted: only the colluder is named.
      expect(error.message).not.toMatch(/keyholder-1 \(index 1\)|keyholder-2 \(index 2\)/);
    }
    await relay.nobodyAttested(
      [...honest.map((dealing) => relay.publicShareOf(dealing)), publicShare],
      plan,
    );
  }, 180_000);

  it("a proof replayed from another ceremony, or borrowed from another keyholder's dealing, is refused", async () => {
    // Ceremony A (the relay reuses its seed below, so a is the same): keyholder-1's dealing.
    const seed = randomBytes(32);
    const first = relay.newPlan('proof-source', seed);
    const own = relay.honestColluderShare(first);
    const firstJoins = [
      ...(await Promise.all(clients.map((client) => client.join(first)))),
      colluder.join(first, polynomialToBytes(own.share.publicShare)),
    ];
    const [donor] = await Promise.all(clients.map((client) => client.deal(first, firstJoins)));
    const attempts = [
      // its own share and proof from ceremony A, replayed
      { id: 'proof-replayed', share: own.share.publicShare, proof: own.proof },
      // keyholder-1's share and proof from ceremony A, presented as its own
      { id: 'proof-borrowed', share: relay.publicShareOf(donor!), proof: donor!.publicShareProof },
    ];
    for (const attempt of attempts) {
      const plan = relay.newPlan(attempt.id, seed);
      const joins = [
        ...(await Promise.all(clients.map((client) => client.join(plan)))),
        colluder.join(plan, polynomialToBytes(attempt.share)),
      ];
      const honest = await Promise.all(clients.map((client) => client.deal(plan, joins)));
      const dealing = colluder.deal(
        plan,
        joins,
        polynomialToBytes(attempt.share),
        attempt.proof,
        relay.dealShares(generateKeyShare(relay.reference(plan), engine.keyRns, systemRandom)),
      );
      for (const client of clients) {
        const error = await refusalOf(client.check(plan, joins, [...honest, dealing]));
        expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
        expect(error.message).toMatch(
          /keyholder keyholder-3 \(index 3\) did not prove that it knows a short secret and error behind its public key share/,
        );
      }
      await relay.nobodyAttested(
        [...honest.map((dealing) => relay.publicShareOf(dealing)), attempt.share],
        plan,
      );
    }
  }, 300_000);
});
