import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killKeyholder, startKeyholders } from '../../cli/demo/ckks-services.ts';
import { ADMIN, createLocalConsortium } from '../../cli/demo/local-consortium.ts';
import { startCoordinatorProcess } from '../../cli/demo/processes.ts';
import type { CkksParameterSet } from '../../crypto/ckks/parameters.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { Mode, Phase } from '../../proto/gen/veilsum/v1/round.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';

/**
 * One CKKS round through the real services on 127.0.0.1: coordinator process, keyholder
 * processes after a key ceremony, `clients` SDK clients uploading at once. Returns the wall time
 * from OpenRound to the decrypted result being available, and the result.
 */
export async function runServicesRound(options: {
  clients: number;
  updates: readonly Float32Array[];
  keyholders: number;
  threshold: number;
  set: CkksParameterSet;
}): Promise<{
  roundMs: number;
  result: Float64Array;
  coordinatorPeakRssMb: number;
  /** From the coordinator's log: the keyholders' check that the aggregate is the receipted sum
   * (RoundClosed on the ledger → responder set fixed), then the partials and their combination. */
  verifyMs: number;
  decryptMs: number;
  /** Each verifying keyholder's own figures: stream wall time, and time spent checking/adding. */
  keyholderVerifyMs: number[];
  keyholderCheckingMs: number[];
  /**
   * CPU seconds (user + system, all threads) each party spent from OpenRound to the result: the
   * SDK clients together (this process), the coordinator, each keyholder. On one machine the
   * parties share the cores, so the round's wall time is at least their sum over the core count.
   */
  cpuSeconds: { clients: number; coordinator: number; keyholders: number[] };
}> {
  const directory = mkdtempSync(join(tmpdir(), 'veilsum-bench-ckks-'));
  const members = Array.from({ length: options.clients }, (_, i) => `member-${i + 1}`);
  const ledgerPath = join(directory, 'ledger.db');
  const local = await createLocalConsortium({
    directory,
    members,
    keyholders: Array.from({ length: options.keyholders }, (_, i) => `keyholder-${i + 1}`),
    ledgerPath,
  });
  const { keyholders, keyFile } = await startKeyholders(local, options.threshold, options.set.name);
  const eventTimes = new Map<string, number>();
  const { child, port } = await startCoordinatorProcess(
    { ...local.coordinatorConfig, ckks: { keyFile } },
    join(directory, 'coordinator.json'),
    (line) => {
      const match = /"time":(\d+).*"event":"(ledger-round-closed|responders-fixed|decrypted)"/.exec(
        line,
      );
      if (match) eventTimes.set(match[2]!, Number(match[1]));
    },
  );
  const ledgerFile = new EmbeddedLedgerDatabase(
    ledgerPath,
    readFileSync(local.pki.caCertificatePath),
  );
  const admin = VeilsumClient.connect(local.profile(ADMIN, port));
  const clients = members.map((id) =>
    VeilsumClient.connect({
      ...local.profile(id, port),
      ledger: new Ledger(ledgerFile.as(local.ledgerWriter(id))),
    }),
  );
  try {
    for (const id of members) {
      await new Ledger(ledgerFile.as(local.ledgerWriter(id))).grantConsent(
        `consent-${id}`,
        `data-${id}`,
        'bench-model',
        Date.now() + 86_400_000,
      );
    }
    const keyholderPids = [...keyholders.values()].map((keyholder) => keyholder.child.pid!);
    const cpuBefore = {
      clients: process.cpuUsage(),
      coordinator: cpuSecondsOf(child.pid!),
      keyholders: keyholderPids.map(cpuSecondsOf),
    };
    const started = performance.now();
    const round = await admin.openRound({
      modelId: 'bench-model',
      roundNumber: 1,
      mode: Mode.MODE_CKKS,
      dimension: options.updates[0]!.length,
      quantization: undefined,
      threshold: 0,
      degree: 0,
      adversary: 0,
      members,
      deadlines: {
        advertiseKeysMs: 0,
        shareKeysMs: 0,
        maskedInputMs: 10 * 60_000,
        consistencyCheckMs: 0,
        unmaskingMs: 0,
      },
      corruptionRate: 0,
      dropoutRate: 0,
      minContributors: 0,
      ckks: {
        parameterSet: options.set.name,
        keySha256: Buffer.alloc(0),
        // Every client uploads: the whole roster, at or above any party's floor.
        minContributors: members.length,
        clipRange: 1,
      },
    });
    await Promise.all(
      clients.map((client, i) =>
        client.participateCkks(round.roundId, options.updates[i]!, {
          threads: 1,
          waitForResult: false,
        }),
      ),
    );
    const finished = await admin.waitForResult(round.roundId);
    if (finished.phase !== Phase.PHASE_DONE)
      throw new Error(`the round did not finish: ${finished.abortReason}`);
    const result = await admin.getCkksResult(round.roundId);
    const roundMs = performance.now() - started;
    const clientsCpu = process.cpuUsage(cpuBefore.clients);
    const cpuSeconds = {
      clients: round2((clientsCpu.user + clientsCpu.system) / 1e6),
      coordinator: round2(cpuSecondsOf(child.pid!) - cpuBefore.coordinator),
      keyholders: keyholderPids.map((pid, i) =>
        round2(cpuSecondsOf(pid) - cpuBefore.keyholders[i]!),
      ),
    };
    const at = (event: string) => eventTimes.get(event) ?? Number.NaN;
    return {
      roundMs,
      result,
      coordinatorPeakRssMb: peakRssMb(child.pid!),
      verifyMs: at('responders-fixed') - at('ledger-round-closed'),
      decryptMs: at('decrypted') - at('responders-fixed'),
      ...keyholderFigures([...keyholders.values()].flatMap((keyholder) => keyholder.logs)),
      cpuSeconds,
    };
  } finally {
    admin.close();
    for (const client of clients) client.close();
    ledgerFile.close();
    child.kill('SIGTERM');
    for (const keyholder of keyholders.values()) await killKeyholder(keyholder);
    rmSync(directory, { recursive: true, force: true });
  }
}

function keyholderFigures(logs: readonly string[]) {
  const verified = logs
    .filter((line) => line.includes('"event":"aggregate-verified"'))
    .map((line) => JSON.parse(line) as { verifyMs: number; checkingMs: number });
  return {
    keyholderVerifyMs: verified.map((entry) => entry.verifyMs),
    keyholderCheckingMs: verified.map((entry) => entry.checkingMs),
  };
}

/** User + system CPU seconds of a process so far, all its threads (/proc/<pid>/stat). */
function cpuSecondsOf(pid: number): number {
  // Fields after the command name: utime and stime are the 12th and 13th (clock ticks, 100/s).
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const round2 = (value: number) => Math.round(value * 100) / 100;

function peakRssMb(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Math.round(Number(match[1]) / 1024) : 0;
}
