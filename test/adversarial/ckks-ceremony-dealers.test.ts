import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { RunningKeyholder } from '../../cli/demo/ckks-services.ts';
import { killKeyholder } from '../../cli/demo/ckks-services.ts';
import { startKeyholderProcess } from '../../cli/demo/processes.ts';
import { generateKeyShare, type KeyShare } from '../../crypto/ckks/collective-keys.ts';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import {
  ceremonyReferencePolynomial,
  keySha256,
  polynomialFromBytes,
  polynomialToBytes,
  shareKeySecret,
} from '../../crypto/ckks/key-ceremony.ts';
import { proveKeyShare } from '../../crypto/ckks/key-share-proof.ts';
import { floodingSigmaFor, SUM_8192 } from '../../crypto/ckks/parameters.ts';
import { addPoly } from '../../crypto/ckks/rns.ts';
import { systemRandom } from '../../crypto/random.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import type {
  CeremonyDealing,
  CeremonyJoin,
  CeremonyPlan,
} from '../../proto/gen/veilsum/v1/ckks.ts';
import { VeilsumError } from '../../sdk/errors.ts';
import { planHash } from '../../services/keyholder/ceremony-messages.ts';
import { KeyholderClient } from '../../services/keyholder/keyholder-client.ts';
import { CeremonyColluder } from '../support/ceremony-colluder.ts';
import { ADMIN, type Consortium, createConsortium } from '../support/consortium.ts';

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
const HONEST = ['keyholder-1', 'keyholder-2'];
const COLLUDER = 'keyholder-3';
let consortium: Consortium;
let engine: CkksEngine;
let colluder: CeremonyColluder;
let ledgerDb: EmbeddedLedgerDatabase;
const running: RunningKeyholder[] = [];
const clients: KeyholderClient[] = [];

async function refused(attempt: Promise<unknown>): Promise<VeilsumError> {
  const outcome = await attempt.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(VeilsumError);
  return outcome as VeilsumError;
}

function newPlan(ceremonyId: string, seed: Uint8Array = randomBytes(32)): CeremonyPlan {
  return {
    ceremonyId,
    parameterSet: SUM_8192.name,
    seed: Buffer.from(seed),
    threshold: 2,
    keyholders: [...HONEST, COLLUDER].map((keyholderId, i) => ({ keyholderId, index: i + 1 })),
  };
}

const reference = (plan: CeremonyPlan) => ceremonyReferencePolynomial(engine.keyRns, plan.seed);
const publicShareOf = (dealing: CeremonyDealing) =>
  polynomialFromBytes(dealing.publicShare, engine.keyRns, 'public share');

function subtract(x: BigUint64Array, y: BigUint64Array): BigUint64Array {
  const { degree, moduli } = engine.keyRns;
  const negated = y.map((value, c) => {
    const q = moduli[Math.floor(c / degree)]!;
    return value === 0n ? 0n : q - value;
  });
  return addPoly(x, negated, moduli, degree);
}

/** A share the colluder made honestly, with its proof for this ceremony. */
function honestColluderShare(plan: CeremonyPlan): { share: KeyShare; proof: Uint8Array } {
  const share = generateKeyShare(reference(plan), engine.keyRns, systemRandom);
  const proof = proveKeyShare(
    engine,
    reference(plan),
    share,
    { ceremonyId: plan.ceremonyId, transcript: planHash(plan), keyholderId: COLLUDER },
    systemRandom,
  );
  return { share, proof };
}

const dealShares = (share: KeyShare) =>
  shareKeySecret(share, engine.dataRns, 2, [1, 2, 3], systemRandom);

/** What must hold after a refused ceremony: no honest keyholder holds or attested any key. */
async function nobodyAttested(keys: readonly BigUint64Array[], plan: CeremonyPlan) {
  const hash = Buffer.from(
    keySha256(
      engine.publicKeyBytes(
        keys
          .slice(1)
          .reduce(
            (sum, p) => addPoly(sum, p, engine.keyRns.moduli, engine.keyRns.degree),
            keys[0]!,
          ),
        reference(plan),
      ),
    ),
  ).toString('hex');
  const ledger = new Ledger(ledgerDb.as(consortium.local.ledgerWriter(HONEST[0]!)));
  await expect(ledger.getCollectiveKey(hash)).rejects.toThrow(/no collective key/);
  for (const client of clients) {
    const error = await refused(client.getKey());
    expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(error.message).toMatch(/holds no key yet/);
  }
  for (const id of HONEST)
    expect(readdirSync(join(consortium.directory, `keyholder-${id}`, 'keys'))).toEqual([]);
}

beforeAll(async () => {
  consortium = await createConsortium(1, 'cer', { keyholders: 3, ledger: true });
  await consortium.local.registerKeyholders();
  engine = await CkksEngine.create(SUM_8192);
  colluder = new CeremonyColluder(consortium.pki.keyholders[COLLUDER]!, COLLUDER, 3);
  for (const id of HONEST) {
    const logs: string[] = [];
    const { child, port } = await startKeyholderProcess(
      consortium.local.keyholderConfig(id),
      join(consortium.directory, `${id}.json`),
      (line) => logs.push(line),
    );
    running.push({ id, child, port, logs });
    clients.push(
      KeyholderClient.connect({
        ...consortium.local.profile(ADMIN, port),
        address: `127.0.0.1:${port}`,
      }),
    );
  }
  ledgerDb = new EmbeddedLedgerDatabase(
    join(consortium.directory, 'ledger.db'),
    readFileSync(consortium.pki.caCertificatePath),
  );
}, 120_000);

afterAll(async () => {
  for (const client of clients) client.close();
  for (const keyholder of running) await killKeyholder(keyholder);
  ledgerDb?.close();
  if (consortium) rmSync(consortium.directory, { recursive: true, force: true });
});

describe('a keyholder and the relay cannot steer the collective key', () => {
  it('a dealer that picks its public share after seeing the others is refused and nobody attests', async () => {
    const plan = newPlan('rogue-last');
    const a = reference(plan);
    // The colluder must join (commit) before any honest keyholder deals: it commits to a share
    // it made honestly, since it knows no honest p_i yet.
    const committed = honestColluderShare(plan);
    const joins: CeremonyJoin[] = [
      ...(await Promise.all(clients.map((client) => client.join(plan)))),
      colluder.join(plan, polynomialToBytes(committed.share.publicShare)),
    ];
    // The relay shows the colluder both honest dealings first.
    const honest = await Promise.all(clients.map((client) => client.deal(plan, joins)));
    const rogue = generateKeyShare(a, engine.keyRns, systemRandom); // (s*, e*): it alone decrypts
    const target = rogue.publicShare;
    const pm = subtract(subtract(target, publicShareOf(honest[0]!)), publicShareOf(honest[1]!));
    const dealing = colluder.deal(
      plan,
      joins,
      polynomialToBytes(pm),
      committed.proof,
      dealShares(rogue),
    );
    const dealings = [...honest, dealing];
    // Were the key made, it would be (−a·s* + e*, a): the colluder's key alone.
    for (const client of clients) {
      const error = await refused(client.check(plan, joins, dealings));
      expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(error.message).toMatch(
        /keyholder keyholder-3 \(index 3\) revealed a public key share that is not the one it committed to/,
      );
      expect(error.message).toMatch(/Nothing was sealed or attested/);
    }
    // The ceremony is abandoned: finishing it is refused too.
    for (const client of clients) {
      const error = await refused(client.finish(plan, []));
      expect(error.message).toMatch(
        /has not joined ceremony rogue-last \(or restarted or abandoned/,
      );
    }
    await nobodyAttested([target], plan);
  }, 180_000);

  it('a dealer that re-commits after seeing the others (a second signed join) is refused', async () => {
    const plan = newPlan('rogue-recommit');
    const a = reference(plan);
    const committed = honestColluderShare(plan);
    const honestJoins = await Promise.all(clients.map((client) => client.join(plan)));
    const joins = [
      ...honestJoins,
      colluder.join(plan, polynomialToBytes(committed.share.publicShare)),
    ];
    const honest = await Promise.all(clients.map((client) => client.deal(plan, joins)));
    const rogue = generateKeyShare(a, engine.keyRns, systemRandom);
    const pm = subtract(
      subtract(rogue.publicShare, publicShareOf(honest[0]!)),
      publicShareOf(honest[1]!),
    );
    // A fresh join committing to p_m, and the relay passes that join set on instead.
    const recommitted = [...honestJoins, colluder.join(plan, polynomialToBytes(pm))];
    const dealing = colluder.deal(
      plan,
      recommitted,
      polynomialToBytes(pm),
      committed.proof,
      dealShares(rogue),
    );
    for (const client of clients) {
      const error = await refused(client.check(plan, recommitted, [...honest, dealing]));
      expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(error.message).toMatch(/the joins of ceremony rogue-recommit changed since keyholder/);
      // Dealing again for the new joins is refused as well: p_1 and p_2 stay bound to the old.
      const again = await refused(client.deal(plan, recommitted));
      expect(again.message).toMatch(/already dealt in ceremony rogue-recommit for other joins/);
    }
    await nobodyAttested([rogue.publicShare], plan);
  }, 180_000);

  it('a dealer whose shares disagree with its public share is named at the ceremony', async () => {
    const plan = newPlan('bad-shares');
    const { share, proof } = honestColluderShare(plan);
    const publicShare = share.publicShare;
    const joins = [
      ...(await Promise.all(clients.map((client) => client.join(plan)))),
      colluder.join(plan, polynomialToBytes(publicShare)),
    ];
    const honest = await Promise.all(clients.map((client) => client.deal(plan, joins)));
    // Its public share and proof are right; the share it deals keyholder-2 is of another secret.
    const dealt = dealShares(share);
    dealt[1] = dealShares(generateKeyShare(reference(plan), engine.keyRns, systemRandom))[1]!;
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
      const error = await refused(client.finish(plan, checks));
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
      const error = await refused(client.finish(plan, checks, answers));
      expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(error.message).toMatch(
        /the Shamir shares dealt by keyholder keyholder-3 \(index 3\) \(its shares held by keyholders 1,2 and by 2,3 do not decrypt\) do not match its public key share/,
      );
      // The honest dealers' shares decrypted: only the colluder is named.
      expect(error.message).not.toMatch(/keyholder-1 \(index 1\)|keyholder-2 \(index 2\)/);
    }
    await nobodyAttested([...honest.map(publicShareOf), publicShare], plan);
  }, 180_000);

  it("a proof replayed from another ceremony, or borrowed from another keyholder's dealing, is refused", async () => {
    // Ceremony A (the relay reuses its seed below, so a is the same): keyholder-1's dealing.
    const seed = randomBytes(32);
    const first = newPlan('proof-source', seed);
    const own = honestColluderShare(first);
    const firstJoins = [
      ...(await Promise.all(clients.map((client) => client.join(first)))),
      colluder.join(first, polynomialToBytes(own.share.publicShare)),
    ];
    const [donor] = await Promise.all(clients.map((client) => client.deal(first, firstJoins)));
    const attempts = [
      // its own share and proof from ceremony A, replayed
      { id: 'proof-replayed', share: own.share.publicShare, proof: own.proof },
      // keyholder-1's share and proof from ceremony A, presented as its own
      { id: 'proof-borrowed', share: publicShareOf(donor!), proof: donor!.publicShareProof },
    ];
    for (const attempt of attempts) {
      const plan = newPlan(attempt.id, seed);
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
        dealShares(generateKeyShare(reference(plan), engine.keyRns, systemRandom)),
      );
      for (const client of clients) {
        const error = await refused(client.check(plan, joins, [...honest, dealing]));
        expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
        expect(error.message).toMatch(
          /keyholder keyholder-3 \(index 3\) did not prove that it knows a short secret and error behind its public key share/,
        );
      }
      await nobodyAttested([...honest.map(publicShareOf), attempt.share], plan);
    }
  }, 300_000);
});
