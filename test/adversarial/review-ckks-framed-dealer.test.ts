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
import type { CeremonyDealing, CeremonyPlan } from '../../proto/gen/veilsum/v1/ckks.ts';
import { VeilsumError } from '../../sdk/errors.ts';
import {
  checkStatement,
  openShare,
  planHash,
  shareAssociatedData,
} from '../../services/keyholder/ceremony-messages.ts';
import { KeyholderClient } from '../../services/keyholder/keyholder-client.ts';
import { CeremonyColluder } from '../support/ceremony-colluder.ts';
import { ADMIN, type Consortium, createConsortium } from '../support/consortium.ts';

/**
 * REVIEW: at the dealer check a colluding responder sent a wrong test partial for an honest
 * dealer's window and the honest dealer was named. Defence: the complaint round
 * (services/keyholder/ceremony.ts `answer`): the accused dealer reveals the keys of the shares it
 * dealt to the failing window (each sealed share commits to its key), leaves the ceremony, and
 * every keyholder names whoever is at fault from them (dealer-check.ts `dealerTestVerdict`).
 *
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

describe('REVIEW: a colluding responder frames an honest dealer at the dealer check', () => {
  it('a wrong test partial from keyholder-3 for dealer 1 names keyholder-3, not the honest dealer keyholder-1', async () => {
    const plan = newPlan('framed-dealer');
    const { share, proof } = honestColluderShare(plan);
    const joins = [
      ...(await Promise.all(clients.map((client) => client.join(plan)))),
      colluder.join(plan, polynomialToBytes(share.publicShare)),
    ];
    const honest = await Promise.all(clients.map((client) => client.deal(plan, joins)));
    // Everything dealt honestly, the colluder included.
    const dealings = [
      ...honest,
      colluder.deal(plan, joins, polynomialToBytes(share.publicShare), proof, dealShares(share)),
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
      const error = await refused(client.finish(plan, checks));
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
    const error = await refused(clients[1]!.finish(plan, checks, answers));
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
    const gone = await refused(clients[0]!.finish(plan, checks, answers));
    expect(gone.message).toMatch(
      /has not joined ceremony framed-dealer \(or restarted or abandoned it since\)/,
    );
    await nobodyAttested([...honest.map(publicShareOf), share.publicShare], plan);
  }, 240_000);
});
