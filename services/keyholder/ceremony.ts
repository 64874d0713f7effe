import { AuthenticationError } from '../../crypto/aead.ts';
import { generateKeyShare, type KeyShare } from '../../crypto/ckks/collective-keys.ts';
import { InvalidCiphertextError } from '../../crypto/ckks/ciphertext-wire.ts';
import {
  type DealerTest,
  dealerTestPartial,
  dealerTestPasses,
  dealerTests,
  dealerTestVerdict,
} from '../../crypto/ckks/dealer-check.ts';
import type { CkksEngine } from '../../crypto/ckks/engine.ts';
import { InvalidEncryptionProofError } from '../../crypto/ckks/encryption-proof.ts';
import {
  ceremonyReferencePolynomial,
  collectivePublicShare,
  combineDealtShares,
  keySha256,
  polynomialFromBytes,
  polynomialToBytes,
  publicShareCommitment,
  shareKeySecret,
} from '../../crypto/ckks/key-ceremony.ts';
import { proveKeyShare, verifyKeyShare } from '../../crypto/ckks/key-share-proof.ts';
import { PARAMETER_SETS } from '../../crypto/ckks/parameters.ts';
import { nativeCurve25519 as curve } from '../../crypto/curve25519-native.ts';
import { systemRandom } from '../../crypto/random.ts';
import { CryptoInputError } from '../../crypto/validate.ts';
import {
  type CeremonyPlan,
  type CeremonyAnswer,
  type CeremonyCheck,
  type CeremonyDealing,
  type CeremonyJoin,
  type KeyInfo,
} from '../../proto/gen/veilsum/v1/ckks.ts';
import { ContractError } from '../../ledger/contract.ts';
import type { Ledger } from '../../ledger/ledger.ts';
import type { CollectiveKeyLimits, CollectiveKeyRecord } from '../../ledger/records.ts';
import {
  failedPrecondition,
  invalidArgument,
  permissionDenied,
} from '../../sdk/common/grpc-errors.ts';
import { verifiedIdentityOf } from '../../sdk/pki/certificates.ts';
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
} from './ceremony-messages.ts';

/**
 * One keyholder's side of the threshold key ceremony (crypto/ckks/key-ceremony.ts has the
 * arithmetic). An administrator's CLI relays the messages and learns nothing: exchange keys,
 * commitments, public shares and test partials are signed with each keyholder's certificate key,
 * and the Shamir shares travel AES-GCM-encrypted under X25519 keys agreed between the keyholders'
 * ephemeral exchange keys. The relay may reorder and show one keyholder the others' messages
 * first; what keeps that from steering the key:
 *   join   — p_i is made here and only its commitment leaves (signed with the exchange key);
 *   deal   — only given all n signed commitments is p_i revealed, with a proof of knowledge of
 *            short (s_i, e_i); dealing again with other joins is refused;
 *   check  — every p_j must open its commitment and carry a valid proof, else the dealer is
 *            named and the ceremony abandoned; then this keyholder's part of every dealer's test
 *            decryption (crypto/ckks/dealer-check.ts), made once;
 *   answer — the complaint round (Pedersen/Feldman style): a dealer one of whose tests fails
 *            reveals the keys of the shares it dealt to that window's responders (each sealed
 *            share commits to its key, so only the share the responder got can be revealed),
 *            and abandons the ceremony itself: it never attests a key whose shares it revealed;
 *   finish — every dealer's tests must decrypt, else the ceremony is abandoned (nothing sealed,
 *            nothing attested) naming who is at fault from the dealer's answer: the dealer if
 *            its revealed shares do not decrypt its test, else the responder whose partial is
 *            not its share's partial plus a flood (dealer-check.ts `dealerTestVerdict`).
 * What an answer reveals: the shares one dealer dealt to the t responders of a failing window —
 * enough to rebuild that dealer's s_i — to everyone, the relay and colluders included. That s_i
 * is the contribution of a dealer that has already abandoned the ceremony: it never attests,
 * and the ledger registers a key only once every participant attested it, so no key that a round
 * may use contains it (each join draws a fresh s_i). A share key is an HKDF output for one pair
 * and direction: it opens no other share.
 * A ceremony lives in memory between Join and Finish; a keyholder restarted mid-way is simply
 * run through a new ceremony.
 */
export interface KeyholderIdentity {
  readonly keyholderId: string;
  readonly certificatePem: string;
  /** Raw Ed25519 secret key of the certificate. */
  readonly signingKey: Uint8Array;
  readonly caPem: string;
}

/** What a keyholder keeps (sealed) after a ceremony. */
export interface HeldKey {
  readonly ceremonyId: string;
  readonly parameterSet: string;
  readonly index: number;
  readonly threshold: number;
  readonly keyholders: readonly { keyholderId: string; index: number }[];
  readonly publicKey: Uint8Array;
  readonly keySha256: Uint8Array;
  readonly share: BigUint64Array;
}

/** A keyholder as its signed join presents it. */
interface Joined {
  readonly keyholderId: string;
  readonly exchangeKey: Uint8Array;
  readonly identityKey: Uint8Array;
  readonly commitment: Uint8Array;
}

interface Dealt {
  /** Hash of the joins this keyholder dealt for: the commitments it revealed p_i against. */
  readonly joinsDigest: Uint8Array;
  readonly dealing: CeremonyDealing;
}

interface Checked {
  readonly transcript: Uint8Array;
  readonly check: CeremonyCheck;
  readonly joined: ReadonlyMap<number, Joined>;
  readonly tests: readonly DealerTest[];
  readonly publicKey: Uint8Array;
  /** The shares dealt to this keyholder, by dealer index. */
  readonly dealt: ReadonlyMap<number, BigUint64Array>;
  /** Every dealing, by dealer index: a complaint's revealed keys open their sealed shares. */
  readonly dealings: ReadonlyMap<number, CeremonyDealing>;
}

/** A dealer's test that did not decrypt, with the partials its window sent. */
interface FailedTest {
  readonly test: DealerTest;
  readonly partials: readonly Uint8Array[];
}

interface Pending {
  readonly plan: CeremonyPlan;
  readonly planHash: Uint8Array;
  readonly index: number;
  readonly exchangeSecret: Uint8Array;
  readonly join: CeremonyJoin;
  readonly publicShare: Uint8Array;
  /** s_i and e_i until they are dealt. */
  keyShare: KeyShare | undefined;
  dealt: Dealt | undefined;
  checked: Checked | undefined;
}

const sameBytes = (x: Uint8Array, y: Uint8Array) => Buffer.from(x).equals(Buffer.from(y));

function assertSigned(key: Uint8Array, statement: Uint8Array, signature: Uint8Array, what: string) {
  if (!curve.verify(key, statement, signature))
    throw permissionDenied(
      `${what} is not signed by its certificate key; it was altered in transit`,
    );
}

/**
 * Most keyholders a ceremony takes: CheckCeremony carries every dealing with its 1.2 MB proof of
 * knowledge, and the keyholder reads messages of at most 64 MiB.
 */
export const MAX_CEREMONY_KEYHOLDERS = 16;

export function validatePlan(plan: CeremonyPlan | undefined): CeremonyPlan {
  if (plan === undefined) throw invalidArgument('plan is required');
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/.test(plan.ceremonyId))
    throw invalidArgument('ceremony_id must be 1-64 letters, digits, ".", "_", ":" or "-"');
  if (PARAMETER_SETS[plan.parameterSet] === undefined) {
    throw invalidArgument(
      `unknown parameter_set "${plan.parameterSet}"; known: ${Object.keys(PARAMETER_SETS).join(', ')}`,
    );
  }
  if (plan.seed.length !== 32) throw invalidArgument('seed must be 32 random bytes');
  const n = plan.keyholders.length;
  if (n < 2 || n > MAX_CEREMONY_KEYHOLDERS)
    throw invalidArgument(`a ceremony needs 2 to ${MAX_CEREMONY_KEYHOLDERS} keyholders, got ${n}`);
  if (plan.threshold < 2 || plan.threshold > n)
    throw invalidArgument(`threshold must be in [2, ${n}], got ${plan.threshold}`);
  const ids = new Set(plan.keyholders.map((k) => k.keyholderId));
  const indices = new Set(plan.keyholders.map((k) => k.index));
  if (ids.size !== n || indices.size !== n)
    throw invalidArgument('keyholder ids and indices must be distinct');
  for (const index of indices)
    if (index < 1 || index > n) throw invalidArgument(`keyholder indices must be 1..${n}`);
  return plan;
}

export class KeyholderCeremony {
  private readonly identity: KeyholderIdentity;
  private readonly engineFor: (parameterSet: string) => Promise<CkksEngine>;
  private readonly floodingSigmaFor: (parameterSet: string, threshold: number) => number;
  private readonly pending = new Map<string, Pending>();

  /**
   * `floodingSigmaFor` is the flooding deviation this keyholder's partial decryptions use for a
   * key of that parameter set and threshold: the dealer check's test partials use the same.
   */
  constructor(
    identity: KeyholderIdentity,
    engineFor: (parameterSet: string) => Promise<CkksEngine>,
    floodingSigmaFor: (parameterSet: string, threshold: number) => number,
  ) {
    this.identity = identity;
    this.engineFor = engineFor;
    this.floodingSigmaFor = floodingSigmaFor;
  }

  async join(input: CeremonyPlan | undefined): Promise<CeremonyJoin> {
    const plan = validatePlan(input);
    // The one await comes first: from here each step runs to its end without yielding, so two
    // concurrent calls cannot both make a p_i, a dealing or test partials (an honest keyholder
    // that dealt twice could be framed with a mix of its two dealings).
    const engine = await this.engineFor(plan.parameterSet);
    const me = plan.keyholders.find((k) => k.keyholderId === this.identity.keyholderId);
    if (me === undefined) {
      throw failedPrecondition(
        `keyholder ${this.identity.keyholderId} is not in ceremony ${plan.ceremonyId}'s plan`,
      );
    }
    const hash = planHash(plan);
    const already = this.pending.get(plan.ceremonyId);
    if (already !== undefined) {
      // The same join again: a second p_i would give the relay two commitments to choose from.
      if (sameBytes(already.planHash, hash)) return already.join;
      throw failedPrecondition(
        `keyholder ${this.identity.keyholderId} already joined ceremony ${plan.ceremonyId} with another plan; a new plan needs a new ceremony id`,
      );
    }
    const a = ceremonyReferencePolynomial(engine.keyRns, plan.seed);
    const keyShare = generateKeyShare(a, engine.keyRns, systemRandom);
    const publicShare = polynomialToBytes(keyShare.publicShare);
    const commitment = publicShareCommitment(
      plan.ceremonyId,
      hash,
      this.identity.keyholderId,
      publicShare,
    );
    const exchangeSecret = systemRandom(32);
    const exchangeKey = curve.x25519PublicKey(exchangeSecret);
    const join: CeremonyJoin = {
      keyholderId: this.identity.keyholderId,
      exchangeKey: Buffer.from(exchangeKey),
      publicShareCommitment: Buffer.from(commitment),
      signature: Buffer.from(
        curve.sign(
          this.identity.signingKey,
          joinStatement(plan, hash, this.identity.keyholderId, exchangeKey, commitment),
        ),
      ),
      certificate: Buffer.from(this.identity.certificatePem),
    };
    this.pending.set(plan.ceremonyId, {
      plan,
      planHash: hash,
      index: me.index,
      exchangeSecret,
      join,
      publicShare,
      keyShare,
      dealt: undefined,
      checked: undefined,
    });
    return join;
  }

  async deal(
    input: CeremonyPlan | undefined,
    joins: readonly CeremonyJoin[],
  ): Promise<CeremonyDealing> {
    const engine = await this.engineFor(validatePlan(input).parameterSet);
    const { pending, joined } = this.verifiedJoins(input, joins);
    const digest = joinsDigest(pending.plan, joins);
    if (pending.dealt !== undefined) {
      if (sameBytes(pending.dealt.joinsDigest, digest)) return pending.dealt.dealing;
      throw failedPrecondition(
        `keyholder ${this.identity.keyholderId} already dealt in ceremony ${pending.plan.ceremonyId} for other joins: a keyholder's commitment or exchange key changed; start a new ceremony`,
      );
    }
    if (!sameBytes(joined.get(pending.index)!.commitment, pending.join.publicShareCommitment))
      throw failedPrecondition(
        `the join of ${this.identity.keyholderId} in ceremony ${pending.plan.ceremonyId} is not the one it made`,
      );
    const keyShare = pending.keyShare!;
    const { plan } = pending;
    const a = ceremonyReferencePolynomial(engine.keyRns, plan.seed);
    const indices = plan.keyholders.map((k) => k.index);
    const proof = proveKeyShare(
      engine,
      a,
      keyShare,
      {
        ceremonyId: plan.ceremonyId,
        transcript: pending.planHash,
        keyholderId: this.identity.keyholderId,
      },
      systemRandom,
    );
    const dealt = shareKeySecret(keyShare, engine.dataRns, plan.threshold, indices, systemRandom);
    pending.keyShare = undefined;
    const unsigned: CeremonyDealing = {
      index: pending.index,
      publicShare: Buffer.from(pending.publicShare),
      publicShareProof: Buffer.from(proof),
      signature: Buffer.alloc(0),
      shares: indices.map((to, k) => ({
        toIndex: to,
        sealed: Buffer.from(
          sealShare(
            this.shareKey(pending, joined.get(to)!.exchangeKey, pending.index, to),
            polynomialToBytes(dealt[k]!),
            shareAssociatedData(plan, pending.planHash, pending.index, to),
            systemRandom,
          ),
        ),
      })),
    };
    for (const share of dealt) share.fill(0n);
    const dealing = {
      ...unsigned,
      signature: Buffer.from(
        curve.sign(
          this.identity.signingKey,
          dealingStatement(plan, pending.planHash, digest, unsigned),
        ),
      ),
    };
    pending.dealt = { joinsDigest: digest, dealing };
    return dealing;
  }

  /**
   * Checks every dealing (signature, commitment, proof), opens the shares dealt to this
   * keyholder and answers its part of every dealer's test decryption, once: asked again with the
   * same dealings it returns the same partials (fresh flooding each time would average out).
   */
  async check(
    input: CeremonyPlan | undefined,
    joins: readonly CeremonyJoin[],
    dealings: readonly CeremonyDealing[],
  ): Promise<CeremonyCheck> {
    const engine = await this.engineFor(validatePlan(input).parameterSet);
    const { pending, joined } = this.verifiedJoins(input, joins);
    const { plan } = pending;
    if (pending.dealt === undefined)
      throw failedPrecondition(
        `keyholder ${this.identity.keyholderId} has not dealt in ceremony ${plan.ceremonyId}`,
      );
    if (!sameBytes(pending.dealt.joinsDigest, joinsDigest(plan, joins)))
      throw failedPrecondition(
        `the joins of ceremony ${plan.ceremonyId} changed since keyholder ${this.identity.keyholderId} dealt: a keyholder's commitment changed; start a new ceremony`,
      );
    if (dealings.length !== plan.keyholders.length)
      throw invalidArgument(`${dealings.length} dealings for ${plan.keyholders.length} keyholders`);
    const byIndex = new Map<number, CeremonyDealing>();
    for (const dealing of dealings) {
      if (!joined.has(dealing.index) || byIndex.has(dealing.index))
        throw invalidArgument(`dealing from unknown or repeated index ${dealing.index}`);
      byIndex.set(dealing.index, dealing);
    }
    const ordered = [...byIndex.entries()].sort(([x], [y]) => x - y);
    const transcript = ceremonyTranscript(plan, joins, dealings);
    if (pending.checked !== undefined) {
      if (sameBytes(pending.checked.transcript, transcript)) return pending.checked.check;
      throw failedPrecondition(
        `keyholder ${this.identity.keyholderId} already checked other dealings in ceremony ${plan.ceremonyId}: a dealer sent two; start a new ceremony`,
      );
    }
    const a = ceremonyReferencePolynomial(engine.keyRns, plan.seed);
    const name = (index: number) => `keyholder ${joined.get(index)!.keyholderId} (index ${index})`;
    const publicShares = new Map<number, BigUint64Array>();
    const dealt = new Map<number, BigUint64Array>();
    for (const [index, dealing] of ordered) {
      const dealer = joined.get(index)!;
      assertSigned(
        dealer.identityKey,
        dealingStatement(plan, pending.planHash, pending.dealt.joinsDigest, dealing),
        dealing.signature,
        `the dealing of keyholder ${index}`,
      );
      // Signed by the dealer, so what follows is the dealer's doing: the ceremony is abandoned.
      const commitment = publicShareCommitment(
        plan.ceremonyId,
        pending.planHash,
        dealer.keyholderId,
        dealing.publicShare,
      );
      if (!sameBytes(commitment, dealer.commitment))
        this.abandon(
          pending,
          `${name(index)} revealed a public key share that is not the one it committed to when it joined (a share chosen after seeing the others' is refused)`,
        );
      let publicShare: BigUint64Array;
      try {
        publicShare = polynomialFromBytes(dealing.publicShare, engine.keyRns, 'public share');
      } catch (error) {
        this.abandon(pending, `${name(index)} revealed a malformed public share: ${String(error)}`);
      }
      if (index !== pending.index) {
        try {
          verifyKeyShare(
            engine,
            a,
            publicShare,
            {
              ceremonyId: plan.ceremonyId,
              transcript: pending.planHash,
              keyholderId: dealer.keyholderId,
            },
            dealing.publicShareProof,
          );
        } catch (error) {
          if (
            !(error instanceof InvalidEncryptionProofError) &&
            !(error instanceof InvalidCiphertextError)
          )
            throw error;
          this.abandon(
            pending,
            `${name(index)} did not prove that it knows a short secret and error behind its public key share (${error.message})`,
          );
        }
      }
      publicShares.set(index, publicShare);
      const mine = dealing.shares.find((share) => share.toIndex === pending.index);
      if (mine === undefined)
        this.abandon(pending, `${name(index)} dealt no share to index ${pending.index}`);
      let plain: Uint8Array;
      try {
        plain = openShare(
          this.shareKey(pending, dealer.exchangeKey, index, pending.index),
          mine.sealed,
          shareAssociatedData(plan, pending.planHash, index, pending.index),
        );
      } catch (error) {
        if (!(error instanceof AuthenticationError)) throw error;
        this.abandon(
          pending,
          `the share ${name(index)} dealt to index ${pending.index} does not authenticate`,
        );
      }
      try {
        dealt.set(index, polynomialFromBytes(plain, engine.dataRns, 'dealt share'));
      } catch (error) {
        this.abandon(pending, `${name(index)} dealt a malformed share: ${String(error)}`);
      }
    }
    const tests = dealerTests(engine, a, publicShares, transcript, plan.threshold);
    const sigma = this.floodingSigmaFor(plan.parameterSet, plan.threshold);
    const unsigned: CeremonyCheck = {
      index: pending.index,
      transcriptSha256: Buffer.from(transcript),
      signature: Buffer.alloc(0),
      partials: tests
        .filter((test) => test.window.includes(pending.index))
        .map((test) => ({
          dealer: test.dealer,
          windowStart: test.window[0]!,
          partial: Buffer.from(
            dealerTestPartial(
              engine,
              test,
              dealt.get(test.dealer)!,
              pending.index,
              sigma,
              systemRandom,
            ),
          ),
        })),
    };
    const check = {
      ...unsigned,
      signature: Buffer.from(
        curve.sign(this.identity.signingKey, checkStatement(plan, pending.planHash, unsigned)),
      ),
    };
    pending.checked = {
      transcript,
      check,
      joined,
      tests,
      publicKey: engine.publicKeyBytes(
        collectivePublicShare(engine.keyRns, [...publicShares.values()]),
        a,
      ),
      dealt,
      dealings: byIndex,
    };
    return check;
  }

  /**
   * The complaint round: if one of this keyholder's own tests failed (by every keyholder's signed
   * check), reveals the keys of the shares it dealt to the failing windows' responders, and
   * abandons the ceremony — a keyholder never attests a key whose shares it revealed. With no
   * failing test it reveals nothing and carries on.
   */
  async answer(
    input: CeremonyPlan | undefined,
    checks: readonly CeremonyCheck[],
  ): Promise<CeremonyAnswer> {
    const plan = validatePlan(input);
    const engine = await this.engineFor(plan.parameterSet);
    const pending = this.pendingFor(plan);
    const checked = this.checkedOf(pending);
    const failed = this.failedTests(engine, pending, checked, checks).filter(
      ({ test }) => test.dealer === pending.index,
    );
    const responders = [...new Set(failed.flatMap(({ test }) => test.window))].sort(
      (x, y) => x - y,
    );
    const unsigned: CeremonyAnswer = {
      index: pending.index,
      transcriptSha256: Buffer.from(checked.transcript),
      checksSha256: Buffer.from(checksDigest(plan, pending.planHash, checks)),
      revealed: responders.map((to) => ({
        toIndex: to,
        shareKey: Buffer.from(
          this.shareKey(pending, checked.joined.get(to)!.exchangeKey, pending.index, to),
        ),
      })),
      signature: Buffer.alloc(0),
    };
    const answer = {
      ...unsigned,
      signature: Buffer.from(
        curve.sign(this.identity.signingKey, answerStatement(plan, pending.planHash, unsigned)),
      ),
    };
    if (responders.length > 0) this.forget(pending);
    return answer;
  }

  /**
   * Combines every dealer's test decryptions from all keyholders' checks; only if every one
   * decrypts does it return the key to seal (and the caller attest). Otherwise the ceremony is
   * abandoned naming who is at fault by the failing dealers' answers (a failing dealer that has
   * not answered yet is asked for, without abandoning).
   */
  async finish(
    input: CeremonyPlan | undefined,
    checks: readonly CeremonyCheck[],
    answers: readonly CeremonyAnswer[] = [],
  ): Promise<HeldKey> {
    const plan = validatePlan(input);
    const engine = await this.engineFor(plan.parameterSet);
    const pending = this.pendingFor(plan);
    const checked = this.checkedOf(pending);
    const name = (index: number) =>
      `keyholder ${checked.joined.get(index)?.keyholderId ?? '?'} (index ${index})`;
    const failed = this.failedTests(engine, pending, checked, checks);
    const answered = this.verifiedAnswers(pending, checked, answers);
    const mine = checksDigest(plan, pending.planHash, checks);
    const otherView = [...answered.values()].filter((a) => !sameBytes(a.checksSha256, mine));
    if (otherView.length > 0)
      this.abandon(
        pending,
        `${otherView.map((a) => name(a.index)).join(' and ')} answered other checks than keyholder ${this.identity.keyholderId} holds: a keyholder signed two different checks (or a dealer misstates what it answered); no dealer is named from them`,
      );
    const revealing = [...answered.values()].filter((a) => a.revealed.length > 0);
    if (failed.length === 0 && revealing.length > 0)
      this.abandon(
        pending,
        `${revealing.map((a) => name(a.index)).join(' and ')} revealed shares answering a complaint that these checks do not raise (the relay showed keyholders different checks); it will not attest`,
      );
    if (failed.length > 0) {
      const unanswered = [...new Set(failed.map(({ test }) => test.dealer))].filter(
        (dealer) => !answered.has(dealer),
      );
      if (unanswered.length > 0)
        throw failedPrecondition(
          `ceremony ${plan.ceremonyId}: the test decryptions of ${unanswered.map(name).join(' and ')} failed; ` +
            'before anyone is named its answer to the complaint is needed (AnswerCeremony on that keyholder, then FinishCeremony with the answers)',
        );
      this.abandon(pending, this.blame(engine, pending, checked, failed, answered));
    }
    this.pending.delete(plan.ceremonyId);
    pending.exchangeSecret.fill(0);
    const share = combineDealtShares(engine.dataRns, [...checked.dealt.values()]);
    for (const dealt of checked.dealt.values()) dealt.fill(0n);
    return {
      ceremonyId: plan.ceremonyId,
      parameterSet: plan.parameterSet,
      index: pending.index,
      threshold: plan.threshold,
      keyholders: plan.keyholders.map((k) => ({ keyholderId: k.keyholderId, index: k.index })),
      publicKey: checked.publicKey,
      keySha256: keySha256(checked.publicKey),
      share,
    };
  }

  private checkedOf(pending: Pending): Checked {
    if (pending.checked === undefined)
      throw failedPrecondition(
        `keyholder ${this.identity.keyholderId} has not checked the dealings of ceremony ${pending.plan.ceremonyId}`,
      );
    return pending.checked;
  }

  /** Every keyholder's signed check of the same transcript; the tests that do not decrypt. */
  private failedTests(
    engine: CkksEngine,
    pending: Pending,
    checked: Checked,
    checks: readonly CeremonyCheck[],
  ): FailedTest[] {
    const { plan } = pending;
    const name = (index: number) =>
      `keyholder ${checked.joined.get(index)?.keyholderId ?? '?'} (index ${index})`;
    const partials = new Map<string, Uint8Array>(); // "dealer/windowStart/responder"
    const seen = new Set<number>();
    for (const check of checks) {
      const responder = checked.joined.get(check.index);
      if (responder === undefined || seen.has(check.index))
        throw invalidArgument(`check from unknown or repeated index ${check.index}`);
      seen.add(check.index);
      assertSigned(
        responder.identityKey,
        checkStatement(plan, pending.planHash, check),
        check.signature,
        `the check of keyholder ${check.index}`,
      );
      if (!sameBytes(check.transcriptSha256, checked.transcript))
        this.abandon(
          pending,
          `${name(check.index)} checked other dealings than keyholder ${this.identity.keyholderId} (a dealer sent different keyholders different dealings, or the relay did)`,
        );
      for (const partial of check.partials)
        partials.set(`${partial.dealer}/${partial.windowStart}/${check.index}`, partial.partial);
    }
    if (seen.size !== plan.keyholders.length)
      throw invalidArgument(`${seen.size} checks for ${plan.keyholders.length} keyholders`);
    const failed: FailedTest[] = [];
    for (const test of checked.tests) {
      const start = test.window[0]!;
      const answers = test.window.map((responder) => {
        const partial = partials.get(`${test.dealer}/${start}/${responder}`);
        if (partial === undefined)
          this.abandon(
            pending,
            `${name(responder)} sent no test partial for dealer ${test.dealer}, window ${test.window.join(',')}`,
          );
        return partial;
      });
      let passes: boolean;
      try {
        passes = dealerTestPasses(engine, test, answers);
      } catch (error) {
        if (!(error instanceof InvalidCiphertextError)) throw error;
        passes = false;
      }
      if (!passes) failed.push({ test, partials: answers });
    }
    return failed;
  }

  /** The answers signed by their dealers for this transcript, by dealer index. */
  private verifiedAnswers(
    pending: Pending,
    checked: Checked,
    answers: readonly CeremonyAnswer[],
  ): Map<number, CeremonyAnswer> {
    const verified = new Map<number, CeremonyAnswer>();
    for (const answer of answers) {
      const dealer = checked.joined.get(answer.index);
      if (dealer === undefined || verified.has(answer.index))
        throw invalidArgument(`answer from unknown or repeated index ${answer.index}`);
      assertSigned(
        dealer.identityKey,
        answerStatement(pending.plan, pending.planHash, answer),
        answer.signature,
        `the answer of keyholder ${answer.index}`,
      );
      if (!sameBytes(answer.transcriptSha256, checked.transcript))
        throw invalidArgument(`the answer of keyholder ${answer.index} is for other dealings`);
      verified.set(answer.index, answer);
    }
    return verified;
  }

  /**
   * Who the failed tests' answers put at fault: a dealer whose answer does not open the shares it
   * dealt the window, or whose revealed shares do not decrypt its test; else the responders whose
   * partials are not their revealed share's (dealer-check.ts `dealerTestVerdict`).
   */
  private blame(
    engine: CkksEngine,
    pending: Pending,
    checked: Checked,
    failed: readonly FailedTest[],
    answers: ReadonlyMap<number, CeremonyAnswer>,
  ): string {
    const { plan } = pending;
    const name = (index: number) =>
      `keyholder ${checked.joined.get(index)?.keyholderId ?? '?'} (index ${index})`;
    const dealers = new Map<number, string[]>();
    const undecrypted = new Map<number, string[]>();
    const responders = new Map<number, string[]>();
    const add = (into: Map<number, string[]>, index: number, what: string) =>
      into.set(index, [...(into.get(index) ?? []), what]);
    for (const { test, partials } of failed) {
      const window = test.window.join(',');
      const answer = answers.get(test.dealer)!;
      const revealed: BigUint64Array[] = [];
      for (const to of test.window) {
        const key = answer.revealed.find((r) => r.toIndex === to)?.shareKey;
        const sealed = checked.dealings.get(test.dealer)!.shares.find((x) => x.toIndex === to);
        try {
          if (key === undefined || sealed === undefined) throw new AuthenticationError('missing');
          revealed.push(
            polynomialFromBytes(
              openShare(
                key,
                sealed.sealed,
                shareAssociatedData(plan, pending.planHash, test.dealer, to),
              ),
              engine.dataRns,
              'revealed share',
            ),
          );
        } catch (error) {
          if (!(error instanceof AuthenticationError) && !(error instanceof CryptoInputError))
            throw error;
          add(dealers, test.dealer, `its answer does not open the share it dealt to index ${to}`);
          break;
        }
      }
      if (revealed.length < test.window.length) continue;
      const verdict = dealerTestVerdict(engine, test, partials, revealed);
      for (const share of revealed) share.fill(0n);
      if (verdict.dealerAtFault) add(undecrypted, test.dealer, window);
      for (const responder of verdict.respondersAtFault)
        add(responders, responder, `dealer ${test.dealer}, window ${window}`);
    }
    for (const [dealer, windows] of undecrypted)
      add(
        dealers,
        dealer,
        `its shares held by keyholders ${windows.join(' and by ')} do not decrypt`,
      );
    const parts: string[] = [];
    if (dealers.size > 0)
      parts.push(
        `the Shamir shares dealt by ${[...dealers.entries()].map(([d, why]) => `${name(d)} (${why.join('; ')})`).join('; ')} do not match its public key share: a test encryption under that share does not decrypt with them`,
      );
    if (responders.size > 0)
      parts.push(
        `${[...responders.entries()].map(([r, tests]) => `${name(r)} sent test partials that are not its dealt share's (${tests.join('; ')})`).join('; ')}: the dealers' revealed shares decrypt their tests`,
      );
    return parts.join('; and ') || 'a test decryption failed and no one could be named';
  }

  /** Forgets the ceremony, its secrets zeroed. */
  private forget(pending: Pending): void {
    this.pending.delete(pending.plan.ceremonyId);
    pending.exchangeSecret.fill(0);
    pending.keyShare?.secret.fill(0n);
    for (const dealt of pending.checked?.dealt.values() ?? []) dealt.fill(0n);
  }

  /** Forgets the ceremony (its secrets zeroed) and refuses, naming what went wrong. */
  private abandon(pending: Pending, reason: string): never {
    this.forget(pending);
    throw failedPrecondition(
      `ceremony ${pending.plan.ceremonyId} abandoned by keyholder ${this.identity.keyholderId}: ${reason}. Nothing was sealed or attested; run a new ceremony`,
    );
  }

  private pendingFor(plan: CeremonyPlan): Pending {
    const pending = this.pending.get(plan.ceremonyId);
    if (pending === undefined) {
      throw failedPrecondition(
        `keyholder ${this.identity.keyholderId} has not joined ceremony ${plan.ceremonyId} (or restarted or abandoned it since): start the ceremony again`,
      );
    }
    if (!sameBytes(planHash(plan), pending.planHash))
      throw invalidArgument(
        `the plan of ceremony ${plan.ceremonyId} changed since this keyholder joined`,
      );
    return pending;
  }

  private verifiedJoins(input: CeremonyPlan | undefined, joins: readonly CeremonyJoin[]) {
    const plan = validatePlan(input);
    const pending = this.pendingFor(plan);
    const joined = new Map<number, Joined>();
    for (const join of joins) {
      const entry = plan.keyholders.find((k) => k.keyholderId === join.keyholderId);
      if (entry === undefined)
        throw invalidArgument(`join from ${join.keyholderId}, who is not in the plan`);
      if (joined.has(entry.index))
        throw invalidArgument(`two joins from ${join.keyholderId}: one commitment per keyholder`);
      let identity;
      try {
        identity = verifiedIdentityOf(
          Buffer.from(join.certificate),
          this.identity.caPem,
          `certificate of keyholder ${join.keyholderId}`,
        );
      } catch (error) {
        throw permissionDenied((error as Error).message);
      }
      if (identity.organisation !== join.keyholderId) {
        throw permissionDenied(
          `the certificate sent for ${join.keyholderId} belongs to ${identity.organisation}`,
        );
      }
      if (
        join.exchangeKey.length !== 32 ||
        join.publicShareCommitment.length !== 32 ||
        !curve.verify(
          identity.identityKey,
          joinStatement(
            plan,
            pending.planHash,
            join.keyholderId,
            join.exchangeKey,
            join.publicShareCommitment,
          ),
          join.signature,
        )
      ) {
        throw permissionDenied(
          `the exchange key and public share commitment of ${join.keyholderId} are not signed by its certificate key`,
        );
      }
      joined.set(entry.index, {
        keyholderId: join.keyholderId,
        exchangeKey: join.exchangeKey,
        identityKey: identity.identityKey,
        commitment: join.publicShareCommitment,
      });
    }
    if (joined.size !== plan.keyholders.length)
      throw invalidArgument(
        `${joined.size} distinct joins for ${plan.keyholders.length} keyholders: every keyholder's commitment is needed before any public share is revealed`,
      );
    return { pending, joined };
  }

  private shareKey(pending: Pending, peerExchangeKey: Uint8Array, from: number, to: number) {
    return ceremonyShareKey(pending.plan, pending.exchangeSecret, peerExchangeKey, from, to);
  }
}

export function keyInfoOf(key: HeldKey): KeyInfo {
  return {
    ceremonyId: key.ceremonyId,
    parameterSet: key.parameterSet,
    index: key.index,
    threshold: key.threshold,
    keyholders: key.keyholders.map((k) => ({ keyholderId: k.keyholderId, index: k.index })),
    publicKey: Buffer.from(key.publicKey),
    keySha256: Buffer.from(key.keySha256),
  };
}

/**
 * The end of a ceremony on the ledger: this keyholder attests, with its own ledger identity, the
 * collective key it now holds a share of (hash, ceremony id, threshold, the ceremony's keyholders
 * in index order) and the key's decryption limits from its configuration (ledger/key-budget.ts:
 * every keyholder must attest the same, and the contract charges every decryption from them). The contract registers the key once every participant attested it; CKKS round
 * manifests may name only registered keys, so a key the keyholders did not make cannot be used.
 */
export async function attestCollectiveKey(
  ledger: Ledger,
  key: HeldKey,
  limits: CollectiveKeyLimits,
): Promise<CollectiveKeyRecord> {
  const participants = [...key.keyholders]
    .sort((a, b) => a.index - b.index)
    .map((k) => k.keyholderId);
  try {
    return await ledger.attestCollectiveKey(
      Buffer.from(key.keySha256).toString('hex'),
      key.ceremonyId,
      key.threshold,
      participants,
      limits,
    );
  } catch (error) {
    if (!(error instanceof ContractError)) throw error;
    const message = `the ledger refused this keyholder's attestation of the collective key of ceremony ${key.ceremonyId}: ${error.message}`;
    throw error.kind === 'access-denied' ? permissionDenied(message) : failedPrecondition(message);
  }
}
