import { expect } from '@jest/globals';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { killKeyholder, type RunningKeyholder } from '../../cli/demo/ckks-services.ts';
import { startKeyholderProcess } from '../../cli/demo/processes.ts';
import { generateKeyShare, type KeyShare } from '../../crypto/ckks/collective-keys.ts';
import { dealerTestPartial, dealerTests } from '../../crypto/ckks/dealer-check.ts';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import {
  ceremonyReferencePolynomial,
  keySha256,
  polynomialFromBytes,
  polynomialToBytes,
  publicShareCommitment,
  shareKeySecret,
} from '../../crypto/ckks/key-ceremony.ts';
import { proveKeyShare } from '../../crypto/ckks/key-share-proof.ts';
import { SUM_8192 } from '../../crypto/ckks/parameters.ts';
import { addPoly } from '../../crypto/ckks/rns.ts';
import { nativeCurve25519 as curve } from '../../crypto/curve25519-native.ts';
import { systemRandom } from '../../crypto/random.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import type {
  CeremonyAnswer,
  CeremonyCheck,
  CeremonyDealing,
  CeremonyJoin,
  CeremonyPlan,
} from '../../proto/gen/veilsum/v1/ckks.ts';
import {
  answerStatement,
  ceremonyShareKey,
  checksDigest,
  ceremonyTranscript,
  checkStatement,
  dealingStatement,
  joinsDigest,
  joinStatement,
  openShare,
  planHash,
  sealShare,
  shareAssociatedData,
} from '../../services/keyholder/ceremony-messages.ts';
import { KeyholderClient } from '../../services/keyholder/keyholder-client.ts';
import type { IssuedIdentity } from '../../services/pki/dev-ca.ts';
import { ADMIN, type Consortium, createConsortium } from './consortium.ts';
import { refusalOf } from './refusal.ts';

/**
 * A keyholder that runs any code: it speaks the ceremony's wire format with its own certificate
 * key, but chooses every value itself (what it commits to, reveals, proves and deals).
 */
export class CeremonyColluder {
  readonly keyholderId: string;
  readonly index: number;
  private readonly signingKey: Uint8Array;
  private readonly certificatePem: string;
  private readonly exchangeSecret = systemRandom(32);

  constructor(identity: IssuedIdentity, keyholderId: string, index: number) {
    this.keyholderId = keyholderId;
    this.index = index;
    this.certificatePem = readFileSync(identity.certificatePath, 'utf8');
    const jwk = createPrivateKey(readFileSync(identity.privateKeyPath)).export({ format: 'jwk' });
    this.signingKey = new Uint8Array(Buffer.from(jwk.d!, 'base64url'));
  }

  /** A signed join committing to `publicShare` (whatever it is). */
  join(plan: CeremonyPlan, publicShare: Uint8Array): CeremonyJoin {
    const commitment = publicShareCommitment(
      plan.ceremonyId,
      planHash(plan),
      this.keyholderId,
      publicShare,
    );
    const exchangeKey = curve.x25519PublicKey(this.exchangeSecret);
    return {
      keyholderId: this.keyholderId,
      exchangeKey: Buffer.from(exchangeKey),
      publicShareCommitment: Buffer.from(commitment),
      signature: Buffer.from(
        curve.sign(
          this.signingKey,
          joinStatement(plan, planHash(plan), this.keyholderId, exchangeKey, commitment),
        ),
      ),
      certificate: Buffer.from(this.certificatePem),
    };
  }

  /** A signed dealing: `dealt[k]` is sealed to keyholder index k + 1. */
  deal(
    plan: CeremonyPlan,
    joins: readonly CeremonyJoin[],
    publicShare: Uint8Array,
    proof: Uint8Array,
    dealt: readonly BigUint64Array[],
  ): CeremonyDealing {
    const unsigned: CeremonyDealing = {
      index: this.index,
      publicShare: Buffer.from(publicShare),
      publicShareProof: Buffer.from(proof),
      signature: Buffer.alloc(0),
      shares: plan.keyholders.map(({ index: to }) => ({
        toIndex: to,
        sealed: Buffer.from(
          sealShare(
            this.shareKey(plan, joins, this.index, to),
            polynomialToBytes(dealt[to - 1]!),
            shareAssociatedData(plan, planHash(plan), this.index, to),
            systemRandom,
          ),
        ),
      })),
    };
    const statement = dealingStatement(plan, planHash(plan), joinsDigest(plan, joins), unsigned);
    return { ...unsigned, signature: this.sign(statement) };
  }

  /** Its part of every dealer's test decryption, made honestly with the shares it was dealt. */
  check(
    engine: CkksEngine,
    plan: CeremonyPlan,
    joins: readonly CeremonyJoin[],
    dealings: readonly CeremonyDealing[],
    floodSigma: number,
  ): CeremonyCheck {
    const transcript = ceremonyTranscript(plan, joins, dealings);
    const a = ceremonyReferencePolynomial(engine.keyRns, plan.seed);
    const publicShares = new Map(
      dealings.map((d) => [d.index, polynomialFromBytes(d.publicShare, engine.keyRns, 'share')]),
    );
    const mine = new Map(
      dealings.map((d) => {
        const sealed = d.shares.find((share) => share.toIndex === this.index)!.sealed;
        const plain = openShare(
          this.shareKey(plan, joins, d.index, this.index),
          sealed,
          shareAssociatedData(plan, planHash(plan), d.index, this.index),
        );
        return [d.index, polynomialFromBytes(plain, engine.dataRns, 'dealt share')];
      }),
    );
    const unsigned: CeremonyCheck = {
      index: this.index,
      transcriptSha256: Buffer.from(transcript),
      signature: Buffer.alloc(0),
      partials: dealerTests(engine, a, publicShares, transcript, plan.threshold)
        .filter((test) => test.window.includes(this.index))
        .map((test) => ({
          dealer: test.dealer,
          windowStart: test.window[0]!,
          partial: Buffer.from(
            dealerTestPartial(
              engine,
              test,
              mine.get(test.dealer)!,
              this.index,
              floodSigma,
              systemRandom,
            ),
          ),
        })),
    };
    return { ...unsigned, signature: this.sign(checkStatement(plan, planHash(plan), unsigned)) };
  }

  /** A signed answer to a complaint revealing the keys of its shares to `revealTo`. */
  answer(
    plan: CeremonyPlan,
    joins: readonly CeremonyJoin[],
    dealings: readonly CeremonyDealing[],
    checks: readonly CeremonyCheck[],
    revealTo: readonly number[],
  ): CeremonyAnswer {
    const unsigned: CeremonyAnswer = {
      index: this.index,
      transcriptSha256: Buffer.from(ceremonyTranscript(plan, joins, dealings)),
      checksSha256: Buffer.from(checksDigest(plan, planHash(plan), checks)),
      revealed: revealTo.map((to) => ({
        toIndex: to,
        shareKey: Buffer.from(this.shareKey(plan, joins, this.index, to)),
      })),
      signature: Buffer.alloc(0),
    };
    return { ...unsigned, signature: this.sign(answerStatement(plan, planHash(plan), unsigned)) };
  }

  private sign(statement: Uint8Array): Buffer {
    return Buffer.from(curve.sign(this.signingKey, statement));
  }

  /** Both directions use the same X25519 secret: from the peer's join, whichever way. */
  private shareKey(plan: CeremonyPlan, joins: readonly CeremonyJoin[], from: number, to: number) {
    const peer = from === this.index ? to : from;
    const peerId = plan.keyholders.find((k) => k.index === peer)!.keyholderId;
    const peerJoin = joins.find((j) => j.keyholderId === peerId)!;
    return ceremonyShareKey(plan, this.exchangeSecret, peerJoin.exchangeKey, from, to);
  }
}

/**
 * The ceremony attacks' stage (test/adversarial/ckks-ceremony-dealers.test.ts,
 * review-ckks-framed-dealer.test.ts): two honest keyholder processes over gRPC and a colluding
 * third (2 of 3), the administrator's relay played by the test, and a ledger to check that
 * nobody attested.
 */
export class CeremonyRelay {
  static readonly honest = ['keyholder-1', 'keyholder-2'] as const;
  static readonly colluderId = 'keyholder-3';
  readonly consortium: Consortium;
  readonly engine: CkksEngine;
  readonly colluder: CeremonyColluder;
  readonly clients: KeyholderClient[] = [];
  private readonly running: RunningKeyholder[] = [];
  private readonly ledgerDb: EmbeddedLedgerDatabase;

  private constructor(consortium: Consortium, engine: CkksEngine) {
    this.consortium = consortium;
    this.engine = engine;
    const id = CeremonyRelay.colluderId;
    this.colluder = new CeremonyColluder(consortium.pki.keyholders[id]!, id, 3);
    this.ledgerDb = new EmbeddedLedgerDatabase(
      join(consortium.directory, 'ledger.db'),
      readFileSync(consortium.pki.caCertificatePath),
    );
  }

  static async start(): Promise<CeremonyRelay> {
    const consortium = await createConsortium(1, 'cer', { keyholders: 3, ledger: true });
    await consortium.local.registerKeyholders();
    const relay = new CeremonyRelay(consortium, await CkksEngine.create(SUM_8192));
    for (const id of CeremonyRelay.honest) {
      const logs: string[] = [];
      const { child, port } = await startKeyholderProcess(
        consortium.local.keyholderConfig(id),
        join(consortium.directory, `${id}.json`),
        (line) => logs.push(line),
      );
      relay.running.push({ id, child, port, logs });
      relay.clients.push(
        KeyholderClient.connect({
          ...consortium.local.profile(ADMIN, port),
          address: `127.0.0.1:${port}`,
        }),
      );
    }
    return relay;
  }

  async stop(): Promise<void> {
    for (const client of this.clients) client.close();
    for (const keyholder of this.running) await killKeyholder(keyholder);
    this.ledgerDb.close();
    rmSync(this.consortium.directory, { recursive: true, force: true });
  }

  newPlan(ceremonyId: string, seed: Uint8Array = randomBytes(32)): CeremonyPlan {
    return {
      ceremonyId,
      parameterSet: SUM_8192.name,
      seed: Buffer.from(seed),
      threshold: 2,
      keyholders: [...CeremonyRelay.honest, CeremonyRelay.colluderId].map((keyholderId, i) => ({
        keyholderId,
        index: i + 1,
      })),
    };
  }

  reference(plan: CeremonyPlan): BigUint64Array {
    return ceremonyReferencePolynomial(this.engine.keyRns, plan.seed);
  }

  publicShareOf(dealing: CeremonyDealing): BigUint64Array {
    return polynomialFromBytes(dealing.publicShare, this.engine.keyRns, 'public share');
  }

  /** A share the colluder made honestly, with its proof for this ceremony. */
  honestColluderShare(plan: CeremonyPlan): { share: KeyShare; proof: Uint8Array } {
    const share = generateKeyShare(this.reference(plan), this.engine.keyRns, systemRandom);
    const proof = proveKeyShare(
      this.engine,
      this.reference(plan),
      share,
      {
        ceremonyId: plan.ceremonyId,
        transcript: planHash(plan),
        keyholderId: CeremonyRelay.colluderId,
      },
      systemRandom,
    );
    return { share, proof };
  }

  dealShares(share: KeyShare) {
    return shareKeySecret(share, this.engine.dataRns, 2, [1, 2, 3], systemRandom);
  }

  /** What must hold after a refused ceremony: no honest keyholder holds or attested any key. */
  async nobodyAttested(keys: readonly BigUint64Array[], plan: CeremonyPlan): Promise<void> {
    const { degree, moduli } = this.engine.keyRns;
    const sum = keys.slice(1).reduce((total, p) => addPoly(total, p, moduli, degree), keys[0]!);
    const hash = Buffer.from(
      keySha256(this.engine.publicKeyBytes(sum, this.reference(plan))),
    ).toString('hex');
    const writer = this.consortium.local.ledgerWriter(CeremonyRelay.honest[0]);
    const ledger = new Ledger(this.ledgerDb.as(writer));
    await expect(ledger.getCollectiveKey(hash)).rejects.toThrow(/no collective key/);
    for (const client of this.clients) {
      const error = await refusalOf(client.getKey());
      expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(error.message).toMatch(/holds no key yet/);
    }
    for (const id of CeremonyRelay.honest)
      expect(readdirSync(join(this.consortium.directory, `keyholder-${id}`, 'keys'))).toEqual([]);
  }
}
