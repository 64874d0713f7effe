import { hashFields } from '../commitment.ts';
import { seededRandom, type RandomSource } from '../random.ts';
import { assertInteger, CryptoInputError } from '../validate.ts';
import { InvalidCiphertextError } from './ciphertext-wire.ts';
import type { CkksEngine } from './engine.ts';

/**
 * Before a collective key is attested, the keyholders check that every dealer's Shamir shares
 * are shares of the secret behind its public share p_i: for each dealer i and each window W of t
 * consecutive keyholder indices, the keyholders of W threshold-decrypt a test encryption under
 * (p_i, a) with the shares dealer i dealt them. If dealer i's shares interpolate (on W) to s' with
 * p_i + a·s' not small, the test decrypts to noise: dealer i is named at the ceremony instead of
 * every round under the key failing to decrypt.
 *
 * Why windows. The n shares always lie on some polynomial of degree n − 1; what must hold is that
 * every t of them give the same secret. Windows W_k = {k, …, k + t − 1} (k = 1 … n − t + 1) suffice:
 * if W_k and W_{k+1} both decrypt, their interpolants agree on the t − 1 shared points and at 0, so
 * they are the same polynomial of degree t − 1, which then passes through every share.
 *
 * The test encryptions are derived from the ceremony's transcript hash (every commitment, public
 * share and sealed share), so no dealer knows c1 when it deals: a wrong share δ ≠ 0 makes c1·δ
 * uniform, not something it could cancel. The message, v, e0 and e1 are public; what a test
 * decryption reveals beyond them is the noise v·e_i + e1·s_i under the same Gaussian flooding as
 * a round's partial decryption (one fresh test per dealer and window, never the same one twice).
 */
export interface DealerTest {
  readonly dealer: number;
  /** The responders, in index order. */
  readonly window: readonly number[];
  readonly ciphertext: Uint8Array;
  readonly values: Float64Array;
}

/**
 * A test decrypts to its values within this. Honest flooding errs by at most ~0.61 of the
 * keyholders' precision target (7σ ≤ target < 1; the largest of N Gaussian errors is ~4.3σ). A
 * wrong share gives values uniform over ±Q/(4Δ) (±1024 for sum-8192): each lands this close with
 * probability ~2^-10, all N of them ~2^-81920.
 */
export const DEALER_TEST_TOLERANCE = 1;

/** The windows of `threshold` consecutive indices (sorted) that the dealer check decrypts with. */
export function checkWindows(indices: readonly number[], threshold: number): number[][] {
  assertInteger(threshold, 'threshold', 1, indices.length);
  const sorted = [...indices].sort((x, y) => x - y);
  return Array.from({ length: sorted.length - threshold + 1 }, (_, k) =>
    sorted.slice(k, k + threshold),
  );
}

/** Every dealer's test encryption for every window, deterministically from the transcript. */
export function dealerTests(
  engine: CkksEngine,
  a: BigUint64Array,
  publicShares: ReadonlyMap<number, BigUint64Array>,
  transcript: Uint8Array,
  threshold: number,
): DealerTest[] {
  const indices = [...publicShares.keys()].sort((x, y) => x - y);
  const windows = checkWindows(indices, threshold);
  const n = engine.set.polyModulusDegree;
  return indices.flatMap((dealer) => {
    const key = engine.loadEncryptionKey(engine.publicKeyBytes(publicShares.get(dealer)!, a));
    try {
      return windows.map((window) => {
        const random = seededRandom(
          hashFields('veilsum/v1/ckks-dealer-test', transcript, dealer, window.join(',')),
        );
        const values = uniformValues(random, n);
        const ciphertext = engine.encryptWithWitnesses(key, values, 1, random).wires[0]!;
        return { dealer, window, ciphertext, values };
      });
    } finally {
      key.delete();
    }
  });
}

/** Keyholder `index`'s flooded partial decryption of a test with the share the dealer dealt it. */
export function dealerTestPartial(
  engine: CkksEngine,
  test: DealerTest,
  dealtShare: BigUint64Array,
  index: number,
  floodSigma: number,
  random: RandomSource,
): Uint8Array {
  if (!test.window.includes(index))
    throw new CryptoInputError(`keyholder ${index} is not in window ${test.window.join(',')}`);
  return engine.partialDecrypt(
    [test.ciphertext],
    dealtShare,
    index,
    test.window,
    floodSigma,
    random,
  )[0]!;
}

/**
 * Whether the window's partials (in window order) decrypt the test to its values. Throws
 * InvalidCiphertextError for a partial that is not one.
 */
export function dealerTestPasses(
  engine: CkksEngine,
  test: DealerTest,
  partials: readonly Uint8Array[],
): boolean {
  if (partials.length !== test.window.length)
    throw new CryptoInputError(`${partials.length} partials for a window of ${test.window.length}`);
  // NaN (an undecodable sum) fails too.
  return testError(engine, test, partials) <= DEALER_TEST_TOLERANCE;
}

/** The largest distance of the window's decryption from the test's values (∞ if undecodable). */
function testError(engine: CkksEngine, test: DealerTest, partials: readonly Uint8Array[]): number {
  const decrypted = engine.combine(
    [test.ciphertext],
    partials.map((partial) => [partial]),
    test.values.length,
  );
  let worst = 0;
  for (let k = 0; k < decrypted.length; k++)
    worst = Math.max(worst, Math.abs(decrypted[k]! - test.values[k]!));
  return Number.isNaN(worst) ? Infinity : worst;
}

/**
 * Who is at fault for a failed test, from the shares its dealer revealed in the complaint step
 * (`revealed`: the share dealt to each responder of the window, in window order). The dealer is
 * at fault iff the unflooded partials of its revealed shares do not decrypt the test: then its
 * shares do not interpolate to the secret behind its public share. Otherwise the responders at
 * fault are those whose partial, put in place of its own unflooded one, moves the decryption by
 * more than DEALER_TEST_TOLERANCE / (t + 1). Why that bound names someone and never an honest
 * responder: decoding is linear, so the test's error is at most the unflooded error ε₀ plus each
 * responder's own deviation; if every responder moved it by at most tol/(t + 1) the error would
 * be at most (t + 1)·ε₀ + t·tol/(t + 1) < tol (ε₀ ≈ 1e-9: encryption noise only), and the test
 * would not have failed. An honest responder's deviation is its flood, below the keyholders'
 * precision target (< 1e-3 ≪ tol/(t + 1) for t ≤ 64).
 */
export function dealerTestVerdict(
  engine: CkksEngine,
  test: DealerTest,
  partials: readonly Uint8Array[],
  revealed: readonly BigUint64Array[],
): { dealerAtFault: boolean; respondersAtFault: number[] } {
  if (partials.length !== test.window.length || revealed.length !== test.window.length)
    throw new CryptoInputError(`a verdict needs one partial and one share per window member`);
  const exact = test.window.map(
    (index, k) =>
      engine.unfloodedPartialDecrypt([test.ciphertext], revealed[k]!, index, test.window)[0]!,
  );
  const error = (answers: readonly Uint8Array[]) => testError(engine, test, answers);
  if (!(error(exact) <= DEALER_TEST_TOLERANCE))
    return { dealerAtFault: true, respondersAtFault: [] };
  const bound = DEALER_TEST_TOLERANCE / (test.window.length + 1);
  const respondersAtFault = test.window.filter((_, k) => {
    let deviation: number;
    try {
      deviation = error(exact.map((partial, r) => (r === k ? partials[k]! : partial)));
    } catch (caught) {
      if (caught instanceof InvalidCiphertextError) return true;
      throw caught;
    }
    return !(deviation <= bound);
  });
  return { dealerAtFault: false, respondersAtFault };
}

/** Uniform values in [−1, 1) from 32-bit draws. */
function uniformValues(random: RandomSource, count: number): Float64Array {
  const bytes = random(4 * count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Float64Array.from({ length: count }, (_, k) => view.getUint32(4 * k, true) / 2 ** 31 - 1);
}
