import type { Curve25519 } from '../curve25519.ts';
import type { RandomSource } from '../random.ts';
import { SecAggClient } from './client.ts';
import type { RoundContext } from './config.ts';
import { SecAggError } from './errors.ts';
import type {
  KeysBroadcast,
  PairwiseRevealMessage,
  SecAggPhase,
  SeedCommitmentsMessage,
  ShareComplaint,
  SharesDelivery,
  UnmaskingMessage,
  UnmaskingRequest,
} from './messages.ts';
import { SecAggServer, type SecAggResult } from './server.ts';

/**
 * A whole SecAgg+ round in one process: every client and the server exchange messages through
 * plain function calls. A dropout schedule says before which phase's message a client goes
 * silent — e.g. 'unmasking' means it uploaded its masked input and then vanished.
 * Tests, benchmarks and the demo use this; the services run the same state machines over gRPC.
 */
export type DropoutPhase = Exclude<SecAggPhase, 'masking' | 'done' | 'aborted'>;

export interface SimulationOptions {
  readonly context: RoundContext;
  readonly identitySecretKeys: readonly Uint8Array[];
  /** Already-quantized inputs, one per client (index i at position i − 1). */
  readonly inputs: readonly Uint32Array[];
  readonly dropouts?: ReadonlyMap<number, DropoutPhase>;
  readonly curve: Curve25519;
  readonly random: RandomSource;
  /**
   * A malicious server's moves: what it serves each client instead of the honest message. The
   * committed participant sets (the ledger's U1–U3) stay the honest server's: one value per phase.
   */
  readonly serverMoves?: ServerMoves;
  /** Told the round context once the graph is known (after the members' seed, if sparse). */
  readonly onGraphFixed?: (context: RoundContext) => void;
  /** A malicious member's moves: what it sends instead of what its client produced. */
  readonly memberMoves?: MemberMoves;
}

export interface MemberMoves {
  complaints?(sender: number, honest: readonly ShareComplaint[]): readonly ShareComplaint[];
}

export interface ServerMoves {
  seedCommitments?(recipient: number, honest: SeedCommitmentsMessage): SeedCommitmentsMessage;
  keys?(recipient: number, honest: KeysBroadcast): KeysBroadcast;
  shares?(recipient: number, honest: SharesDelivery): SharesDelivery;
  survivors?(recipient: number, honest: readonly number[]): readonly number[];
}

export interface SimulationOutcome {
  readonly result: SecAggResult;
  /** The round context as it ended: with the graph the members' seed fixed. */
  readonly context: RoundContext;
  /** Clients that refused to continue (their own abort), by phase. */
  readonly clientAborts: ReadonlyMap<number, SecAggError>;
  /** Every Unmasking message the clients sent: what a server could learn from reveals. */
  readonly reveals: readonly UnmaskingMessage[];
  /** Every second-reveal message (empty unless a dropped member's s^SK failed to reconstruct). */
  readonly pairwiseReveals: readonly PairwiseRevealMessage[];
}

export function simulateRound(options: SimulationOptions): SimulationOutcome {
  const { context, inputs, curve, random } = options;
  const dropouts = options.dropouts ?? new Map<number, DropoutPhase>();
  const n = context.config.clients;
  const server = new SecAggServer({ context, curve });
  const clients = new Map<number, SecAggClient>();
  for (let index = 1; index <= n; index++) {
    clients.set(
      index,
      new SecAggClient({
        context,
        index,
        identitySecretKey: options.identitySecretKeys[index - 1]!,
        curve,
        random,
      }),
    );
  }
  const clientAborts = new Map<number, SecAggError>();
  /** Runs one client's step unless it dropped before `phase`; a client-side abort silences it. */
  const step = (phase: DropoutPhase, act: (client: SecAggClient, index: number) => void): void => {
    for (const [index, client] of clients) {
      if (dropouts.get(index) === phase) {
        clients.delete(index);
        continue;
      }
      try {
        act(client, index);
      } catch (error) {
        if (!(error instanceof SecAggError)) throw error;
        clientAborts.set(index, error);
        clients.delete(index);
      }
    }
  };

  const moves = options.serverMoves ?? {};
  const uploads = new Map<number, Uint32Array>();
  const reveals: UnmaskingMessage[] = [];
  step('advertise-keys', (client) => server.receiveAdvertiseKeys(client.advertiseKeys()));
  server.closeAdvertiseKeys();
  const u1 = server.participantSets().advertised;
  if (server.currentPhase === 'seed-reveal') {
    const honest = server.seedCommitments();
    step('seed-reveal', (client, index) =>
      server.receiveSeedReveal(
        client.revealSeed(moves.seedCommitments?.(index, honest) ?? honest, u1),
      ),
    );
    server.closeSeedReveal();
  }
  options.onGraphFixed?.(server.roundContext);
  step('share-keys', (client, index) => {
    const honest = server.keysFor(index);
    server.receiveShareKeys(client.shareKeys(moves.keys?.(index, honest) ?? honest, u1));
  });
  server.closeShareKeys();
  const u2 = server.participantSets().shared;
  step('masked-input', (client, index) => {
    const honest = server.sharesFor(index);
    const message = client.maskInput(
      moves.shares?.(index, honest) ?? honest,
      u2,
      inputs[index - 1]!,
    );
    const complaints = options.memberMoves?.complaints?.(index, message.complaints ?? []);
    server.receiveMaskedInput(complaints === undefined ? message : { ...message, complaints });
    uploads.set(index, message.maskedInput);
  });
  server.closeMaskedInputCollection((sender) => uploads.get(sender)!);
  const u3 = server.participantSets().masked;
  const served = (index: number, request: UnmaskingRequest): UnmaskingRequest => {
    const survivors = moves.survivors?.(index, request.survivors);
    return survivors === undefined ? request : { ...request, survivors };
  };
  if (context.config.adversary === 'semi-malicious') {
    const request = server.consistencyCheckRequest();
    step('consistency-check', (client, index) =>
      server.receiveConsistencySignature(
        client.signSurvivors(
          { ...request, survivors: served(index, { ...request, signatures: [] }).survivors },
          u3,
        ),
      ),
    );
    server.closeConsistencyCheck();
  } else {
    for (const [index] of clients)
      if (dropouts.get(index) === 'consistency-check') clients.delete(index);
  }
  const request = server.unmaskingRequest();
  step('unmasking', (client, index) => {
    const message = client.unmask(served(index, request), u3);
    reveals.push(message);
    server.receiveUnmasking(message);
  });
  const pairwiseReveals: PairwiseRevealMessage[] = [];
  if (server.closeUnmasking() === 'pairwise-reveal') {
    const second = server.pairwiseRevealRequest();
    step('pairwise-reveal', (client, index) => {
      if (!server.isEligible(index)) return;
      const message = client.revealPairwiseSecrets(second);
      pairwiseReveals.push(message);
      server.receivePairwiseReveal(message);
    });
    server.closePairwiseReveal();
  }
  return {
    result: server.finishUnmasking(),
    context: server.roundContext,
    clientAborts,
    reveals,
    pairwiseReveals,
  };
}
