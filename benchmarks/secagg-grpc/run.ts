/**
 * Load run: one coordinator process, N SDK clients in this process over loopback mTLS gRPC, one
 * whole SecAgg+ round. Reports the round's wall time, the coordinator's peak RSS, and the ratio
 * to the in-process benchmark (benchmarks/secagg) for the same n and d, run in the same session.
 *   npm run bench:secagg-grpc -- --clients 200 --dim 100000 [--graph complete] [--dropout 0.05]
 * The last line printed is one JSON object; it is also written to benchmarks/results/.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { seededRandom } from '../../crypto/random.ts';
import { chooseGraphParameters } from '../../crypto/secagg/parameters.ts';
import { Adversary, Mode, Phase } from '../../proto/gen/veilsum/v1/round.ts';
import { ADMIN, createLocalConsortium } from '../../cli/demo/local-consortium.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { startCoordinatorProcess } from '../../cli/demo/processes.ts';
import { workSizedDeadlines } from '../../services/coordinator/round-params.ts';
import { FIXTURE_POLICY } from '../../test/support/consortium.ts';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '200' },
    dim: { type: 'string', default: '100000' },
    dropout: { type: 'string', default: '0' },
    graph: { type: 'string', default: 'secagg+' },
    seed: { type: 'string', default: '42' },
    out: { type: 'string' },
  },
});
const clients = Number(args.clients);
const dimension = Number(args.dim);
const dropoutRate = Number(args.dropout);
const directory = mkdtempSync(join(tmpdir(), 'veilsum-load-'));
const members = Array.from(
  { length: clients },
  (_, i) => `member-${String(i + 1).padStart(4, '0')}`,
);
const consortium = await createLocalConsortium({
  directory,
  members,
  maskThreads: 2,
});
const { child, port } = await startCoordinatorProcess(
  consortium.coordinatorConfig,
  join(directory, 'coordinator.json'),
  () => {},
);
// Members measure the semi-honest protocol against the honest coordinator, without a ledger:
// the member policy is lowered explicitly (the defaults refuse such rounds).
const profile = (id: string) => ({
  ...consortium.profile(id, port),
  threatModel: FIXTURE_POLICY,
});

try {
  const graph =
    args.graph === 'complete'
      ? { degree: clients - 1, threshold: Math.floor(clients / 2) + 1 }
      : chooseGraphParameters({
          clients,
          corruptionRate: 0.05,
          dropoutRate: Math.max(dropoutRate, 0.05),
          adversary: 'semi-honest',
        });
  const admin = VeilsumClient.connect(profile(ADMIN));
  const sdkClients = members.map((id) => VeilsumClient.connect(profile(id)));
  const random = seededRandom(Number(args.seed));
  const inputs = members.map(() => {
    const bytes = random(dimension * 4);
    return new Uint32Array(bytes.buffer, bytes.byteOffset, dimension).map((word) => word >>> 16);
  });
  const dropped = new Set(members.slice(0, Math.round(dropoutRate * clients)).map((_, i) => i));
  // Deadlines sized for the work (round-params.ts), with masked input stretched for this run's
  // situation: all N clients mask in this one process, one after another.
  const deadlines = workSizedDeadlines({ members: clients, degree: graph.degree, dimension });
  deadlines.maskedInputMs += Math.ceil((clients * (graph.degree + 1) * dimension) / 5_000);
  const started = performance.now();
  const round = await admin.openRound({
    modelId: 'load',
    roundNumber: 1,
    mode: Mode.MODE_SECAGG,
    dimension,
    quantization: { clipRange: 1, levelBits: 16, modulusBits: 32 },
    threshold: graph.threshold,
    degree: graph.degree,
    adversary: Adversary.ADVERSARY_SEMI_HONEST,
    members,
    deadlines,
    corruptionRate: 0.05,
    // As for the graph: at least 5% may drop (or be late) and the round still completes.
    dropoutRate: Math.max(dropoutRate, 0.05),
    minContributors: 0,
    ckks: undefined,
  });
  // A client that misses a deadline is a dropout of a round that goes on without it (as on a
  // real network); only the round's own outcome decides whether the run passed.
  const outcomes = await Promise.allSettled(
    sdkClients.map((client, i) =>
      client.participateQuantized(round, inputs[i]!, {
        waitForResult: false,
        ...(dropped.has(i) ? { dropBefore: 'masked-input' as const } : {}),
      }),
    ),
  );
  const late = outcomes.flatMap((outcome) =>
    outcome.status === 'rejected' ? [(outcome.reason as Error).message] : [],
  );
  const finished = await admin.waitForResult(round.roundId);
  const wallMs = performance.now() - started;
  if (finished.phase !== Phase.PHASE_DONE)
    throw new Error(`round did not finish: ${finished.abortReason}`);
  const aggregate = await admin.getAggregate(round.roundId);
  const expected = new Uint32Array(dimension);
  for (const index of finished.included) {
    const input = inputs[index - 1]!;
    for (let j = 0; j < dimension; j++) expected[j]! += input[j]!;
  }
  const correct = expected.every((value, j) => value === aggregate[j]);
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const peakRssMb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
  for (const client of sdkClients) client.close();
  admin.close();

  // The in-process benchmark for the same n, d and graph, run now for a same-session ratio.
  const inProcessOut = join(directory, 'in-process.json');
  execFileSync(
    process.execPath,
    [
      'benchmarks/secagg/run.ts',
      '--clients',
      String(clients),
      '--dim',
      String(dimension),
      '--dropout',
      String(dropoutRate),
      '--graph',
      args.graph,
      '--out',
      inProcessOut,
    ],
    { stdio: 'ignore' },
  );
  const inProcess = JSON.parse(readFileSync(inProcessOut, 'utf8')) as {
    wallMs: number;
    serverMs: number;
  };
  const report = {
    benchmark: 'secagg-grpc',
    clients,
    dim: dimension,
    dropout: dropoutRate,
    graph: args.graph,
    degree: graph.degree,
    threshold: graph.threshold,
    included: finished.included.length,
    lateClients: late.length,
    ...(late.length > 0 ? { firstLateReason: late[0] } : {}),
    deadlines,
    correct,
    roundWallMs: Math.round(wallMs),
    coordinatorPeakRssMb: Math.round(peakRssMb),
    inProcessWallMs: inProcess.wallMs,
    ratioToInProcess: Number((wallMs / inProcess.wallMs).toFixed(2)),
    node: process.version,
    date: new Date().toISOString(),
  };
  mkdirSync('benchmarks/results', { recursive: true });
  writeFileSync(
    args.out ??
      `benchmarks/results/grpc-n${clients}-d${dimension}-${args.graph}-drop${dropoutRate}.json`,
    JSON.stringify(report, null, 2) + '\n',
  );
  console.log(JSON.stringify(report));
  if (!correct) process.exitCode = 1;
} finally {
  child.kill('SIGTERM');
  rmSync(directory, { recursive: true, force: true });
}
