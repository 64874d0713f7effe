import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Mode, Phase, phaseToJSON, type Round } from '../../proto/gen/veilsum/v1/round.ts';
import {
  UpdateState,
  type GetResultRequest,
  type ListConsentsRequest,
  type ListConsentsResponse,
  type ListMemberRoundsRequest,
  type ListMemberRoundsResponse,
  type MemberServiceServer,
  type QueuedUpdate,
  type ResultChunk,
  type SubmitHeader,
  type SubmitUpdateRequest,
  type SubmitUpdateResponse,
  type WatchUpdateRequest,
} from '../../proto/gen/veilsum/v1/member.ts';
import type { Ledger } from '../../ledger/ledger.ts';
import { type CkksParameterSet, parameterSetNamed } from '../../crypto/ckks/parameters.ts';
import {
  aborted,
  alreadyExists,
  dataLoss,
  deadlineExceeded,
  invalidArgument,
  failedPrecondition,
  notFound,
  permissionDenied,
} from '../../sdk/common/grpc-errors.ts';
import { isServiceError } from '../../sdk/errors.ts';
import type { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { rejection, unaryHandler } from '../common/service-edge.ts';
import type { AuthenticatedCall } from '../common/caller.ts';
import { type BankCallers, mayRead, maySubmit } from './bank-callers.ts';
import type { CallerRole } from './config.ts';
import type { MemberMetrics } from './metrics.ts';
import { JOINABLE_PHASES, type RoundFollower, type RoundView } from './round-follower.ts';
import { attestedDecryptionPrecision, floatSumPieces, sumErrorBound } from './result-stream.ts';
import { resultRound } from './result-round.ts';
import { checkHeader, receiveValues } from './submit-stream.ts';
import { FINAL_STATES, type QueuedRecord, type UpdateQueue } from './update-queue.ts';

export interface MemberServiceDependencies {
  readonly memberId: string;
  readonly queue: UpdateQueue;
  readonly follower: RoundFollower;
  readonly client: VeilsumClient;
  readonly callers: BankCallers;
  readonly ledger: Ledger | undefined;
  readonly logger: Logger;
  readonly metrics: MemberMetrics;
  /** CKKS: the keyholders' decryption precision (member config `ckksPrecision`). */
  readonly ckksPrecision: number;
}

/** MemberService (proto/veilsum/v1/member.proto) for the people inside one bank. */
export function memberService(deps: MemberServiceDependencies): MemberServiceServer {
  const { queue, follower, client, memberId, logger, metrics } = deps;
  // Streams still being received: the queue learns of an update only once its values are
  // written, so without these two concurrent streams with one idempotency key (or for one round)
  // would both pass the queue's checks and both be queued.
  const receivingKeys = new Set<string>();
  const receivingRounds = new Set<string>();
  const roleOf = (call: AuthenticatedCall & { getPeer(): string }): CallerRole => {
    const bound = deps.callers.bindCall(call);
    if (!('commonName' in bound)) throw bound;
    return bound;
  };
  const reader = (call: AuthenticatedCall & { getPeer(): string }): CallerRole => {
    const role = roleOf(call);
    if (!mayRead(role))
      throw permissionDenied(
        `caller CN=${role.commonName} has no read access: ask the peer's operator for "read": true`,
      );
    return role;
  };
  const fail =
    (method: string) =>
    (error: unknown, send: (error: grpc.ServiceError) => void): void => {
      const refused = rejection(logger, method, error);
      metrics.requests.inc({ method, code: grpc.status[refused.code] });
      send(refused);
    };
  const ok = (method: string) => () => metrics.requests.inc({ method, code: 'OK' });
  /** The coordinator's word on a round, its refusals as this service's statuses. */
  const roundNamed = async (roundId: string): Promise<Round> => {
    try {
      return await client.getRound(roundId);
    } catch (error) {
      if (isServiceError(error) && error.code === status.NOT_FOUND)
        throw notFound(`round ${roundId} is unknown to the coordinator: check the round id`);
      throw error;
    }
  };

  /**
   * CKKS: the keyholders' decryption precision for a round's key — from the flooding σ and
   * threshold they attested on the bank's ledger view for the key the round's manifest committed
   * (never a key the coordinator names: a peer's `ckksPrecision` can be stale or wrong, and the
   * bound is what a data scientist trusts the sum to); the configured value only for a peer
   * without a ledger view.
   */
  const ckksPrecision = async (
    servedParameterSet: string,
    manifestKeySha256: string | undefined,
  ): Promise<{ ckks: CkksParameterSet; keyholderPrecision: number }> => {
    if (deps.ledger === undefined || manifestKeySha256 === undefined)
      return {
        ckks: parameterSetNamed(servedParameterSet),
        keyholderPrecision: deps.ckksPrecision,
      };
    const key = await deps.ledger.getCollectiveKey(manifestKeySha256);
    const set = parameterSetNamed(key.limits.parameterSet);
    return {
      ckks: set,
      keyholderPrecision: attestedDecryptionPrecision(set, key.threshold, key.limits.floodingSigma),
    };
  };

  return {
    submitUpdate: (
      call: grpc.ServerReadableStream<SubmitUpdateRequest, SubmitUpdateResponse>,
      callback: grpc.sendUnaryData<SubmitUpdateResponse>,
    ) => {
      readAhead(call, SUBMIT_READ_AHEAD_MESSAGES);
      const messages = (call as AsyncIterable<SubmitUpdateRequest>)[Symbol.asyncIterator]();
      const run = async (): Promise<SubmitUpdateResponse> => {
        const role = roleOf(call);
        const first = await messages.next();
        const header = checkHeader(first.done === true ? undefined : first.value);
        const target = header.target!;
        let modelId: string;
        let roundId = '';
        if (target.$case === 'roundId') {
          roundId = target.value;
          const round = await roundNamed(roundId);
          const params = round.params!;
          modelId = params.modelId;
          if (!round.roster.some((entry) => entry.memberId === memberId))
            throw failedPrecondition(
              `round ${roundId} (model ${modelId}) does not list ${memberId} on its roster: submit for a round that lists the bank, or for the model's next round (model_id)`,
            );
          if (!JOINABLE_PHASES.includes(round.phase))
            throw failedPrecondition(
              `round ${roundId} is in phase ${phaseName(round.phase)} and takes no more updates: submit for the model's next round (model_id ${modelId}) instead`,
            );
          if (params.dimension !== Number(header.values))
            throw invalidArgument(
              `the update has ${header.values} values but round ${roundId} of model ${modelId} takes ${params.dimension}: flatten the model's parameters to ${params.dimension} float32 values`,
            );
        } else modelId = target.value;
        if (!maySubmit(role, modelId))
          throw permissionDenied(
            `caller CN=${role.commonName} may submit for ${role.submit.join(', ')} only, not model ${modelId}: ask the peer's operator for a submit role for it`,
          );
        if (header.trainedFrom.length > 512)
          throw invalidArgument(
            `trained_from has ${header.trainedFrom.length} characters; at most 512: send a digest of the model version the update was trained from`,
          );
        const sha256 = Buffer.from(header.sha256).toString('hex');
        const earlier = queue.byIdempotencyKey(header.idempotencyKey);
        if (earlier !== undefined) {
          if (earlier.sha256 !== sha256 || earlier.caller !== role.commonName)
            throw alreadyExists(
              `idempotency key ${header.idempotencyKey} already queued update ${earlier.updateId} with other values: use a fresh key for a new update`,
            );
          return { update: toWire(earlier, follower.views) };
        }
        if (roundId !== '') {
          const holder = queue.all().find((record) => record.roundId === roundId);
          if (holder !== undefined)
            throw failedPrecondition(
              `round ${roundId} already has update ${holder.updateId} from ${memberId}: a bank takes part with one update per round`,
            );
        }
        const key = header.idempotencyKey; // '' is no key: such updates are never matched
        if (key !== '' && receivingKeys.has(key))
          throw aborted(
            `an update with idempotency key ${key} is still being received on another stream: retry once it has ended (its answer, or this retry's, names the queued update)`,
          );
        if (roundId !== '' && receivingRounds.has(roundId))
          throw aborted(
            `another update for round ${roundId} is still being received: a bank takes part with one update per round; retry once that stream has ended`,
          );
        if (key !== '') receivingKeys.add(key);
        if (roundId !== '') receivingRounds.add(roundId);
        try {
          return await receiveAndQueue(header, modelId, roundId, sha256, role.commonName);
        } finally {
          if (key !== '') receivingKeys.delete(key);
          if (roundId !== '') receivingRounds.delete(roundId);
        }
      };
      const receiveAndQueue = async (
        header: SubmitHeader,
        modelId: string,
        roundId: string,
        sha256: string,
        caller: string,
      ): Promise<SubmitUpdateResponse> => {
        const path = queue.incomingPath();
        await receiveValues(messages, header, path, (bytes) => metrics.submittedBytes.inc(bytes));
        const record = queue.commit(path, {
          modelId,
          roundId,
          values: Number(header.values),
          sha256,
          tensors: header.tensors,
          idempotencyKey: header.idempotencyKey,
          ...(header.trainedFrom === '' ? {} : { trainedFrom: header.trainedFrom }),
          caller,
          queuedAtMs: Date.now(),
          detail:
            roundId === ''
              ? `queued for the next round of model ${modelId} that lists ${memberId}`
              : `queued for round ${roundId}`,
        });
        logger.info(
          {
            event: 'update-queued',
            update: record.updateId,
            model: modelId,
            round: roundId || undefined,
            values: record.values,
            caller,
          },
          'update queued',
        );
        metrics.updateStates(queue.all());
        follower.kick();
        return { update: toWire(record, follower.views) };
      };
      run()
        .then((response) => {
          ok('SubmitUpdate')();
          callback(null, response);
        })
        .catch((error: unknown) => fail('SubmitUpdate')(error, (e) => callback(e)));
    },

    watchUpdate: (call: grpc.ServerWritableStream<WatchUpdateRequest, QueuedUpdate>) => {
      try {
        reader(call);
        const record = queue.get(call.request.updateId);
        if (record === undefined)
          throw notFound(`no update ${call.request.updateId} on this peer: check the update id`);
        ok('WatchUpdate')();
        const send = (current: QueuedRecord) => {
          call.write(toWire(current, follower.views));
          if (FINAL_STATES.includes(current.state)) {
            stop();
            call.end();
          }
        };
        const stop = queue.onChange(record.updateId, send);
        call.on('cancelled', stop);
        send(record);
      } catch (error) {
        fail('WatchUpdate')(error, (e) => call.emit('error', e));
      }
    },

    getResult: (call: grpc.ServerWritableStream<GetResultRequest, ResultChunk>) => {
      const run = async () => {
        reader(call);
        const roundId = call.request.roundId;
        const round = await roundNamed(roundId);
        const params = round.params!;
        if (!round.roster.some((entry) => entry.memberId === memberId))
          throw permissionDenied(
            `round ${roundId} does not list ${memberId}: this peer serves the results of the bank's own rounds`,
          );
        if (round.phase !== Phase.PHASE_DONE)
          throw failedPrecondition(
            `round ${roundId} is in phase ${phaseName(round.phase)}, not done: watch the update (WatchUpdate) and ask again when it is INCLUDED`,
          );
        // Mode, dimension, quantization, CKKS key and contributor count from the bank's ledger
        // view (the coordinator's Round must agree with it); the coordinator's only without one.
        const view = await resultRound(round, deps.ledger);
        const { ckks, contributors } = view;
        const own = queue.all().find((record) => record.roundId === roundId);
        call.write({
          part: {
            $case: 'header',
            value: {
              roundId,
              modelId: params.modelId,
              mode: ckks ? Mode.MODE_CKKS : Mode.MODE_SECAGG,
              values: view.dimension,
              contributors,
              errorBound: ckks
                ? sumErrorBound(
                    contributors,
                    await ckksPrecision(params.ckks?.parameterSet ?? '', view.ckksKeySha256),
                  )
                : sumErrorBound(contributors, { quantization: view.quantization! }),
              clipRange: (ckks ? params.ckks?.clipRange : view.quantization?.clipRange) ?? 0,
              tensors: own?.tensors ?? [],
              aggregateSha256: Buffer.from(round.aggregateSha256),
            },
          },
        });
        // Converted and sent piece by piece as the coordinator streams the aggregate: one call
        // holds about 1 MiB of it, not the whole sum (80 MB for 10^7 values).
        // A caller that stops reading or cancels must not keep the coordinator stream open:
        // each held stream takes one of the coordinator's 16 per connection, which the peer's
        // own round calls share. Returning out of the loop closes the coordinator's stream.
        // A SecAgg sum must hash to the digest the round was closed with on the bank's own
        // ledger view (the coordinator's own header when the peer has none): a call whose bytes
        // do not is ended DATA_LOSS, and a client takes no result from a call that ends in an
        // error. (A CKKS round's digests, on the ledger and in the Round, are of the encrypted
        // aggregate the keyholders decrypted, not of the decrypted sum: nothing to compare.)
        const recorded = view.recordedAggregate;
        const expected = recorded ?? Buffer.from(round.aggregateSha256).toString('hex');
        const digest = createHash('sha256');
        async function* hashed(chunks: AsyncIterable<{ offsetWords: number; data: Buffer }>) {
          for await (const chunk of chunks) {
            digest.update(chunk.data);
            yield chunk;
          }
        }
        for await (const piece of floatSumPieces(
          hashed(client.aggregateChunks(roundId)),
          view.dimension,
          contributors,
          ckks ? undefined : view.quantization!,
        )) {
          if (call.cancelled) return;
          if (!call.write({ part: { $case: 'sum', value: piece } }) && !(await drained(call))) {
            if (call.cancelled) return;
            throw deadlineExceeded(
              `the caller read nothing of round ${roundId}'s result for ${RESULT_DRAIN_TIMEOUT_MS / 1000} s: the peer ended the call; ask again and read the stream`,
            );
          }
        }
        const streamed = digest.digest('hex');
        if (!ckks && streamed !== expected)
          throw dataLoss(
            `the coordinator's aggregate for round ${roundId} hashes to ${streamed}, not to the ${recorded === undefined ? "coordinator's own stated" : "ledger's recorded"} ${expected}: discard what was received and report it`,
          );
        call.end();
      };
      run()
        .then(ok('GetResult'))
        .catch((error: unknown) => fail('GetResult')(error, (e) => call.emit('error', e)));
    },

    listRounds: unaryHandler<ListMemberRoundsRequest, ListMemberRoundsResponse>(
      async (call) => {
        reader(call);
        const rounds = await client.listRounds(call.request.modelId);
        const updates = queue.all();
        return {
          rounds: rounds
            .filter((round) => round.roster.some((entry) => entry.memberId === memberId))
            .sort((a, b) => Number(b.openedAtMs) - Number(a.openedAtMs))
            .map((round) => {
              const own = updates.find((record) => record.roundId === round.roundId);
              return {
                roundId: round.roundId,
                modelId: round.params?.modelId ?? '',
                roundNumber: round.params?.roundNumber ?? 0,
                mode: round.params?.mode ?? Mode.MODE_UNSPECIFIED,
                phase: round.phase,
                dimension: round.params?.dimension ?? 0,
                openedAtMs: round.openedAtMs,
                updateId: own?.updateId ?? '',
                updateState: own?.state ?? UpdateState.UPDATE_STATE_UNSPECIFIED,
              };
            }),
        };
      },
      fail('ListRounds'),
      ok('ListRounds'),
    ),

    listConsents: unaryHandler<ListConsentsRequest, ListConsentsResponse>(
      async (call) => {
        reader(call);
        if (deps.ledger === undefined)
          throw failedPrecondition(
            "this peer has no ledger view (member config `ledger`): consents live on the ledger; configure the bank's embedded file or Fabric peer",
          );
        const now = Date.now();
        const history = await deps.ledger.consentHistory(memberId);
        return {
          memberId,
          consents: history.map((consent) => ({
            consentId: consent.consentId,
            datasetId: consent.datasetId,
            purpose: consent.purpose,
            grantedAtMs: consent.grantedAt,
            expiresAtMs: consent.expiresAt,
            revokedAtMs: consent.revokedAt ?? 0,
            inForce: consent.revokedAt === null && consent.expiresAt > now,
          })),
        };
      },
      fail('ListConsents'),
      ok('ListConsents'),
    ),
  };
}

/**
 * How many received messages (4 MiB chunks) a SubmitUpdate call reads ahead of the peer's
 * checking and writing. grpc-js reads as far as its stream's object high-water mark (16), so a
 * client faster than the peer parked 64 MiB there beside the 16 MiB HTTP/2 window; with 2 the
 * window (mtls-server.ts) does the buffering and the client waits for the peer.
 */
const SUBMIT_READ_AHEAD_MESSAGES = 2;

/** Lowers a server stream's read-ahead (Node's Readable high-water mark; grpc-js takes no option). */
function readAhead(call: object, messages: number): void {
  const state = (call as { _readableState?: { highWaterMark?: number } })._readableState;
  if (state !== undefined && typeof state.highWaterMark === 'number')
    state.highWaterMark = messages;
}

export function toWire(record: QueuedRecord, views: ReadonlyMap<string, RoundView>): QueuedUpdate {
  const view = record.roundId === '' ? undefined : views.get(record.roundId);
  const inRound =
    record.state === UpdateState.UPDATE_STATE_IN_ROUND ||
    record.state === UpdateState.UPDATE_STATE_UPLOADED;
  return {
    updateId: record.updateId,
    modelId: record.modelId,
    roundId: record.roundId,
    values: record.values,
    sha256: Buffer.from(record.sha256, 'hex'),
    state: record.state,
    roundPhase: view?.phase ?? Phase.PHASE_UNSPECIFIED,
    detail: record.detail,
    queuedAtMs: record.queuedAtMs,
    updatedAtMs: record.updatedAtMs,
    missing: inRound ? [...(view?.missing ?? [])] : [],
  };
}

const phaseName = (phase: Phase): string => phaseToJSON(phase).replace(/^PHASE_/, '');

/**
 * Waits until a server stream can take more (true), or the caller cancelled or stopped reading
 * for RESULT_DRAIN_TIMEOUT_MS (false: the caller is gone or stalling on purpose).
 */
function drained(call: grpc.ServerWritableStream<unknown, unknown>): Promise<boolean> {
  return new Promise((resolve) => {
    const finish = (value: boolean) => {
      clearTimeout(timer);
      call.off('drain', onDrain);
      call.off('cancelled', onCancelled);
      resolve(value);
    };
    const onDrain = () => finish(true);
    const onCancelled = () => finish(false);
    const timer = setTimeout(() => finish(false), RESULT_DRAIN_TIMEOUT_MS);
    call.once('drain', onDrain);
    call.once('cancelled', onCancelled);
    if (call.cancelled) finish(false);
  });
}

/** How long a GetResult caller may leave the stream full before the peer gives up on it. */
const RESULT_DRAIN_TIMEOUT_MS = 60_000;
