import { createHash } from 'node:crypto';
import type { SecAggRoundConfig } from '../crypto/secagg/config.ts';
import { Adversary, RoundParams, type Round } from './gen/veilsum/v1/round.ts';

/**
 * What coordinator and members derive identically from a round on the wire: the parameters hash
 * they agree to, and the SecAgg+ configuration of the round.
 */
export function paramsHash(encodedParams: Uint8Array, graphSeed: Uint8Array): Uint8Array {
  return new Uint8Array(
    createHash('sha256')
      .update('veilsum/v1/round-params')
      .update(encodedParams)
      .update(graphSeed)
      .digest(),
  );
}

/**
 * The params hash RoundOpened commits for a SecAgg round opened with a manifest: the parameters
 * alone, since the graph seed is derived by the ledger from that very transaction.
 */
export function ledgerParamsHash(params: RoundParams): Uint8Array {
  return paramsHash(RoundParams.encode(params).finish(), new Uint8Array(0));
}

/** True when the round's parameters and graph seed hash to the params_hash it carries. */
export function hasConsistentParamsHash(round: Round): boolean {
  const expected = paramsHash(RoundParams.encode(round.params!).finish(), round.graphSeed);
  return Buffer.from(expected).equals(Buffer.from(round.paramsHash));
}

export function secAggConfigOf(round: Round): SecAggRoundConfig {
  const params = round.params!;
  return {
    roundId: round.roundId,
    paramsHash: new Uint8Array(round.paramsHash),
    minContributors: params.minContributors,
    clients: round.roster.length,
    threshold: params.threshold,
    degree: params.degree,
    graphSeed: new Uint8Array(round.graphSeed),
    dimension: params.dimension,
    quantization: params.quantization!,
    adversary:
      params.adversary === Adversary.ADVERSARY_SEMI_MALICIOUS ? 'semi-malicious' : 'semi-honest',
    identityKeys: [...round.roster]
      .sort((a, b) => a.index - b.index)
      .map((member) => new Uint8Array(member.identityKey)),
  };
}
