import { CURVE25519_KEY_BYTES } from '../curve25519.ts';
import { assertNoOverflow, type QuantizationParams } from '../quantize.ts';
import { seededRandom } from '../random.ts';
import { MAX_MASK_WORDS } from '../prg.ts';
import { InvalidConfigError } from './errors.ts';
import { completeGraph, hararyGraph, type NeighbourGraph } from './graph.ts';
import type { AdversaryModel } from './parameters.ts';

/**
 * Everything the participants of one SecAgg+ round agree on before it starts. Its hash is what
 * the ledger records as the round's parameters (a later issue); here it is plain data.
 */
export interface SecAggRoundConfig {
  readonly roundId: string;
  /** n: participants are numbered 1..n. */
  readonly clients: number;
  /** t: shares needed to reconstruct a secret, among a client's neighbours and itself. */
  readonly threshold: number;
  /** k: neighbours per client; n − 1 is the complete graph (classic SecAgg). */
  readonly degree: number;
  /** Public seed of the shuffled ring; must be unpredictable to clients before they enrol. */
  readonly graphSeed: Uint8Array;
  /** d: length of every input vector. */
  readonly dimension: number;
  readonly quantization: QuantizationParams;
  /** 'semi-malicious' adds the ConsistencyCheck phase (signed survivor sets, Bonawitz §4.2). */
  readonly adversary: AdversaryModel;
  /** Ed25519 identity public key of participant i at position i − 1 (from the PKI/ledger). */
  readonly identityKeys: readonly Uint8Array[];
}

/** A validated config together with what is derived from it once. */
export interface RoundContext {
  readonly config: SecAggRoundConfig;
  readonly graph: NeighbourGraph;
  /** Σ y_u lives in Z_{2^32}; the result is reduced to Z_{2^modulusBits}. */
  readonly modulusBits: number;
}

export function createRoundContext(config: SecAggRoundConfig): RoundContext {
  const fail = (message: string): never => {
    throw new InvalidConfigError(`round ${config.roundId}: ${message}`);
  };
  if (
    typeof config.roundId !== 'string' ||
    config.roundId.length === 0 ||
    config.roundId.length > 256
  ) {
    fail('roundId must be a non-empty string of at most 256 characters');
  }
  const n = config.clients;
  if (!Number.isSafeInteger(n) || n < 3 || n > 0xffff)
    fail(`clients must be an integer in [3, 65535], got ${n}`);
  const k = config.degree;
  if (!Number.isSafeInteger(k) || k < 2 || k > n - 1)
    fail(`degree must be an integer in [2, ${n - 1}], got ${k}`);
  if (k < n - 1 && k % 2 !== 0) fail(`a sparse (Harary) graph needs an even degree, got ${k}`);
  const t = config.threshold;
  if (!Number.isSafeInteger(t) || t < 2 || t > k + 1) {
    fail(`threshold must be an integer in [2, ${k + 1}] (degree + 1 share holders), got ${t}`);
  }
  if (!(config.graphSeed instanceof Uint8Array) || config.graphSeed.length !== 32)
    fail('graphSeed must be 32 bytes');
  const d = config.dimension;
  if (!Number.isSafeInteger(d) || d < 1 || d > MAX_MASK_WORDS)
    fail(`dimension must be in [1, ${MAX_MASK_WORDS}], got ${d}`);
  if (config.adversary !== 'semi-honest' && config.adversary !== 'semi-malicious') {
    fail(`adversary must be 'semi-honest' or 'semi-malicious', got ${String(config.adversary)}`);
  }
  if (!Array.isArray(config.identityKeys) || config.identityKeys.length !== n) {
    fail(`identityKeys must list one Ed25519 public key per client (${n})`);
  }
  config.identityKeys.forEach((key, i) => {
    if (!(key instanceof Uint8Array) || key.length !== CURVE25519_KEY_BYTES) {
      fail(`identity key of client ${i + 1} must be ${CURVE25519_KEY_BYTES} bytes`);
    }
  });
  try {
    assertNoOverflow(n, config.quantization);
  } catch (error) {
    fail((error as Error).message);
  }
  const graph = k === n - 1 ? completeGraph(n) : hararyGraph(n, k, seededRandom(config.graphSeed));
  return { config, graph, modulusBits: config.quantization.modulusBits };
}

/** The client itself and its neighbours: the holders of its Shamir shares. */
export function shareHolders(context: RoundContext, index: number): readonly number[] {
  return [...context.graph.neighbours(index), index].sort((a, b) => a - b);
}
