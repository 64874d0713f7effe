import type { Curve25519 } from '../curve25519.ts';
import type { RandomSource } from '../random.ts';
import { SecAggClient } from './client.ts';
import type { RoundContext } from './config.ts';
import { SecAggError } from './errors.ts';
import type { SecAggPhase } from './messages.ts';
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
}

export interface SimulationOutcome {
  readonly result: SecAggResult;
  /** Clients that refused to continue (their own abort), by phase. */
  readonly clientAborts: ReadonlyMap<number, SecAggError>;
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

  step('advertise-keys', (client) => server.receiveAdvertiseKeys(client.advertiseKeys()));
  server.closeAdvertiseKeys();
  step('share-keys', (client, index) =>
    server.receiveShareKeys(client.shareKeys(server.keysFor(index))),
  );
  server.closeShareKeys();
  step('masked-input', (client, index) =>
    server.receiveMaskedInput(client.maskInput(server.sharesFor(index), inputs[index - 1]!)),
  );
  server.closeMaskedInputCollection();
  if (context.config.adversary === 'semi-malicious') {
    const request = server.consistencyCheckRequest();
    step('consistency-check', (client) =>
      server.receiveConsistencySignature(client.signSurvivors(request)),
    );
    server.closeConsistencyCheck();
  } else {
    for (const [index] of clients)
      if (dropouts.get(index) === 'consistency-check') clients.delete(index);
  }
  const request = server.unmaskingRequest();
  step('unmasking', (client) => server.receiveUnmasking(client.unmask(request)));
  return { result: server.finishUnmasking(), clientAborts };
}
