/**
 * What the ledger costs: submit and evaluate latency, and the ledger time one round adds, on the
 * embedded SQLite ledger or a real Fabric network (five bank peers, majority endorsement, the
 * chaincode as a service over mutual TLS, orderer BatchTimeout VEILSUM_FABRIC_BATCH_TIMEOUT_MS,
 * default 100 ms), started here and stopped at the end.
 *
 *   npm run bench:ledger -- --backend fabric|embedded [--samples 50] [--rounds 10]
 *                           [--chain-blocks 100000]
 *
 * roundOverheadMs (median over rounds) = what a round's ledger work takes, done the way the
 * coordinator and the members do it: RoundOpened (one submit), a consent check per bank (five
 * consent-history reads), RoundClosed (one submit), and one member's inclusion proof checked
 * against the root on the ledger (one read). The last line printed is one JSON object; it is also
 * written to benchmarks/results/ledger-<backend>.json.
 *
 * Embedded only: a ledger of --chain-blocks blocks (a consortium's rounds, each transaction run
 * through the contract and signed by its writer) is opened three ways: firstOpenWallMs with no
 * checkpoint (every hash, link, writer certificate and transaction replayed through the
 * contract, the signature of each writer's last block — chain-verification.ts — on two threads;
 * verifyBlocksPerSec = blocks / that time), reopenMs by a party whose checkpoint is that head
 * (hashes and links only), and verifyChainMs, what `audit verify-chain` does (full replay and
 * every block's signature; verifyChainBlocksPerSec). Each with its CPU time (all threads).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { merkleProof, merkleRoot, verifyMerkleProof } from '../../crypto/merkle.ts';
import {
  type EmbeddedAccess,
  openLedger,
  type LedgerConfig,
  type OpenLedger,
} from '../../ledger/ledger-factory.ts';
import { createDevPki } from '../../services/pki/dev-ca.ts';
import { EmbeddedLedgerDatabase, ledgerWriter } from '../../ledger/embedded/embedded-ledger.ts';
import { writeChain } from './embedded-chain.ts';
import { DEMO_BANKS, demoTopology, OPERATOR_MSP } from '../../network/demo-topology.ts';
import { buildFabric, startNetwork, stopNetwork } from '../../network/fabric-network.ts';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'embedded' },
    samples: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '10' },
    'chain-blocks': { type: 'string', default: '100000' },
  },
});
const backend = values.backend;
if (backend !== 'embedded' && backend !== 'fabric') {
  console.error('--backend must be embedded or fabric');
  process.exit(2);
}
const samples = Number(values.samples);
const roundCount = Number(values.rounds);

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
};
const round1 = (ms: number) => Math.round(ms * 10) / 10;
async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await work();
  return [result, performance.now() - started];
}

const directory = mkdtempSync(join(tmpdir(), 'veilsum-bench-ledger-'));
let networkReadyMs: number | undefined;
let configFor: (identity: string) => LedgerConfig;
// Embedded: every identity signs its blocks with a certificate of one development CA.
let accessFor: (identity: string) => EmbeddedAccess | undefined = () => undefined;
let chainFigures: Record<string, number> = {};
if (backend === 'fabric') {
  const network = await startNetwork(
    demoTopology(),
    join(directory, 'fabric'),
    await buildFabric(),
  );
  networkReadyMs = network.state.networkReadyMs;
  configFor = (identity) => ({ fabric: { connection: network.connectionFile, identity } });
} else {
  const path = join(directory, 'ledger.db');
  configFor = (identity) => ({ path, identity });
  const pki = await createDevPki(join(directory, 'pki'), [OPERATOR_MSP, ...DEMO_BANKS]);
  accessFor = (identity) => ({
    caCertificate: pki.caCertificatePath,
    certificate: pki.members[identity]!.certificatePath,
    privateKey: pki.members[identity]!.privateKeyPath,
  });
}

const opened: OpenLedger[] = [];
const open = (identity: string) => {
  const ledger = openLedger(configFor(identity), identity, undefined, accessFor(identity));
  opened.push(ledger);
  return ledger;
};
try {
  const coordinator = open(OPERATOR_MSP).ledger;
  const banks = DEMO_BANKS.map((id) => ({ id, ledger: open(id).ledger }));
  await coordinator.registerMember(OPERATOR_MSP, ['coordinator', 'auditor']);
  for (const bank of banks) await coordinator.registerMember(bank.id, ['member']);
  const expires = Date.now() + 365 * 86_400_000;
  // One at a time: embedded ledgers opened on one file in one process must not interleave.
  for (const bank of banks)
    await bank.ledger.grantConsent(`${bank.id}-c0`, 'cards', 'bench-model', expires);

  // Submits: sequential consent grants (endorse, order, commit).
  const submitMs: number[] = [];
  for (let i = 1; i <= samples; i++) {
    const bank = banks[i % banks.length]!;
    const [, ms] = await timed(() =>
      bank.ledger.grantConsent(`${bank.id}-c${i}`, 'cards', 'other-model', expires),
    );
    submitMs.push(ms);
  }
  // Evaluates: a point read.
  const evaluateMs: number[] = [];
  for (let i = 0; i < samples; i++) {
    const [, ms] = await timed(() => coordinator.getMember(banks[i % banks.length]!.id));
    evaluateMs.push(ms);
  }

  // A round's ledger work, as the coordinator and one member do it.
  const roundMs: number[] = [];
  const roundsLoadAverage = loadavg()[0]!;
  for (let r = 1; r <= roundCount; r++) {
    const roundId = `bench-model/round-${r}`;
    const uploads = banks.map((bank) =>
      createHash('sha256').update(`${roundId}/${bank.id}`).digest(),
    );
    const root = Buffer.from(merkleRoot(uploads)).toString('hex');
    const [verified, ms] = await timed(async () => {
      await coordinator.openRound(
        roundId,
        'bench-model',
        r,
        sha(roundId),
        banks.map((b) => b.id),
      );
      for (const bank of banks) await coordinator.consentHistory(bank.id);
      await coordinator.closeRound(
        roundId,
        banks.map((b) => b.id),
        root,
        sha(`${roundId}/aggregate`),
        0,
        [],
      );
      const onLedger = await banks[0]!.ledger.getRound(roundId);
      return verifyMerkleProof(
        uploads[0]!,
        merkleProof(uploads, 0),
        Buffer.from(onLedger.uploadsMerkleRoot!, 'hex'),
      );
    });
    if (!verified) throw new Error(`inclusion proof of round ${roundId} did not verify`);
    roundMs.push(ms);
  }

  if (backend === 'embedded') chainFigures = await measureChain(Number(values['chain-blocks']));

  const report = {
    backend,
    samples,
    rounds: roundCount,
    banks: banks.length,
    submitP50Ms: round1(percentile(submitMs, 0.5)),
    submitP95Ms: round1(percentile(submitMs, 0.95)),
    evaluateP50Ms: round1(percentile(evaluateMs, 0.5)),
    evaluateP95Ms: round1(percentile(evaluateMs, 0.95)),
    roundOverheadMs: round1(percentile(roundMs, 0.5)),
    roundOverheadP95Ms: round1(percentile(roundMs, 0.95)),
    // The machine's 1-minute load average as the rounds started (2 cores here): on a shared
    // machine the latencies count other processes' turns too.
    roundsLoadAverage: Math.round(roundsLoadAverage * 100) / 100,
    ...chainFigures,
    ...(networkReadyMs !== undefined
      ? {
          networkReadyMs,
          batchTimeoutMs: demoTopology().batchTimeoutMs,
        }
      : {}),
  };
  mkdirSync('benchmarks/results', { recursive: true });
  writeFileSync(
    `benchmarks/results/ledger-${backend}.json`,
    JSON.stringify(report, null, 2) + '\n',
  );
  console.log(JSON.stringify(report));
} finally {
  for (const ledger of opened) ledger.close();
  if (backend === 'fabric') await stopNetwork(join(directory, 'fabric'));
  rmSync(directory, { recursive: true, force: true });
}

/** Opens a ledger of `blocks` blocks: first (full replay), again at a checkpoint, verify-chain. */
async function measureChain(blocks: number): Promise<Record<string, number>> {
  const pki = await createDevPki(join(directory, 'chain-pki'), DEMO_BANKS);
  const writer = (issued: { certificatePath: string; privateKeyPath: string }) =>
    ledgerWriter(issued.certificatePath, issued.privateKeyPath);
  const path = join(directory, 'chain.db');
  const written = performance.now();
  await writeChain(
    path,
    blocks,
    writer(pki.server),
    DEMO_BANKS.map((id) => writer(pki.members[id]!)),
  );
  console.error(`wrote ${blocks} blocks in ${Math.round(performance.now() - written)} ms`);
  const ca = readFileSync(pki.caCertificatePath);
  const checkpoint = join(directory, 'chain.checkpoint.json');
  // CPU time beside wall time (worker threads included): on a shared machine the wall time
  // also counts the other processes' turns.
  const cpuMs = (since: NodeJS.CpuUsage) => {
    const used = process.cpuUsage(since);
    return Math.round((used.user + used.system) / 1000);
  };
  const loadBefore = loadavg()[0]!;
  let cpu = process.cpuUsage();
  const [, firstOpenMs] = await timed(() =>
    Promise.resolve(new EmbeddedLedgerDatabase(path, ca, { checkpoint }).close()),
  );
  const firstOpenCpuMs = cpuMs(cpu);
  cpu = process.cpuUsage();
  const [, reopenMs] = await timed(() =>
    Promise.resolve(new EmbeddedLedgerDatabase(path, ca, { checkpoint }).close()),
  );
  const reopenCpuMs = cpuMs(cpu);
  cpu = process.cpuUsage();
  const [result, verifyChainMs] = await timed(() =>
    Promise.resolve(EmbeddedLedgerDatabase.inspect(path, ca)),
  );
  const verifyChainCpuMs = cpuMs(cpu);
  if (!result.ok) throw new Error(`the written chain does not verify: ${result.reason}`);
  return {
    chainBlocks: blocks,
    firstOpenWallMs: Math.round(firstOpenMs),
    firstOpenCpuMs,
    reopenMs: Math.round(reopenMs),
    reopenCpuMs,
    verifyChainMs: Math.round(verifyChainMs),
    verifyChainCpuMs,
    verifyBlocksPerSec: Math.round(blocks / (firstOpenMs / 1000)),
    verifyChainBlocksPerSec: Math.round(blocks / (verifyChainMs / 1000)),
    // The machine's 1-minute load average before and after: the wall times count other
    // processes' turns too.
    loadAverageBefore: Math.round(loadBefore * 100) / 100,
    loadAverageAfter: Math.round(loadavg()[0]! * 100) / 100,
  };
}
