/**
 * A bank's aggregation peer under one large update: a coordinator and `--members` (3) peer
 * processes on 127.0.0.1 (test/support/member-peers.ts); bank 1's scientist submits a
 * `--values` (10^7) float32 update over MemberService, the other banks theirs, then a SecAgg
 * round of that length runs. Measured:
 *   - submitMBPerSec: the update's bytes over the time from the stream's first message to the
 *     peer's answer (values checked, hashed, fsynced to its queue): the median of `--repeat` (3)
 *     submissions after one warm-up of the same size (submitMBPerSecBest: the fastest);
 *   - peerCpuMsPerMb / clientCpuMsPerMb: CPU time of the peer process and of the submitting one
 *     per MB (median): on a shared machine the wall time follows the load, these much less;
 *   - peerPeakRssMbAfterSubmit / peerPeakRssMb: bank 1's peer's VmHWM (/proc/<pid>/status) after
 *     the submissions, and after the round; peerRssMbBeforeRound, its VmRSS when the round opens;
 *     peerIdleRssMb, its VmRSS before the submissions (Node, gRPC,
 *     the SDK: what any peer holds); peerPeakOverIdleMb, what the update added;
 *   - queueToUploadAcceptedMs: from the last answer (QUEUED) to WatchUpdate's UPLOADED (the peer
 *     marks it once the coordinator moved past MaskedInputCollection, so it includes waiting for
 *     the other banks' uploads) and queueToIncludedMs to INCLUDED.
 *
 *   npm run bench:member [-- --values 10000000 --members 3 --client ts|python --repeat 3]
 *                        [-- --chunk-mib 4]   (the Python client's chunk size)
 *                        [-- --cpu-prof <folder>]   (V8 CPU profiles of bank 1's peer and the bench)
 *                        [-- --memory-breakdown]   (bank 1's peer's memory by kind: memory-probe.ts)
 *
 * `--client ts`: the generated TypeScript stubs in this process; `python`: a process running the
 * Python package (clients/python/benchmarks/submit_to_peer.py, in the venv of
 * clients/python/ci/ensure-venv.sh). The last line printed is one JSON object, also written to
 * benchmarks/results/member.json.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { loadavg, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { UpdateState } from '../../proto/gen/veilsum/v1/member.ts';
import { Adversary } from '../../proto/gen/veilsum/v1/round.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { ADMIN } from '../../test/support/consortium.ts';
import {
  floatBytes,
  headerFor,
  isFinal,
  type MemberPeerSet,
  PeerClients,
  sampleUpdate,
  secAggRoundParams,
  startMemberPeers,
  submitUpdate,
  watchUntil,
} from '../../test/support/member-peers.ts';

const { values: options } = parseArgs({
  options: {
    values: { type: 'string', default: '10000000' },
    members: { type: 'string', default: '3' },
    client: { type: 'string', default: 'ts' },
    repeat: { type: 'string', default: '3' },
    // The Python client's chunk size in MiB (its default: 4).
    'chunk-mib': { type: 'string', default: '4' },
    // A folder: bank 1's peer and this process write V8 CPU profiles there (--cpu-prof).
    'cpu-prof': { type: 'string' },
    // Node options for bank 1's peer, comma-separated (e.g. --max-semi-space-size=16).
    'peer-node-args': { type: 'string', default: '' },
    // Where bank 1's peer's bytes are (V8 heap, external, anonymous/file-backed) at each moment.
    'memory-breakdown': { type: 'boolean', default: false },
  },
});
const profileDirectory = options['cpu-prof'];
const valueCount = Number(options.values);
const memberCount = Number(options.members);
const repeat = Math.max(1, Number(options.repeat));

/** One submission as the client saw it. */
interface Submitted {
  readonly updateId: string;
  readonly seconds: number;
  /** The submitting process's CPU time for it. */
  readonly clientCpuMs: number;
}

/**
 * Submits `values` to bank 1's peer as its scientist, once per model in order, calling `onQueued`
 * as each one is answered QUEUED (the peer's CPU time is read there).
 */
type Submitter = (
  set: MemberPeerSet,
  values: Float32Array,
  modelIds: readonly string[],
  onQueued: (submitted: Submitted) => void,
) => Promise<void>;

const SUBMITTERS: Record<string, Submitter> = {
  ts: async (set, values, modelIds, onQueued) => {
    const clients = new PeerClients(() => set);
    try {
      const client = clients.of(0);
      for (const modelId of modelIds) {
        const cpu = process.cpuUsage();
        const started = performance.now();
        const response = await submitUpdate(client, values, headerFor(values, { modelId }));
        const used = process.cpuUsage(cpu);
        onQueued({
          updateId: response.update!.updateId,
          seconds: (performance.now() - started) / 1000,
          clientCpuMs: (used.user + used.system) / 1000,
        });
      }
    } finally {
      clients.closeAll();
    }
  },
  // A Python process with the package (clients/python), as a notebook would submit.
  python: async (set, values, modelIds, onQueued) => {
    const python = `${execFileSync('bash', ['clients/python/ci/ensure-venv.sh'], { encoding: 'utf8' }).trim()}/bin/python`;
    const valuesFile = join(set.directory, 'bench-update.f32');
    writeFileSync(valuesFile, floatBytes(values));
    const peer = set.peers[0]!;
    const child = spawn(
      python,
      [
        'clients/python/benchmarks/submit_to_peer.py',
        ...['--address', peer.address, '--ca', peer.callers.caCertificate],
        ...[
          '--cert',
          peer.callers.scientist.certificate,
          '--key',
          peer.callers.scientist.privateKey,
        ],
        ...['--values-file', valuesFile, '--models', modelIds.join(',')],
        ...['--chunk-mib', options['chunk-mib']],
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    for await (const line of createInterface({ input: child.stdout })) {
      const answer = JSON.parse(line) as { updateId: string; seconds: number; cpuSeconds: number };
      onQueued({
        updateId: answer.updateId,
        seconds: answer.seconds,
        clientCpuMs: answer.cpuSeconds * 1000,
      });
    }
    const code = await exited;
    if (code !== 0) throw new Error(`the Python submitter exited with ${code}`);
  },
};

/** A process's CPU time (user + system) so far, in ms, from /proc/<pid>/stat. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

const median = (values: readonly number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** A process's resident memory (VmRSS) or its peak so far (VmHWM), in MB. */
function rssMb(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]);
  return Math.round(kib / 1024);
}

/**
 * `--memory-breakdown`: bank 1's peer runs memory-probe.ts, which answers SIGUSR2 with its memory
 * by kind now and at its largest RSS since the last signal (a line in `file`).
 */
class MemoryProbe {
  private lines = 0;
  readonly file: string;
  constructor(file: string) {
    this.file = file;
    writeFileSync(file, '');
  }

  async read(pid: number): Promise<unknown> {
    process.kill(pid, 'SIGUSR2');
    for (let waited = 0; waited < 5000; waited += 10) {
      const lines = readFileSync(this.file, 'utf8').split('\n').filter(Boolean);
      if (lines.length > this.lines) {
        this.lines = lines.length;
        return JSON.parse(lines.at(-1)!);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error("the peer's memory probe did not answer");
  }
}

let stopProfiling: (() => Promise<void>) | undefined;

async function main(): Promise<void> {
  const submitter = SUBMITTERS[options.client];
  if (submitter === undefined)
    throw new Error(
      `unknown --client ${options.client}: one of ${Object.keys(SUBMITTERS).join(', ')}`,
    );
  const peerNodeArguments = options['peer-node-args'].split(',').filter((a) => a !== '');
  let probe: MemoryProbe | undefined;
  if (options['memory-breakdown']) {
    const file = join(tmpdir(), `veilsum-memory-probe-${process.pid}.jsonl`);
    probe = new MemoryProbe(file);
    process.env.VEILSUM_MEMORY_PROBE_FILE = file;
    peerNodeArguments.push('--import', fileURLToPath(new URL('memory-probe.ts', import.meta.url)));
  }
  const set = await startMemberPeers({
    members: memberCount,
    nodeArguments: (bank: number) =>
      bank !== 0
        ? []
        : [
            ...peerNodeArguments,
            ...(profileDirectory ? ['--cpu-prof', '--cpu-prof-dir', profileDirectory] : []),
          ],
  });
  if (profileDirectory) {
    const { Session } = await import('node:inspector/promises');
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    stopProfiling = async () => {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(`${profileDirectory}/bench-client.cpuprofile`, JSON.stringify(profile));
      session.disconnect();
    };
  }
  const clients = new PeerClients(() => set);
  const admin = VeilsumClient.connect(set.consortium.profile(ADMIN, set.coordinator.port));
  try {
    const modelId = 'bench-model';
    const updates = set.peers.map((_, i) => sampleUpdate(valueCount, i + 1));
    const peerPid = set.peers[0]!.child!.pid!;
    // What the idle peer holds (Node, gRPC, the SDK with its CKKS WebAssembly): the update adds to it.
    const peerIdleRssMb = rssMb(peerPid, 'VmRSS');
    const memory: Record<string, unknown> = {};
    if (probe) memory.idle = await probe.read(peerPid);
    // One warm-up submission of the same size (a model no round takes: it stays queued), so the
    // connection, TLS and the JIT are as in a peer that has been running; then `--repeat`
    // measured ones, the last for the round's model.
    const models = [
      'warm-up',
      ...Array.from({ length: repeat - 1 }, (_, i) => `speed-${i + 1}`),
      modelId,
    ];
    const measured: (Submitted & { peerCpuMs: number })[] = [];
    let peerCpuBefore = cpuMs(peerPid);
    let updateId = '';
    await submitter(set, updates[0]!, models, (submitted) => {
      const peerCpuNow = cpuMs(peerPid);
      measured.push({ ...submitted, peerCpuMs: peerCpuNow - peerCpuBefore });
      peerCpuBefore = peerCpuNow;
      updateId = submitted.updateId;
    });
    const queuedAt = performance.now();
    measured.shift(); // the warm-up
    const peerPeakRssMbAfterSubmit = rssMb(peerPid);
    if (probe) memory.submits = await probe.read(peerPid);
    for (let i = 1; i < set.peers.length; i++)
      await submitUpdate(clients.of(i), updates[i]!, headerFor(updates[i]!, { modelId }));
    // What the peer still holds when the round starts (freed buffers not yet collected, or
    // collected but kept by the allocator): the round's own memory comes on top of it.
    const peerRssMbBeforeRound = rssMb(peerPid, 'VmRSS');
    if (probe) memory.beforeRound = await probe.read(peerPid);
    await admin.openRound({
      ...secAggRoundParams(set.consortium.members, modelId, 1, valueCount, 300_000),
      adversary: Adversary.ADVERSARY_SEMI_MALICIOUS,
    });
    let uploadedAt = 0;
    const states = await watchUntil(clients.of(0), updateId, (update) => {
      if (update.state === UpdateState.UPDATE_STATE_UPLOADED && uploadedAt === 0)
        uploadedAt = performance.now();
      return isFinal(update);
    });
    const includedAt = performance.now();
    const final = states.at(-1)!;
    if (final.state !== UpdateState.UPDATE_STATE_INCLUDED)
      throw new Error(`the update was not included: ${final.detail}`);
    const updateMb = (valueCount * 4) / 1e6;
    const rates = measured.map(({ seconds }) => updateMb / seconds);
    const peerPeakRssMb = rssMb(peerPid);
    if (probe) memory.round = await probe.read(peerPid);
    const result = {
      benchmark: 'member-peer',
      client: options.client,
      ...(options.client === 'python' ? { chunkMib: Number(options['chunk-mib']) } : {}),
      values: valueCount,
      members: memberCount,
      updateMb,
      submitSeconds: measured.map(({ seconds }) => Number(seconds.toFixed(3))),
      // The median of the measured submissions (best: the fastest of them).
      submitMBPerSec: Number(median(rates).toFixed(1)),
      submitMBPerSecBest: Number(Math.max(...rates).toFixed(1)),
      // CPU time per MB of each end: what the throughput is bound by when the cores are busy.
      peerCpuMsPerMb: Number((median(measured.map((m) => m.peerCpuMs)) / updateMb).toFixed(2)),
      clientCpuMsPerMb: Number((median(measured.map((m) => m.clientCpuMs)) / updateMb).toFixed(2)),
      peerIdleRssMb,
      peerPeakRssMbAfterSubmit,
      peerRssMbBeforeRound,
      peerPeakRssMb,
      peerPeakOverIdleMb: peerPeakRssMb - peerIdleRssMb,
      peakRssLimitMb: 3 * updateMb,
      queueToUploadAcceptedMs: Math.round(uploadedAt - queuedAt),
      queueToIncludedMs: Math.round(includedAt - queuedAt),
      // `--memory-breakdown`: bank 1's peer's memory by kind (MB), now and at the largest RSS sampled
      // since the moment before: idle; the submissions; before the round; the round.
      ...(probe ? { peerMemoryMb: memory } : {}),
      loadAverage1m: Number(loadavg()[0]!.toFixed(2)),
      node: process.version,
    };
    mkdirSync('benchmarks/results', { recursive: true });
    writeFileSync('benchmarks/results/member.json', JSON.stringify(result, null, 2) + '\n');
    console.log(JSON.stringify(result));
  } finally {
    await stopProfiling?.();
    if (probe) rmSync(probe.file, { force: true });
    clients.closeAll();
    admin.close();
    await set.stop();
  }
}

await main();
