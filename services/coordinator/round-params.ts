import { Adversary, Mode, type RoundParams } from '../../proto/gen/veilsum/v1/round.ts';
import type { SecAggRoundConfig } from '../../crypto/secagg/config.ts';
import {
  chooseGraphParameters,
  completeGraphParameters,
  type AdversaryModel,
} from '../../crypto/secagg/parameters.ts';
import { assertNoOverflow } from '../../crypto/quantize.ts';
import { invalidArgument } from '../common/grpc-errors.ts';

/** Deadlines used when a round does not set its own. */
export const DEFAULT_DEADLINE_MS = 60_000;
export const MAX_DIMENSION = 50_000_000;

export interface ResolvedParams {
  readonly params: RoundParams;
  readonly adversary: AdversaryModel;
  readonly degree: number;
  readonly threshold: number;
}

/**
 * Validates OpenRound parameters once, at the edge, and fills in what the threat model decides
 * (degree, threshold) and the default deadlines. Every complaint names the field and what to do.
 */
export function resolveRoundParams(
  input: RoundParams | undefined,
  knownMembers: ReadonlySet<string>,
): ResolvedParams {
  if (input === undefined) throw invalidArgument('params is required');
  const fail = (message: string): never => {
    throw invalidArgument(message);
  };
  if (!/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/.test(input.modelId)) {
    fail(
      `model_id "${input.modelId}" must be 1-128 characters of letters, digits, '.', '_', ':', '/' or '-'`,
    );
  }
  if (input.mode !== Mode.MODE_SECAGG)
    fail('mode must be MODE_SECAGG (CKKS rounds come with the CKKS issue)');
  if (
    !Number.isSafeInteger(input.dimension) ||
    input.dimension < 1 ||
    input.dimension > MAX_DIMENSION
  ) {
    fail(`dimension must be between 1 and ${MAX_DIMENSION}, got ${input.dimension}`);
  }
  const members = input.members;
  if (members.length < 3) fail(`a round needs at least 3 members, got ${members.length}`);
  const seen = new Set<string>();
  for (const member of members) {
    if (!knownMembers.has(member))
      fail(`member "${member}" is not in the coordinator's member directory`);
    if (seen.has(member)) fail(`member "${member}" is listed twice`);
    seen.add(member);
  }
  const quantization = input.quantization;
  if (quantization === undefined)
    fail('quantization is required (clip_range, level_bits, modulus_bits)');
  try {
    assertNoOverflow(members.length, quantization!);
  } catch (error) {
    fail(`quantization: ${(error as Error).message}`);
  }
  const adversary: AdversaryModel =
    input.adversary === Adversary.ADVERSARY_SEMI_HONEST
      ? 'semi-honest'
      : input.adversary === Adversary.ADVERSARY_SEMI_MALICIOUS
        ? 'semi-malicious'
        : fail('adversary must be ADVERSARY_SEMI_HONEST or ADVERSARY_SEMI_MALICIOUS');
  let degree = input.degree;
  let threshold = input.threshold;
  if (degree === 0 || threshold === 0) {
    const model = {
      clients: members.length,
      corruptionRate: input.corruptionRate,
      dropoutRate: input.dropoutRate,
      adversary,
    };
    try {
      const chosen =
        degree === members.length - 1
          ? completeGraphParameters(model)
          : chooseGraphParameters(model);
      if (degree === 0) degree = chosen.degree;
      if (threshold === 0) threshold = chosen.threshold;
    } catch (error) {
      fail(`cannot choose degree and threshold: ${(error as Error).message}`);
    }
  }
  if (degree < 2 || degree > members.length - 1)
    fail(`degree must be in [2, ${members.length - 1}], got ${degree}`);
  if (degree < members.length - 1 && degree % 2 !== 0)
    fail(`a sparse graph needs an even degree, got ${degree}`);
  if (threshold < 2 || threshold > degree + 1)
    fail(`threshold must be in [2, ${degree + 1}], got ${threshold}`);
  const deadline = (value: number | undefined) =>
    value && value > 0 ? value : DEFAULT_DEADLINE_MS;
  const d = input.deadlines;
  const params: RoundParams = {
    ...input,
    degree,
    threshold,
    deadlines: {
      advertiseKeysMs: deadline(d?.advertiseKeysMs),
      shareKeysMs: deadline(d?.shareKeysMs),
      maskedInputMs: deadline(d?.maskedInputMs),
      consistencyCheckMs: deadline(d?.consistencyCheckMs),
      unmaskingMs: deadline(d?.unmaskingMs),
    },
  };
  return { params, adversary, degree, threshold };
}

export { paramsHash } from '../../proto/round-wire.ts';

export function roundId(modelId: string, roundNumber: number): string {
  return `${modelId}/round-${roundNumber}`;
}

export function toSecAggConfig(
  id: string,
  resolved: ResolvedParams,
  graphSeed: Uint8Array,
  identityKeys: readonly Uint8Array[],
): SecAggRoundConfig {
  return {
    roundId: id,
    clients: resolved.params.members.length,
    threshold: resolved.threshold,
    degree: resolved.degree,
    graphSeed,
    dimension: resolved.params.dimension,
    quantization: resolved.params.quantization!,
    adversary: resolved.adversary,
    identityKeys,
  };
}
