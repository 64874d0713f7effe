import {
  ciphertextsFor,
  decryptionKl,
  PARAMETER_SETS,
  type CkksParameterSet,
} from '../crypto/ckks/parameters.ts';
import { ContractError } from './contract.ts';
import type { CollectiveKeyLimits, KeyDecryptionRecord, RoundRecord } from './records.ts';

/**
 * A collective key's decryption budget as the contract keeps it (issue 18). The limits are fixed
 * when the key is attested — every keyholder of the ceremony attests the same parameter set,
 * flooding σ_f, key life and KL budget, from its own configuration — and a decryption record
 * carries only what the contract checks against the ledger: the round (opened with a manifest
 * under this key, closed with this aggregate), its ciphertext count (exactly what the round's
 * dimension takes at the key's parameter set) and its contributors (the round's included set).
 * The contract computes each charge itself (parameters.ts `decryptionKl`), so no single
 * keyholder's record can spend more than a real decryption of a real round under the key would.
 */

const MOST_ROUNDS = 2 ** 31;

function parameterSetOf(limits: CollectiveKeyLimits): CkksParameterSet {
  const set = PARAMETER_SETS[limits.parameterSet];
  if (set === undefined)
    throw new ContractError(
      'invalid',
      `limits.parameterSet "${limits.parameterSet}" is not a CKKS parameter set; known: ${Object.keys(PARAMETER_SETS).join(', ')}`,
    );
  return set;
}

/** The limits of an attestation, checked; the KL formula must accept them. */
export function requireKeyLimits(value: unknown, keyholders: number): CollectiveKeyLimits {
  if (value === null || typeof value !== 'object')
    throw new ContractError(
      'invalid',
      'limits must be { parameterSet, floodingSigma, keyLifeRounds, klBudget }',
    );
  const v = value as Record<string, unknown>;
  if (typeof v.parameterSet !== 'string')
    throw new ContractError('invalid', 'limits.parameterSet must be a string');
  const limits: CollectiveKeyLimits = {
    parameterSet: v.parameterSet,
    floodingSigma: v.floodingSigma as number,
    keyLifeRounds: v.keyLifeRounds as number,
    klBudget: v.klBudget as number,
  };
  const set = parameterSetOf(limits);
  if (typeof limits.floodingSigma !== 'number' || !(limits.floodingSigma > 0))
    throw new ContractError('invalid', 'limits.floodingSigma must be a positive number');
  if (
    !Number.isSafeInteger(limits.keyLifeRounds) ||
    limits.keyLifeRounds < 1 ||
    limits.keyLifeRounds > MOST_ROUNDS
  )
    throw new ContractError('invalid', 'limits.keyLifeRounds must be an integer in [1, 2^31]');
  if (typeof limits.klBudget !== 'number' || !(limits.klBudget > 0 && limits.klBudget <= 1))
    throw new ContractError('invalid', 'limits.klBudget must be a number in (0, 1]');
  if (!set.insecure) {
    try {
      decryptionKl(set, limits.floodingSigma, 1, 1, keyholders);
    } catch (error) {
      throw new ContractError('invalid', `limits: ${(error as Error).message}`);
    }
  }
  return limits;
}

export const sameKeyLimits = (x: CollectiveKeyLimits, y: CollectiveKeyLimits): boolean =>
  x.parameterSet === y.parameterSet &&
  x.floodingSigma === y.floodingSigma &&
  x.keyLifeRounds === y.keyLifeRounds &&
  x.klBudget === y.klBudget;

/** What one decryption of `round` costs the key: KL from the key's limits and the round's counts. */
export function decryptionCharge(
  limits: CollectiveKeyLimits,
  keyholders: number,
  ciphertexts: number,
  contributors: number,
): number {
  const set = parameterSetOf(limits);
  return set.insecure
    ? 0
    : decryptionKl(set, limits.floodingSigma, ciphertexts, Math.max(1, contributors), keyholders);
}

/**
 * The counts a keyholder may record for `round` under `keySha256`: the round must have been
 * opened with a manifest naming the key and closed with `aggregateSha256`; the ciphertext count is
 * the one its dimension takes at the key's parameter set and the contributors its included set.
 */
export function requireDecryptionOfRound(
  round: RoundRecord,
  keySha256: string,
  limits: CollectiveKeyLimits,
  aggregateSha256: string,
  counts: { readonly ciphertexts: number; readonly contributors: number },
): void {
  const manifest = round.manifest;
  if (manifest?.mode !== 'ckks' || manifest.ckksKeySha256 !== keySha256)
    throw new ContractError(
      'conflict',
      `round ${round.roundId} was not opened with a manifest under CKKS key ${keySha256.slice(0, 16)}…; a keyholder records only decryptions of rounds under the key`,
    );
  if (round.status !== 'closed' || round.aggregateHash !== aggregateSha256)
    throw new ContractError(
      'conflict',
      `round ${round.roundId} did not close with aggregate ${aggregateSha256.slice(0, 16)}…; only a closed round's committed aggregate is decrypted`,
    );
  if (round.included.length !== counts.contributors)
    throw new ContractError(
      'invalid',
      `round ${round.roundId} closed with ${round.included.length} contributors, not ${counts.contributors}`,
    );
  const expected = ciphertextsFor(parameterSetOf(limits), manifest.dimension);
  if (counts.ciphertexts !== expected)
    throw new ContractError(
      'invalid',
      `round ${round.roundId} has dimension ${manifest.dimension}: ${expected} ciphertexts at ${limits.parameterSet}, not ${counts.ciphertexts}`,
    );
}

/**
 * Refuses (KEY_EXHAUSTED) a decryption of a new aggregate past the key's life or KL budget over
 * every keyholder's records, each charged from its counts (one charge per distinct aggregate).
 */
export function requireKeyBudget(
  exhausted: string,
  keySha256: string,
  limits: CollectiveKeyLimits,
  keyholders: number,
  recorded: readonly KeyDecryptionRecord[],
  aggregateSha256: string,
  kl: number,
): void {
  const charged = new Map<string, number>();
  for (const r of recorded)
    charged.set(
      r.aggregateSha256,
      Math.max(
        charged.get(r.aggregateSha256) ?? 0,
        decryptionCharge(limits, keyholders, r.ciphertexts, r.contributors),
      ),
    );
  if (charged.has(aggregateSha256)) return;
  const spent = [...charged.values()].reduce((total, charge) => total + charge, 0);
  const log2 = (x: number) => (x > 0 ? Math.log2(x).toFixed(1) : '-∞');
  if (charged.size >= limits.keyLifeRounds || spent + kl > limits.klBudget)
    throw new ContractError(
      'conflict',
      `${exhausted} key ${keySha256.slice(0, 16)}… has decrypted ${charged.size} rounds (KL 2^${log2(spent)}) by all its keyholders' records; ` +
        `one more (KL 2^${log2(kl)}) would pass its attested ${limits.keyLifeRounds} rounds or KL 2^${log2(limits.klBudget)}`,
    );
}
