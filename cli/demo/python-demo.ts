import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Adversary, Mode, Phase } from '../../proto/gen/veilsum/v1/round.ts';
import { createDevPki } from '../../services/pki/dev-ca.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { BANKS } from './fraud-data.ts';
import { ADMIN, createLocalConsortium } from './local-consortium.ts';
import { startCoordinatorProcess, startMemberProcess } from './processes.ts';

const MODEL_ID = 'demo-fraud-model';
const PYTHON_PACKAGE = fileURLToPath(new URL('../../clients/python/', import.meta.url));
const DEADLINE_MS = 20_000;

/** One round as every bank's Python process saw it (they agree: one aggregate). */
export interface PythonDemoRound {
  readonly round: number;
  readonly roundId: string;
  readonly contributors: number;
  readonly secureAccuracy: number;
  readonly plaintextAccuracy: number;
  /** Largest |secure average − plaintext FedAvg average| over weights and banks. */
  readonly maxWeightDifference: number;
  readonly averageErrorBound: number;
  readonly dropped: readonly string[];
}

interface PythonEvent {
  readonly event: 'queued' | 'round' | 'dropped';
  readonly bank: string;
  readonly round: number;
  readonly roundId?: string;
  readonly contributors?: number;
  readonly secureAccuracy?: number;
  readonly plaintextAccuracy?: number;
  readonly maxWeightDifference?: number;
  readonly averageErrorBound?: number;
  readonly reason?: string;
}

/**
 * `veilsum demo --python`: a coordinator and one aggregation peer per bank (`veilsum member
 * start`), and per bank a Python process (clients/python/examples/fraud_bank.py) that trains
 * scikit-learn's LogisticRegression on the bank's synthetic fraud data, submits coef_ and
 * intercept_ through the Python client, and loads the averaged model back, next to plaintext FedAvg.
 */
export async function runPythonDemo(
  options: { rounds: number; seed: number },
  report: (round: PythonDemoRound) => void,
  say: (line: string) => void = () => {},
): Promise<PythonDemoRound[]> {
  const python = pythonWithVeilsum(say);
  const directory = mkdtempSync(join(tmpdir(), 'veilsum-demo-python-'));
  const children: ChildProcess[] = [];
  const log: string[] = [];
  const memberIds = BANKS.map((bank) => bank.name.toLowerCase());
  try {
    const local = await createLocalConsortium({ directory, members: memberIds });
    const coordinator = await startCoordinatorProcess(
      local.coordinatorConfig,
      join(directory, 'coordinator.json'),
      (line) => log.push(line),
    );
    children.push(coordinator.child);
    const peers = await Promise.all(
      memberIds.map((id) => startBankPeer(directory, id, local, coordinator.port, log)),
    );
    for (const peer of peers) children.push(peer.child);
    say(`coordinator and ${peers.length} bank peers listening; starting the Python banks`);

    const events = new EventQueue();
    peers.forEach((peer, index) => {
      const child = spawn(
        python,
        [
          'fraud_bank.py',
          '--json',
          ...['--address', peer.address, '--ca-cert', peer.caCertificate],
          ...['--cert', peer.certificate, '--key', peer.privateKey],
          ...['--bank', String(index), '--seed', String(options.seed)],
          ...['--rounds', String(options.rounds), '--model', MODEL_ID],
        ],
        { cwd: join(PYTHON_PACKAGE, 'examples'), stdio: ['ignore', 'pipe', 'pipe'] },
      );
      children.push(child);
      const stderr: string[] = [];
      child.stderr.on('data', (data: Buffer) => stderr.push(data.toString()));
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (line.startsWith('{')) events.push(JSON.parse(line) as PythonEvent);
      });
      child.once('exit', (code) => {
        if (code !== 0)
          events.fail(
            new Error(
              `the Python bank ${BANKS[index]!.name} exited with ${code}: ${stderr.join('')}`,
            ),
          );
      });
    });

    const admin = VeilsumClient.connect(local.profile(ADMIN, coordinator.port));
    const rounds: PythonDemoRound[] = [];
    try {
      for (let round = 1; round <= options.rounds; round++) {
        // Every bank queues its update for the model's next round before the round opens.
        await events.take(memberIds.length, (e) => e.event === 'queued' && e.round === round);
        const opened = await admin.openRound({
          modelId: MODEL_ID,
          roundNumber: round,
          mode: Mode.MODE_SECAGG,
          dimension: 9,
          // As `veilsum demo`: local updates stay inside ±8; 20-bit levels, 5 × (2^20 − 1) < 2^24.
          quantization: { clipRange: 8, levelBits: 20, modulusBits: 24 },
          threshold: 4,
          degree: memberIds.length - 1,
          adversary: Adversary.ADVERSARY_SEMI_MALICIOUS,
          members: memberIds,
          deadlines: {
            advertiseKeysMs: DEADLINE_MS,
            shareKeysMs: DEADLINE_MS,
            maskedInputMs: DEADLINE_MS,
            consistencyCheckMs: DEADLINE_MS,
            unmaskingMs: DEADLINE_MS,
          },
          corruptionRate: 0.2,
          dropoutRate: 0.2,
          minContributors: 0,
          ckks: undefined,
        });
        const seen = await events.take(
          memberIds.length,
          (e) => (e.event === 'round' || e.event === 'dropped') && e.round === round,
        );
        const finished = await admin.waitForResult(opened.roundId);
        const done = seen.filter((e) => e.event === 'round');
        const first = done[0];
        if (finished.phase !== Phase.PHASE_DONE || first === undefined)
          throw new Error(
            `round ${opened.roundId} did not finish: ${finished.abortReason || seen.map((e) => e.reason).join('; ')}`,
          );
        const entry: PythonDemoRound = {
          round,
          roundId: opened.roundId,
          contributors: first.contributors!,
          secureAccuracy: first.secureAccuracy!,
          plaintextAccuracy: first.plaintextAccuracy!,
          maxWeightDifference: Math.max(...done.map((e) => e.maxWeightDifference!)),
          averageErrorBound: first.averageErrorBound!,
          dropped: seen.filter((e) => e.event === 'dropped').map((e) => `${e.bank}: ${e.reason}`),
        };
        rounds.push(entry);
        report(entry);
      }
    } finally {
      admin.close();
    }
    return rounds;
  } catch (error) {
    if (log.length > 0) console.error(log.slice(-10).join('\n'));
    throw error;
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(
      children.map((child) =>
        child.exitCode !== null || child.signalCode !== null
          ? Promise.resolve()
          : new Promise((resolve) => child.once('exit', resolve)),
      ),
    );
    rmSync(directory, { recursive: true, force: true });
  }
}

/**
 * The venv clients/python/ci/ensure-venv.sh prepares (created from PyPI on first use, ~1 min);
 * VEILSUM_PYTHON names another interpreter that has veilsum and scikit-learn installed.
 */
function pythonWithVeilsum(say: (line: string) => void): string {
  if (process.env.VEILSUM_PYTHON) return process.env.VEILSUM_PYTHON;
  say('preparing the Python environment (clients/python/ci/ensure-venv.sh; ~1 min the first time)');
  const venv = spawnSync('bash', [join(PYTHON_PACKAGE, 'ci', 'ensure-venv.sh')], {
    encoding: 'utf8',
  });
  if (venv.status !== 0)
    throw new Error(`could not prepare the Python environment:\n${venv.stderr}`);
  return join(venv.stdout.trim(), 'bin', 'python');
}

/**
 * One bank's peer: its own caller CA (P-256 leaves: gRPC for Python cannot use Ed25519 keys in
 * TLS) with one data scientist, a profile for its consortium identity, and `veilsum member start`.
 */
async function startBankPeer(
  directory: string,
  memberId: string,
  local: Awaited<ReturnType<typeof createLocalConsortium>>,
  coordinatorPort: number,
  log: string[],
) {
  const callers = await createDevPki(
    join(directory, `${memberId}-callers`),
    [],
    [],
    `CN=${memberId} caller CA, O=${memberId}`,
    { servers: ['peer'], officers: ['scientist'] },
  );
  const {
    consortiumMembers,
    threatModel: _threatModel,
    ...connection
  } = local.profile(memberId, coordinatorPort);
  const profile = join(directory, `profile-${memberId}.json`);
  writeFileSync(profile, JSON.stringify({ ...connection, members: consortiumMembers }));
  const server = callers.servers!.peer!;
  const scientist = callers.officers!.scientist!;
  const { child, port } = await startMemberProcess(
    {
      profile,
      listen: '127.0.0.1:0',
      tls: {
        callerCa: callers.caCertificatePath,
        certificate: server.certificatePath,
        privateKey: server.privateKeyPath,
      },
      callers: [{ commonName: 'scientist', submit: [MODEL_ID], read: true }],
      dataDir: join(directory, `${memberId}-peer-data`),
      pollIntervalMs: 200,
    },
    join(directory, `member-${memberId}.json`),
    (line) => log.push(line),
  );
  return {
    child,
    address: `127.0.0.1:${port}`,
    caCertificate: callers.caCertificatePath,
    certificate: scientist.certificatePath,
    privateKey: scientist.privateKeyPath,
  };
}

/** Events from the Python banks, taken in groups as rounds need them. */
class EventQueue {
  private readonly events: PythonEvent[] = [];
  private error: Error | undefined;
  private wake: (() => void) | undefined;

  push(event: PythonEvent): void {
    this.events.push(event);
    this.wake?.();
  }

  fail(error: Error): void {
    this.error ??= error;
    this.wake?.();
  }

  async take(count: number, matches: (event: PythonEvent) => boolean): Promise<PythonEvent[]> {
    for (;;) {
      if (this.error) throw this.error;
      const found = this.events.filter(matches);
      if (found.length >= count) {
        for (const event of found) this.events.splice(this.events.indexOf(event), 1);
        return found;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}

/** `veilsum demo --python`: per round, the accuracy the Python banks got next to plaintext FedAvg. */
export async function pythonDemo(options: { rounds: number; seed: number; json?: boolean }) {
  const say = (line: string) => {
    if (!options.json) console.log(line);
  };
  say(
    'veilsum demo --python: coordinator + 5 bank peers (veilsum member start) on 127.0.0.1; per bank a Python process trains scikit-learn LogisticRegression and submits coef_ and intercept_ through the Python client; SecAgg+ (complete graph, t = 4, semi-malicious)',
  );
  const rounds = await runPythonDemo(
    { rounds: options.rounds, seed: options.seed },
    (round) => {
      if (options.json) console.log(JSON.stringify(round));
      else
        console.log(
          `round ${round.round}  ${round.contributors} banks  accuracy ${round.secureAccuracy.toFixed(4)} secure, ` +
            `${round.plaintextAccuracy.toFixed(4)} plaintext FedAvg  max|Δw| ${round.maxWeightDifference.toExponential(2)} ` +
            `≤ bound ${round.averageErrorBound.toExponential(2)}`,
        );
    },
    say,
  );
  const beyond = rounds.filter((round) => round.maxWeightDifference > round.averageErrorBound);
  if (beyond.length > 0) {
    console.error(
      `veilsum demo --python: in ${beyond.length} rounds the secure model differs from plaintext FedAvg beyond the error bound`,
    );
    process.exitCode = 1;
  }
}
