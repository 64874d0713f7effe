import { describe, expect, it } from '@jest/globals';
import {
  aggregatePublicShares,
  commonReferencePolynomial,
  generateKeyShare,
} from '../../crypto/ckks/collective-keys.ts';
import {
  parseCiphertext,
  parsePlaintext,
  serializeCiphertext,
  serializePlaintext,
} from '../../crypto/ckks/seal-serialization.ts';
import {
  combinePartialDecryptions,
  floodingNoise,
  lagrangeWeights,
  partialDecryption,
  type RnsContext,
  shareRnsSecret,
} from '../../crypto/ckks/threshold-decryption.ts';
import { addPoly } from '../../crypto/ckks/rns.ts';
import { seededRandom } from '../../crypto/random.ts';
import { DEGREE, sealFixture } from '../support/seal-fixture.ts';

const fixture = await sealFixture();
const { seal, keygen, encoder, encryptor, NONE } = fixture;
const sealContext = fixture.context;
const context: RnsContext = fixture.dataRns;
const moduli = context.moduli as bigint[];
const span = DEGREE * moduli.length;
// The data-level residues of the SEAL secret key (the special prime's block is not needed).
const secret = parsePlaintext(keygen.secretKey().saveToArray(NONE) as Uint8Array).data.slice(
  0,
  span,
);

const message = Float64Array.from({ length: 256 }, (_, i) => Math.cos(i / 7));
const plaintext = new seal.Plaintext();
encoder.encode(message, 2 ** 30, plaintext);
const encrypted = new seal.Ciphertext();
encryptor.encrypt(plaintext, encrypted);
const ciphertext = parseCiphertext(encrypted.saveToArray(NONE) as Uint8Array);
const c0 = ciphertext.data.subarray(0, span);
const c1 = ciphertext.data.subarray(span, 2 * span);

const KEYHOLDERS = [1, 2, 3, 4, 5];
const shares = shareRnsSecret(secret, context, 3, KEYHOLDERS, seededRandom(7));

function thresholdDecrypt(responders: number[], floodBits: number): Float64Array {
  const random = seededRandom(responders.reduce((a, b) => a * 10 + b, 0));
  const partials = responders.map((index) =>
    partialDecryption(
      c1,
      shares[index - 1]!,
      lagrangeWeights(index, responders, moduli),
      floodingNoise(context, floodBits, random),
      context,
    ),
  );
  const combined = combinePartialDecryptions(c0, partials, context);
  const result = new seal.Plaintext();
  result.loadFromArray(
    sealContext,
    serializePlaintext(
      { parmsId: ciphertext.parmsId, coeffCount: span, scale: ciphertext.scale, data: combined },
      ciphertext.version,
    ),
  );
  return Float64Array.from(
    (encoder.decodeFloat64(result) as Float64Array).slice(0, message.length),
  );
}
const maxError = (decoded: Float64Array) =>
  Math.max(...Array.from(message, (v, i) => Math.abs(v - decoded[i]!)));

describe('t-of-n threshold CKKS decryption (n = 5, t = 3)', () => {
  it.each([[[1, 2, 3]], [[1, 4, 5]], [[2, 3, 5]], [[3, 4, 5]], [[1, 2, 3, 4, 5]]])(
    'keyholders %j decrypt correctly',
    (responders) => {
      expect(maxError(thresholdDecrypt(responders, 10))).toBeLessThan(1e-3);
    },
  );

  it('t − 1 keyholders get noise, not the message', () => {
    expect(maxError(thresholdDecrypt([1, 2], 10))).toBeGreaterThan(1);
    expect(maxError(thresholdDecrypt([4, 5], 10))).toBeGreaterThan(1);
  });

  it('flooding noise is what it claims: larger flood, larger (still bounded) error', () => {
    const small = maxError(thresholdDecrypt([1, 2, 3], 4));
    const large = maxError(thresholdDecrypt([1, 2, 3], 16));
    expect(large).toBeGreaterThan(small);
    expect(large).toBeLessThan(0.5);
  });
});

describe('collective key generation (no single party ever holds the secret)', () => {
  it('encryptions under the collective key of 3 clients sum homomorphically and any 3 of 5 keyholders decrypt the sum', () => {
    const keyContext = fixture.keyRns;
    const a = commonReferencePolynomial(keyContext, seededRandom(99));
    const keyShares = KEYHOLDERS.map((index) =>
      generateKeyShare(a, keyContext, seededRandom(1000 + index)),
    );
    const collective = aggregatePublicShares(
      keyShares.map((share) => share.publicShare),
      keyContext,
    );

    // The collective key takes the place of a SEAL public key (same layout: (p, a) at key level).
    const template = parseCiphertext(keygen.createPublicKey().saveToArray(NONE) as Uint8Array);
    const publicKeyData = new BigUint64Array(2 * collective.length);
    publicKeyData.set(collective, 0);
    publicKeyData.set(a, collective.length);
    const publicKey = new seal.PublicKey();
    publicKey.loadFromArray(
      sealContext,
      serializeCiphertext({ ...template, data: publicKeyData }, template.version),
    );
    const collectiveEncryptor = new seal.Encryptor(sealContext, publicKey);
    const evaluator = new seal.Evaluator(sealContext);

    const updates = [0, 1, 2].map((client) =>
      Float64Array.from({ length: 256 }, (_, i) => Math.sin(client * 100 + i) / 2),
    );
    const ciphertexts = updates.map((update) => {
      const pt = new seal.Plaintext();
      encoder.encode(update, 2 ** 30, pt);
      const ct = new seal.Ciphertext();
      collectiveEncryptor.encrypt(pt, ct);
      return ct;
    });
    const sum = ciphertexts[0]!;
    for (const ct of ciphertexts.slice(1)) evaluator.addInplace(sum, ct);
    const aggregate = parseCiphertext(sum.saveToArray(NONE) as Uint8Array);

    // Each keyholder Shamir-shares its own s_i (data level); keyholder k's share of s = Σ s_i is
    // the sum of the shares it received.
    const dealt = keyShares.map((share, i) =>
      shareRnsSecret(share.secret.slice(0, span), context, 3, KEYHOLDERS, seededRandom(2000 + i)),
    );
    const held = KEYHOLDERS.map((_, k) =>
      dealt.map((fromI) => fromI[k]!).reduce((acc, share) => addPoly(acc, share, moduli, DEGREE)),
    );
    const responders = [2, 4, 5];
    const noise = seededRandom(3);
    const partials = responders.map((index) =>
      partialDecryption(
        aggregate.data.subarray(span, 2 * span),
        held[index - 1]!,
        lagrangeWeights(index, responders, moduli),
        floodingNoise(context, 10, noise),
        context,
      ),
    );
    const combined = combinePartialDecryptions(aggregate.data.subarray(0, span), partials, context);
    const result = new seal.Plaintext();
    result.loadFromArray(
      sealContext,
      serializePlaintext(
        { parmsId: aggregate.parmsId, coeffCount: span, scale: aggregate.scale, data: combined },
        aggregate.version,
      ),
    );
    const decoded = encoder.decodeFloat64(result) as Float64Array;
    const expected = Float64Array.from(
      updates[0]!,
      (_, i) => updates[0]![i]! + updates[1]![i]! + updates[2]![i]!,
    );
    expect(Math.max(...Array.from(expected, (v, i) => Math.abs(v - decoded[i]!)))).toBeLessThan(
      1e-3,
    );
  });
});
