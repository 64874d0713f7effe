import { encodeFields } from '../bytes.ts';
import { hashFields } from '../commitment.ts';
import { CURVE25519_KEY_BYTES } from '../curve25519.ts';
import { assertNoOverflow, type QuantizationParams } from '../quantize.ts';
import { seededRandom } from '../random.ts';
import { MAX_MASK_WORDS } from '../prg.ts';
import { InvalidConfigError, PhaseOrderError } from './errors.ts';
import { completeGraph, hararyGraph, type NeighbourGraph } from './graph.ts';
import type { AdversaryModel } from './parameters.ts';

/**
 * Everything the participants of one SecAgg+ round agree on before it starts. Members take it
 * from the ledger's RoundOpened record (their own view), never from the coordinator alone.
 */
export interface SecAggRoundConfig {
  readonly roundId: string;
  /**
   * SHA-256 of the round's agreed parameters (the params hash on the ledger). With the round id
   * and the identity keys it forms the round's binding (RoundContext.binding), which enters every
   * signed payload, AEAD associated data and KDF info of the round.
   */
  readonly paramsHash: Uint8Array;
  /**
   * The fewest inputs a released sum may contain: the coordinator aborts below it and every
   * client refuses to unmask a smaller survivor set.
   */
  readonly minContributors: number;
  /** n: participants are numbered 1..n. */
  readonly clients: number;
  /** t: shares needed to reconstruct a secret, among a client's neighbours and itself. */
  readonly threshold: number;
  /** k: neighbours per client; n − 1 is the complete graph (classic SecAgg). */
  readonly degree: number;
  /**
   * The ledger's seed for the round (from the RoundOpened transaction). It enters the params hash
   * and so the binding; the graph itself is shuffled with the seed the members contribute once
   * U1 is fixed (graph-seed.ts), since every input of this one is chosen by one party.
   */
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
  /**
   * Who masks with whom. A sparse graph is unknown until the members' contributed seed is fixed
   * (withGraphSeed): until then asking it for neighbours throws.
   */
  readonly graph: NeighbourGraph;
  /** Σ y_u lives in Z_{2^32}; the result is reduced to Z_{2^modulusBits}. */
  readonly modulusBits: number;
  /** H(round id, params hash, identity keys): what binds every transcript to this round. */
  readonly binding: Uint8Array;
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
  if (!(config.paramsHash instanceof Uint8Array) || config.paramsHash.length !== 32)
    fail('paramsHash must be 32 bytes (SHA-256)');
  const t = config.threshold;
  if (!Number.isSafeInteger(t) || t < 2 || t > k + 1) {
    fail(`threshold must be an integer in [2, ${k + 1}] (degree + 1 share holders), got ${t}`);
  }
  const m = config.minContributors;
  if (!Number.isSafeInteger(m) || m < 2 || m > n)
    fail(`minContributors must be an integer in [2, ${n}], got ${m}`);
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
  const graph = k === n - 1 ? completeGraph(n) : unfixedGraph(n, k);
  return {
    config,
    graph,
    modulusBits: config.quantization.modulusBits,
    binding: roundBinding(config.roundId, config.paramsHash, config.identityKeys),
  };
}

/** Whether the round's graph waits for the members' contributed seed (any sparse graph). */
export function needsContributedSeed(context: RoundContext): boolean {
  return !context.graph.complete;
}

/** The context with its sparse graph shuffled by the members' contributed seed (graph-seed.ts). */
export function withGraphSeed(context: RoundContext, seed: Uint8Array): RoundContext {
  if (context.graph.complete) return context;
  const { clients, degree } = context.config;
  return { ...context, graph: hararyGraph(clients, degree, seededRandom(seed)) };
}

function unfixedGraph(size: number, degree: number): NeighbourGraph {
  const unknown = (): never => {
    throw new PhaseOrderError(
      'the sparse graph is not known before the members have revealed their seed contributions',
    );
  };
  return { size, degree, complete: false, neighbours: unknown, areNeighbours: unknown };
}

/**
 * The round binding: a signature, box or key made for one round is useless in any other round,
 * in a round with other parameters, or under a roster with another identity key.
 */
export function roundBinding(
  roundId: string,
  paramsHash: Uint8Array,
  identityKeys: readonly Uint8Array[],
): Uint8Array {
  return hashFields(
    'veilsum/v1/secagg/round-binding',
    roundId,
    paramsHash,
    encodeFields(...identityKeys),
  );
}

/** The client itself and its neighbours: the holders of its Shamir shares. */
export function shareHolders(context: RoundContext, index: number): readonly number[] {
  return [...context.graph.neighbours(index), index].sort((a, b) => a - b);
}
