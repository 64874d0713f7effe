import { Adversary, Mode, type RoundParams } from '../../proto/gen/veilsum/v1/round.ts';
import type { SecAggRoundConfig } from '../../crypto/secagg/config.ts';
import {
  assertSecureParameters,
  chooseGraphParameters,
  completeGraphParameters,
  defaultMinContributors,
  InfeasibleParametersError,
  minimumThreshold,
  SPARSE_MIN_CLIENTS,
  type AdversaryModel,
} from '../../crypto/secagg/parameters.ts';
import type { RoundManifest } from '../../ledger/records.ts';
import { assertNoOverflow } from '../../crypto/quantize.ts';
import { failedPrecondition, invalidArgument } from '../../sdk/common/grpc-errors.ts';
import { assertSumFits, parameterSetNamed } from '../../crypto/ckks/parameters.ts';

/** Deadlines used when a round does not set its own. */
export const DEFAULT_DEADLINE_MS = 60_000;
export const MAX_DIMENSION = 50_000_000;
/** Longest phase deadline a round may set: 30 days. */
export const MAX_DEADLINE_MS = 30 * 24 * 3600 * 1000;
/** Node's timers hold at most 2^31 - 1 ms (longer ones fire at once): longer waits are chained. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

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
  ckksKey?: { readonly parameterSet: string; readonly keySha256: Uint8Array },
): ResolvedParams {
  if (input === undefined) throw invalidArgument('params is required');
  const fail = (message: string): never => {
    throw invalidArgument(message);
  };
  // No '/': round ids are <model>/round-<n>, and the ledger scans records by such prefixes.
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(input.modelId)) {
    fail(
      `model_id "${input.modelId}" must be 1-128 characters of letters, digits, '.', '_', ':' or '-' (no '/': round ids are <model>/round-<n>)`,
    );
  }
  if (input.mode !== Mode.MODE_SECAGG && input.mode !== Mode.MODE_CKKS)
    fail('mode must be MODE_SECAGG or MODE_CKKS');
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
  if (input.mode === Mode.MODE_CKKS) return resolveCkksParams(input, ckksKey);
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
  const model = {
    clients: members.length,
    corruptionRate: input.corruptionRate,
    dropoutRate: input.dropoutRate,
    adversary,
  };
  let minimumContributors = 0;
  try {
    minimumContributors = defaultMinContributors(model);
  } catch (error) {
    fail(`corruption_rate, dropout_rate: ${(error as Error).message}`);
  }
  if (degree === 0 || threshold === 0) {
    try {
      const chosen =
        degree === members.length - 1
          ? completeGraphParameters(model)
          : chooseGraphParameters(model);
      if (degree === 0) degree = chosen.degree;
      if (threshold === 0) threshold = chosen.threshold;
    } catch (error) {
      const smallest = smallRosterParameters(model, degree, error);
      if (smallest === undefined)
        fail(`cannot choose degree and threshold: ${(error as Error).message}`);
      else {
        if (degree === 0) degree = smallest.degree;
        if (threshold === 0) threshold = smallest.threshold;
      }
    }
  }
  if (degree < 2 || degree > members.length - 1)
    fail(`degree must be in [2, ${members.length - 1}], got ${degree}`);
  if (degree < members.length - 1 && degree % 2 !== 0)
    fail(`a sparse graph needs an even degree, got ${degree}`);
  // Members refuse it too (sdk/round-verification.ts): below this the complete graph is the rule.
  if (degree < members.length - 1 && members.length < SPARSE_MIN_CLIENTS)
    fail(
      `a round of ${members.length} members runs on the complete graph (degree ${members.length - 1}); sparse graphs start at ${SPARSE_MIN_CLIENTS} members`,
    );
  if (threshold < 2 || threshold > degree + 1)
    fail(`threshold must be in [2, ${degree + 1}], got ${threshold}`);
  // Members check this too, on the manifest: the coordinator's choice is not trusted either.
  try {
    assertSecureParameters(model, degree, threshold);
  } catch (error) {
    fail(
      `degree ${degree} and threshold ${threshold} are weaker than the threat model: ${(error as Error).message}`,
    );
  }
  // t = n (the small-roster default, or a caller's choice): unmasking needs a share from every
  // member, so any dropout aborts the round. Say so in min_contributors rather than advertise a
  // floor below t that no round could ever reach.
  if (threshold === members.length) minimumContributors = Math.max(minimumContributors, threshold);
  const minContributors = input.minContributors || minimumContributors;
  if (minContributors < minimumContributors || minContributors > members.length) {
    fail(
      `min_contributors must be in [${minimumContributors}, ${members.length}] (all members but the ⌈δn⌉ = ${members.length - minimumContributors} expected to drop), got ${minContributors}`,
    );
  }
  const params: RoundParams = {
    ...input,
    degree,
    threshold,
    minContributors,
    deadlines: withDefaults(input.deadlines, {
      members: members.length,
      degree,
      dimension: input.dimension,
    }),
  };
  return { params, adversary, degree, threshold };
}

/**
 * A roster too small for the secure threshold to leave room for the δn expected dropouts (three
 * members against a semi-malicious server need t = 3 > the 2 expected to survive): the complete
 * graph with that threshold is still secure — it tolerates no dropout, and a round missing a
 * member aborts. Chosen only by default, and only when the expected survivors were the problem.
 */
function smallRosterParameters(
  model: Parameters<typeof minimumThreshold>[0],
  degree: number,
  error: unknown,
): { degree: number; threshold: number } | undefined {
  const complete = model.clients - 1;
  if (!(error instanceof InfeasibleParametersError) || (degree !== 0 && degree !== complete))
    return undefined;
  if (model.clients < 3) return undefined;
  let threshold: number | undefined;
  try {
    threshold = minimumThreshold(model, complete);
  } catch {
    return undefined;
  }
  return threshold !== undefined && threshold <= model.clients
    ? { degree: complete, threshold }
    : undefined;
}

/**
 * Deadlines sized for the work of a phase, used where a round does not set its own: a minute for
 * round trips and a slow start, plus what each member computes and sends at rates a loaded
 * machine still reaches (masks: 5·10^6 words/s; upload: 1 MB/s; per neighbour: 0.2 ms). Every
 * phase also closes early once everyone has spoken, so generous deadlines cost nothing when no
 * one is late.
 */
export function workSizedDeadlines(work: {
  readonly members: number;
  readonly degree: number;
  readonly dimension: number;
}): Required<NonNullable<RoundParams['deadlines']>> {
  const neighbours = Math.max(work.degree, 1);
  const perNeighbourMs = 0.2 * neighbours * work.members;
  const maskingMs = ((neighbours + 1) * work.dimension) / 5_000;
  const uploadMs = (4 * work.dimension) / 1_000;
  const sized = (ms: number) => Math.min(MAX_DEADLINE_MS, Math.ceil(DEFAULT_DEADLINE_MS + ms));
  return {
    advertiseKeysMs: sized(0),
    shareKeysMs: sized(perNeighbourMs),
    maskedInputMs: sized(maskingMs + uploadMs),
    consistencyCheckMs: sized(perNeighbourMs),
    unmaskingMs: sized(perNeighbourMs),
  };
}

function withDefaults(
  d: RoundParams['deadlines'],
  work: Parameters<typeof workSizedDeadlines>[0],
): RoundParams['deadlines'] {
  const defaults = workSizedDeadlines(work);
  const deadline = (value: number | undefined, fallback: number) => {
    if (value !== undefined && value > MAX_DEADLINE_MS) {
      throw invalidArgument(
        `a phase deadline of ${value} ms is longer than the limit of ${MAX_DEADLINE_MS} ms (30 days)`,
      );
    }
    return value && value > 0 ? value : fallback;
  };
  return {
    advertiseKeysMs: deadline(d?.advertiseKeysMs, defaults.advertiseKeysMs),
    shareKeysMs: deadline(d?.shareKeysMs, defaults.shareKeysMs),
    maskedInputMs: deadline(d?.maskedInputMs, defaults.maskedInputMs),
    consistencyCheckMs: deadline(d?.consistencyCheckMs, defaults.consistencyCheckMs),
    unmaskingMs: deadline(d?.unmaskingMs, defaults.unmaskingMs),
  };
}

/**
 * A CKKS round: the coordinator's collective key, a parameter set that can hold the sum of every
 * member's clipped update, and a minimum number of contributions the keyholders insist on
 * (at least 2: an "aggregate" of one upload is that member's update).
 */
function resolveCkksParams(
  input: RoundParams,
  key: { readonly parameterSet: string; readonly keySha256: Uint8Array } | undefined,
): ResolvedParams {
  if (key === undefined) {
    throw failedPrecondition(
      'this coordinator has no CKKS key: run veilsum keys ceremony and set ckks.keyFile in its config',
    );
  }
  const ckks = input.ckks;
  if (ckks === undefined) throw invalidArgument('a MODE_CKKS round needs ckks parameters');
  const parameterSet = ckks.parameterSet || key.parameterSet;
  if (parameterSet !== key.parameterSet) {
    throw invalidArgument(
      `ckks.parameter_set ${parameterSet} differs from the coordinator key's ${key.parameterSet}`,
    );
  }
  if (ckks.keySha256.length > 0 && !Buffer.from(ckks.keySha256).equals(Buffer.from(key.keySha256)))
    throw invalidArgument("ckks.key_sha256 is not the coordinator's current collective key");
  const members = input.members.length;
  const minContributors = ckks.minContributors || Math.max(2, Math.ceil(members / 2));
  if (minContributors < 2 || minContributors > members) {
    throw invalidArgument(
      `ckks.min_contributors must be in [2, ${members}] (one contribution alone would be decrypted as it is), got ${minContributors}`,
    );
  }
  try {
    assertSumFits(parameterSetNamed(parameterSet), members, ckks.clipRange);
  } catch (error) {
    throw invalidArgument(`ckks.clip_range: ${(error as Error).message}`);
  }
  const params: RoundParams = {
    ...input,
    quantization: undefined,
    threshold: 0,
    degree: 0,
    adversary: Adversary.ADVERSARY_UNSPECIFIED,
    corruptionRate: 0,
    dropoutRate: 0,
    ckks: {
      parameterSet,
      keySha256: Buffer.from(key.keySha256),
      minContributors,
      clipRange: ckks.clipRange,
    },
    // CKKS members encrypt instead of masking: about as much work per value as a small graph.
    deadlines: withDefaults(input.deadlines, {
      members,
      degree: 8,
      dimension: input.dimension,
    }),
  };
  return { params, adversary: 'semi-honest', degree: 0, threshold: 0 };
}

export { paramsHash } from '../../proto/round-wire.ts';

export function roundId(modelId: string, roundNumber: number): string {
  return `${modelId}/round-${roundNumber}`;
}

/** What RoundOpened commits on the ledger for these parameters and roster keys. */
export function roundManifest(
  params: RoundParams,
  identityKeys: readonly Uint8Array[],
): RoundManifest {
  const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
  const ckks = params.mode === Mode.MODE_CKKS;
  return {
    mode: ckks ? 'ckks' : 'secagg',
    dimension: params.dimension,
    identityKeys: identityKeys.map(hex),
    adversary: ckks
      ? null
      : params.adversary === Adversary.ADVERSARY_SEMI_MALICIOUS
        ? 'semi-malicious'
        : 'semi-honest',
    corruptionRate: params.corruptionRate,
    dropoutRate: params.dropoutRate,
    degree: params.degree,
    threshold: params.threshold,
    minContributors: ckks ? params.ckks!.minContributors : params.minContributors,
    quantization: ckks
      ? null
      : {
          clipRange: params.quantization!.clipRange,
          levelBits: params.quantization!.levelBits,
          modulusBits: params.quantization!.modulusBits,
        },
    ckksKeySha256: ckks ? hex(params.ckks!.keySha256) : null,
  };
}

export function toSecAggConfig(
  id: string,
  resolved: ResolvedParams,
  graphSeed: Uint8Array,
  identityKeys: readonly Uint8Array[],
  paramsHash: Uint8Array,
): SecAggRoundConfig {
  return {
    roundId: id,
    paramsHash,
    minContributors: resolved.params.minContributors,
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
