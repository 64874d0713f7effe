/**
 * Soak run: rounds back to back (SecAgg+ and CKKS alternating) for --minutes, on 127.0.0.1 only,
 * with random dropouts, random SIGKILLs of the coordinator and of one keyholder (each restarted),
 * and an abusive member that keeps opening idle upload streams and sending oversize and garbage
 * uploads. Checks every completed round's sum and that every upload a member got a receipt for is
 * counted in its round's sum.
 *   npm run soak -- --minutes 10 [--seed 7]
 * The last line printed is one JSON object.
 */
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { SUM_8192 } from '../../crypto/ckks/parameters.ts';
import type { DropoutPhase } from '../../crypto/secagg/simulation.ts';
import { seededRandom } from '../../crypto/random.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { Adversary, Mode, Phase, type RoundParams } from '../../proto/gen/veilsum/v1/round.ts';
import { SecAggServiceClient, type UploadChunk } from '../../proto/gen/veilsum/v1/secagg.ts';
import { tlsChannel } from '../../sdk/grpc-channel.ts';
import { VeilsumClient, type ParticipationResult } from '../../sdk/veilsum-client.ts';
import {
  killKeyholder,
  type RunningKeyholder,
  startKeyholders,
} from '../../cli/demo/ckks-services.ts';
import { ADMIN, createLocalConsortium } from '../../cli/demo/local-consortium.ts';
import { startCoordinatorProcess, startKeyholderProcess } from '../../cli/demo/processes.ts';
import { FIXTURE_POLICY } from '../../test/support/consortium.ts';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    seed: { type: 'string', default: '7' },
    dim: { type: 'string', default: '2000' },
  },
});
const runMs = Number(args.minutes) * 60_000;
const dimension = Number(args.dim);
const random = seededRandom(Number(args.seed));
const uniform = () => Buffer.from(random(4)).readUInt32LE(0) / 2 ** 32;
const MODEL = 'soak-model';
const HONEST = ['soak-01', 'soak-02', 'soak-03', 'soak-04', 'soak-05'];
const ABUSER = 'soak-abuser';
const MEMBERS = [...HONEST, ABUSER];
const KEYHOLDERS = ['keyholder-1', 'keyholder-2', 'keyholder-3'];
const DROPOUT_RATE = 0.15;
const KILL_COORDINATOR_RATE = 0.25;
const KILL_KEYHOLDER_RATE = 0.2;

const directory = mkdtempSync(join(tmpdir(), 'veilsum-soak-'));
const local = await createLocalConsortium({
  directory,
  members: MEMBERS,
  keyholders: KEYHOLDERS,
  ledgerPath: join(directory, 'ledger.db'),
  // CKKS rounds take 3 of the roster and members drop: keyholders and members allow δ = 0.5.
  keyholderDropoutRate: 0.5,
});
const services = await startKeyholders(local, 2, SUM_8192.name);
const keyholders = services.keyholders;
const coordinatorConfig = {
  ...local.coordinatorConfig,
  ckks: { keyFile: services.keyFile },
  uploads: {
    streamsPerMember: 4,
    streams: 256,
    bytesPerMember: 64 << 20,
    bytes: 512 << 20,
    idleMs: 5_000,
    totalMs: 60_000,
  },
};
const coordinatorConfigPath = join(directory, 'coordinator.json');
let coordinator = await startCoordinatorProcess(coordinatorConfig, coordinatorConfigPath, () => {});
const port = coordinator.port;
// The coordinator registered the members on the ledger at start; each now consents.
const ledgerFile = new EmbeddedLedgerDatabase(
  join(directory, 'ledger.db'),
  readFileSync(local.pki.caCertificatePath),
);
for (const [i, member] of MEMBERS.entries()) {
  await new Ledger(ledgerFile.as(local.ledgerWriter(member))).grantConsent(
    `consent-${member}`,
    `transactions-${i + 1}`,
    MODEL,
    Date.now() + 86_400_000,
  );
}
// Semi-honest rounds (γ = 0) against the honest coordinator, members without a ledger: the
// member policy is lowered explicitly (the defaults refuse such rounds).
const profile = (id: string) => ({
  ...local.profile(id, port),
  retry: { totalMs: 90_000, initialDelayMs: 100, maxDelayMs: 2_000 },
  threatModel: FIXTURE_POLICY,
});

const stats = {
  minutes: Number(args.minutes),
  roundsCompleted: 0,
  roundsAborted: 0,
  abortReasons: {} as Record<string, number>,
  uploadsAccepted: 0,
  uploadsCounted: 0,
  includedWithoutReceipt: 0,
  sumsChecked: 0,
  sumsWrong: 0,
  restarts: { coordinator: 0, keyholder: 0 },
  abuse: {} as Record<string, number>,
  clientErrors: {} as Record<string, number>,
  peakRssMb: 0,
  maxOpenFds: 0,
};
const count = (table: Record<string, number>, key: string) => (table[key] = (table[key] ?? 0) + 1);
/** Ids, numbers and digests out of a reason, so like reasons count together. */
const reasonClass = (reason: string) =>
  reason
    .replace(/[0-9a-f]{16,}…?/g, '<hash>')
    .replace(/\d+/g, 'N')
    .slice(0, 160);

// Peak memory and descriptors of the coordinator, across its restarts.
const sampler = setInterval(() => {
  const pid = coordinator.child.pid;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssMb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
    stats.peakRssMb = Math.max(stats.peakRssMb, Math.round(rssMb));
    stats.maxOpenFds = Math.max(stats.maxOpenFds, readdirSync(`/proc/${pid}/fd`).length);
  } catch {
    // Between a kill and its restart there is no process to sample.
  }
}, 500);

async function restartCoordinator(): Promise<void> {
  const exited = new Promise((resolve) => coordinator.child.once('exit', resolve));
  coordinator.child.kill('SIGKILL');
  await exited;
  coordinator = await startCoordinatorProcess(
    { ...coordinatorConfig, listen: `127.0.0.1:${port}` },
    coordinatorConfigPath,
    () => {},
  );
  stats.restarts.coordinator++;
}

async function restartKeyholder(index: number): Promise<void> {
  const old = keyholders.get(index)!;
  await killKeyholder(old);
  await new Promise((resolve) => setTimeout(resolve, 500 + uniform() * 3_000));
  const logs: string[] = [];
  const { child, port: bound } = await startKeyholderProcess(
    { ...local.keyholderConfig(old.id), listen: `127.0.0.1:${old.port}` },
    join(directory, `${old.id}-restarted.json`),
    (line) => logs.push(line),
  );
  keyholders.set(index, { id: old.id, child, port: bound, logs } satisfies RunningKeyholder);
  stats.restarts.keyholder++;
}

/** The abusive member: idle streams, oversize and garbage uploads, over and over. */
function abuse(roundId: string, stop: AbortSignal): Promise<void> {
  const { credentials, channelOptions } = tlsChannel(local.profile(ABUSER, port));
  const client = new SecAggServiceClient(`127.0.0.1:${port}`, credentials, channelOptions);
  const attempt = (kind: string, send: (stream: grpc.ClientWritableStream<UploadChunk>) => void) =>
    new Promise<void>((resolve) => {
      const stream = client.uploadMaskedInput((error) => {
        count(stats.abuse, `${kind}: ${error ? grpc.status[error.code] : 'ACCEPTED'}`);
        resolve();
      });
      send(stream);
      stop.addEventListener('abort', () => stream.cancel(), { once: true });
    });
  const header = (words: number): UploadChunk => ({
    content: { $case: 'header', value: { roundId, words, complaints: [] } },
  });
  const kinds: [string, (stream: grpc.ClientWritableStream<UploadChunk>) => void][] = [
    ['idle', () => {}],
    ['idle-after-header', (stream) => stream.write(header(dimension))],
    [
      'oversize',
      (stream) => {
        stream.write(header(dimension));
        stream.write({ content: { $case: 'data', value: Buffer.alloc(dimension * 4 + 4096, 1) } });
        stream.end();
      },
    ],
    [
      'garbage',
      (stream) => {
        stream.write({ content: { $case: 'data', value: Buffer.from(random(1024)) } });
        stream.end();
      },
    ],
  ];
  return (async () => {
    const pending: Promise<void>[] = [];
    while (!stop.aborted) {
      const [kind, send] = kinds[Math.floor(uniform() * kinds.length)]!;
      pending.push(attempt(kind, send));
      if (pending.length > 12) await pending.shift();
      await new Promise((resolve) => setTimeout(resolve, 100 + uniform() * 400));
    }
    await Promise.allSettled(pending);
    client.close();
  })();
}

function params(roundNumber: number, ckks: boolean): RoundParams {
  return {
    modelId: MODEL,
    roundNumber,
    mode: ckks ? Mode.MODE_CKKS : Mode.MODE_SECAGG,
    dimension,
    quantization: ckks ? undefined : { clipRange: 1, levelBits: 16, modulusBits: 32 },
    threshold: 0,
    degree: ckks ? 0 : MEMBERS.length - 1,
    adversary: ckks ? Adversary.ADVERSARY_UNSPECIFIED : Adversary.ADVERSARY_SEMI_MALICIOUS,
    members: MEMBERS,
    deadlines: {
      advertiseKeysMs: 20_000,
      shareKeysMs: 20_000,
      maskedInputMs: ckks ? 45_000 : 20_000,
      consistencyCheckMs: 20_000,
      unmaskingMs: 20_000,
    },
    // The members' default policy: semi-malicious, γ ≥ 0.05. Complete graph of 6: t = 4, and
    // ⌈0.2·6⌉ = 2 may drop: the abuser (it never uploads) and one honest member.
    corruptionRate: ckks ? 0 : 0.05,
    dropoutRate: ckks ? 0 : 0.2,
    minContributors: 0,
    ckks: ckks
      ? { parameterSet: '', keySha256: Buffer.alloc(0), minContributors: 3, clipRange: 1 }
      : undefined,
  };
}

const started = Date.now();
const admin = VeilsumClient.connect(profile(ADMIN));
const clients = HONEST.map((id) => VeilsumClient.connect(profile(id)));
// CKKS members check the round and its attested key on their own ledger view.
const ckksClients = HONEST.map((id) =>
  VeilsumClient.connect({
    ...profile(id),
    ledger: new Ledger(ledgerFile.as(local.ledgerWriter(id))),
    threatModel: { minimumDropoutRate: 0.5 },
  }),
);
// The abuser takes part up to ShareKeys in SecAgg rounds, so its bad uploads reach the checks.
const abuserClient = VeilsumClient.connect(profile(ABUSER));
const phases = ['advertise-keys', 'share-keys', 'masked-input', 'consistency-check', 'unmasking'];
try {
  for (let roundNumber = 1; Date.now() - started < runMs; roundNumber++) {
    const ckks = roundNumber % 2 === 0;
    const round = await admin.openRound(params(roundNumber, ckks));
    const stopAbuse = new AbortController();
    const abuser = abuse(round.roundId, stopAbuse.signal);
    const abuserKeys = ckks
      ? Promise.resolve()
      : abuserClient
          .participateQuantized(round, new Uint32Array(dimension), {
            dropBefore: 'masked-input',
            waitForResult: false,
          })
          .then(
            () => undefined,
            (error: Error) => void count(stats.abuse, `abuser keys: ${reasonClass(error.message)}`),
          );
    const inputs = HONEST.map(() => {
      const bytes = random(dimension * 4);
      return new Uint32Array(bytes.buffer, bytes.byteOffset, dimension).map((w) => w >>> 16);
    });
    const floats = HONEST.map(() =>
      Float32Array.from({ length: dimension }, () => (uniform() * 2 - 1) * 0.9),
    );
    const participations = clients.map((client, i): Promise<ParticipationResult> => {
      const drops = uniform() < DROPOUT_RATE;
      if (ckks)
        return ckksClients[i]!.participateCkks(round.roundId, floats[i]!, {
          threads: 1,
          waitForResult: false,
          ...(drops ? { dropBefore: 'masked-input' as const } : {}),
        });
      const dropBefore = drops ? phases[Math.floor(uniform() * phases.length)] : undefined;
      return client.participateQuantized(round, inputs[i]!, {
        waitForResult: false,
        ...(dropBefore ? { dropBefore: dropBefore as DropoutPhase } : {}),
      });
    });
    // Chaos during the round.
    const chaos: Promise<void>[] = [];
    if (uniform() < KILL_COORDINATOR_RATE) {
      chaos.push(
        new Promise((resolve) => setTimeout(resolve, 500 + uniform() * 4_000)).then(
          restartCoordinator,
        ),
      );
    }
    if (ckks && uniform() < KILL_KEYHOLDER_RATE) {
      const index = 1 + Math.floor(uniform() * KEYHOLDERS.length);
      chaos.push(
        new Promise((resolve) => setTimeout(resolve, uniform() * 6_000)).then(() =>
          restartKeyholder(index),
        ),
      );
    }
    const outcomes = await Promise.allSettled(participations);
    await Promise.all([...chaos, abuserKeys]);
    const finished = await admin.waitForResult(round.roundId);
    stopAbuse.abort();
    await abuser;
    const receipted = outcomes.flatMap((outcome, i) =>
      outcome.status === 'fulfilled' && outcome.value.uploadSha256 !== undefined ? [i + 1] : [],
    );
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected')
        count(stats.clientErrors, reasonClass((outcome.reason as Error).message));
    }
    if (finished.phase === Phase.PHASE_DONE) {
      stats.roundsCompleted++;
      stats.uploadsAccepted += receipted.length;
      stats.uploadsCounted += receipted.filter((index) => finished.included.includes(index)).length;
      stats.includedWithoutReceipt += finished.included.filter(
        (index) => !receipted.includes(index),
      ).length;
      // The sum is checked over what the round says it included.
      stats.sumsChecked++;
      const included = finished.included;
      if (ckks) {
        const result = await admin.getCkksResult(round.roundId);
        const worst = result.reduce((max, value, j) => {
          const expected = included.reduce((total, index) => total + floats[index - 1]![j]!, 0);
          return Math.max(max, Math.abs(value - expected));
        }, 0);
        if (worst > 1e-3) stats.sumsWrong++;
      } else {
        const aggregate = await admin.getAggregate(round.roundId);
        const expected = new Uint32Array(dimension);
        for (const index of included)
          for (let j = 0; j < dimension; j++) expected[j]! += inputs[index - 1]![j]!;
        if (!expected.every((value, j) => value === aggregate[j])) stats.sumsWrong++;
      }
    } else {
      stats.roundsAborted++;
      count(stats.abortReasons, reasonClass(finished.abortReason));
    }
  }
} finally {
  clearInterval(sampler);
  admin.close();
  abuserClient.close();
  for (const client of [...clients, ...ckksClients]) client.close();
  const children: ChildProcess[] = [
    coordinator.child,
    ...[...keyholders.values()].map((k) => k.child),
  ];
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  ledgerFile.close();
  rmSync(directory, { recursive: true, force: true });
}
console.log(JSON.stringify({ ...stats, wallMs: Date.now() - started }));
if (stats.uploadsAccepted !== stats.uploadsCounted || stats.sumsWrong > 0) process.exitCode = 1;
