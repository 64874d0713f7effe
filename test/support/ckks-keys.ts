import type { CkksEngine } from '../../crypto/ckks/engine.ts';
import { ceremonyInOneProcess, keySha256 } from '../../crypto/ckks/key-ceremony.ts';
import { floodingSigmaFor, KEY_KL_BUDGET, SUM_8192 } from '../../crypto/ckks/parameters.ts';
import type { CollectiveKeyLimits, RoundManifest } from '../../ledger/records.ts';
import { writeKeyFile } from '../../services/keyholder/key-file.ts';
import { seededRandom, systemRandom } from '../../crypto/random.ts';

/** The ceremony's arithmetic among `n` keyholders in this process, from a seed. */
export function ceremonyInProcess(engine: CkksEngine, n: number, threshold: number, seed = 1) {
  return ceremonyInOneProcess(engine, n, threshold, seededRandom(seed));
}

/**
 * A coordinator's key file for a key `holders` made (ceremony `ceremonyId`, threshold t), with
 * addresses nobody listens on: for tests in which no keyholder is asked to decrypt.
 */
export function writeHeldKeyFile(
  path: string,
  ceremonyId: string,
  holders: readonly string[],
  threshold: number,
  publicKey: Uint8Array,
): void {
  writeKeyFile(path, {
    ceremonyId,
    parameterSet: SUM_8192.name,
    threshold,
    keyholders: holders.map((keyholderId, i) => ({
      keyholderId,
      index: i + 1,
      address: '127.0.0.1:9',
    })),
    publicKey,
    keySha256: keySha256(publicKey),
  });
}

/**
 * The partial decryptions of `responders` (1-based keyholder indices) for an aggregate, each
 * weighted for the responder set `weightedFor` (the responders themselves unless a test says
 * otherwise).
 */
export function partialsFor(
  engine: CkksEngine,
  aggregate: readonly Uint8Array[],
  shares: readonly BigUint64Array[],
  responders: readonly number[],
  floodSigma: number,
  weightedFor: readonly number[] = responders,
): Uint8Array[][] {
  return responders.map((index) =>
    engine.partialDecrypt(
      aggregate,
      shares[index - 1]!,
      index,
      weightedFor,
      floodSigma,
      systemRandom,
    ),
  );
}

/**
 * The limits a default-configured keyholder (precision 5e-5, 1000 rounds) attests for a sum-8192
 * key of threshold `threshold` (keyholder.ts `keyLimits`).
 */
export function testKeyLimits(threshold = 2, keyLifeRounds = 1000): CollectiveKeyLimits {
  return {
    parameterSet: SUM_8192.name,
    floodingSigma: floodingSigmaFor(SUM_8192, threshold, 5e-5),
    keyLifeRounds,
    klBudget: KEY_KL_BUDGET,
  };
}

/**
 * A CKKS round manifest under `ckksKeySha256` for `members` roster members (placeholder identity
 * keys: nothing that reads it checks them), at least 2 contributors.
 */
export function ckksTestManifest(
  ckksKeySha256: string,
  members: number,
  dimension: number,
): RoundManifest {
  return {
    mode: 'ckks',
    dimension,
    identityKeys: Array.from({ length: members }, (_, i) => String(i + 1).padStart(64, '0')),
    adversary: null,
    corruptionRate: 0,
    dropoutRate: 0,
    degree: 0,
    threshold: 0,
    minContributors: 2,
    quantization: null,
    ckksKeySha256,
  };
}
