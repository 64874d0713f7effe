import { createHash, createHmac, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { pino, type Logger } from 'pino';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import {
  ciphertextsFor,
  floodingSigmaFor,
  contributorFloor,
  KEY_KL_BUDGET,
  parameterSetNamed,
} from '../../crypto/ckks/parameters.ts';
import { encodeFields } from '../../crypto/bytes.ts';
import { seededRandom, systemRandom } from '../../crypto/random.ts';
import { ContractError, KEY_EXHAUSTED } from '../../ledger/contract.ts';
import type { Ledger } from '../../ledger/ledger.ts';
import { openLedger, type OpenLedger } from '../../ledger/ledger-factory.ts';
import { LedgerClockTicker } from '../common/ledger-clock-ticker.ts';
import type { CollectiveKeyLimits, RoundRecord } from '../../ledger/records.ts';
import {
  KeyholderServiceService,
  type KeyholderServiceServer,
  type PartialDecryptionChunk,
  type PartialDecryptionHeader,
  type PartialDecryptionRequest,
  type PrepareDecryptionHeader,
  type PrepareDecryptionReply,
  type PrepareDecryptionRequest,
} from '../../proto/gen/veilsum/v1/ckks.ts';
import { Mode, RoundParams } from '../../proto/gen/veilsum/v1/round.ts';
import { paramsHash } from '../../proto/round-wire.ts';
import { type AuthenticatedCall, CallerIdentities, callerOrganisation } from '../common/caller.ts';
import { rejection, unaryHandler } from '../common/service-edge.ts';
import { bindMtls, keepaliveServerOptions } from '../common/mtls-server.ts';
import {
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  notFound,
  permissionDenied,
} from '../../sdk/common/grpc-errors.ts';
import { identityIssuersPem, identityOf } from '../../sdk/pki/certificates.ts';
import { attestCollectiveKey, KeyholderCeremony, keyInfoOf } from './ceremony.ts';
import type { KeyholderConfig } from './config.ts';
import { CeremonyIdTakenError, HeldKeys, type StoredKey } from './held-keys.ts';
import { assertPrivateFile, readSealedJson, writeSealedJson } from './sealed-file.ts';
import { CkksVerifyPool } from '../compute/ckks-verify-pool.ts';
import {
  assertKeyBudget,
  DecryptionLog,
  type RecordedDecryption,
  resourceExhausted,
} from './decryption-log.ts';
import { checkReceipts, ReceiptedSum } from './receipted-sum.ts';

const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** A round as the ledger has it, checked against what the coordinator sent. */
interface CommittedRound {
  readonly record: RoundRecord;
  readonly key: StoredKey;
  readonly keyHex: string;
  readonly parameterSet: string;
  readonly chunks: number;
  readonly minContributors: number;
}

/**
 * A keyholder process: one Shamir share of each collective CKKS key it took part in making,
 * sealed at rest (services/keyholder/sealed-file.ts), served over mTLS. It decrypts only the
 * committed aggregate of a closed round under this key, and only after PrepareDecryption has
 * shown it to be the homomorphic sum of exactly the uploads that members signed receipts for
 * on the ledger (at least max(2, min_contributors) distinct members). This is what keeps the
 * aggregator from decrypting one bank's upload. Every ciphertext gets at most one partial,
 * for one responder set, logged durably before it is sent; a key decrypts at most
 * `keyLifeRounds` rounds (services/keyholder/decryption-log.ts).
 */
/** How long a keyholder's own Fabric peer gets to commit the block that closed a round. */
const CLOSED_ROUND_WAIT_MS = 10_000;

export class Keyholder {
  readonly logger: Logger;
  readonly keyholderId: string;
  private readonly config: KeyholderConfig;
  private readonly passphrase: string;
  private readonly ceremony: KeyholderCeremony;
  private readonly engines = new Map<string, Promise<CkksEngine>>();
  private readonly heldKeys: HeldKeys;
  private keys = new Map<string, StoredKey>();
  private readonly server: grpc.Server;
  private readonly identities: CallerIdentities;
  private readonly health = new HealthImplementation({ '': 'NOT_SERVING' });
  private ledgerConnection: OpenLedger | undefined;
  private ledger: Ledger | undefined;
  private clockTicker: LedgerClockTicker | undefined;
  private decryptionLog: DecryptionLog | undefined;
  /** Keys the flooding noise of each answer (see `floodingSource`); sealed at rest. */
  private floodingKey: Uint8Array | undefined;
  /** Answers are decided and logged one at a time, so two requests cannot race to bind. */
  private decisions: Promise<unknown> = Promise.resolve();
  private readonly verifyPools = new Map<string, CkksVerifyPool>();
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
    // Administrators and coordinators are bound to their configured certificates or to the
    // identity issuer: another CA in the bundle cannot mint O=veilsum-admin.
    const identities = (this.identities = new CallerIdentities({
      caCertificate: config.tls.caCertificate,
      identityIssuer: config.tls.identityIssuer,
      pinned: config.identityCertificates,
    }));
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      ...keepaliveServerOptions(),
      // Decryptions and ceremonies are refused to anyone else before a message is read
      // (the handlers check again).
      interceptors: [
        identities.interceptor(this.logger, (path) => {
          const method = path.slice(path.lastIndexOf('/') + 1);
          if (method === 'PrepareDecryption' || method === 'PartialDecrypt')
            return {
              allowed: config.coordinators,
              action: `ask for decryptions at keyholder ${this.keyholderId}`,
            };
          if (
            method === 'JoinCeremony' ||
            method === 'DealCeremony' ||
            method === 'CheckCeremony' ||
            method === 'FinishCeremony'
          )
            return {
              allowed: config.admins,
              action: `run key ceremonies at keyholder ${this.keyholderId}`,
            };
          // Everything else (GetKey, health): coordinators and administrators. Members have no
          // call at a keyholder, so no message of theirs is ever read (or held while partial).
          return {
            allowed: [...config.coordinators, ...config.admins],
            action: `call ${method} at keyholder ${this.keyholderId}`,
          };
        }),
      ],
    });
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
        caPem: identityIssuersPem(config.tls),
      },
      (name) => this.engine(name),
      (name, threshold) => floodingSigmaFor(parameterSetNamed(name), threshold, config.precision),
    );
  }

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    this.keys = await this.heldKeys.load((name) => this.engine(name));
    this.decryptionLog = new DecryptionLog(join(this.config.dataDir, 'decryptions.jsonl'));
    this.floodingKey = this.loadFloodingKey();
    // The keyholder writes as itself (it attests collective keys), each embedded-ledger block
    // signed with its TLS key; the file is verified against the consortium CA on open, so a
    // tampered ledger stops the keyholder here.
    this.ledgerConnection = openLedger(this.config.ledger, this.keyholderId, undefined, {
      ...this.config.tls,
      checkpoint: join(this.config.dataDir, 'ledger-heads.json'),
    });
    this.ledger = this.ledgerConnection.ledger;
    this.server.addService(KeyholderServiceService, this.service());
    this.health.addToServer(this.server);
    try {
      this.boundPort = await bindMtls(this.server, this.config.listen, this.config.tls, {
        identify: this.identities.organisationOf,
      });
    } catch (error) {
      // A keyholder that could not bind its port leaves no ledger connection open behind it.
      this.ledgerConnection.close();
      this.ledgerConnection = undefined;
      throw error;
    }
    // Ticks only once the keyholder serves (a failed start leaves no ticker running).
    this.clockTicker = LedgerClockTicker.start({
      ledger: this.ledgerConnection,
      intervalMs: this.config.ledgerClockIntervalMs,
      logger: this.logger,
    });
    this.health.setStatus('', 'SERVING');
    this.logger.info(
      { event: 'started', port: this.boundPort, keys: [...this.keys.keys()] },
      'keyholder started',
    );
  }

  async stop(): Promise<void> {
    this.health.setStatus('', 'NOT_SERVING');
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    await this.clockTicker?.stop();
    this.ledgerConnection?.close();
    await Promise.all([...this.verifyPools.values()].map((pool) => pool.close()));
  }

  /** A 32-byte key made once per keyholder and sealed like the key shares. */
  private loadFloodingKey(): Uint8Array {
    const path = join(this.config.dataDir, 'flooding-key.sealed');
    if (!existsSync(path))
      writeSealedJson(
        path,
        { key: Buffer.from(systemRandom(32)).toString('base64') },
        this.passphrase,
      );
    const { key } = readSealedJson(path, this.passphrase) as { key: string };
    return new Uint8Array(Buffer.from(key, 'base64'));
  }

  /**
   * The flooding noise of one answer is a PRF (HMAC-SHA256, then ChaCha20) of the sealed
   * flooding key, the collective key, the aggregate and the responder set: asked again for the
   * same aggregate and set the keyholder reproduces the identical partials instead of drawing
   * fresh noise, and the noise stays unpredictable to anyone without the sealed key.
   */
  /** What a decryption's KL charge depends on: the set, this keyholder's σ_f, the keyholders. */
  private flooding(key: StoredKey) {
    const set = parameterSetNamed(key.parameterSet);
    return {
      set,
      sigma: floodingSigmaFor(set, key.threshold, this.config.precision),
      keyholders: key.keyholders.length,
    };
  }

  /** The limits this keyholder attests for a key it holds (the ledger charges decryptions from them). */
  private keyLimits(key: StoredKey): CollectiveKeyLimits {
    const { set, sigma } = this.flooding(key);
    return {
      parameterSet: set.name,
      floodingSigma: sigma,
      keyLifeRounds: this.config.keyLifeRounds,
      klBudget: set.insecure ? 1 : KEY_KL_BUDGET,
    };
  }

  /** Every decryption any keyholder of `keyHex` recorded on the ledger. */
  private recordedDecryptions(keyHex: string) {
    return this.ledger!.keyDecryptions(keyHex);
  }

  /** The key's life and KL budget over all its keyholders (decryption-log.ts `assertKeyBudget`). */
  private assertKeyBudget(
    keyHex: string,
    key: StoredKey,
    recorded: readonly RecordedDecryption[],
    decryption: Parameters<typeof assertKeyBudget>[4],
  ): number {
    return assertKeyBudget(
      this.decryptionLog!,
      recorded,
      keyHex,
      { ...this.flooding(key), keyLifeRounds: this.config.keyLifeRounds },
      decryption,
    );
  }

  private floodingSource(keyHex: string, aggregate: string, responders: readonly number[]) {
    const seed = createHmac('sha256', this.floodingKey!)
      .update(
        encodeFields(
          'veilsum/v1/ckks/flooding',
          keyHex,
          aggregate,
          [...responders].sort((a, b) => a - b).join(','),
        ),
      )
      .digest();
    return seededRandom(new Uint8Array(seed));
  }

  /** Encryption-proof checks on worker threads, one pool per key (made when first needed). */
  private verifier(keyHex: string, parameterSet: string, publicKey: Uint8Array): CkksVerifyPool {
    let pool = this.verifyPools.get(keyHex);
    if (pool === undefined) {
      pool = new CkksVerifyPool(parameterSet, publicKey);
      this.verifyPools.set(keyHex, pool);
    }
    return pool;
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
      joinCeremony: this.unary('JoinCeremony', async (call) => {
        this.require(call, this.config.admins, 'run key ceremonies');
        const ceremonyId = call.request.ceremonyId;
        if (this.heldKeys.used(ceremonyId))
          throw alreadyExists(
            `keyholder ${this.keyholderId} already made a key in ceremony ${ceremonyId} and keeps it; a new ceremony needs a new id`,
          );
        const join = await this.ceremony.join(call.request);
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
      checkCeremony: this.unary('CheckCeremony', async (call) => {
        this.require(call, this.config.admins, 'run key ceremonies');
        return this.ceremony.check(call.request.plan, call.request.joins, call.request.dealings);
      }),
      answerCeremony: this.unary('AnswerCeremony', async (call) => {
        this.require(call, this.config.admins, 'run key ceremonies');
        const answer = await this.ceremony.answer(call.request.plan, call.request.checks);
        if (answer.revealed.length > 0)
          this.logger.warn(
            {
              event: 'ceremony-complaint-answered',
              ceremony: call.request.plan?.ceremonyId,
              revealedTo: answer.revealed.map((r) => r.toIndex),
            },
            'a test of this dealer failed: revealed the keys of the shares dealt to its window and abandoned the ceremony',
          );
        return answer;
      }),
      finishCeremony: this.unary('FinishCeremony', async (call) => {
        this.require(call, this.config.admins, 'run key ceremonies');
        const key = await this.ceremony.finish(
          call.request.plan,
          call.request.checks,
          call.request.answers,
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
        // Attested on the ledger as this keyholder: rounds may use the key once all attested it.
        const attested = await attestCollectiveKey(this.ledger!, key, this.keyLimits(stored));
        this.logger.info(
          {
            event: 'ceremony-finished',
            ceremony: key.ceremonyId,
            index: key.index,
            key: hex,
            registered: attested.registeredAt !== null,
          },
          'key share sealed and attested on the ledger',
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
      prepareDecryption: (call, callback) => this.prepareDecryption(call, callback),
      partialDecrypt: (call) => this.partialDecrypt(call),
    };
  }

  /**
   * The round as committed on the ledger, checked against the parameters the coordinator sent:
   * they hash to the ledger's params hash (which binds the key and min_contributors), the round
   * is closed, and this keyholder holds its key.
   */
  private async committedRound(
    roundId: string,
    params: RoundParams | undefined,
    graphSeed: Uint8Array,
  ): Promise<CommittedRound> {
    if (params === undefined || params.mode !== Mode.MODE_CKKS || params.ckks === undefined)
      throw invalidArgument('params must be the parameters of a CKKS round');
    const keyHex = Buffer.from(params.ckks.keySha256).toString('hex');
    const key = this.keys.get(keyHex);
    if (key === undefined) {
      throw failedPrecondition(
        `round ${roundId} encrypts under key ${keyHex.slice(0, 16)}…, which keyholder ${this.keyholderId} does not hold`,
      );
    }
    const set = parameterSetNamed(params.ckks.parameterSet);
    if (set.name !== key.parameterSet)
      throw invalidArgument(`the round uses ${set.name}; the key was made for ${key.parameterSet}`);
    // The ledger decides what may be decrypted.
    let record: RoundRecord;
    try {
      record = await this.closedRoundOnLedger(roundId);
    } catch (error) {
      if (error instanceof ContractError && error.kind === 'not-found')
        throw failedPrecondition(`round ${roundId} is not on the ledger; refusing to decrypt`);
      throw error;
    }
    const expectedParams = Buffer.from(
      paramsHash(RoundParams.encode(params).finish(), graphSeed),
    ).toString('hex');
    if (record.paramsHash !== expectedParams) {
      throw permissionDenied(
        `the parameters sent for round ${roundId} are not those recorded on the ledger`,
      );
    }
    if (record.status !== 'closed') {
      throw failedPrecondition(
        `round ${roundId} is not closed on the ledger; only a committed aggregate is decrypted`,
      );
    }
    // The floor is the keyholder's own, from the ledger's roster and its own δ: the coordinator's
    // min_contributors may raise it, never lower it.
    const floor = contributorFloor(
      record.roster.length,
      this.config.ckksDropoutRate,
      this.config.ckksMinContributors,
    );
    if (params.ckks.minContributors < floor) {
      throw failedPrecondition(
        `round ${roundId} allows min contributors ${params.ckks.minContributors}, below this keyholder's floor of ${floor} ` +
          `(max(2, ⌈(1 − δ)·n⌉) for n = ${record.roster.length} roster members on the ledger and its δ = ${this.config.ckksDropoutRate}` +
          `${this.config.ckksMinContributors ? `, raised to ${this.config.ckksMinContributors}` : ''}); refusing to decrypt`,
      );
    }
    const minContributors = Math.max(floor, params.ckks.minContributors);
    if (record.included.length < minContributors) {
      throw failedPrecondition(
        `round ${roundId} aggregates ${record.included.length} contributions, fewer than the minimum of ${minContributors}; refusing`,
      );
    }
    return {
      record,
      key,
      keyHex,
      parameterSet: set.name,
      chunks: ciphertextsFor(set, params.dimension),
      minContributors,
    };
  }

  /**
   * Streams in the receipted uploads of a closed round and checks, before anything can be
   * decrypted, that the ledger's aggregate is their homomorphic sum (services/keyholder/
   * receipted-sum.ts). A success is logged, so PartialDecrypt may answer for that aggregate.
   */
  private prepareDecryption(
    call: grpc.ServerReadableStream<PrepareDecryptionRequest, PrepareDecryptionReply>,
    callback: grpc.sendUnaryData<PrepareDecryptionReply>,
  ): void {
    type Prepared = { round: CommittedRound; sum: ReceiptedSum | undefined };
    let header: PrepareDecryptionHeader | undefined;
    let ready: Promise<Prepared> | undefined;
    const startedAt = performance.now();
    let checkingMs = 0;
    // Stream messages are applied in order, each after the previous one (and the ledger reads).
    let work: Promise<unknown> = Promise.resolve();
    // Answered (either way): anything still arriving is ignored.
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      void ready?.then(
        ({ sum }) => sum?.dispose(),
        () => {},
      );
      callback(rejection(this.logger, 'PrepareDecryption', error, { round: header?.roundId }));
    };
    const reply = ({ record, keyHex }: CommittedRound, aggregate: string) => {
      settled = true;
      callback(null, {
        roundId: record.roundId,
        aggregateSha256: Buffer.from(aggregate, 'hex'),
        contributors: record.included.length,
        roundsLeft: Math.max(
          0,
          this.config.keyLifeRounds - this.decryptionLog!.roundsDecrypted(keyHex),
        ),
      });
    };
    const then = (step: (round: CommittedRound, sum: ReceiptedSum) => void | Promise<void>) => {
      if (ready === undefined) throw invalidArgument('the stream must start with a header');
      const current = ready;
      work = work.then(async () => {
        const { round, sum } = await current;
        if (settled || sum === undefined) return;
        const stepStartedAt = performance.now();
        await step(round, sum);
        checkingMs += performance.now() - stepStartedAt;
      });
      work.catch(fail);
    };
    call.on('data', (request: PrepareDecryptionRequest) => {
      if (settled) return;
      try {
        const content = request.content;
        if (content?.$case === 'header') {
          if (header !== undefined) throw invalidArgument('the stream carries a second header');
          this.require(call, this.config.coordinators, 'ask for decryptions');
          header = content.value;
          ready = this.beginPrepare(content.value);
          // Verified before (e.g. a restarted coordinator asks again): answered at once.
          ready.then(({ round, sum }) => {
            if (sum === undefined && !settled) reply(round, round.record.aggregateHash!);
          }, fail);
        } else if (content?.$case === 'upload') {
          const { memberId, certificate } = content.value;
          then((_, sum) => sum.startUpload(memberId, certificate));
        } else if (content?.$case === 'ciphertext') {
          const wire = content.value;
          then((_, sum) => sum.addCiphertext(wire));
        } else if (content?.$case === 'proof') {
          const proof = content.value;
          then((_, sum) => sum.addProof(proof));
        } else throw invalidArgument('expected a header, an upload, a ciphertext or a proof');
      } catch (error) {
        fail(error);
      }
    });
    call.on('end', () => {
      if (settled) return;
      if (ready === undefined) return fail(invalidArgument('empty stream: send a header first'));
      then(async (round, sum) => {
        try {
          const aggregate = await sum.finish();
          this.decryptionLog!.recordVerified({
            round: round.record.roundId,
            key: round.keyHex,
            aggregateSha256: aggregate,
            contributors: round.record.included.length,
          });
          this.logger.info(
            {
              event: 'aggregate-verified',
              round: round.record.roundId,
              contributors: round.record.included.length,
              // Wall time of the stream, and the part spent checking and adding (not waiting).
              verifyMs: Math.round(performance.now() - startedAt),
              checkingMs: Math.round(checkingMs),
            },
            'aggregate is the sum of its receipted uploads',
          );
          reply(round, aggregate);
        } finally {
          sum.dispose();
        }
      });
    });
    call.on('error', () => {
      settled = true;
    });
  }

  private async beginPrepare(
    header: PrepareDecryptionHeader,
  ): Promise<{ round: CommittedRound; sum: ReceiptedSum | undefined }> {
    const round = await this.committedRound(header.roundId, header.params, header.graphSeed);
    // Refused early, before the aggregate streams in, if the key (all its keyholders) is spent.
    this.assertKeyBudget(round.keyHex, round.key, await this.recordedDecryptions(round.keyHex), {
      round: header.roundId,
      aggregate: round.record.aggregateHash!,
      ciphertexts: round.chunks,
      contributors: round.record.included.length,
    });
    if (this.decryptionLog!.isVerified(round.keyHex, round.record.aggregateHash!))
      return { round, sum: undefined };
    const receipts = checkReceipts(round.record, round.minContributors);
    // A receipt counts only from an organisation the ledger registers as a member.
    for (const { memberId } of receipts) {
      const roles = await this.ledger!.getMember(memberId).then(
        (member) => member.roles,
        (): readonly string[] => [],
      );
      if (!roles.includes('member'))
        throw failedPrecondition(
          `${memberId} signed an upload receipt of round ${header.roundId} but is not registered as a member on the ledger; refusing to decrypt`,
        );
    }
    const refusedSigners = new Set([
      ...this.config.coordinators,
      ...this.config.admins,
      ...round.key.keyholders.map((k) => k.keyholderId),
    ]);
    const sum = new ReceiptedSum({
      round: round.record,
      receipts,
      engine: await this.engine(round.parameterSet),
      verifyProof: (statement, first, wires, proof) =>
        this.verifier(round.keyHex, round.parameterSet, round.key.publicKey).verify(
          statement,
          first,
          wires,
          proof,
        ),
      keySha256: round.key.keySha256,
      chunks: round.chunks,
      caPem: identityIssuersPem(this.config.tls),
      refusedSigners,
    });
    return { round, sum };
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
    const round = await this.committedRound(header.roundId, header.params, header.graphSeed);
    const { key, keyHex, record } = round;
    if (header.ciphertexts !== round.chunks || aggregate.length !== round.chunks) {
      throw invalidArgument(
        `an aggregate of dimension ${header.params!.dimension} has ${round.chunks} ciphertexts; ${aggregate.length} arrived`,
      );
    }
    const responders = header.responders;
    const known = new Set(key.keyholders.map((k) => k.index));
    if (
      !responders.includes(key.index) ||
      new Set(responders).size !== responders.length ||
      responders.some((index) => !known.has(index)) ||
      responders.length !== key.threshold
    ) {
      throw invalidArgument(
        `responders must be ${key.threshold} distinct keyholder indices of this key, including ${key.index}; got [${responders.join(', ')}]`,
      );
    }
    const actual = Buffer.from(aggregateSha256).toString('hex');
    if (record.aggregateHash !== actual) {
      throw failedPrecondition(
        `the ciphertext is not the committed aggregate of round ${header.roundId} (SHA-256 ${actual.slice(0, 16)}…, ledger ${String(record.aggregateHash).slice(0, 16)}…); refusing`,
      );
    }
    const log = this.decryptionLog!;
    if (!log.isVerified(keyHex, actual)) {
      throw failedPrecondition(
        `the aggregate of round ${header.roundId} has not been checked against its receipted uploads; call PrepareDecryption first`,
      );
    }
    const engine = await this.engine(round.parameterSet);
    const ciphertexts = aggregate.map((ct) => createHash('sha256').update(ct).digest('hex'));
    // Decided, computed and logged one request at a time: two concurrent requests for one
    // ciphertext cannot both pass the binding check.
    const decide = this.decisions.then(async () => {
      const known = log.check(keyHex, actual, ciphertexts, responders, this.config.keyLifeRounds);
      const kl =
        known.kind === 'new'
          ? this.assertKeyBudget(keyHex, key, await this.recordedDecryptions(keyHex), {
              round: header.roundId,
              aggregate: actual,
              ciphertexts: ciphertexts.length,
              contributors: record.included.length,
            })
          : undefined;
      const partials = engine.partialDecrypt(
        aggregate,
        key.share,
        key.index,
        responders,
        floodingSigmaFor(engine.set, responders.length, this.config.precision),
        this.floodingSource(keyHex, actual, responders),
      );
      const digest = createHash('sha256');
      for (const partial of partials) digest.update(partial);
      const partialsSha256 = digest.digest('hex');
      if (known.kind === 'repeat' && known.partialsSha256 !== partialsSha256) {
        throw failedPrecondition(
          `keyholder ${this.keyholderId} answered round ${header.roundId} for these responders before, ` +
            'and cannot reproduce those exact bytes; it never sends a second, different partial',
        );
      }
      const entry = {
        round: header.roundId,
        caller: callerOrganisation(call),
        key: keyHex,
        aggregateSha256: actual,
        ciphertexts,
        responders,
        contributors: record.included.length,
        partialsSha256,
      };
      // On the ledger, for every keyholder of the key to count, and logged (durably) here, both
      // before anything leaves this process: a crash in between spends budget on nothing.
      if (kl !== undefined)
        await this.ledger!.recordKeyDecryption(keyHex, actual, header.roundId, {
          ciphertexts: ciphertexts.length,
          contributors: record.included.length,
        }).catch((error: unknown) => {
          // Another keyholder took the key's last round or budget since the check above.
          if (error instanceof ContractError && error.message.startsWith(KEY_EXHAUSTED))
            throw resourceExhausted(error.message);
          throw error;
        });
      log.record(entry);
      this.logger.info(
        {
          event: 'partial-decryption',
          round: entry.round,
          caller: entry.caller,
          aggregateSha256: actual,
          contributors: entry.contributors,
          responders: [...responders],
          key: keyHex,
          repeat: known.kind === 'repeat',
        },
        known.kind === 'repeat'
          ? 'partial decryption sent again (same bytes)'
          : 'partial decryption granted',
      );
      return partials;
    });
    this.decisions = decide.catch(() => {});
    const partials = await decide;
    for (const [position, partial] of partials.entries()) {
      if (!call.write({ position, partial: Buffer.from(partial) }))
        await new Promise((resolve) => call.once('drain', resolve));
    }
    call.end();
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
  /**
   * The round's record on this keyholder's ledger view. On Fabric the coordinator closed it
   * through its own peer and this keyholder's peer commits that block on its own schedule: it
   * waits (a little) for its peer's RoundClosed event before judging the round.
   */
  private async closedRoundOnLedger(roundId: string): Promise<RoundRecord> {
    const ledger = this.ledger!;
    if (!ledger.readerMayLag) return ledger.getRound(roundId);
    const closed = await ledger.whenCommitted(
      () =>
        ledger.getRound(roundId).then(
          (record) => (record.status === 'closed' ? record : undefined),
          (error: unknown) => {
            if (error instanceof ContractError && error.kind === 'not-found') return undefined;
            throw error;
          },
        ),
      (event) => event.name === 'RoundClosed' && event.payload.roundId === roundId,
      CLOSED_ROUND_WAIT_MS,
    );
    return closed ?? ledger.getRound(roundId);
  }
}
