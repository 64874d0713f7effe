import { join } from 'node:path';
import type { Server as HttpServer } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { pino, type Logger } from 'pino';
import { Mode, RoundAdminServiceService, RoundParams } from '../../proto/gen/veilsum/v1/round.ts';
import { SecAggServiceService } from '../../proto/gen/veilsum/v1/secagg.ts';
import { CkksServiceService } from '../../proto/gen/veilsum/v1/ckks.ts';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { parameterSetNamed } from '../../crypto/ckks/parameters.ts';
import { MaskPool } from '../compute/mask-pool.ts';
import { CallerIdentities } from '../common/caller.ts';
import {
  bindMtls,
  DEFAULT_CONNECTION_LIMITS,
  keepaliveServerOptions,
  shutdownGracefully,
} from '../common/mtls-server.ts';
import { KeyholderClient } from '../keyholder/keyholder-client.ts';
import { readKeyFile } from '../keyholder/key-file.ts';
import { assertPrivateFile } from '../keyholder/sealed-file.ts';
import type { CoordinatorConfig } from './config.ts';
import { CoordinatorState } from './coordinator-state.ts';
import { loadMemberDirectory } from './member-directory.ts';
import { CoordinatorMetrics } from './metrics.ts';
import { LedgerLink } from './ledger-link.ts';
import { RoundRuntime } from './round-runtime.ts';
import { CkksRound } from './ckks-round.ts';
import { CorruptRecordError, RoundStore } from './round-store.ts';
import { roundAdminService } from './round-admin-service.ts';
import { secAggService } from './secagg-service.ts';
import { ckksService } from './ckks-service.ts';

const STOP_GRACE_MS = 2_000;

/**
 * The coordinator process: its three gRPC services (RoundAdminService, SecAggService,
 * CkksService) over mTLS, gRPC health, Prometheus metrics, and the rounds (restored from the
 * store at start), shared by the services through one CoordinatorState.
 */
export class Coordinator {
  readonly logger: Logger;
  readonly metrics = new CoordinatorMetrics();
  private readonly config: CoordinatorConfig;
  private readonly state: CoordinatorState;
  private readonly server: grpc.Server;
  private readonly identities: CallerIdentities;
  private readonly health = new HealthImplementation({ '': 'NOT_SERVING' });
  private metricsServer: HttpServer | undefined;
  private boundPort = 0;

  constructor(config: CoordinatorConfig, logger?: Logger) {
    // Like the keyholder: a TLS private key others can read is refused, not used.
    assertPrivateFile(config.tls.privateKey, 'private key');
    this.config = config;
    this.logger = logger ?? pino({ level: config.logLevel, base: { service: 'coordinator' } });
    // A caller's O counts only when bound to its member certificate or the identity issuer.
    this.identities = new CallerIdentities({
      caCertificate: config.tls.caCertificate,
      identityIssuer: config.tls.identityIssuer,
      pinned: [...config.members, ...config.identityCertificates],
    });
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': 4 * 1024 * 1024,
      ...keepaliveServerOptions(config.connections ?? DEFAULT_CONNECTION_LIMITS),
      interceptors: [this.identities.interceptor(this.logger)],
    });
    this.state = new CoordinatorState({
      config,
      logger: this.logger,
      metrics: this.metrics,
      store: new RoundStore(config.dataDir),
      members: loadMemberDirectory(config.members),
      // The coordinator's checkpoint: the ledger head it last verified, kept with its state.
      ledger: config.ledger
        ? new LedgerLink(
            config.ledger,
            { ...config.tls, checkpoint: join(config.dataDir, 'ledger-heads.json') },
            this.logger,
          )
        : undefined,
    });
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
    const state = this.state;
    state.pool = this.config.maskThreads > 1 ? new MaskPool(this.config.maskThreads) : undefined;
    await state.ledger?.bootstrap([...state.members.keys()], this.config.auditors ?? []);
    if (this.config.ckks) {
      const key = readKeyFile(this.config.ckks.keyFile);
      const keyholders = new Map(
        key.keyholders.map((k) => [
          k.index,
          KeyholderClient.connect({ address: k.address, ...this.config.tls }),
        ]),
      );
      state.ckks = {
        key,
        engine: await CkksEngine.create(parameterSetNamed(key.parameterSet)),
        keyholders,
      };
    }
    const orphans = state.store.sweepPartials();
    if (orphans > 0)
      this.logger.info({ event: 'partials-swept', files: orphans }, 'unfinished uploads removed');
    for (const row of state.store.rounds()) {
      // A round whose record, events or blobs fail their digests is quarantined; the rest go on.
      if (row.corrupt !== undefined) {
        state.quarantine(row.roundId, row.corrupt);
        continue;
      }
      let runtime: RoundRuntime | CkksRound;
      try {
        runtime =
          RoundParams.decode(row.params).mode === Mode.MODE_CKKS
            ? CkksRound.restore(row, state.ckksDependencies())
            : RoundRuntime.restore(row, state.runtimeDependencies());
      } catch (error) {
        state.quarantine(row.roundId, replayFailure(error));
        continue;
      }
      state.rounds.set(row.roundId, runtime);
      this.logger.info(
        { event: 'round-restored', round: row.roundId, phase: runtime.phase },
        'round restored',
      );
    }
    state.updatePhaseGauge();
    // A round that finished just before a crash may not have reached the ledger yet.
    for (const runtime of state.rounds.values()) state.closeOnLedger(runtime);
    this.server.addService(RoundAdminServiceService, roundAdminService(state));
    this.server.addService(SecAggServiceService, secAggService(state));
    this.server.addService(CkksServiceService, ckksService(state));
    this.health.addToServer(this.server);
    this.boundPort = await bindMtls(this.server, this.config.listen, this.config.tls, {
      identify: this.identities.organisationOf,
      limits: this.config.connections,
    });
    if (this.config.metricsListen)
      this.metricsServer = await this.metrics.serve(this.config.metricsListen);
    this.health.setStatus('', 'SERVING');
    this.logger.info(
      {
        event: 'started',
        listen: this.config.listen,
        port: this.boundPort,
        rounds: state.rounds.size,
      },
      'coordinator started',
    );
  }

  async stop(): Promise<void> {
    const state = this.state;
    this.health.setStatus('', 'NOT_SERVING');
    for (const runtime of state.rounds.values()) runtime.stop();
    // Calls still waiting (Await*, idle streams) get a short grace period, then are cancelled.
    await shutdownGracefully(this.server, STOP_GRACE_MS);
    this.metricsServer?.close();
    await state.pool?.close();
    for (const client of state.ckks?.keyholders.values() ?? []) client.close();
    state.store.close();
    state.ledger?.close();
  }
}

/** Why a round could not be rebuilt from its log, naming the record when one failed its digest. */
function replayFailure(error: unknown): string {
  if (error instanceof CorruptRecordError) return error.message;
  return `its event log cannot be replayed (${(error as Error).message})`;
}
