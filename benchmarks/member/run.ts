/**
 * A bank's aggregation peer under one large update: a coordinator and `--members` (3) peer
 * processes on 127.0.0.1 (test/support/member-peers.ts); bank 1's scientist submits a
 * `--values` (10^7) float32 update over MemberService, the other banks theirs, then a SecAgg
 * round of that length runs. Measured:
 *   - submitMBPerSec: the update's bytes over the time from the stream's first message to the
 *     peer's answer (values checked, hashed, fsynced to its queue), after one warm-up submission
 *     of the same size;
 *   - peerPeakRssMbAfterSubmit / peerPeakRssMb: bank 1's peer's VmHWM (/proc/<pid>/status) after
 *     the submission, and after the round (it then holds the update, its quantized and masked
 *     copies and the mask expansion); peerIdleRssMb, its VmRSS before the submission;
 *   - queueToUploadAcceptedMs: from the answer (QUEUED) to WatchUpdate's UPLOADED (the peer marks
 *     it once the coordinator moved past MaskedInputCollection, so it includes waiting for the
 *     other banks' uploads) and queueToIncludedMs to INCLUDED.
 *
 *   npm run bench:member [-- --values 10000000 --members 3 --client ts]
 *
 * `--client` names the submitting client: `ts` (the generated TypeScript stubs) is built in; a
 * client is one entry of SUBMITTERS (e.g. `python`: a process running the Python package).
 * The last line printed is one JSON object, also written to benchmarks/results/member.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { UpdateState } from '../../proto/gen/veilsum/v1/member.ts';
import { Adversary } from '../../proto/gen/veilsum/v1/round.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { ADMIN } from '../../test/support/consortium.ts';
import {
  headerFor,
  isFinal,
  type MemberPeerProcess,
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
  },
});
const valueCount = Number(options.values);
const memberCount = Number(options.members);

/** Submits `values` to a peer as its scientist; resolves with the update id once QUEUED. */
type Submitter = (
  peer: MemberPeerProcess,
  values: Float32Array,
  modelId: string,
) => Promise<string>;

const SUBMITTERS: Record<string, (clients: PeerClients, bank: number) => Submitter> = {
  ts: (clients, bank) => async (_peer, values, modelId) => {
    const response = await submitUpdate(clients.of(bank), values, headerFor(values, { modelId }));
    return response.update!.updateId;
  },
};

/** A process's resident memory (VmRSS) or its peak so far (VmHWM), in MB. */
function rssMb(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]);
  return Math.round(kib / 1024);
}

async function main(): Promise<void> {
  const submitterOf = SUBMITTERS[options.client];
  if (submitterOf === undefined)
    throw new Error(
      `unknown --client ${options.client}: one of ${Object.keys(SUBMITTERS).join(', ')}`,
    );
  const set = await startMemberPeers({ members: memberCount });
  const clients = new PeerClients(() => set);
  const admin = VeilsumClient.connect(set.consortium.profile(ADMIN, set.coordinator.port));
  try {
    const modelId = 'bench-model';
    const updates = set.peers.map((_, i) => sampleUpdate(valueCount, i + 1));
    const bankOne = set.peers[0]!;
    // What the idle peer holds (Node, gRPC, the SDK with its CKKS WebAssembly): the update adds to it.
    const peerIdleRssMb = rssMb(bankOne.child!.pid!, 'VmRSS');
    // One warm-up submission of the same size (a model no round takes): the connection, TLS and
    // the JIT are then as in a peer that has been running; it stays queued.
    await submitterOf(clients, 0)(bankOne, updates[0]!, 'warm-up');
    const submitStarted = performance.now();
    const updateId = await submitterOf(clients, 0)(bankOne, updates[0]!, modelId);
    const queuedAt = performance.now();
    const submitSeconds = (queuedAt - submitStarted) / 1000;
    const peerPeakRssMbAfterSubmit = rssMb(bankOne.child!.pid!);
    for (let i = 1; i < set.peers.length; i++)
      await SUBMITTERS.ts!(clients, i)(set.peers[i]!, updates[i]!, modelId);
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
    const result = {
      benchmark: 'member-peer',
      client: options.client,
      values: valueCount,
      members: memberCount,
      updateMb,
      submitSeconds: Number(submitSeconds.toFixed(3)),
      submitMBPerSec: Number((updateMb / submitSeconds).toFixed(1)),
      peerIdleRssMb,
      peerPeakRssMbAfterSubmit,
      peerPeakRssMb: rssMb(bankOne.child!.pid!),
      peakRssLimitMb: 3 * updateMb,
      queueToUploadAcceptedMs: Math.round(uploadedAt - queuedAt),
      queueToIncludedMs: Math.round(includedAt - queuedAt),
      loadAverage1m: Number(loadavg()[0]!.toFixed(2)),
      node: process.version,
    };
    mkdirSync('benchmarks/results', { recursive: true });
    writeFileSync('benchmarks/results/member.json', JSON.stringify(result, null, 2) + '\n');
    console.log(JSON.stringify(result));
  } finally {
    clients.closeAll();
    admin.close();
    await set.stop();
  }
}

await main();
