import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { pino, type Logger } from 'pino';
import {
  RoundAdminServiceService,
  RoundParams,
  type RoundAdminServiceServer,
  type Round,
} from '../../proto/gen/veilsum/v1/round.ts';
import {
  SecAggServiceService,
  type SecAggServiceServer,
  type UploadChunk,
  type UploadReceipt,
} from '../../proto/gen/veilsum/v1/secagg.ts';
import {
  keysBroadcastToWire,
  sharesDeliveryToWire,
  unmaskingRequestToWire,
} from '../../proto/secagg-wire.ts';
import { merkleProof, merkleRoot } from '../../crypto/merkle.ts';
import { MaskPool } from '../compute/mask-pool.ts';
import {
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  notFound,
  permissionDenied,
  RequestError,
} from '../common/grpc-errors.ts';
import { type AuthenticatedCall, callerOrganisation } from '../common/caller.ts';
import { rejection, unaryHandler } from '../common/service-edge.ts';
import { bindMtls } from '../common/mtls-server.ts';
import type { CoordinatorConfig } from './config.ts';
import { loadMemberDirectory, type Member } from './member-directory.ts';
import { CoordinatorMetrics } from './metrics.ts';
import { LedgerLink } from './ledger-link.ts';
import {
  paramsHash as computeParamsHash,
  resolveRoundParams,
  roundId as makeRoundId,
} from './round-params.ts';
import { inlineCombiner, RoundRuntime, type RoundStatus } from './round-runtime.ts';
import { CkksRound } from './ckks-round.ts';
import { CkksEngine, type PendingUpdate } from '../../crypto/ckks/engine.ts';
import { parameterSetNamed } from '../../crypto/ckks/parameters.ts';
import { Mode } from '../../proto/gen/veilsum/v1/round.ts';
import {
  CkksServiceService,
  type CkksServiceServer,
  type EncryptedUploadChunk,
  type EncryptedUploadReceipt,
} from '../../proto/gen/veilsum/v1/ckks.ts';
import { KeyholderClient } from '../../sdk/keyholder-client.ts';
import { type CollectiveKeyFile, readKeyFile } from '../keyholder/key-file.ts';
import { PersistenceError, RoundStore } from './round-store.ts';
import { receiveUploadStream } from './upload-stream.ts';

const MAX_CHUNK_BYTES = 1 << 20;
const AGGREGATE_CHUNK_BYTES = 1 << 20;

interface Caller {
  readonly organisation: string;
}

/**
 * The coordinator process: the two gRPC services over mTLS, gRPC health, Prometheus metrics,
 * and the rounds (restored from the store at start).
 */
export class Coordinator {
  readonly logger: Logger;
  readonly metrics = new CoordinatorMetrics();
  private readonly config: CoordinatorConfig;
  private readonly store: RoundStore;
  private readonly members: Map<string, Member>;
  private readonly rounds = new Map<string, RoundRuntime | CkksRound>();
  private ckks:
    | { key: CollectiveKeyFile; engine: CkksEngine; keyholders: Map<number, KeyholderClient> }
    | undefined;
  private readonly watchers = new Map<string, Set<(round: Round) => void>>();
  private readonly server = new grpc.Server({
    'grpc.max_receive_message_length': 4 * 1024 * 1024,
  });
  private readonly health = new HealthImplementation({ '': 'NOT_SERVING' });
  private pool: MaskPool | undefined;
  private readonly ledger: LedgerLink | undefined;
  private readonly closedOnLedger = new Set<string>();
  private readonly knownPhases = new Map<string, string>();
  private metricsServer: HttpServer | undefined;
  private boundPort = 0;

  constructor(config: CoordinatorConfig, logger?: Logger) {
    this.config = config;
    this.logger = logger ?? pino({ level: config.logLevel, base: { service: 'coordinator' } });
    this.members = loadMemberDirectory(config.members);
    this.store = new RoundStore(config.dataDir);
    this.ledger = config.ledger
      ? new LedgerLink(config.ledger.path, config.ledger.identity, this.logger)
      : undefined;
  }

  get port(): number {
    return this.boundPort;
  }

  /** Port of the Prometheus endpoint, when metricsListen is set. */
  get metricsPort(): number | undefined {
    const address = this.metricsServer?.address();
    return typeof address === 'object' && address !== null ? address.port : undefined;
  }

  async start(): Promise<void> {
    this.pool = this.config.maskThreads > 1 ? new MaskPool(this.config.maskThreads) : undefined;
    await this.ledger?.bootstrap([...this.members.keys()]);
    if (this.config.ckks) {
      const key = readKeyFile(this.config.ckks.keyFile);
      const keyholders = new Map(
        key.keyholders.map((k) => [
          k.index,
          KeyholderClient.connect({ address: k.address, ...this.config.tls }),
        ]),
      );
      this.ckks = {
        key,
        engine: await CkksEngine.create(parameterSetNamed(key.parameterSet)),
        keyholders,
      };
    }
    for (const row of this.store.rounds()) {
      const runtime =
        RoundParams.decode(row.params).mode === Mode.MODE_CKKS
          ? CkksRound.restore(row, this.ckksDependencies())
          : RoundRuntime.restore(row, this.runtimeDependencies());
      this.rounds.set(row.roundId, runtime);
      this.logger.info(
        { event: 'round-restored', round: row.roundId, phase: runtime.phase },
        'round restored',
      );
    }
    this.updatePhaseGauge();
    // A round that finished just before a crash may not have reached the ledger yet.
    for (const runtime of this.rounds.values()) this.closeOnLedger(runtime);
    this.server.addService(RoundAdminServiceService, this.adminService());
    this.server.addService(SecAggServiceService, this.secAggService());
    this.server.addService(CkksServiceService, this.ckksService());
    this.health.addToServer(this.server);
    this.boundPort = await bindMtls(this.server, this.config.listen, this.config.tls);
    if (this.config.metricsListen)
      this.metricsServer = await this.metrics.serve(this.config.metricsListen);
    this.health.setStatus('', 'SERVING');
    this.logger.info(
      {
        event: 'started',
        listen: this.config.listen,
        port: this.boundPort,
        rounds: this.rounds.size,
      },
      'coordinator started',
    );
  }

  async stop(): Promise<void> {
    this.health.setStatus('', 'NOT_SERVING');
    for (const runtime of this.rounds.values()) runtime.stop();
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    this.metricsServer?.close();
    await this.pool?.close();
    for (const client of this.ckks?.keyholders.values() ?? []) client.close();
    this.store.close();
    this.ledger?.close();
  }

  // ── services ─────────────────────────────────────────────────────────────────────────────

  private adminService(): RoundAdminServiceServer {
    return {
      openRound: this.unary('OpenRound', async (call) => {
        this.requireAdmin(call);
        const resolved = resolveRoundParams(
          call.request.params,
          new Set(this.members.keys()),
          this.ckks?.key,
        );
        if (resolved.params.mode === Mode.MODE_CKKS && this.ledger === undefined) {
          throw failedPrecondition(
            'CKKS rounds need the ledger: keyholders decrypt only aggregates committed there (config "ledger")',
          );
        }
        const { params } = resolved;
        if (this.store.hasRound(params.modelId, params.roundNumber)) {
          throw alreadyExists(
            `round ${params.roundNumber} of model ${params.modelId} was already opened`,
          );
        }
        const id = makeRoundId(params.modelId, params.roundNumber);
        const roster = params.members.map((memberId, i) => ({
          memberId,
          index: i + 1,
          identityKey: Buffer.from(this.members.get(memberId)!.identityKey).toString('hex'),
        }));
        const encodedParams = RoundParams.encode(params).finish();
        const graphSeed = new Uint8Array(randomBytes(32));
        // The ledger records the round first: a round the ledger refused never starts.
        const ledgerRound = await this.ledger?.openRound(
          id,
          params.modelId,
          params.roundNumber,
          computeParamsHash(encodedParams, graphSeed),
          params.members,
        );
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
            ? CkksRound.open(row, this.ckksDependencies())
            : RoundRuntime.open(row, this.runtimeDependencies());
        this.rounds.set(id, runtime);
        this.updatePhaseGauge();
        this.logger.info(
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
        return runtime.snapshot();
      }),
      getRound: this.unary('GetRound', (call) => {
        this.requireCaller(call);
        return this.round(call.request.roundId).snapshot();
      }),
      listRounds: this.unary('ListRounds', (call) => {
        this.requireCaller(call);
        const rounds = [...this.rounds.values()]
          .filter(
            (runtime) => !call.request.modelId || runtime.params.modelId === call.request.modelId,
          )
          .map((runtime) => runtime.snapshot());
        return { rounds };
      }),
      watchRound: (call) => {
        try {
          this.requireCaller(call);
          const runtime = this.round(call.request.roundId);
          const send = (round: Round) => {
            call.write(round);
            if (runtime.isSettled()) {
              this.watchers.get(runtime.id)?.delete(send);
              call.end();
            }
          };
          let set = this.watchers.get(runtime.id);
          if (set === undefined) this.watchers.set(runtime.id, (set = new Set()));
          set.add(send);
          call.on('cancelled', () => set.delete(send));
          send(runtime.snapshot());
          this.metrics.requests.inc({ method: 'WatchRound', code: 'OK' });
        } catch (error) {
          this.fail('WatchRound', error, (e) =>
            call.destroy(Object.assign(new Error(e.details), e)),
          );
        }
      },
      recordModelVersion: this.unary('RecordModelVersion', async (call) => {
        this.requireAdmin(call);
        const runtime = this.round(call.request.roundId);
        if (this.ledger === undefined) {
          throw failedPrecondition('this coordinator has no ledger configured (config "ledger")');
        }
        if (call.request.modelHash.length !== 32) {
          throw invalidArgument(
            `model_hash must be a 32-byte SHA-256, got ${call.request.modelHash.length} bytes`,
          );
        }
        await this.ledger.closeRound(runtime);
        const record = await this.ledger.ledger.recordModelVersion(
          Buffer.from(call.request.modelHash).toString('hex'),
          runtime.id,
        );
        return { roundId: record.roundId, modelHash: Buffer.from(record.modelHash, 'hex') };
      }),
      proveInclusion: this.unary('ProveInclusion', (call) => {
        const { runtime, index } = this.participant(call, call.request.roundId);
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
      getAggregate: (call) => {
        try {
          this.requireCaller(call);
          const runtime = this.round(call.request.roundId);
          if (runtime.phase !== 'done') {
            throw new RequestError(
              grpc.status.FAILED_PRECONDITION,
              `round ${runtime.id} is in phase ${runtime.phase}, not done`,
            );
          }
          let offsetWords = 0;
          const stream = createReadStream(this.store.aggregatePath(runtime.id), {
            highWaterMark: AGGREGATE_CHUNK_BYTES,
          });
          stream.on('data', (data) => {
            const chunk = data as Buffer;
            if (!call.write({ offsetWords, data: chunk })) {
              stream.pause();
              call.once('drain', () => stream.resume());
            }
            offsetWords += chunk.length / 4;
          });
          stream.on('end', () => call.end());
          stream.on('error', (error) =>
            this.fail('GetAggregate', error, (e) =>
              call.destroy(Object.assign(new Error(e.details), e)),
            ),
          );
          this.metrics.requests.inc({ method: 'GetAggregate', code: 'OK' });
        } catch (error) {
          this.fail('GetAggregate', error, (e) =>
            call.destroy(Object.assign(new Error(e.details), e)),
          );
        }
      },
    };
  }

  private secAggService(): SecAggServiceServer {
    return {
      advertiseKeys: this.unary('AdvertiseKeys', async (call) => {
        const { runtime, index } = this.secAggParticipant(call, call.request.roundId);
        await this.ledger?.requireConsent(runtime.id, runtime.roster[index - 1]!.memberId);
        runtime.advertiseKeys(index, call.request);
        return { roundId: runtime.id };
      }),
      awaitKeys: this.awaiting('AwaitKeys', 'share-keys', (runtime, index) =>
        keysBroadcastToWire(runtime.keysFor(index)),
      ),
      shareKeys: this.unary('ShareKeys', (call) => {
        const { runtime, index } = this.secAggParticipant(call, call.request.roundId);
        runtime.shareKeys(index, call.request);
        return { roundId: runtime.id };
      }),
      awaitShares: this.awaiting('AwaitShares', 'masked-input', (runtime, index) =>
        sharesDeliveryToWire(runtime.sharesFor(index)),
      ),
      uploadMaskedInput: (call, callback) => this.receiveUpload(call, callback),
      awaitConsistencyCheck: this.awaiting(
        'AwaitConsistencyCheck',
        'consistency-check',
        (runtime, index) => ({
          survivors: [...runtime.consistencyCheckFor(index).survivors],
        }),
      ),
      signSurvivors: this.unary('SignSurvivors', (call) => {
        const { runtime, index } = this.secAggParticipant(call, call.request.roundId);
        runtime.signSurvivors(index, call.request);
        return { roundId: runtime.id };
      }),
      awaitUnmasking: this.awaiting('AwaitUnmasking', 'unmasking', (runtime, index) =>
        unmaskingRequestToWire(runtime.unmaskingRequestFor(index)),
      ),
      unmask: this.unary('Unmask', (call) => {
        const { runtime, index } = this.secAggParticipant(call, call.request.roundId);
        runtime.unmask(index, call.request);
        return { roundId: runtime.id };
      }),
    };
  }

  /**
   * Streams an upload into a temporary file (memory stays O(chunk)), hashing as it goes; only a
   * complete upload of exactly d words is accepted into the round, and only then made durable.
   * Anything else is answered INVALID_ARGUMENT and leaves nothing behind.
   */
  private receiveUpload(
    call: grpc.ServerReadableStream<UploadChunk, UploadReceipt>,
    callback: grpc.sendUnaryData<UploadReceipt>,
  ): void {
    let runtime: RoundRuntime | undefined;
    let index = 0;
    let received = 0;
    receiveUploadStream(
      call,
      {
        header: (chunk) => {
          if (chunk.content?.$case !== 'header') return undefined;
          if (runtime !== undefined)
            throw invalidArgument('the upload stream carries a second header');
          ({ runtime, index } = this.secAggParticipant(call, chunk.content.value.roundId));
          runtime.checkUploadAllowed(index, chunk.content.value.words);
          return this.store.roundDirectory(runtime.id);
        },
        data: (chunk) => {
          if (chunk.content?.$case !== 'data')
            throw invalidArgument('an upload chunk must carry data');
          const data = chunk.content.value;
          if (data.length > MAX_CHUNK_BYTES)
            throw invalidArgument(`chunk of ${data.length} bytes exceeds the 1 MiB chunk limit`);
          if (received + data.length > runtime!.dimension * 4) {
            throw invalidArgument(
              `upload is longer than the round length of ${runtime!.dimension} words (${runtime!.dimension * 4} bytes)`,
            );
          }
          received += data.length;
          return data;
        },
        finish: (temporaryPath, digest, bytes) => {
          const round = runtime!;
          if (bytes !== round.dimension * 4) {
            throw invalidArgument(
              `upload is truncated: ${bytes} of ${round.dimension * 4} bytes arrived; nothing was stored`,
            );
          }
          round.acceptUpload(index, temporaryPath, digest);
          this.uploadAccepted('UploadMaskedInput', round.id, index, bytes, digest);
          return Promise.resolve({
            roundId: round.id,
            words: round.dimension,
            sha256: Buffer.from(digest),
          });
        },
      },
      (error, reply) => {
        if (error) this.fail('UploadMaskedInput', error, (e) => callback(e));
        else callback(null, reply);
      },
    );
  }

  private uploadAccepted(
    method: string,
    roundId: string,
    member: number,
    bytes: number,
    digest: Uint8Array,
  ): void {
    this.metrics.uploadBytes.inc(bytes);
    this.metrics.requests.inc({ method, code: 'OK' });
    this.logger.info(
      {
        event: 'upload-accepted',
        round: roundId,
        member,
        bytes,
        sha256: Buffer.from(digest).toString('hex'),
      },
      'upload accepted',
    );
  }

  private unary<Request, Response>(
    method: string,
    handler: (call: grpc.ServerUnaryCall<Request, Response>) => Response | Promise<Response>,
  ): grpc.handleUnaryCall<Request, Response> {
    return unaryHandler(
      handler,
      (error, send) => this.fail(method, error, send),
      () => this.metrics.requests.inc({ method, code: 'OK' }),
    );
  }

  private awaiting<Response>(
    method: string,
    phase: RoundStatus,
    answer: (runtime: RoundRuntime, index: number) => Response,
  ): grpc.handleUnaryCall<{ roundId: string }, Response> {
    return (call, callback) => {
      const controller = new AbortController();
      call.on('cancelled', () => controller.abort());
      let participant: { runtime: RoundRuntime; index: number };
      try {
        participant = this.secAggParticipant(call, call.request.roundId);
      } catch (error) {
        this.fail(method, error, (e) => callback(e));
        return;
      }
      participant.runtime
        .waitForPhase(phase, controller.signal)
        .then(() => {
          const response = answer(participant.runtime, participant.index);
          this.metrics.requests.inc({ method, code: 'OK' });
          callback(null, response);
        })
        .catch((error: unknown) => this.fail(method, error, (e) => callback(e)));
    };
  }

  private fail(method: string, error: unknown, send: (error: grpc.ServiceError) => void): void {
    if (error instanceof PersistenceError) {
      // The in-memory round is ahead of the disk: restart from the log rather than serve it.
      this.logger.fatal(
        { event: 'persistence-failed', method, reason: error.message },
        'cannot persist; exiting',
      );
      process.exit(70);
    }
    const serviceError = rejection(this.logger, method, error);
    this.metrics.requests.inc({ method, code: grpc.status[serviceError.code] });
    send(serviceError);
  }

  private callerOf(call: AuthenticatedCall): Caller {
    return { organisation: callerOrganisation(call) };
  }

  private requireCaller(call: AuthenticatedCall): Caller {
    const caller = this.callerOf(call);
    if (
      !this.members.has(caller.organisation) &&
      !this.config.admins.includes(caller.organisation)
    ) {
      throw permissionDenied(
        `organisation ${caller.organisation} is neither a member nor an administrator of this coordinator`,
      );
    }
    return caller;
  }

  private requireAdmin(call: AuthenticatedCall): void {
    const caller = this.callerOf(call);
    if (!this.config.admins.includes(caller.organisation)) {
      throw permissionDenied(
        `organisation ${caller.organisation} may not open rounds; administrators are: ${this.config.admins.join(', ')}`,
      );
    }
  }

  private round(id: string): RoundRuntime | CkksRound {
    const runtime = this.rounds.get(id);
    if (runtime === undefined)
      throw notFound(`round "${id}" does not exist; list rounds with veilsum round list`);
    return runtime;
  }

  /** A SecAgg round and the caller's index in it. */
  private secAggParticipant(
    call: AuthenticatedCall,
    roundId: string,
  ): { runtime: RoundRuntime; index: number } {
    const { runtime, index } = this.participant(call, roundId);
    if (!(runtime instanceof RoundRuntime)) {
      throw failedPrecondition(
        `round ${runtime.id} is a CKKS round: submit with veilsum submit --mode ckks (CkksService)`,
      );
    }
    return { runtime, index };
  }

  /** A CKKS round and the caller's index in it. */
  private ckksParticipant(call: AuthenticatedCall, roundId: string) {
    const { runtime, index } = this.participant(call, roundId);
    if (!(runtime instanceof CkksRound))
      throw failedPrecondition(`round ${runtime.id} is a SecAgg round, not a CKKS round`);
    return { round: runtime, index };
  }

  private participant(
    call: AuthenticatedCall,
    roundId: string,
  ): { runtime: RoundRuntime | CkksRound; index: number } {
    const caller = this.callerOf(call);
    const runtime = this.round(roundId);
    const index = runtime.indexOf(caller.organisation);
    if (index === undefined) {
      throw permissionDenied(
        `organisation ${caller.organisation} is not a member of round ${runtime.id}`,
      );
    }
    return { runtime, index };
  }

  private runtimeDependencies() {
    return {
      store: this.store,
      logger: this.logger,
      combine: this.pool
        ? (jobs: Parameters<MaskPool['combine']>[0], d: number) => this.pool!.combine(jobs, d)
        : inlineCombiner,
      now: () => Date.now(),
      onChange: (runtime: RoundRuntime | CkksRound) => {
        const watchers = this.watchers.get(runtime.id);
        if (watchers && watchers.size > 0) {
          const snapshot = runtime.snapshot();
          for (const send of [...watchers]) send(snapshot);
        }
        // Per accepted message only watchers need waking; the rest happens on phase changes.
        if (this.knownPhases.get(runtime.id) === runtime.phase) return;
        this.knownPhases.set(runtime.id, runtime.phase);
        if (runtime.phase === 'done') {
          this.metrics.roundSeconds.observe((Date.now() - runtime.openedAt) / 1000);
          this.closeOnLedger(runtime);
        }
        this.updatePhaseGauge();
      },
    };
  }

  private ckksDependencies() {
    const ckks = this.ckks;
    if (ckks === undefined) {
      throw new Error(
        'this coordinator has CKKS rounds but no CKKS key: set ckks.keyFile in its config',
      );
    }
    const { onChange, store, logger, now } = this.runtimeDependencies();
    return {
      store,
      logger,
      now,
      onChange,
      engine: ckks.engine,
      publicKey: ckks.key.publicKey,
      keySha256: ckks.key.keySha256,
      closeOnLedger: async (round: CkksRound) => {
        if (this.ledger === undefined) throw new Error('CKKS rounds need the ledger');
        await this.ledger.closeRound(round);
        this.closedOnLedger.add(round.id);
      },
      decrypt: (round: CkksRound, aggregate: Uint8Array[]) =>
        this.thresholdDecrypt(round, aggregate),
    };
  }

  /**
   * Partial decryptions from t keyholders, combined. Keyholders are tried in index order; one
   * that fails (down, or refusing) is dropped and the next set of t is asked — the Lagrange
   * weights depend on the responder set, so every member of a new set answers again.
   */
  private async thresholdDecrypt(round: CkksRound, aggregate: Uint8Array[]): Promise<Float64Array> {
    const { key, engine, keyholders } = this.ckks!;
    const available = [...keyholders.keys()].sort((a, b) => a - b);
    const failures: string[] = [];
    while (available.length >= key.threshold) {
      const responders = available.slice(0, key.threshold);
      const header = {
        roundId: round.id,
        params: round.params,
        graphSeed: Buffer.from(round.graphSeed),
        responders,
        ciphertexts: aggregate.length,
      };
      const answers = await Promise.allSettled(
        responders.map((index) => keyholders.get(index)!.partialDecrypt(header, aggregate)),
      );
      const failed = responders.filter((_, i) => answers[i]!.status === 'rejected');
      if (failed.length === 0) {
        const partials = answers.map((a) => (a as PromiseFulfilledResult<Uint8Array[]>).value);
        this.logger.info(
          { event: 'decrypted', round: round.id, responders },
          `${responders.length} keyholders answered`,
        );
        return engine.combine(aggregate, partials, round.dimension);
      }
      for (const index of failed) {
        const reason = (answers[responders.indexOf(index)] as PromiseRejectedResult)
          .reason as Error;
        failures.push(`keyholder ${index}: ${reason.message}`);
        this.logger.warn(
          { event: 'keyholder-failed', round: round.id, keyholder: index, reason: reason.message },
          'keyholder did not answer',
        );
        available.splice(available.indexOf(index), 1);
      }
    }
    throw new Error(`fewer than ${key.threshold} keyholders answered (${failures.join('; ')})`);
  }

  private ckksService(): CkksServiceServer {
    return {
      getEncryptionKey: this.unary('GetEncryptionKey', async (call) => {
        const { round, index } = this.ckksParticipant(call, call.request.roundId);
        await this.ledger?.requireConsent(round.id, round.roster[index - 1]!.memberId);
        const { key, engine } = this.ckks!;
        return {
          roundId: round.id,
          parameterSet: key.parameterSet,
          publicKey: Buffer.from(key.publicKey),
          keySha256: Buffer.from(key.keySha256),
          ciphertexts: round.chunks,
          slots: engine.slots,
        };
      }),
      uploadEncrypted: (call, callback) => this.receiveEncryptedUpload(call, callback),
    };
  }

  /**
   * Streams an encrypted upload: every ciphertext is checked as it arrives and written to a
   * temporary file; only a complete upload with the announced number of valid ciphertexts under
   * the round's key is added to the sum, made durable and acknowledged. Anything else is answered
   * INVALID_ARGUMENT (naming the ciphertext) and leaves the sum and the disk unchanged.
   */
  private receiveEncryptedUpload(
    call: grpc.ServerReadableStream<EncryptedUploadChunk, EncryptedUploadReceipt>,
    callback: grpc.sendUnaryData<EncryptedUploadReceipt>,
  ): void {
    let round: CkksRound | undefined;
    let index = 0;
    let expected = 0;
    let pending: PendingUpdate | undefined;
    receiveUploadStream(
      call,
      {
        header: (chunk) => {
          if (chunk.content?.$case !== 'header') return undefined;
          if (round !== undefined)
            throw invalidArgument('the upload stream carries a second header');
          ({ round, index } = this.ckksParticipant(call, chunk.content.value.roundId));
          round.checkUploadAllowed(
            index,
            chunk.content.value.ciphertexts,
            chunk.content.value.keySha256,
          );
          expected = chunk.content.value.ciphertexts;
          pending = round.beginUpload();
          return this.store.roundDirectory(round.id);
        },
        data: (chunk) => {
          if (chunk.content?.$case !== 'ciphertext') throw invalidArgument('expected a ciphertext');
          const position = pending!.size;
          try {
            pending!.push(chunk.content.value);
          } catch (error) {
            throw invalidArgument(`ciphertext ${position}: ${(error as Error).message}`);
          }
          return chunk.content.value;
        },
        finish: async (temporaryPath, digest, bytes) => {
          const target = round!;
          if (pending!.size !== expected) {
            throw invalidArgument(
              `upload is truncated: ${pending!.size} of ${expected} ciphertexts arrived; nothing was stored`,
            );
          }
          // Consent is checked again when the update arrives: it may have been revoked meanwhile.
          await this.ledger?.requireConsent(target.id, target.roster[index - 1]!.memberId);
          target.acceptUpload(index, pending!, temporaryPath, digest);
          this.uploadAccepted('UploadEncrypted', target.id, index, bytes, digest);
          return { roundId: target.id, ciphertexts: expected, sha256: Buffer.from(digest) };
        },
      },
      (error, reply) => {
        pending?.discard();
        if (error) this.fail('UploadEncrypted', error, (e) => callback(e));
        else callback(null, reply);
      },
    );
  }

  /** One RoundClosed transaction per finished round; failures are logged and retried at restart. */
  private closeOnLedger(runtime: RoundRuntime | CkksRound): void {
    if (
      this.ledger === undefined ||
      runtime.phase !== 'done' ||
      this.closedOnLedger.has(runtime.id)
    )
      return;
    this.closedOnLedger.add(runtime.id);
    this.ledger.closeRound(runtime).catch((error: Error) => {
      this.closedOnLedger.delete(runtime.id);
      this.logger.error(
        { event: 'ledger-close-failed', round: runtime.id, reason: error.message },
        'could not close round on the ledger',
      );
    });
  }

  private updatePhaseGauge(): void {
    this.metrics.roundsByPhase.reset();
    for (const runtime of this.rounds.values())
      this.metrics.roundsByPhase.inc({ phase: runtime.phase });
  }
}
