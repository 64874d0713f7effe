import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { createDevPki } from '../../services/pki/dev-ca.ts';
import {
  MemberServiceClient,
  MemberServiceService,
  UpdateState,
  type QueuedUpdate,
  type ResultHeader,
  type SubmitHeader,
  type SubmitUpdateRequest,
  type SubmitUpdateResponse,
} from '../../proto/gen/veilsum/v1/member.ts';
import { Adversary, Mode, type RoundParams } from '../../proto/gen/veilsum/v1/round.ts';
import { SUM_8192 } from '../../crypto/ckks/parameters.ts';
import { clientWithBytesSerializers } from '../../sdk/oneof-bytes-serializer.ts';
import { startKeyholders } from '../../cli/demo/ckks-services.ts';
import { startMemberProcess } from '../../cli/demo/processes.ts';
import {
  CoordinatorProcess,
  createConsortium,
  grantConsents,
  type Consortium,
} from './consortium.ts';
import { stopProcesses } from './coordinator-processes.ts';

/** A caller of a bank's peer: certificate and key from the bank's caller CA (or another). */
export interface CallerFiles {
  readonly certificate: string;
  readonly privateKey: string;
}

/** The callers each test bank's peer knows, by role; `outsider` holds the bank's consortium certificate. */
export interface BankCallerSet {
  readonly caCertificate: string;
  /** May submit for every model. */
  readonly scientist: CallerFiles;
  /** Read only. */
  readonly reader: CallerFiles;
  /** May submit for model `other-model` only. */
  readonly otherModel: CallerFiles;
  /** A certificate of another CA (the consortium's): no caller of this peer. */
  readonly outsider: CallerFiles;
}

/** `veilsum member start` as its own process. */
export class MemberPeerProcess {
  readonly memberId: string;
  readonly configPath: string;
  readonly dataDir: string;
  readonly callers: BankCallerSet;
  child: ChildProcess | undefined;
  port = 0;
  readonly logLines: string[] = [];

  /** Arguments for the peer's Node (e.g. `--cpu-prof`). */
  readonly nodeArguments: readonly string[];

  constructor(
    memberId: string,
    configPath: string,
    dataDir: string,
    callers: BankCallerSet,
    nodeArguments: readonly string[] = [],
  ) {
    this.memberId = memberId;
    this.configPath = configPath;
    this.dataDir = dataDir;
    this.callers = callers;
    this.nodeArguments = nodeArguments;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Starts (or restarts, on the same port once bound) and resolves once it listens. */
  async start(): Promise<void> {
    const config = JSON.parse(readFileSync(this.configPath, 'utf8')) as Record<string, unknown>;
    try {
      const started = await startMemberProcess(
        this.port === 0 ? config : { ...config, listen: `127.0.0.1:${this.port}` },
        this.configPath,
        (line) => this.logLines.push(line),
        this.nodeArguments,
      );
      this.child = started.child;
      this.port = started.port;
    } catch (error) {
      throw new Error(
        `the member peer ${this.memberId}: ${(error as Error).message}: ${this.logLines.join('\n')}`,
      );
    }
  }

  /** Its structured log events, from the `since`-th line on (default: all, across restarts). */
  events(since = 0): Record<string, unknown>[] {
    return this.logLines
      .slice(since)
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  /** SIGKILL: no chance to flush anything. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
    child.kill('SIGTERM');
    await exited;
  }
}

export interface MemberPeerSet {
  readonly directory: string;
  readonly consortium: Consortium;
  coordinator: CoordinatorProcess;
  readonly peers: MemberPeerProcess[];
  /** The consortium administrator's profile (opens rounds: `veilsum round open --profile`). */
  readonly adminProfile: string;
  stop(): Promise<void>;
}

export interface MemberPeerSetOptions {
  readonly members?: number;
  /** Use (and leave) this folder; default: a temporary one removed by stop(). */
  readonly directory?: string;
  /** Each peer's `policy` section. */
  readonly policy?: Record<string, unknown>;
  readonly pollIntervalMs?: number;
  /**
   * An embedded ledger (each peer reads it as its bank) with every bank's consent for these
   * models, and — with `keyholders` — CKKS: keyholder processes holding a 2-of-n collective key,
   * whose key file the coordinator and the peers use.
   */
  readonly ledger?: { readonly consentModels: readonly string[]; readonly keyholders?: number };
  /** Each peer's `ckksPrecision` (default: the config's). */
  readonly ckksPrecision?: number;
  /** Arguments for bank i's peer's Node (e.g. `--cpu-prof` for a benchmark). */
  readonly nodeArguments?: (bankIndex: number) => readonly string[];
}

/**
 * A consortium on 127.0.0.1 (development PKI, no ledger), its coordinator process, and one
 * `veilsum member start` process per bank, each with its own caller CA and three callers.
 */
export async function startMemberPeers(options: MemberPeerSetOptions = {}): Promise<MemberPeerSet> {
  const count = options.members ?? 3;
  let directory: string | undefined;
  if (options.directory !== undefined) {
    directory = resolve(options.directory);
    mkdirSync(directory, { recursive: true });
  }
  const consortium = await createConsortium(count, 'bank', {
    ...(directory ? { directory } : {}),
    ...(options.ledger ? { ledger: true, keyholders: options.ledger.keyholders ?? 0 } : {}),
  });
  const root = consortium.directory;
  const keyholderChildren: ChildProcess[] = [];
  let keyFile: string | undefined;
  if (options.ledger?.keyholders) {
    const started = await startKeyholders(consortium.local, 2, SUM_8192.name);
    for (const keyholder of started.keyholders.values()) keyholderChildren.push(keyholder.child);
    keyFile = started.keyFile;
    consortium.config = { ...consortium.config, ckks: { keyFile } };
  }
  const coordinator = await CoordinatorProcess.start(consortium);
  const peers: MemberPeerProcess[] = [];
  try {
    // The coordinator registered the banks on the ledger as it started: now they can consent.
    for (const model of options.ledger?.consentModels ?? []) await grantConsents(consortium, model);
    for (const memberId of consortium.members) {
      const callerDir = join(root, `${memberId}-callers`);
      // P-256 leaves under the caller CA: gRPC for Python (BoringSSL) cannot use Ed25519 keys in
      // TLS, and the bank's data scientists call the peer from Python (clients/python).
      const callerNames = ['scientist', 'reader', 'other-model-scientist'];
      const callerPki = await createDevPki(
        callerDir,
        [],
        [],
        `CN=${memberId} caller CA, O=${memberId}`,
        {
          servers: ['peer'],
          officers: callerNames,
        },
      );
      const caller = (name: string) => callerPki.officers![name]!;
      const consortiumIdentity = consortium.pki.members[memberId]!;
      const callers: BankCallerSet = {
        caCertificate: callerPki.caCertificatePath,
        scientist: files(caller('scientist')),
        reader: files(caller('reader')),
        otherModel: files(caller('other-model-scientist')),
        outsider: files(consortiumIdentity),
      };
      const dataDir = join(root, `${memberId}-peer-data`);
      const configPath = join(root, `member-${memberId}.json`);
      writeFileSync(
        configPath,
        JSON.stringify(
          {
            profile: consortium.profilePath(memberId, coordinator.port),
            listen: '127.0.0.1:0',
            tls: {
              callerCa: callerPki.caCertificatePath,
              // The caller CA's server certificate (SAN localhost, 127.0.0.1).
              certificate: callerPki.servers!.peer!.certificatePath,
              privateKey: callerPki.servers!.peer!.privateKeyPath,
            },
            callers: [
              { commonName: 'scientist', submit: ['*'], read: true },
              { commonName: 'reader', read: true },
              { commonName: 'other-model-scientist', submit: ['other-model'] },
            ],
            policy: options.policy ?? {},
            ...(options.ledger ? { ledger: { path: join(root, 'ledger.db') } } : {}),
            ...(keyFile ? { keyFile } : {}),
            dataDir,
            pollIntervalMs: options.pollIntervalMs ?? 200,
            ...(options.ckksPrecision !== undefined
              ? { ckksPrecision: options.ckksPrecision }
              : {}),
          },
          null,
          2,
        ),
      );
      const peer = new MemberPeerProcess(
        memberId,
        configPath,
        dataDir,
        callers,
        options.nodeArguments?.(peers.length) ?? [],
      );
      peers.push(peer);
    }
    await Promise.all(peers.map((peer) => peer.start()));
  } catch (error) {
    await Promise.all(peers.map((peer) => peer.stop()));
    await coordinator.stop();
    await stopProcesses(keyholderChildren);
    throw error;
  }
  const set: MemberPeerSet = {
    directory: root,
    consortium,
    coordinator,
    peers,
    adminProfile: consortium.profilePath('veilsum-admin', coordinator.port),
    async stop() {
      await Promise.all(peers.map((peer) => peer.stop()));
      await set.coordinator.stop();
      await stopProcesses(keyholderChildren);
      if (options.directory === undefined) rmSync(root, { recursive: true, force: true });
    },
  };
  return set;
}

function files(identity: { certificatePath: string; privateKeyPath: string }): CallerFiles {
  return { certificate: identity.certificatePath, privateKey: identity.privateKeyPath };
}

/** A SecAgg round of `modelId` over the given members (from 4 members on, one may drop). */
export function secAggRoundParams(
  members: readonly string[],
  modelId: string,
  roundNumber: number,
  dimension: number,
  deadlineMs = 20_000,
): RoundParams {
  return {
    modelId,
    roundNumber,
    mode: Mode.MODE_SECAGG,
    dimension,
    quantization: { clipRange: 4, levelBits: 16, modulusBits: 32 },
    // Complete graph against a semi-malicious server: t > (n + γn)/2 (3 of 3, 3 of 4).
    threshold: Math.floor((members.length + 1) / 2) + 1,
    degree: members.length - 1,
    adversary: Adversary.ADVERSARY_SEMI_MALICIOUS,
    members: [...members],
    deadlines: {
      advertiseKeysMs: deadlineMs,
      shareKeysMs: deadlineMs,
      maskedInputMs: deadlineMs,
      consistencyCheckMs: deadlineMs,
      unmaskingMs: deadlineMs,
    },
    corruptionRate: 0.05,
    dropoutRate: 0.25,
    minContributors: members.length - Math.floor(0.25 * members.length),
    ckks: undefined,
  };
}

// ── a TypeScript MemberService client, as a data scientist's tool would call the peer ──────

/**
 * The generated client, but SubmitUpdate's chunks encoded with one copy (a 4 MiB chunk through
 * the generated encoder is copied four times: the benchmark measured the client, not the peer).
 */
const FastMemberServiceClient = clientWithBytesSerializers<typeof MemberServiceClient>(
  MemberServiceService,
  'veilsum.v1.MemberService',
  { submitUpdate: { chunk: 2 } },
  'part',
);

export function memberClient(peer: MemberPeerProcess, caller: CallerFiles): MemberServiceClient {
  return new FastMemberServiceClient(
    peer.address,
    grpc.credentials.createSsl(
      readFileSync(peer.callers.caCertificate),
      readFileSync(caller.privateKey),
      readFileSync(caller.certificate),
    ),
    { 'grpc.max_receive_message_length': 8 * 1024 * 1024 },
  );
}

/** Whether an update's state is final (INCLUDED or DROPPED). */
export const isFinal = (update: { state: number }): boolean =>
  update.state === UpdateState.UPDATE_STATE_INCLUDED ||
  update.state === UpdateState.UPDATE_STATE_DROPPED;

/** A deterministic float update of `dimension` values in (−2, 2), distinct per seed. */
export function sampleUpdate(dimension: number, seed: number): Float32Array {
  const values = new Float32Array(dimension);
  for (let i = 0; i < dimension; i++) values[i] = Math.sin(seed * 7919 + i) * 1.5;
  return values;
}

/** MemberService clients of a set's peers, closed together. */
export class PeerClients {
  private readonly set: () => MemberPeerSet;
  private open: MemberServiceClient[] = [];

  constructor(set: () => MemberPeerSet) {
    this.set = set;
  }

  /** A client of bank i's peer (0-based) as `role` (default: the scientist, who submits and reads). */
  of(
    i: number,
    role: keyof Omit<BankCallerSet, 'caCertificate'> = 'scientist',
  ): MemberServiceClient {
    const peer = this.set().peers[i]!;
    const client = memberClient(peer, peer.callers[role]);
    this.open.push(client);
    return client;
  }

  closeAll(): void {
    for (const client of this.open) client.close();
    this.open = [];
  }
}

export function floatBytes(values: Float32Array): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

/** Header fields for `values`, the SHA-256 computed over their bytes. */
export function headerFor(
  values: Float32Array,
  target: { roundId: string } | { modelId: string },
  trainedFrom = '',
): SubmitHeader {
  return {
    target:
      'roundId' in target
        ? { $case: 'roundId', value: target.roundId }
        : { $case: 'modelId', value: target.modelId },
    values: values.length,
    sha256: createHash('sha256').update(floatBytes(values)).digest(),
    tensors: [],
    idempotencyKey: '',
    trainedFrom,
  };
}

/** Streams the given messages as one SubmitUpdate call. */
export function submitMessages(
  client: MemberServiceClient,
  messages: readonly SubmitUpdateRequest[],
): Promise<SubmitUpdateResponse> {
  return new Promise((resolveCall, reject) => {
    const call = client.submitUpdate((error, response) =>
      error ? reject(error) : resolveCall(response),
    );
    for (const message of messages) call.write(message);
    call.end();
  });
}

/** Submits `values` in 4 MiB chunks after `header`. */
export function submitUpdate(
  client: MemberServiceClient,
  values: Float32Array,
  header: SubmitHeader,
): Promise<SubmitUpdateResponse> {
  const bytes = floatBytes(values);
  const messages: SubmitUpdateRequest[] = [{ part: { $case: 'header', value: header } }];
  for (let offset = 0; offset < bytes.length; offset += 4 * 1024 * 1024)
    messages.push({
      part: { $case: 'chunk', value: bytes.subarray(offset, offset + 4 * 1024 * 1024) },
    });
  return submitMessages(client, messages);
}

/** Reads WatchUpdate until `until` holds for a state (or the stream ends); returns every state seen. */
export function watchUntil(
  client: MemberServiceClient,
  updateId: string,
  until: (update: QueuedUpdate) => boolean = () => false,
): Promise<QueuedUpdate[]> {
  return new Promise((resolveWatch, reject) => {
    const seen: QueuedUpdate[] = [];
    const stream = client.watchUpdate({ updateId });
    stream.on('data', (update: QueuedUpdate) => {
      seen.push(update);
      if (until(update)) {
        stream.cancel();
        resolveWatch(seen);
      }
    });
    stream.on('end', () => resolveWatch(seen));
    stream.on('error', (error: grpc.ServiceError) =>
      error.code === grpc.status.CANCELLED ? resolveWatch(seen) : reject(error),
    );
  });
}

/** GetResult: the header and the float64 sum. */
export function getResult(
  client: MemberServiceClient,
  roundId: string,
): Promise<{ header: ResultHeader; sum: Float64Array }> {
  return new Promise((resolveResult, reject) => {
    let header: ResultHeader | undefined;
    const pieces: Buffer[] = [];
    const stream = client.getResult({ roundId });
    stream.on('data', (chunk: { part?: { $case: string; value: unknown } }) => {
      if (chunk.part?.$case === 'header') header = chunk.part.value as ResultHeader;
      else if (chunk.part?.$case === 'sum') pieces.push(chunk.part.value as Buffer);
    });
    stream.on('error', reject);
    stream.on('end', () => {
      const bytes = Buffer.concat(pieces);
      const sum = new Float64Array(bytes.length / 8);
      for (let i = 0; i < sum.length; i++) sum[i] = bytes.readDoubleLE(i * 8);
      resolveResult({ header: header!, sum });
    });
  });
}

// ── as a script: `node test/support/member-peers.ts --members 3 --dir <d>` ───────────────

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string) => {
    const at = args.indexOf(name);
    return at >= 0 ? args[at + 1] : undefined;
  };
  // --ledger-models m1,m2: an embedded ledger with every bank's consent for those models;
  // --keyholders n (with it): CKKS keyholder processes (2 of n) and a collective key.
  // --consent-models is the same option under the name the Python tests use.
  const ledgerModels = option('--ledger-models') ?? option('--consent-models');
  const keyholders = Number(option('--keyholders') ?? 0);
  const set = await startMemberPeers({
    members: Number(option('--members') ?? 3),
    ...(option('--dir') ? { directory: option('--dir')! } : {}),
    ...(ledgerModels ? { ledger: { consentModels: ledgerModels.split(','), keyholders } } : {}),
  });
  console.log(
    JSON.stringify({
      directory: set.directory,
      coordinator: { address: `127.0.0.1:${set.coordinator.port}` },
      adminProfile: set.adminProfile,
      members: set.consortium.members,
      peers: set.peers.map((peer) => ({
        memberId: peer.memberId,
        address: peer.address,
        configPath: peer.configPath,
        dataDir: peer.dataDir,
        caCertificate: peer.callers.caCertificate,
        callers: {
          scientist: peer.callers.scientist,
          reader: peer.callers.reader,
          otherModel: peer.callers.otherModel,
          outsider: peer.callers.outsider,
        },
      })),
    }),
  );
  const stop = () => {
    set
      .stop()
      .then(() => process.exit(0))
      .catch(() => process.exit(1));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // --stop-on-stdin-close: the set goes down with the process that started it (pytest), however it ends.
  if (args.includes('--stop-on-stdin-close')) {
    process.stdin.once('end', stop);
    process.stdin.resume();
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  await main();
