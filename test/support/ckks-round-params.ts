import { Mode, type RoundParams } from '../../proto/gen/veilsum/v1/round.ts';

/**
 * The RoundParams of a CKKS round as tests open it: only the upload phase has a deadline, and
 * the parameter set and key hash are left for the coordinator to fill in unless given.
 */
export function ckksRoundParams(round: {
  readonly modelId: string;
  readonly roundNumber: number;
  readonly dimension: number;
  readonly members: string[];
  readonly minContributors: number;
  readonly uploadDeadlineMs?: number;
  readonly parameterSet?: string;
  readonly keySha256?: Uint8Array;
}): RoundParams {
  return {
    modelId: round.modelId,
    roundNumber: round.roundNumber,
    mode: Mode.MODE_CKKS,
    dimension: round.dimension,
    quantization: undefined,
    threshold: 0,
    degree: 0,
    adversary: 0,
    members: round.members,
    deadlines: {
      advertiseKeysMs: 0,
      shareKeysMs: 0,
      maskedInputMs: round.uploadDeadlineMs ?? 600_000,
      consistencyCheckMs: 0,
      unmaskingMs: 0,
    },
    corruptionRate: 0,
    dropoutRate: 0,
    minContributors: 0,
    ckks: {
      parameterSet: round.parameterSet ?? '',
      keySha256: Buffer.from(round.keySha256 ?? new Uint8Array(0)),
      minContributors: round.minContributors,
      clipRange: 1,
    },
  };
}
