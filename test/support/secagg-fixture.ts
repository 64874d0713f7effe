import type { Curve25519 } from '../../crypto/curve25519.ts';
import { nativeCurve25519 } from '../../crypto/curve25519-native.ts';
import { seededRandom, type RandomSource } from '../../crypto/random.ts';
import { createRoundContext, type RoundContext, shareHolders } from '../../crypto/secagg/config.ts';
import type { AdversaryModel } from '../../crypto/secagg/parameters.ts';
import type { DropoutPhase } from '../../crypto/secagg/simulation.ts';
import { SecAggClient } from '../../crypto/secagg/client.ts';
import { SecAggServer } from '../../crypto/secagg/server.ts';

export interface RoundFixture {
  readonly context: RoundContext;
  readonly identitySecretKeys: Uint8Array[];
  readonly inputs: Uint32Array[];
  readonly random: RandomSource;
  readonly curve: Curve25519;
}

export interface FixtureOptions {
  readonly clients: number;
  readonly degree: number;
  readonly threshold: number;
  readonly dimension: number;
  readonly adversary?: AdversaryModel;
  readonly modulusBits?: number;
  readonly seed?: number;
  readonly curve?: Curve25519;
  /** Default 2: the property tests exercise the thresholds; min contributors has its own tests. */
  readonly minContributors?: number;
}

/** A round with deterministic identities, graph and inputs (quantized levels in [0, L]). */
export function roundFixture(options: FixtureOptions): RoundFixture {
  const random = seededRandom(options.seed ?? 1);
  const curve = options.curve ?? nativeCurve25519;
  const modulusBits = options.modulusBits ?? 32;
  const levelBits = modulusBits - 8;
  const identitySecretKeys = Array.from({ length: options.clients }, () => random(32));
  const context = createRoundContext({
    roundId: `test-round-${options.seed ?? 1}`,
    paramsHash: random(32),
    minContributors: options.minContributors ?? 2,
    clients: options.clients,
    threshold: options.threshold,
    degree: options.degree,
    graphSeed: random(32),
    dimension: options.dimension,
    quantization: { clipRange: 1, levelBits, modulusBits },
    adversary: options.adversary ?? 'semi-honest',
    identityKeys: identitySecretKeys.map((key) => curve.ed25519PublicKey(key)),
  });
  const inputs = Array.from({ length: options.clients }, () => {
    const bytes = random(options.dimension * 4);
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, options.dimension);
    return words.map((word) => word >>> (32 - levelBits));
  });
  return { context, identitySecretKeys, inputs, random, curve };
}

/** The fixture's honest server and clients (index i + 1 holds identitySecretKeys[i]). */
export function fixtureParties(fixture: RoundFixture): {
  server: SecAggServer;
  clients: SecAggClient[];
} {
  const { context, curve, random } = fixture;
  return {
    server: new SecAggServer({ context, curve }),
    clients: fixture.identitySecretKeys.map(
      (identitySecretKey, i) =>
        new SecAggClient({ context, index: i + 1, identitySecretKey, curve, random }),
    ),
  };
}

/** The fixture's round on the complete graph (degree n − 1), with its honest server and clients. */
export function completeGraphRound(options: Omit<FixtureOptions, 'degree'>): {
  fixture: RoundFixture;
  server: SecAggServer;
  clients: SecAggClient[];
} {
  const fixture = roundFixture({ ...options, degree: options.clients - 1 });
  return { fixture, ...fixtureParties(fixture) };
}

/**
 * AdvertiseKeys and ShareKeys played honestly by every client; returns U1, U2 and the masking
 * public key each client advertised.
 */
export function playKeyPhases(
  server: SecAggServer,
  clients: readonly SecAggClient[],
): { u1: readonly number[]; u2: readonly number[]; maskingKeys: Map<number, Uint8Array> } {
  const maskingKeys = new Map<number, Uint8Array>();
  for (const client of clients) {
    const message = client.advertiseKeys();
    maskingKeys.set(client.index, message.maskingPublicKey);
    server.receiveAdvertiseKeys(message);
  }
  server.closeAdvertiseKeys();
  const u1 = server.participantSets().advertised;
  for (const client of clients)
    server.receiveShareKeys(client.shareKeys(server.keysFor(client.index), u1));
  server.closeShareKeys();
  return { u1, u2: server.participantSets().shared, maskingKeys };
}

/**
 * MaskedInputCollection: each of `senders` masks its input (inputs[index − 1]) for U2; every
 * upload is kept (the server's withdraw callback reads it) and handed to the server where
 * `delivered` says so (default: all). Returns U3 and the uploads.
 */
export function playMaskedInput(
  server: SecAggServer,
  senders: readonly SecAggClient[],
  inputs: readonly Uint32Array[],
  delivered: (sender: number) => boolean = () => true,
): { u3: readonly number[]; uploads: Map<number, Uint32Array> } {
  const u2 = server.participantSets().shared;
  const uploads = new Map<number, Uint32Array>();
  for (const client of senders) {
    const message = client.maskInput(server.sharesFor(client.index), u2, inputs[client.index - 1]!);
    uploads.set(client.index, message.maskedInput.slice());
    if (delivered(client.index)) server.receiveMaskedInput(message);
  }
  server.closeMaskedInputCollection((sender) => uploads.get(sender)!);
  return { u3: server.participantSets().masked, uploads };
}

/** The consistency check (semi-malicious rounds only; else nothing): `signers` sign U3. */
export function playConsistencyCheck(
  server: SecAggServer,
  adversary: AdversaryModel,
  signers: readonly SecAggClient[],
  u3: readonly number[],
): void {
  if (adversary !== 'semi-malicious') return;
  for (const client of signers)
    server.receiveConsistencySignature(client.signSurvivors(server.consistencyCheckRequest(), u3));
  server.closeConsistencyCheck();
}

export type ExpectedOutcome =
  { readonly aborts: true } | { readonly aborts: false; readonly included: number[] };

/**
 * The protocol's specification, written independently of client.ts/server.ts: who is in each
 * of U1..U5 given the dropout schedule, and whether some threshold check must abort the round.
 */
export function expectedOutcome(
  /** With the graph as fixed by the members' seed (SimulationOptions.onGraphFixed). */
  context: RoundContext,
  dropouts: ReadonlyMap<number, DropoutPhase>,
): ExpectedOutcome {
  const { clients, adversary } = context.config;
  const threshold = context.config.threshold;
  // A phase closes only with at least t and at least min contributors members.
  const enough = Math.max(threshold, context.config.minContributors);
  const all = Array.from({ length: clients }, (_, i) => i + 1);
  const holders = (u: number) => shareHolders(context, u);
  const count = (list: readonly number[], set: ReadonlySet<number>) =>
    list.filter((v) => set.has(v)).length;
  const stays = (u: number, phase: DropoutPhase) => dropouts.get(u) !== phase;
  const abort = { aborts: true } as const;

  const u1 = new Set(all.filter((u) => stays(u, 'advertise-keys')));
  if (u1.size < enough) return abort;
  // A sparse graph's seed needs every U1 member's reveal: one missing stops the round.
  if (!context.graph.complete && [...u1].some((u) => !stays(u, 'seed-reveal'))) return abort;
  const u2 = new Set(
    [...u1].filter((u) => stays(u, 'share-keys') && count(holders(u), u1) >= threshold),
  );
  if (u2.size < enough) return abort;
  const u3 = new Set(
    [...u2].filter(
      (u) => stays(u, 'masked-input') && count(context.graph.neighbours(u), u2) + 1 >= threshold,
    ),
  );
  if (u3.size < enough) return abort;
  let candidates = [...u3].filter((u) => stays(u, 'consistency-check'));
  if (adversary === 'semi-malicious') {
    candidates = candidates.filter((u) => count(holders(u), u3) >= threshold);
    if (candidates.length < threshold) return abort;
  }
  const u5 = new Set(
    candidates.filter((u) => stays(u, 'unmasking') && count(holders(u), u3) >= threshold),
  );
  if (u5.size < threshold) return abort;
  for (const u of u3) if (count(holders(u), u5) < threshold) return abort;
  for (const v of u2) {
    if (!u3.has(v) && count(context.graph.neighbours(v), u5) < threshold) return abort;
  }
  return { aborts: false, included: [...u3].sort((a, b) => a - b) };
}

export function modularSum(
  inputs: readonly Uint32Array[],
  included: readonly number[],
  modulusBits: number,
): Uint32Array {
  const sum = new Uint32Array(inputs[0]!.length);
  for (const index of included) {
    const input = inputs[index - 1]!;
    for (let i = 0; i < sum.length; i++) sum[i]! += input[i]!;
  }
  if (modulusBits < 32)
    for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! & (2 ** modulusBits - 1);
  return sum;
}
