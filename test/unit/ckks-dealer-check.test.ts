import { describe, expect, it } from '@jest/globals';
import {
  checkWindows,
  dealerTestPartial,
  dealerTestPasses,
  dealerTests,
} from '../../crypto/ckks/dealer-check.ts';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { ceremonyReferencePolynomial, dealKeyShare } from '../../crypto/ckks/key-ceremony.ts';
import { floodingSigmaFor, SUM_8192 } from '../../crypto/ckks/parameters.ts';
import { seededRandom } from '../../crypto/random.ts';

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
});
