import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { pino, type Logger } from 'pino';
import { openLedger, type OpenLedger } from '../../ledger/ledger-factory.ts';
import { identityOf } from '../../sdk/pki/certificates.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { bindMtls, keepaliveServerOptions, shutdownGracefully } from '../common/mtls-server.ts';
import { readKeyFile } from '../keyholder/key-file.ts';
import { assertPrivateFile } from '../keyholder/sealed-file.ts';
import { BankCallers } from './bank-callers.ts';
import type { MemberConfig } from './config.ts';
import { memberService } from './member-service.ts';
import { LedgerClockTicker } from '../common/ledger-clock-ticker.ts';
import { MemberMetrics } from './metrics.ts';
import { RoundEvents } from './round-events.ts';
import { RoundFollower } from './round-follower.ts';
import { MAX_CHUNK_BYTES } from './submit-stream.ts';
import { MemberServiceDefinition } from './chunk-deserializer.ts';
import { UpdateQueue } from './update-queue.ts';

const STOP_GRACE_MS = 2_000;

/**
 * The bank's aggregation peer (`veilsum member start`): MemberService over mTLS for the bank's
 * own callers, gRPC health, Prometheus metrics, the durable update queue, and the follower that
 * takes part in rounds for the bank with its consortium identity (which callers never see).
 */
export class MemberPeer {
  readonly logger: Logger;
  readonly metrics = new MemberMetrics();
  readonly memberId: string;
  private readonly config: MemberConfig;
  private readonly server: grpc.Server;
  private readonly callers: BankCallers;
  private readonly health = new HealthImplementation({ '': 'NOT_SERVING' });
  private readonly queue: UpdateQueue;
  private readonly ledger: OpenLedger | undefined;
  private readonly client: VeilsumClient;
  private readonly follower: RoundFollower;
  private readonly roundEvents: RoundEvents;
  private metricsServer: HttpServer | undefined;
  private clockTicker: LedgerClockTicker | undefined;
  private boundPort = 0;

  constructor(config: MemberConfig, logger?: Logger) {
    // The bank's consortium key and the peer's server key: readable by their owner only.
    assertPrivateFile(config.connect.privateKey, "the bank's private key");
    assertPrivateFile(config.tls.privateKey, "the peer's TLS private key");
    this.config = config;
    this.memberId = identityOf(
      readFileSync(config.connect.certificate),
      `certificate ${config.connect.certificate}`,
    ).organisation;
    this.logger =
      logger ??
      pino({ level: config.logLevel, base: { service: 'member', member: this.memberId } });
    this.callers = new BankCallers(config.tls.callerCa, config.callers);
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': MAX_CHUNK_BYTES + 64 * 1024,
      ...keepaliveServerOptions(),
      interceptors: [this.callers.interceptor(this.logger)],
    });
    this.queue = new UpdateQueue(config.dataDir);
    this.ledger = config.ledger
      ? openLedger(config.ledger, this.memberId, undefined, {
          ...config.connect,
          checkpoint: join(config.dataDir, 'ledger-heads.json'),
        })
      : undefined;
    this.client = VeilsumClient.connect({
      ...config.connect,
      threatModel: config.policy,
      ...(this.ledger ? { ledger: this.ledger.ledger } : {}),
    });
    this.roundEvents = new RoundEvents(
      this.ledger,
      join(config.dataDir, 'ledger-events.checkpoint'),
      () => this.follower.kick(),
      this.logger,
    );
    this.follower = new RoundFollower({
      queue: this.queue,
      client: this.client,
      memberId: this.memberId,
      journalDirectory: config.connect.journal!,
      ledger: this.ledger?.ledger,
      expectedKeySha256: config.keyFile ? readKeyFile(config.keyFile).keySha256 : undefined,
      pollIntervalMs: config.pollIntervalMs,
      fallbackPollMs: Math.min(config.pollIntervalMs * 10, 60_000),
      eventsLive: () => this.roundEvents.live,
      logger: this.logger,
      metrics: this.metrics,
    });
  }

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    this.server.addService(
      MemberServiceDefinition,
      memberService({
        memberId: this.memberId,
        queue: this.queue,
        follower: this.follower,
        client: this.client,
        callers: this.callers,
        ledger: this.ledger?.ledger,
        logger: this.logger,
        metrics: this.metrics,
        ckksPrecision: this.config.ckksPrecision,
      }),
    );
    this.health.addToServer(this.server);
    this.boundPort = await bindMtls(
      this.server,
      this.config.listen,
      {
        caCertificate: this.config.tls.callerCa,
        certificate: this.config.tls.certificate,
        privateKey: this.config.tls.privateKey,
      },
      {
        identify: this.callers.callerOf,
        verifyClients: 'service',
        onSession: this.callers.remember,
        // Updates arrive as 4 MiB messages: 1 MiB frames instead of 16 KiB ones.
        maxFrameBytes: 1 << 20,
      },
    );
    if (this.config.metricsListen)
      this.metricsServer = await this.metrics.serve(this.config.metricsListen);
    this.metrics.updateStates(this.queue.all());
    this.roundEvents.start();
    this.follower.start();
    if (this.ledger)
      this.clockTicker = LedgerClockTicker.start({
        ledger: this.ledger,
        intervalMs: this.config.ledgerClockIntervalMs,
        logger: this.logger,
        registry: this.metrics.registry,
      });
    this.health.setStatus('', 'SERVING');
    this.logger.info(
      {
        event: 'started',
        listen: this.config.listen,
        port: this.boundPort,
        ...(this.metricsServer
          ? { metricsPort: (this.metricsServer.address() as AddressInfo).port }
          : {}),
        updates: this.queue.all().length,
      },
      'member peer started',
    );
  }

  async stop(): Promise<void> {
    this.health.setStatus('', 'NOT_SERVING');
    this.roundEvents.stop();
    this.follower.stop();
    await shutdownGracefully(this.server, STOP_GRACE_MS);
    this.metricsServer?.close();
    this.client.close();
    await this.clockTicker?.stop();
    this.ledger?.close();
  }
}
