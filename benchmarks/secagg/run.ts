/**
 * Whole SecAgg+ round in one process, timed per party, against the PRG floor measured in the
 * same run. Usage:
 *   npm run bench:secagg -- --clients 1000 --dim 100000 --dropout 0.1 --drop-after masked-input [--graph complete]
 * Options: --drop-after advertise-keys|share-keys|masked-input|consistency-check (the dropped
 * clients finish that phase, then go silent; default share-keys = they shared keys and never
 * upload, so the server reconstructs each one's s^SK and removes its pairwise masks),
 * --graph secagg+|complete, --threshold T, --adversary semi-honest|semi-malicious (default
 * semi-malicious: what a member on its default policy accepts),
 * --workers W (server mask threads; 1 = inline), --seed S, --out FILE, --clock wall|cpu (cpu:
 * every party's and floor's time is CPU time — the main thread's plus the mask workers' — so
 * ratios hold on a machine shared with other work, where wall-clock floors swing by 2×).
 * The last line printed is one JSON object; it is also written to benchmarks/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { nativeCurve25519 as curve } from '../../crypto/curve25519-native.ts';
import { addInto, applyMask } from '../../crypto/prg.ts';
import { seededRandom } from '../../crypto/random.ts';
import { SecAggClient } from '../../crypto/secagg/client.ts';
import type { Curve25519 } from '../../crypto/curve25519.ts';
import { createRoundContext } from '../../crypto/secagg/config.ts';
import type { SecAggPhase } from '../../crypto/secagg/messages.ts';
import {
  chooseGraphParameters,
  completeGraphParameters,
  defaultMinContributors,
  type AdversaryModel,
  type GraphParameters,
} from '../../crypto/secagg/parameters.ts';
import { combineMasks } from '../../crypto/secagg/masks.ts';
import { SecAggServer } from '../../crypto/secagg/server.ts';
import { MaskPool } from '../../services/compute/mask-pool.ts';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '100' },
    dim: { type: 'string', default: '100000' },
    dropout: { type: 'string', default: '0' },
    'drop-after': { type: 'string', default: 'share-keys' },
    graph: { type: 'string', default: 'secagg+' },
    threshold: { type: 'string' },
    adversary: { type: 'string', default: 'semi-malicious' },
    workers: { type: 'string', default: String(availableParallelism()) },
    seed: { type: 'string', default: '42' },
    out: { type: 'string' },
    repeat: { type: 'string', default: '1' },
    clock: { type: 'string', default: 'wall' },
  },
});

const clients = Number(args.clients);
const dimension = Number(args.dim);
const dropoutRate = Number(args.dropout);
const dropAfter = args['drop-after'] as SecAggPhase;
const adversary = args.adversary as AdversaryModel;
const workers = Number(args.workers);
const corruptionRate = 0.05;
if (!['advertise-keys', 'share-keys', 'masked-input', 'consistency-check'].includes(dropAfter)) {
  throw new Error(
    `--drop-after must be advertise-keys, share-keys, masked-input or consistency-check, got ${dropAfter}`,
  );
}
if (!['secagg+', 'complete'].includes(args.graph))
  throw new Error(`--graph must be secagg+ or complete, got ${args.graph}`);

const model = { clients, corruptionRate, dropoutRate: Math.max(dropoutRate, 0.01), adversary };
let graphParams: GraphParameters;
if (args.graph === 'complete') {
  // Classic SecAgg with a deliberately robust threshold: above (n + γn)/2 even for a semi-honest
  // server, so the same round stays safe if the server later turns semi-malicious.
  const robust = Math.floor((clients + Math.floor(corruptionRate * clients)) / 2) + 1;
  graphParams = completeGraphParameters(model, args.threshold ? Number(args.threshold) : robust);
} else {
  graphParams = chooseGraphParameters(model);
  if (args.threshold) graphParams = { ...graphParams, threshold: Number(args.threshold) };
}

const random = seededRandom(Number(args.seed));
const identitySecretKeys = Array.from({ length: clients }, () => random(32));
const levelBits = 16;
const context = createRoundContext({
  roundId: `bench-${clients}-${dimension}`,
  paramsHash: random(32),
  minContributors: defaultMinContributors(model),
  clients,
  threshold: graphParams.threshold,
  degree: graphParams.degree,
  graphSeed: random(32),
  dimension,
  quantization: { clipRange: 1, levelBits, modulusBits: 32 },
  adversary,
  identityKeys: identitySecretKeys.map((key) => curve.ed25519PublicKey(key)),
});

// Which clients drop: a seeded sample of round(rate · n).
const dropped = new Set<number>();
const order = Array.from({ length: clients }, (_, i) => i + 1);
for (let i = order.length - 1; i > 0; i--) {
  const j = Math.floor((random(1)[0]! / 256) * (i + 1));
  [order[i], order[j]] = [order[j]!, order[i]!];
}
order.slice(0, Math.round(dropoutRate * clients)).forEach((client) => dropped.add(client));
const PHASES = ['advertise-keys', 'share-keys', 'masked-input', 'consistency-check', 'unmasking'];
const silentFrom = (client: number, phase: string) =>
  dropped.has(client) && PHASES.indexOf(phase) > PHASES.indexOf(dropAfter);

const pool = workers > 1 ? new MaskPool(workers) : undefined;
if (!['wall', 'cpu'].includes(args.clock)) throw new Error(`--clock must be wall or cpu`);
/** Now, in ms: wall clock, or CPU time of this thread plus what the mask workers have used. */
const now =
  args.clock === 'cpu'
    ? () => {
        const { user, system } = process.threadCpuUsage();
        return (user + system) / 1000 + (pool?.workerCpuMs ?? 0);
      }
    : () => performance.now();
const repeat = Number(args.repeat);
/** How many of a run's client signature checks are kept to time one check after the round. */
const SIGNATURE_SAMPLE = 512;
/** Client time (ms, all clients) between two probes of the floor and the signature-check cost. */
const PROBE_EVERY_CLIENT_MS = 1000;
/** The least wall time one floor sample spans (whole passes of the floor's work). */
const FLOOR_SAMPLE_MS = 40;

/** One whole round, timed; every run measures its own floors. */
async function runOnce() {
  const clientTime = new Float64Array(clients + 1);
  const bytesSent = new Float64Array(clients + 1);
  let serverMs = 0;
  const timed = <T>(add: (ms: number) => void, work: () => T): T => {
    const start = now();
    const result = work();
    add(now() - start);
    return result;
  };
  // Where the time goes, per phase: server totals, and client totals (averaged at the end).
  let phase = 'advertise-keys';
  const serverPhaseMs: Record<string, number> = {};
  const clientPhaseMs: Record<string, number> = {};
  const asClient = (index: number) => (ms: number) => {
    clientTime[index]! += ms;
    clientPhaseMs[phase] = (clientPhaseMs[phase] ?? 0) + ms;
    // Outside the client's timed interval (its time is already taken).
    clientMsSinceProbe += ms;
    if (clientMsSinceProbe >= PROBE_EVERY_CLIENT_MS) {
      clientMsSinceProbe = 0;
      probe();
    }
  };
  // Probes spread over the run, one per PROBE_EVERY_CLIENT_MS of client time: one timed pass over
  // the signature sample (averaged into the per-check cost: taken in proportion to client time,
  // they see the load the clients saw — on a shared machine it went from 2 to 12 within one run)
  // and, as a diagnostic only (clientFloorProbeQuartilesMs), one repetition of the client floor.
  let clientMsSinceProbe = 0;
  const floorProbes: number[] = [];
  const signatureProbes: number[] = [];
  const probeAccumulator = new Uint32Array(dimension);
  const probeRandom = seededRandom(Number(args.seed) + 1);
  const probeSeeds = Array.from({ length: context.config.degree + 1 }, () => probeRandom(32));
  const floorRepetition = (): number => {
    const start = now();
    for (const seed of probeSeeds) applyMask(probeAccumulator, seed, 1);
    return now() - start;
  };
  const signaturePass = (checks: readonly [Uint8Array, Uint8Array, Uint8Array][]): number => {
    const start = now();
    for (const [publicKey, message, signature] of checks)
      curve.verify(publicKey, message, signature);
    return (now() - start) / checks.length;
  };
  // Warm: the first calls run the addition loop interpreted, which no probe should time.
  for (let i = 0; i < 3; i++) floorRepetition();
  // The probes' wall time, taken out of the round's wallMs (bench:secagg-grpc divides by it).
  let probeWallMs = 0;
  const probe = () => {
    const start = performance.now();
    floorProbes.push(floorRepetition());
    if (signatureSample.length > 0)
      signatureProbes.push(signaturePass(signatureSample.slice(0, 32)));
    probeWallMs += performance.now() - start;
  };
  const asServer = (ms: number) => {
    serverMs += ms;
    serverPhaseMs[phase] = (serverPhaseMs[phase] ?? 0) + ms;
  };

  const inputFor = (index: number): Uint32Array => {
    const bytes = seededRandom(index)(dimension * 4);
    return new Uint32Array(bytes.buffer, bytes.byteOffset, dimension).map(
      (word) => word >>> (32 - levelBits),
    );
  };

  // Clients verify signatures through this, which only counts them (per phase) and keeps a
  // uniform sample: no clock is read around each check, so client time holds only the client's work.
  // Their time is the count × a per-check cost measured after the round on the sample, with the
  // same clock (signatureCheckCost).
  let signatureChecks = 0;
  // Which client is working (clientWork), so each check is counted for the member that made it:
  // the per-member figures average over the members whose input is in the sum, as clientMs does
  // (members that dropped after sharing checked signatures too, and are not in that average).
  let workingClient = 0;
  const checksByPhase: Record<string, Float64Array> = {};
  const clientWork = <T>(index: number, work: () => T): T => {
    workingClient = index;
    try {
      return timed(asClient(index), work);
    } finally {
      workingClient = 0;
    }
  };
  const signatureSample: [Uint8Array, Uint8Array, Uint8Array][] = [];
  const clientCurve: Curve25519 = {
    ...curve,
    verify(publicKey, message, signature) {
      signatureChecks++;
      (checksByPhase[phase] ??= new Float64Array(clients + 1))[workingClient]! += 1;
      // A uniform sample of all the run's checks (reservoir): every phase's messages in proportion.
      if (signatureSample.length < SIGNATURE_SAMPLE)
        signatureSample.push([publicKey, message, signature]);
      else {
        const slot = Math.floor(Math.random() * signatureChecks);
        if (slot < SIGNATURE_SAMPLE) signatureSample[slot] = [publicKey, message, signature];
      }
      return curve.verify(publicKey, message, signature);
    },
  };

  const wallStart = performance.now();
  const server = new SecAggServer({ context, curve });
  const parties = new Map<number, SecAggClient>();
  for (let index = 1; index <= clients; index++) {
    parties.set(
      index,
      new SecAggClient({
        context,
        index,
        identitySecretKey: identitySecretKeys[index - 1]!,
        curve: clientCurve,
        random,
      }),
    );
  }
  const bytesReceived = new Float64Array(clients + 1);
  const active = (phase: string) => [...parties].filter(([index]) => !silentFrom(index, phase));

  for (const [index, client] of active('advertise-keys')) {
    const message = clientWork(index, () => client.advertiseKeys());
    // Sender index, encryption, masking and sealing keys, seed commitment, signature.
    bytesSent[index]! += 2 + 32 + 32 + 32 + 32 + 64;
    timed(asServer, () => server.receiveAdvertiseKeys(message));
  }
  timed(asServer, () => server.closeAdvertiseKeys());
  // What each client reads from the ledger per phase: the committed participant set.
  const u1 = server.participantSets().advertised;
  if (server.currentPhase === 'seed-reveal') {
    // The members' graph seed: the digest of U1's commitments, then each member's reveal.
    phase = 'seed-reveal';
    const commitments = timed(asServer, () => server.seedCommitments());
    for (const [index, client] of active('share-keys')) {
      bytesReceived[index]! += 2 + 32;
      const reveal = clientWork(index, () => client.revealSeed(commitments, u1));
      bytesSent[index]! += 2 + 32;
      timed(asServer, () => server.receiveSeedReveal(reveal));
    }
    timed(asServer, () => server.closeSeedReveal());
  }
  phase = 'share-keys';
  for (const [index, client] of active('share-keys')) {
    const broadcast = timed(asServer, () => server.keysFor(index));
    bytesReceived[index]! +=
      broadcast.keys.length * (2 + 32 + 32 + 32 + 32 + 64 + 10) +
      (broadcast.seedReveals?.length ?? 0) * (2 + 32 + 4);
    const message = clientWork(index, () => client.shareKeys(broadcast, u1));
    // The boxes, the self-mask commitment, and one identity and one sealing-key signature.
    bytesSent[index]! +=
      2 +
      32 +
      message.encryptedShares.reduce((sum, box) => sum + 2 + box.ciphertext.length, 0) +
      64 +
      64;
    timed(asServer, () => server.receiveShareKeys(message));
  }
  timed(asServer, () => server.closeShareKeys());
  const u2 = server.participantSets().shared;
  phase = 'masked-input';
  for (const [index, client] of active('masked-input')) {
    const delivery = timed(asServer, () => server.sharesFor(index));
    // Each box with its sender's sealing key, both signatures on the root and its path.
    bytesReceived[index]! += delivery.encryptedShares.reduce(
      (sum, box) => sum + 2 + box.ciphertext.length + 4 + 32 + 64 + 64 + 33 * box.path.length,
      0,
    );
    const input = inputFor(index);
    // As a member's SDK masks (sdk/veilsum-client.ts): its (k + 1) masks expanded on the calling
    // thread, straight into its own input vector. (Through the server's worker pool, each of two
    // threads running at once read ~1.4x a lone thread's CPU time for the same expansions on this
    // 2-vCPU machine, and the floor is one thread's: the client was charged for the hardware.)
    const message = clientWork(index, () =>
      client.completeMaskedInputInPlace(input, client.prepareMasks(delivery, u2)),
    );
    bytesSent[index]! += 2 + 4 * dimension;
    timed(asServer, () => server.receiveMaskedInput(message));
  }
  timed(asServer, () => server.closeMaskedInputCollection());
  const u3 = server.participantSets().masked;
  if (adversary === 'semi-malicious') {
    phase = 'consistency-check';
    const request = timed(asServer, () => server.consistencyCheckRequest());
    for (const [index, client] of active('consistency-check')) {
      bytesReceived[index]! += 2 * request.survivors.length;
      const message = clientWork(index, () => client.signSurvivors(request, u3));
      bytesSent[index]! += 2 + 64;
      timed(asServer, () => server.receiveConsistencySignature(message));
    }
    timed(asServer, () => server.closeConsistencyCheck());
  }
  phase = 'unmasking';
  const request = timed(asServer, () => server.unmaskingRequest());
  for (const [index, client] of active('unmasking')) {
    bytesReceived[index]! +=
      2 * request.survivors.length + request.signatures.length * (2 + 64 + 4);
    const message = clientWork(index, () => client.unmask(request, u3));
    bytesSent[index]! +=
      2 + (message.selfMaskShares.length + message.maskingKeyShares.length) * (2 + 35);
    timed(asServer, () => server.receiveUnmasking(message));
  }
  phase = 'reconstruct';
  const jobs = timed(asServer, () => server.planUnmasking());
  const maskingKeysReconstructed = new Set(
    jobs.flatMap((job) => (job.kind === 'pairwise' ? [job.pair[1]] : [])),
  ).size;
  phase = 'combine-masks';
  const combineStart = now();
  const maskTotal = pool
    ? await pool.combine(jobs, dimension)
    : combineMasks(jobs, dimension, curve);
  asServer(now() - combineStart);
  phase = 'finish';
  const result = timed(asServer, () => server.finish(maskTotal));
  const wallMs = performance.now() - wallStart - probeWallMs;

  // Correctness of this very run: the output must equal the plain sum of U3's inputs.
  const expected = new Uint32Array(dimension);
  for (const index of result.included) addInto(expected, inputFor(index));
  const correct = expected.every((value, i) => value === result.sum[i]);

  // Same-run floors, single thread: the mask expansions and vector additions alone, each the
  // median of five repetitions (one measurement on a shared 2-core VM varies by ±30%). The
  // server's own parallelism is its cost: its mask workers' CPU time (two threads expanding at
  // once each read more CPU time than one thread alone here) is compared with one thread's.
  const floorOf = (expansions: number, additions: number): number => {
    const accumulator = new Uint32Array(dimension);
    const vector = new Uint32Array(dimension);
    const seeds = Array.from({ length: Math.min(expansions, 64) }, () => random(32));
    const pass = () => {
      for (let i = 0; i < expansions; i++) applyMask(accumulator, seeds[i % seeds.length]!, 1);
      for (let i = 0; i < additions; i++) addInto(accumulator, vector);
    };
    // Each sample times whole passes until it spans FLOOR_SAMPLE_MS of wall time: the CPU clock
    // advances in scheduler ticks, so a pass of a few ms (a small --dim) read 0 and the ratio
    // Infinity. The same work repeated, divided by its count: a finer reading, the same floor.
    const passStart = performance.now();
    pass();
    const passes = Math.max(1, Math.ceil(FLOOR_SAMPLE_MS / (performance.now() - passStart || 1)));
    const samples: number[] = [];
    for (let repetition = 0; repetition < 5; repetition++) {
      const start = now();
      for (let p = 0; p < passes; p++) pass();
      samples.push((now() - start) / passes);
    }
    return samples.sort((a, b) => a - b)[2]!;
  };
  // One client signature check's cost: the mean of the probes' passes and five passes over the
  // whole sample at the end (the same checks, keys and messages as in the round, same curve).
  // Means, not medians: the CPU clock (getrusage per thread) advances in scheduler ticks, so a
  // few-ms interval reads 0 or a whole tick; a mean of many such readings is unbiased, a median
  // is not.
  const endSignaturePasses = Array.from({ length: 5 }, () => signaturePass(signatureSample));
  const perSignatureCheckMs = mean([...signatureProbes, ...endSignaturePasses]);
  // The participating members' checks (per phase, summed over them).
  const participantChecks: Record<string, number> = Object.fromEntries(
    Object.entries(checksByPhase).map(([name, byClient]) => [
      name,
      result.included.reduce((sum, index) => sum + byClient[index]!, 0),
    ]),
  );
  const participantCheckCount = Object.values(participantChecks).reduce((a, b) => a + b, 0);
  const signatureCheckMs = participantCheckCount * perSignatureCheckMs;
  const masked = result.included.length;
  const serverFloorMs = floorOf(jobs.length, masked);
  // The client floor: the median of five repetitions at the end, as ever. (The probes' floors are
  // reported beside it, not used: a probe allocates ~30 MB of keystream on the main thread, whose
  // heap holds every client's state, and now and then pays a full collection of it — a quarter of
  // them read 3-4x the rest under load — so they are no unbiased floor.)
  const clientFloorMs = floorOf(context.config.degree + 1, 0);
  const senders = [...parties.keys()].filter((index) => bytesSent[index]! > 0);
  const participating = result.included;
  const clientMs =
    participating.reduce((sum, index) => sum + clientTime[index]!, 0) / participating.length;
  const clientMsMax = Math.max(...participating.map((index) => clientTime[index]!));

  return {
    benchmark: 'secagg',
    clients,
    dim: dimension,
    dropout: dropoutRate,
    dropAfter,
    graph: graphParams.complete ? 'complete' : 'secagg+',
    degree: context.config.degree,
    threshold: context.config.threshold,
    adversary,
    workers: pool ? workers : 1,
    included: masked,
    droppedAfterSharing: result.droppedAfterSharing.length,
    correct,
    serverMs: round(serverMs),
    serverFloorMs: round(serverFloorMs),
    serverRatio: round(serverMs / serverFloorMs, 3),
    serverMaskExpansions: jobs.length,
    clientMs: round(clientMs),
    clientMsMax: round(clientMsMax),
    clientFloorMs: round(clientFloorMs),
    clientRatio: round(clientMs / clientFloorMs, 3),
    clientFloorProbes: floorProbes.length,
    clientFloorProbeQuartilesMs: [0.25, 0.5, 0.75].map((q) => round(quantile(floorProbes, q))),
    serverPhaseMs: mapValues(serverPhaseMs, (ms) => round(ms)),
    clientPhaseMs: mapValues(clientPhaseMs, (ms) => round(ms / participating.length, 2)),
    // Client time spent verifying Ed25519 signatures (neighbours' AdvertiseKeys at ShareKeys;
    // survivor-set signatures at Unmasking, until t distinct valid signers), and its share.
    clientSignatureCheckMs: round(signatureCheckMs / participating.length, 2),
    clientSignatureCheckShare: round(
      signatureCheckMs / participating.reduce((sum, index) => sum + clientTime[index]!, 0),
      3,
    ),
    clientSignatureChecks: round(participantCheckCount / participating.length, 1),
    clientSignatureCheckPhaseMs: mapValues(participantChecks, (checks) =>
      round((checks * perSignatureCheckMs) / participating.length, 2),
    ),
    clientSignatureCheckUs: round(perSignatureCheckMs * 1000, 1),
    // s^SK of clients that shared keys and then dropped, rebuilt from shares to remove masks.
    maskingKeysReconstructed,
    bytesPerClient: Math.round(
      senders.reduce((sum, index) => sum + bytesSent[index]!, 0) / senders.length,
    ),
    bytesReceivedPerClient: Math.round(
      senders.reduce((sum, index) => sum + bytesReceived[index]!, 0) / senders.length,
    ),
    wallMs: round(wallMs),
    clock: args.clock,
    node: process.version,
    date: new Date().toISOString(),
  };
}

// On a shared 2-vCPU VM one run varies by ±30%: report the run with the median server ratio,
// and every run's ratios.
const runs = [];
for (let r = 0; r < repeat; r++) runs.push(await runOnce());
await pool?.close();
const sortedRuns = [...runs].sort((a, b) => a.serverRatio - b.serverRatio);
const report = {
  ...sortedRuns[Math.floor((runs.length - 1) / 2)]!,
  runs: runs.map((run) => ({ serverRatio: run.serverRatio, clientRatio: run.clientRatio })),
};
const correct = runs.every((run) => run.correct);
const out =
  args.out ??
  `benchmarks/results/secagg-n${clients}-d${dimension}-${report.graph}-drop${dropoutRate}-${dropAfter}.json`;
mkdirSync('benchmarks/results', { recursive: true });
writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
if (!correct) {
  console.error('benchmark round produced a wrong sum');
  process.exitCode = 1;
}
console.log(JSON.stringify(report));

function mapValues(
  record: Record<string, number>,
  map: (value: number) => number,
): Record<string, number> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, map(value)]));
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function round(value: number, digits = 1): number {
  return Number(value.toFixed(digits));
}
