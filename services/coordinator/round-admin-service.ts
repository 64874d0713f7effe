import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import {
  Mode,
  RoundParams,
  type AggregateChunk,
  type Round,
  type RoundAdminServiceServer,
} from '../../proto/gen/veilsum/v1/round.ts';
import { merkleProof, merkleRoot } from '../../crypto/merkle.ts';
import {
  aborted,
  alreadyExists,
  dataLoss,
  failedPrecondition,
  invalidArgument,
  notFound,
} from '../../sdk/common/grpc-errors.ts';
import type { CoordinatorState } from './coordinator-state.ts';
import {
  paramsHash as computeParamsHash,
  resolveRoundParams,
  roundId as makeRoundId,
  roundManifest,
} from './round-params.ts';
import { ledgerParamsHash } from '../../proto/round-wire.ts';
import { RoundRuntime } from './round-runtime.ts';
import { CkksRound } from './ckks-round.ts';

const AGGREGATE_CHUNK_BYTES = 1 << 20;

/**
 * RoundAdminService: administrators open rounds and record model versions; members and
 * administrators read rounds, watch them, fetch the aggregate and prove their inclusion.
 */
export function roundAdminService(state: CoordinatorState): RoundAdminServiceServer {
  return {
    openRound: state.unary('OpenRound', async (call) => {
      state.requireAdmin(call);
      const resolved = resolveRoundParams(
        call.request.params,
        new Set(state.members.keys()),
        state.ckks?.key,
      );
      if (resolved.params.mode === Mode.MODE_CKKS && state.ledger === undefined) {
        throw failedPrecondition(
          'CKKS rounds need the ledger: keyholders decrypt only aggregates committed there (config "ledger")',
        );
      }
      const { params } = resolved;
      if (state.store.hasRound(params.modelId, params.roundNumber)) {
        throw alreadyExists(
          `round ${params.roundNumber} of model ${params.modelId} was already opened`,
        );
      }
      const id = makeRoundId(params.modelId, params.roundNumber);
      const roster = params.members.map((memberId, i) => ({
        memberId,
        index: i + 1,
        identityKey: Buffer.from(state.members.get(memberId)!.identityKey).toString('hex'),
        certificate: state.members.get(memberId)!.certificate,
      }));
      const encodedParams = RoundParams.encode(params).finish();
      const secagg = params.mode === Mode.MODE_SECAGG;
      // The ledger records the round first: a round the ledger refused never starts. With a
      // ledger, a SecAgg round's graph seed is the one the contract derives from the RoundOpened
      // transaction (the coordinator does not choose it), so the ledger's params hash covers
      // the parameters alone; the manifest carries what members check.
      let graphSeed = new Uint8Array(randomBytes(32));
      const ledgerRound = await state.ledger?.openRound(
        id,
        params.modelId,
        params.roundNumber,
        secagg && state.ledger !== undefined
          ? ledgerParamsHash(params)
          : computeParamsHash(encodedParams, graphSeed),
        params.members,
        roundManifest(
          params,
          params.members.map((memberId) => state.members.get(memberId)!.identityKey),
        ),
      );
      if (secagg && ledgerRound?.graphSeed) {
        graphSeed = new Uint8Array(Buffer.from(ledgerRound.graphSeed, 'hex'));
      }
      const row = {
        roundId: id,
        modelId: params.modelId,
        roundNumber: params.roundNumber,
        params: encodedParams,
        graphSeed,
        roster: JSON.stringify(roster),
        openedAt: Date.now(),
      };
      const runtime =
        params.mode === Mode.MODE_CKKS
          ? CkksRound.open(row, state.ckksDependencies())
          : RoundRuntime.open(row, state.runtimeDependencies());
      state.rounds.set(id, runtime);
      state.updatePhaseGauge();
      state.logger.info(
        {
          event: 'round-opened',
          round: id,
          members: params.members.length,
          dimension: params.dimension,
          degree: params.degree,
          threshold: params.threshold,
          ...(ledgerRound ? { consentsInForce: ledgerRound.consents.length } : {}),
        },
        'round opened',
      );
      return state.served(runtime.snapshot());
    }),
    getRound: state.unary('GetRound', (call) =>
      state.served(state.readableRound(call, call.request.roundId).snapshot()),
    ),
    listRounds: state.unary('ListRounds', (call) => {
      const { organisation } = state.requireCaller(call);
      const rounds = [...state.rounds.values()]
        .filter(
          (runtime) =>
            (!call.request.modelId || runtime.params.modelId === call.request.modelId) &&
            state.mayRead(organisation, runtime),
        )
        .map((runtime) => state.served(runtime.snapshot()));
      return { rounds };
    }),
    watchRound: (call) => {
      try {
        const runtime = state.readableRound(call, call.request.roundId);
        const send = (round: Round) => {
          call.write(state.served(round));
          if (runtime.isSettled()) {
            state.watchers.get(runtime.id)?.delete(send);
            call.end();
          }
        };
        let set = state.watchers.get(runtime.id);
        if (set === undefined) state.watchers.set(runtime.id, (set = new Set()));
        set.add(send);
        call.on('cancelled', () => set.delete(send));
        send(runtime.snapshot());
        state.metrics.requests.inc({ method: 'WatchRound', code: 'OK' });
      } catch (error) {
        state.fail('WatchRound', error, (e) => endWithStatus(call, e));
      }
    },
    recordModelVersion: state.unary('RecordModelVersion', async (call) => {
      state.requireAdmin(call);
      const runtime = state.round(call.request.roundId);
      if (state.ledger === undefined) {
        throw failedPrecondition('this coordinator has no ledger configured (config "ledger")');
      }
      if (call.request.modelHash.length !== 32) {
        throw invalidArgument(
          `model_hash must be a 32-byte SHA-256, got ${call.request.modelHash.length} bytes`,
        );
      }
      await state.ledger.closeRound(runtime);
      const record = await state.ledger.ledger.recordModelVersion(
        Buffer.from(call.request.modelHash).toString('hex'),
        runtime.id,
      );
      return { roundId: record.roundId, modelHash: Buffer.from(record.modelHash, 'hex') };
    }),
    proveInclusion: state.unary('ProveInclusion', (call) => {
      const { runtime, index } = state.participant(call, call.request.roundId);
      if (runtime.phase !== 'done') {
        throw failedPrecondition(`round ${runtime.id} is in phase ${runtime.phase}, not done`);
      }
      const snapshot = runtime.snapshot();
      const position = snapshot.included.indexOf(index);
      if (position < 0) {
        throw notFound(
          `member ${runtime.roster[index - 1]!.memberId} has no upload in the aggregate of round ${runtime.id}`,
        );
      }
      const leaves = snapshot.uploadSha256.map((digest) => new Uint8Array(digest));
      return {
        roundId: runtime.id,
        memberId: runtime.roster[index - 1]!.memberId,
        uploadSha256: Buffer.from(leaves[position]!),
        path: merkleProof(leaves, position).map((step) => ({
          sibling: Buffer.from(step.sibling),
          siblingOnLeft: step.siblingOnLeft,
        })),
        root: Buffer.from(merkleRoot(leaves)),
      };
    }),
    declineRound: state.unary('DeclineRound', (call) => {
      const { runtime, index } = state.participant(call, call.request.roundId);
      runtime.decline(index, 'member', call.request.reason);
      return state.served(runtime.snapshot());
    }),
    getAggregate: (call) => {
      try {
        const runtime = state.readableRound(call, call.request.roundId);
        if (runtime.phase === 'aborted')
          throw aborted(`round ${runtime.id} was aborted: ${runtime.snapshot().abortReason}`);
        if (runtime.phase !== 'done')
          throw failedPrecondition(`round ${runtime.id} is in phase ${runtime.phase}, not done`);
        streamAggregate(state, call, runtime);
      } catch (error) {
        state.fail('GetAggregate', error, (e) => endWithStatus(call, e));
      }
    },
  };
}

/**
 * Streams a done round's stored aggregate, hashing it on the way: the call ends OK only if the
 * bytes match the digest recorded when the round finished. A mismatch ends it DATA_LOSS (clients
 * take an aggregate only from a call that ended OK) and quarantines the round.
 */
function streamAggregate(
  state: CoordinatorState,
  call: grpc.ServerWritableStream<{ roundId: string }, AggregateChunk>,
  runtime: RoundRuntime | CkksRound,
): void {
  const path = state.store.aggregatePath(runtime.id);
  const expected = runtime.aggregateFileSha256;
  const hash = createHash('sha256');
  let offsetWords = 0;
  const stream = createReadStream(path, { highWaterMark: AGGREGATE_CHUNK_BYTES });
  const failed = (error: unknown) =>
    state.fail('GetAggregate', error, (e) => endWithStatus(call, e));
  call.on('cancelled', () => stream.destroy());
  stream.on('data', (data) => {
    const chunk = data as Buffer;
    hash.update(chunk);
    if (!call.write({ offsetWords, data: chunk })) {
      stream.pause();
      call.once('drain', () => stream.resume());
    }
    offsetWords += chunk.length / 4;
  });
  stream.on('end', () => {
    if (!hash.digest().equals(expected)) {
      const reason = `the aggregate (${path}) does not match its recorded SHA-256 ${Buffer.from(expected).toString('hex').slice(0, 16)}…`;
      state.quarantine(runtime.id, reason);
      failed(dataLoss(`round ${runtime.id} is quarantined: ${reason}`));
      return;
    }
    state.metrics.requests.inc({ method: 'GetAggregate', code: 'OK' });
    call.end();
  });
  stream.on('error', (error) => {
    const reason = `the aggregate (${path}) cannot be read: ${error.message}`;
    state.quarantine(runtime.id, reason);
    failed(dataLoss(`round ${runtime.id} is quarantined: ${reason}`));
  });
}

/**
 * Ends a server-streaming call with an error status. (`call.destroy(error)` would drop the call
 * without a status, leaving the client waiting for its deadline.)
 */
function endWithStatus(
  call: grpc.ServerWritableStream<unknown, unknown>,
  error: grpc.ServiceError,
) {
  call.emit('error', error);
}
