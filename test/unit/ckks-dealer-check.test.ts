import { describe, expect, it } from '@jest/globals';
import {
  checkWindows,
  dealerTestPartial,
  dealerTestPasses,
  dealerTests,
  dealerTestVerdict,
} from '../../crypto/ckks/dealer-check.ts';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { ceremonyReferencePolynomial, dealKeyShare } from '../../crypto/ckks/key-ceremony.ts';
import { floodingSigmaFor, SUM_8192 } from '../../crypto/ckks/parameters.ts';
import { AuthenticationError, sealAead } from '../../crypto/aead.ts';
import { seededRandom } from '../../crypto/random.ts';
import {
  openShare,
  sealShare,
  shareKeyCommitment,
} from '../../services/keyholder/ceremony-messages.ts';

const engine = await CkksEngine.create(SUM_8192);
const a = ceremonyReferencePolynomial(engine.keyRns, new Uint8Array(32).fill(1));
const transcript = new Uint8Array(32).fill(2);
const sigma = floodingSigmaFor(SUM_8192, 2, 5e-5);
const random = seededRandom(3);

/** Which (dealer, window) tests decrypt when keyholder j answers with dealt[dealer][j − 1]. */
function outcomes(dealings: { publicShare: BigUint64Array; dealt: BigUint64Array[] }[]) {
  const shares = new Map(dealings.map((d, i) => [i + 1, d.publicShare]));
  return dealerTests(engine, a, shares, transcript, 2).map((test) => ({
    dealer: test.dealer,
    window: test.window.join(','),
    passes: dealerTestPasses(
      engine,
      test,
      test.window.map((j) =>
        dealerTestPartial(engine, test, dealings[test.dealer - 1]!.dealt[j - 1]!, j, sigma, random),
      ),
    ),
  }));
}

describe('the dealer check: test decryptions under each p_i with the shares its dealer dealt', () => {
  it('windows are the t consecutive indices, n − t + 1 of them', () => {
    expect(checkWindows([3, 1, 2], 2)).toEqual([
      [1, 2],
      [2, 3],
    ]);
    expect(checkWindows([1, 2, 3, 4, 5], 3)).toEqual([
      [1, 2, 3],
      [2, 3, 4],
      [3, 4, 5],
    ]);
    expect(checkWindows([1, 2], 2)).toEqual([[1, 2]]);
  });

  it('every honest dealing passes every window', () => {
    const dealings = [1, 2, 3].map(() =>
      dealKeyShare(a, engine.keyRns, engine.dataRns, 2, [1, 2, 3], random),
    );
    expect(outcomes(dealings).every((o) => o.passes)).toBe(true);
  });

  it('a share of another secret fails exactly the windows that use it, naming its dealer', () => {
    const dealings = [1, 2, 3].map(() =>
      dealKeyShare(a, engine.keyRns, engine.dataRns, 2, [1, 2, 3], random),
    );
    const other = dealKeyShare(a, engine.keyRns, engine.dataRns, 2, [1, 2, 3], random);
    dealings[2]!.dealt[0] = other.dealt[0]!; // dealer 3's share to keyholder 1
    expect(outcomes(dealings).filter((o) => !o.passes)).toEqual([
      { dealer: 3, window: '1,2', passes: false },
    ]);
  });

  it('shares of the right secret on a polynomial of too high a degree fail a window', () => {
    // Degree 2 (threshold 3) where the plan says 2: all three shares together give s_i, yet two
    // of them do not — every round decrypted by two keyholders would fail.
    const dealings = [1, 2, 3].map(() =>
      dealKeyShare(a, engine.keyRns, engine.dataRns, 2, [1, 2, 3], random),
    );
    dealings[1] = dealKeyShare(a, engine.keyRns, engine.dataRns, 3, [1, 2, 3], random);
    const failing = outcomes(dealings).filter((o) => !o.passes);
    expect(failing.length).toBeGreaterThan(0);
    expect(new Set(failing.map((o) => o.dealer))).toEqual(new Set([2]));
  });

  it('the complaint verdict: a responder answering with another share is named, never the honest dealer', () => {
    const dealings = [1, 2, 3].map(() =>
      dealKeyShare(a, engine.keyRns, engine.dataRns, 2, [1, 2, 3], random),
    );
    const shares = new Map(dealings.map((d, i) => [i + 1, d.publicShare]));
    const test = dealerTests(engine, a, shares, transcript, 2).find(
      (t) => t.dealer === 1 && t.window.join(',') === '2,3',
    )!;
    const revealed = test.window.map((j) => dealings[0]!.dealt[j - 1]!);
    const honest = test.window.map((j, k) =>
      dealerTestPartial(engine, test, revealed[k]!, j, sigma, random),
    );
    // Responder 3 answers with the share dealer 3 dealt it: the test fails, 3 is named.
    const framed = [
      honest[0]!,
      dealerTestPartial(engine, test, dealings[2]!.dealt[2]!, 3, sigma, random),
    ];
    expect(dealerTestPasses(engine, test, framed)).toBe(false);
    expect(dealerTestVerdict(engine, test, framed, revealed)).toEqual({
      dealerAtFault: false,
      respondersAtFault: [3],
    });
    // Both honest: nobody is at fault.
    expect(dealerTestVerdict(engine, test, honest, revealed)).toEqual({
      dealerAtFault: false,
      respondersAtFault: [],
    });
    // A dealer whose revealed shares are of another secret is at fault, whatever was answered.
    const other = dealKeyShare(a, engine.keyRns, engine.dataRns, 2, [1, 2, 3], random);
    const wrong = [revealed[0]!, other.dealt[2]!];
    const answered = test.window.map((j, k) =>
      dealerTestPartial(engine, test, wrong[k]!, j, sigma, random),
    );
    expect(dealerTestVerdict(engine, test, answered, wrong).dealerAtFault).toBe(true);
  });

  it('a sealed share opens only under the key it committed to (AES-GCM alone does not commit)', () => {
    const committed = new Uint8Array(32).fill(7);
    const other = new Uint8Array(32).fill(8);
    const ad = new Uint8Array([1, 2, 3]);
    const plain = new Uint8Array([4, 5, 6]);
    const sealed = sealShare(committed, plain, ad, random);
    expect(openShare(committed, sealed, ad)).toEqual(plain);
    expect(() => openShare(other, sealed, ad)).toThrow(AuthenticationError);
    // A dealer that swaps in a body sealed under a second key, keeping the first commitment,
    // cannot reveal the second key in a complaint: it does not match the commitment.
    const swapped = new Uint8Array([
      ...shareKeyCommitment(committed),
      ...sealAead(other, new Uint8Array([9, 9, 9]), ad, random),
    ]);
    expect(() => openShare(other, swapped, ad)).toThrow(/does not match the commitment/);
  });
});
