import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dealerTestPartial, dealerTests } from '../../crypto/ckks/dealer-check.ts';
import type { CkksEngine } from '../../crypto/ckks/engine.ts';
import {
  ceremonyReferencePolynomial,
  polynomialFromBytes,
  polynomialToBytes,
  publicShareCommitment,
} from '../../crypto/ckks/key-ceremony.ts';
import { nativeCurve25519 as curve } from '../../crypto/curve25519-native.ts';
import { systemRandom } from '../../crypto/random.ts';
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
import type { IssuedIdentity } from '../../services/pki/dev-ca.ts';

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
