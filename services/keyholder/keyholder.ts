import { createHash, createPrivateKey } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { pino, type Logger } from 'pino';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { ciphertextsFor, floodBitsFor, parameterSetNamed } from '../../crypto/ckks/parameters.ts';
import { systemRandom } from '../../crypto/random.ts';
import { ContractError } from '../../ledger/contract.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import {
  KeyholderServiceService,
  type KeyholderServiceServer,
  type PartialDecryptionChunk,
  type PartialDecryptionHeader,
  type PartialDecryptionRequest,
} from '../../proto/gen/veilsum/v1/ckks.ts';
import { Mode, RoundParams } from '../../proto/gen/veilsum/v1/round.ts';
import { paramsHash } from '../../proto/round-wire.ts';
import { type AuthenticatedCall, callerOrganisation } from '../common/caller.ts';
import { rejection, unaryHandler } from '../common/service-edge.ts';
import { bindMtls } from '../common/mtls-server.ts';
import {
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  notFound,
  permissionDenied,
} from '../common/grpc-errors.ts';
import { identityOf } from '../pki/certificates.ts';
import { KeyholderCeremony, keyInfoOf } from './ceremony.ts';
import type { KeyholderConfig } from './config.ts';
import { CeremonyIdTakenError, HeldKeys, type StoredKey } from './held-keys.ts';
import { assertPrivateFile } from './sealed-file.ts';

const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/**
 * A keyholder process: one Shamir share of each collective CKKS key it took part in making,
 * sealed at rest (services/keyholder/sealed-file.ts), served over mTLS. It answers a partial
 * decryption only for the committed aggregate of a closed round — the ledger's aggregate hash,
 * with at least the round's minimum number of contributors, under this key — and writes every
 * decryption to an append-only log before it answers. This is what keeps the aggregator from
 * decrypting one bank's upload.
 */
export class Keyholder {
  readonly logger: Logger;
  readonly keyholderId: string;
  private readonly config: KeyholderConfig;
  private readonly passphrase: string;
  private readonly ceremony: KeyholderCeremony;
  private readonly engines = new Map<string, Promise<CkksEngine>>();
  private readonly heldKeys: HeldKeys;
  private keys = new Map<string, StoredKey>();
  private readonly server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  });
  private readonly health = new HealthImplementation({ '': 'NOT_SERVING' });
  private ledgerDatabase: EmbeddedLedgerDatabase | undefined;
  private ledger: Ledger | undefined;
  private boundPort = 0;

  constructor(config: KeyholderConfig, logger?: Logger) {
    this.config = config;
    const certificatePem = readFileSync(config.tls.certificate, 'utf8');
    this.keyholderId = identityOf(
      certificatePem,
      `certificate ${config.tls.certificate}`,
    ).organisation;
    this.logger =
      logger ??
      pino({ level: config.logLevel, base: { service: 'keyholder', keyholder: this.keyholderId } });
    assertPrivateFile(config.tls.privateKey, 'private key');
    if (config.passphraseFile) {
      assertPrivateFile(config.passphraseFile, 'passphrase file');
      this.passphrase = readFileSync(config.passphraseFile, 'utf8').trim();
    } else {
      const fromEnvironment = process.env.VEILSUM_KEYHOLDER_PASSPHRASE;
      if (!fromEnvironment)
        throw new Error(
          'set passphraseFile in the keyholder config or VEILSUM_KEYHOLDER_PASSPHRASE',
        );
      this.passphrase = fromEnvironment;
    }
    this.heldKeys = new HeldKeys(join(config.dataDir, 'keys'), this.passphrase);
    const jwk = createPrivateKey(readFileSync(config.tls.privateKey)).export({ format: 'jwk' });
    if (jwk.crv !== 'Ed25519' || !jwk.d)
      throw new Error(`${config.tls.privateKey} is not an Ed25519 private key`);
    this.ceremony = new KeyholderCeremony(
      {
        keyholderId: this.keyholderId,
        certificatePem,
        signingKey: new Uint8Array(Buffer.from(jwk.d, 'base64url')),
        caPem: readFileSync(config.tls.caCertificate, 'utf8'),
      },
      (name) => this.engine(name),
    );
  }

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    this.keys = await this.heldKeys.load((name) => this.engine(name));
    this.ledgerDatabase = new EmbeddedLedgerDatabase(this.config.ledger.path);
    this.ledger = new Ledger(this.ledgerDatabase.as(this.keyholderId));
    this.server.addService(KeyholderServiceService, this.service());
    this.health.addToServer(this.server);
    this.boundPort = await bindMtls(this.server, this.config.listen, this.config.tls);
    this.health.setStatus('', 'SERVING');
    this.logger.info(
      { event: 'started', port: this.boundPort, keys: [...this.keys.keys()] },
      'keyholder started',
    );
  }

  async stop(): Promise<void> {
    this.health.setStatus('', 'NOT_SERVING');
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    this.ledgerDatabase?.close();
  }

  private engine(name: string): Promise<CkksEngine> {
    let engine = this.engines.get(name);
    if (engine === undefined) {
      engine = CkksEngine.create(parameterSetNamed(name));
      this.engines.set(name, engine);
    }
    return engine;
  }

  private latestKey() {
    const latest = [...this.keys.values()].sort((a, b) => b.createdAt - a.createdAt)[0];
    if (latest === undefined)
      throw failedPrecondition(
        `keyholder ${this.keyholderId} holds no key yet; run veilsum keys ceremony`,
      );
    return latest;
  }

  private service(): KeyholderServiceServer {
    return {
      joinCeremony: this.unary('JoinCeremony', (call) => {
        this.require(call, this.config.admins, 'run key ceremonies');
        const ceremonyId = call.request.ceremonyId;
        if (this.heldKeys.used(ceremonyId))
          throw alreadyExists(
            `keyholder ${this.keyholderId} already made a key in ceremony ${ceremonyId} and keeps it; a new ceremony needs a new id`,
          );
        const join = this.ceremony.join(call.request);
        this.logger.info(
          { event: 'ceremony-joined', ceremony: call.request.ceremonyId },
          'ceremony joined',
        );
        return join;
      }),
      dealCeremony: this.unary('DealCeremony', async (call) => {
        this.require(call, this.config.admins, 'run key ceremonies');
        return this.ceremony.deal(call.request.plan, call.request.joins);
      }),
      finishCeremony: this.unary('FinishCeremony', async (call) => {
        this.require(call, this.config.admins, 'run key ceremonies');
        const key = await this.ceremony.finish(
          call.request.plan,
          call.request.joins,
          call.request.dealings,
        );
        // Sealed and on disk before the key is announced: a key the keyholder could lose is no key.
        let stored: StoredKey;
        try {
          stored = this.heldKeys.seal(key, Date.now());
        } catch (error) {
          if (error instanceof CeremonyIdTakenError) throw alreadyExists(error.message);
          throw error;
        }
        const hex = Buffer.from(key.keySha256).toString('hex');
        this.keys.set(hex, stored);
        this.logger.info(
          { event: 'ceremony-finished', ceremony: key.ceremonyId, index: key.index, key: hex },
          'key share sealed',
        );
        return keyInfoOf(key);
      }),
      getKey: this.unary('GetKey', (call) => {
        callerOrganisation(call);
        if (call.request.keySha256.length === 0) return keyInfoOf(this.latestKey());
        const hex = Buffer.from(call.request.keySha256).toString('hex');
        const key = this.keys.get(hex);
        if (key === undefined)
          throw notFound(`keyholder ${this.keyholderId} holds no key ${hex.slice(0, 16)}…`);
        return keyInfoOf(key);
      }),
      partialDecrypt: (call) => this.partialDecrypt(call),
    };
  }

  /**
   * Collects the header and the aggregate, checks both against the ledger, logs the decryption,
   * then streams the partials. Nothing is computed before every check has passed.
   */
  private partialDecrypt(
    call: grpc.ServerDuplexStream<PartialDecryptionRequest, PartialDecryptionChunk>,
  ): void {
    let header: PartialDecryptionHeader | undefined;
    const aggregate: Uint8Array[] = [];
    const hash = createHash('sha256');
    let failed = false;
    const fail = (error: unknown) => {
      if (failed) return;
      failed = true;
      // grpc-js turns an emitted error into the call's status (destroy would drop it).
      call.emit(
        'error',
        rejection(this.logger, 'PartialDecrypt', error, { round: header?.roundId }),
      );
    };
    call.on('data', (request: PartialDecryptionRequest) => {
      if (failed) return;
      try {
        const content = request.content;
        if (content?.$case === 'header') {
          if (header !== undefined) throw invalidArgument('the stream carries a second header');
          this.require(call, this.config.coordinators, 'ask for partial decryptions');
          header = content.value;
          return;
        }
        if (header === undefined) throw invalidArgument('the stream must start with a header');
        if (content?.$case !== 'ciphertext') throw invalidArgument('expected a ciphertext');
        if (aggregate.length >= header.ciphertexts)
          throw invalidArgument(`more than the announced ${header.ciphertexts} ciphertexts`);
        aggregate.push(content.value);
        hash.update(content.value);
      } catch (error) {
        fail(error);
      }
    });
    call.on('end', () => {
      if (failed) return;
      this.answer(call, header, aggregate, new Uint8Array(hash.digest())).catch(fail);
    });
    call.on('error', () => {
      failed = true;
    });
  }

  private async answer(
    call: grpc.ServerDuplexStream<PartialDecryptionRequest, PartialDecryptionChunk>,
    header: PartialDecryptionHeader | undefined,
    aggregate: Uint8Array[],
    aggregateSha256: Uint8Array,
  ): Promise<void> {
    if (header === undefined)
      throw invalidArgument('empty stream: send a header and the aggregate');
    const params = header.params;
    if (params === undefined || params.mode !== Mode.MODE_CKKS || params.ckks === undefined)
      throw invalidArgument('params must be the parameters of a CKKS round');
    const keyHex = Buffer.from(params.ckks.keySha256).toString('hex');
    const key = this.keys.get(keyHex);
    if (key === undefined) {
      throw failedPrecondition(
        `round ${header.roundId} encrypts under key ${keyHex.slice(0, 16)}…, which keyholder ${this.keyholderId} does not hold`,
      );
    }
    const set = parameterSetNamed(params.ckks.parameterSet);
    if (set.name !== key.parameterSet)
      throw invalidArgument(`the round uses ${set.name}; the key was made for ${key.parameterSet}`);
    const expectedChunks = ciphertextsFor(set, params.dimension);
    if (header.ciphertexts !== expectedChunks || aggregate.length !== expectedChunks) {
      throw invalidArgument(
        `an aggregate of dimension ${params.dimension} has ${expectedChunks} ciphertexts; ${aggregate.length} arrived`,
      );
    }
    const responders = header.responders;
    const known = new Set(key.keyholders.map((k) => k.index));
    if (
      !responders.includes(key.index) ||
      new Set(responders).size !== responders.length ||
      responders.some((index) => !known.has(index)) ||
      responders.length < key.threshold
    ) {
      throw invalidArgument(
        `responders must be ${key.threshold} or more distinct keyholder indices of this key, including ${key.index}; got [${responders.join(', ')}]`,
      );
    }

    // The ledger decides what may be decrypted.
    let round;
    try {
      round = await this.ledger!.getRound(header.roundId);
    } catch (error) {
      if (error instanceof ContractError && error.kind === 'not-found')
        throw failedPrecondition(
          `round ${header.roundId} is not on the ledger; refusing to decrypt`,
        );
      throw error;
    }
    const expectedParams = Buffer.from(
      paramsHash(RoundParams.encode(params).finish(), header.graphSeed),
    ).toString('hex');
    if (round.paramsHash !== expectedParams) {
      throw permissionDenied(
        `the parameters sent for round ${header.roundId} are not those recorded on the ledger`,
      );
    }
    if (round.status !== 'closed') {
      throw failedPrecondition(
        `round ${header.roundId} is not closed on the ledger; only a committed aggregate is decrypted`,
      );
    }
    const actual = Buffer.from(aggregateSha256).toString('hex');
    if (round.aggregateHash !== actual) {
      throw failedPrecondition(
        `the ciphertext is not the committed aggregate of round ${header.roundId} (SHA-256 ${actual.slice(0, 16)}…, ledger ${String(round.aggregateHash).slice(0, 16)}…); refusing`,
      );
    }
    if (round.included.length < params.ckks.minContributors) {
      throw failedPrecondition(
        `round ${header.roundId} aggregates ${round.included.length} contributions, fewer than its minimum of ${params.ckks.minContributors}; refusing`,
      );
    }
    const engine = await this.engine(set.name);
    // Logged (durably) before anything leaves this process.
    this.recordDecryption({
      round: header.roundId,
      caller: callerOrganisation(call),
      aggregateSha256: actual,
      contributors: round.included.length,
      responders,
      key: keyHex,
    });
    const partials = engine.partialDecrypt(
      aggregate,
      key.share,
      key.index,
      responders,
      floodBitsFor(set, responders.length, this.config.precision),
      systemRandom,
    );
    for (const [position, partial] of partials.entries()) {
      if (!call.write({ position, partial: Buffer.from(partial) }))
        await new Promise((resolve) => call.once('drain', resolve));
    }
    call.end();
  }

  private recordDecryption(entry: Record<string, unknown>): void {
    const path = join(this.config.dataDir, 'decryptions.jsonl');
    appendFileSync(path, JSON.stringify({ at: new Date().toISOString(), ...entry }) + '\n', {
      mode: 0o600,
    });
    const fd = openSync(path, 'r');
    fsyncSync(fd);
    closeSync(fd);
    this.logger.info({ event: 'partial-decryption', ...entry }, 'partial decryption granted');
  }

  private require(call: AuthenticatedCall, allowed: readonly string[], action: string): void {
    const organisation = callerOrganisation(call);
    if (!allowed.includes(organisation)) {
      throw permissionDenied(
        `organisation ${organisation} may not ${action} at keyholder ${this.keyholderId}`,
      );
    }
  }

  private unary<Request, Response>(
    method: string,
    handler: (call: grpc.ServerUnaryCall<Request, Response>) => Response | Promise<Response>,
  ): grpc.handleUnaryCall<Request, Response> {
    return unaryHandler(handler, (error, send) => send(rejection(this.logger, method, error)));
  }
}
