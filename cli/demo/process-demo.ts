import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { toHex } from '../../crypto/bytes.ts';
import { hashFields } from '../../crypto/commitment.ts';
import { merkleRoot, verifyMerkleProof } from '../../crypto/merkle.ts';
import type { VerifyResult } from '../../ledger/embedded/embedded-ledger.ts';
import { dequantizeSum } from '../../crypto/quantize.ts';
import { seededRandom } from '../../crypto/random.ts';
import type { DropoutPhase } from '../../crypto/secagg/simulation.ts';
import { Adversary, Mode, Phase, type Round } from '../../proto/gen/veilsum/v1/round.ts';
import { SUM_8192 } from '../../crypto/ckks/parameters.ts';
import { keepForConsole, type ConsoleHandoff } from './console-handoff.ts';
import { createLocalConsortium } from './local-consortium.ts';
import { killKeyholder, startKeyholders } from './ckks-services.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { startCoordinatorProcess } from './processes.ts';
import type { BankInstruction, BankReport } from './bank-process.ts';
import { BANKS, FEATURE_NAMES, generateDataset } from './fraud-data.ts';
import { accuracy, trainLocally } from './logistic-regression.ts';
import type { DemoOptions, DemoRound } from './run-demo.ts';

import { ADMIN } from './local-consortium.ts';
import { startDemoLedger } from './demo-ledger.ts';
const MODEL_ID = 'demo-fraud-model';
const QUANTIZATION = { clipRange: 8, levelBits: 20, modulusBits: 24 };
const DROPOUT_PHASES: DropoutPhase[] = [
  'advertise-keys',
  'share-keys',
  'masked-input',
  'consistency-check',
  'unmasking',
];
/**
 * Phase deadlines adapt to the machine. CKKS: the first round's is generous (banks also start
 * their encryption workers), later rounds' three times the slowest honest upload of the round
 * before (at least 8 s), so a dropout costs little on a quiet machine and a busy one still fits.
 * SecAgg phases are short. A round that aborts although enough banks took part doubles them, up to
 * a minute.
 */
// A CKKS upload is encrypted and proved well formed (crypto/ckks/encryption-proof.ts) in a
// fresh bank process: seconds, not the hundreds of milliseconds a masked vector takes.
const FIRST_DEADLINE_MS = { secagg: 4_000, ckks: 30_000 };
const MIN_CKKS_DEADLINE_MS = 8_000;
const MAX_DEADLINE_MS = 60_000;
const KEYHOLDERS = ['keyholder-1', 'keyholder-2', 'keyholder-3', 'keyholder-4', 'keyholder-5'];
const KEYHOLDER_THRESHOLD = 3;
/**
 * CKKS: the δ the demo's keyholders and banks allow (their own floor max(2, ⌈(1 − δ)·n⌉) = 3 of
 * 5; the defaults, δ = 0.05, would take all 5), and the rounds' min contributors to match.
 */
const CKKS_DROPOUT_RATE = 0.4;
const CKKS_MIN_CONTRIBUTORS = 3;
/** In CKKS mode one keyholder crashes before this round; the other four carry on. */
const KEYHOLDER_CRASH_ROUND = 3;

export interface ProcessDemoRound extends DemoRound {
  readonly uploadsMerkleRoot: string | null;
  readonly paramsHash: string;
  /** SHA-256 of the global weights after this round, recorded on the ledger. */
  readonly modelHash: string | null;
  /** Consent changes and refusals in this round. */
  readonly notes: readonly string[];
  readonly wallMs: number;
}

/**
 * `veilsum demo`: a coordinator process and five bank processes on 127.0.0.1, with a throw-away
 * development PKI; several FedAvg rounds of a fraud model over SecAgg+ (semi-malicious variant)
 * with random dropouts, next to the same training aggregated in the clear.
 */
export interface DemoAudit {
  readonly model: string;
  readonly round: string;
  readonly contributions: readonly { member: string; dataset: string; consent: string }[];
  readonly inclusion: { member: string; round: string; verified: boolean };
  /** The embedded ledger's hash chain, recomputed (Fabric peers check blocks as they commit). */
  readonly chain?: VerifyResult;
  /** Fabric: the channel's block height, and which peers wrote and read. */
  readonly fabric?: { blocks: number; readThrough: string; writtenThrough: string };
  /** The ledger the audit read. */
  readonly ledger: string;
}

export async function runProcessDemo(
  options: DemoOptions,
  report: (round: ProcessDemoRound) => void,
  audit: (audit: DemoAudit) => void = () => {},
  handoff: (kept: ConsoleHandoff) => void = () => {},
): Promise<ProcessDemoRound[]> {
  let keep: (() => void) | undefined;
  const directory = mkdtempSync(join(tmpdir(), 'veilsum-demo-'));
  const ckks = options.mode === 'ckks';
  const children: ChildProcess[] = [];
  const coordinatorLog: string[] = [];
  const memberIds = BANKS.map((bank) => bank.name.toLowerCase());
  const demoLedger = await startDemoLedger(options.ledger ?? 'embedded', directory, memberIds);
  try {
    const local = await createLocalConsortium({
      directory,
      members: memberIds,
      keyholders: ckks ? KEYHOLDERS : [],
      ledgerFor: (identity) => demoLedger.configFor(identity),
      keyholderDropoutRate: CKKS_DROPOUT_RATE,
    });
    const keyholderServices = ckks
      ? await startKeyholders(local, KEYHOLDER_THRESHOLD, SUM_8192.name)
      : undefined;
    for (const keyholder of keyholderServices?.keyholders.values() ?? [])
      children.push(keyholder.child);
    const { child: coordinator, port } = await startCoordinatorProcess(
      {
        ...local.coordinatorConfig,
        ...(keyholderServices ? { ckks: { keyFile: keyholderServices.keyFile } } : {}),
      },
      join(directory, 'coordinator.json'),
      (line) => coordinatorLog.push(line),
    );
    children.push(coordinator);
    const profile = (id: string) => local.profile(id, port);
    const profilePath = (id: string) => {
      const path = join(directory, `profile-${id}.json`);
      const { threatModel, consortiumMembers, ...connection } = profile(id);
      writeFileSync(
        path,
        JSON.stringify({
          ...connection,
          // The consortium's keyholders, pinned as `pki init` writes them.
          ...(threatModel?.pinnedKeyholders ? { keyholders: threatModel.pinnedKeyholders } : {}),
          members: consortiumMembers,
          ...(ckks ? { secaggPolicy: { minimumDropoutRate: CKKS_DROPOUT_RATE } } : {}),
        }),
      );
      return path;
    };
    const bankScript = fileURLToPath(new URL('./bank-process.ts', import.meta.url));
    const banks = memberIds.map((id, i) => {
      const child = fork(
        bankScript,
        [
          profilePath(id),
          String(i),
          String(options.seed),
          JSON.stringify(demoLedger.configFor(id)),
          id,
        ],
        {
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        },
      );
      children.push(child);
      return child;
    });
    const admin = VeilsumClient.connect(profile(ADMIN));
    const tell = (bank: ChildProcess, instruction: BankInstruction) =>
      new Promise<BankReport>((resolve) => {
        bank.once('message', (message: BankReport) => resolve(message));
        bank.send(instruction);
      });
    // Every bank consents, on the ledger, to its transactions training this model.
    const consentIds = memberIds.map((id) => `${id}-consent-1`);
    await Promise.all(
      banks.map((bank, i) =>
        tell(bank, { kind: 'grant-consent', consentId: consentIds[i]!, purpose: MODEL_ID }),
      ),
    );
    await demoLedger.inStep();
    const revokingBank = 2;
    const revokeInRound = Math.min(4, options.rounds);

    const dimension = FEATURE_NAMES.length + 1;
    const plainData = BANKS.map((bank, i) =>
      generateDataset(bank.transactions, bank.shift, options.seed * 100 + i),
    );
    const testSet = generateDataset(
      4000,
      new Array<number>(FEATURE_NAMES.length).fill(0),
      options.seed * 100 + 99,
    );
    const random = seededRandom(options.seed);
    const uniform = () => random(1)[0]! / 256;
    let secure = new Float64Array(dimension);
    let plaintext = new Float64Array(dimension);
    const rounds: ProcessDemoRound[] = [];
    let lastDone: { roundId: string; included: number[] } | undefined;

    let deadlineMs = FIRST_DEADLINE_MS[ckks ? 'ckks' : 'secagg'];
    for (let roundNumber = 1; roundNumber <= options.rounds; roundNumber++) {
      const started = performance.now();
      const notes: string[] = [];
      if (roundNumber === revokeInRound + 1) {
        consentIds[revokingBank] = `${memberIds[revokingBank]}-consent-2`;
        await tell(banks[revokingBank]!, {
          kind: 'grant-consent',
          consentId: consentIds[revokingBank],
          purpose: MODEL_ID,
        });
        notes.push(`${BANKS[revokingBank]!.name} granted ${consentIds[revokingBank]}`);
        await demoLedger.inStep();
      }
      if (keyholderServices && roundNumber === KEYHOLDER_CRASH_ROUND) {
        const first = keyholderServices.keyholders.get(1)!;
        await killKeyholder(first);
        notes.push(
          `${first.id} crashed: ${KEYHOLDER_THRESHOLD} of the remaining ${KEYHOLDERS.length - 1} keyholders decrypt`,
        );
      }
      const opened = await admin.openRound({
        modelId: MODEL_ID,
        roundNumber,
        mode: ckks ? Mode.MODE_CKKS : Mode.MODE_SECAGG,
        dimension,
        quantization: QUANTIZATION,
        // Complete graph against a semi-malicious server with one colluder among five banks:
        // t > (n + γn)/2 = 3, and one bank may drop (min contributors 4).
        threshold: 4,
        degree: memberIds.length - 1,
        adversary: Adversary.ADVERSARY_SEMI_MALICIOUS,
        members: memberIds,
        deadlines: {
          advertiseKeysMs: deadlineMs,
          shareKeysMs: deadlineMs,
          maskedInputMs: deadlineMs,
          consistencyCheckMs: deadlineMs,
          unmaskingMs: deadlineMs,
        },
        corruptionRate: 0.2,
        dropoutRate: 0.2,
        minContributors: 0,
        ckks: ckks
          ? {
              parameterSet: SUM_8192.name,
              keySha256: Buffer.alloc(0),
              minContributors: CKKS_MIN_CONTRIBUTORS,
              clipRange: QUANTIZATION.clipRange,
            }
          : undefined,
      });
      // The bank revokes once the round is open (the contract opens no round with a roster
      // member whose consent is not in force): the coordinator refuses its upload, naming it.
      if (roundNumber === revokeInRound && options.rounds > 1) {
        await tell(banks[revokingBank]!, {
          kind: 'revoke-consent',
          consentId: consentIds[revokingBank]!,
        });
        notes.push(`${BANKS[revokingBank]!.name} revoked ${consentIds[revokingBank]}`);
        await demoLedger.inStep();
      }
      const dropouts = new Map<number, DropoutPhase>();
      memberIds.forEach((_, i) => {
        if (uniform() < options.dropoutRate)
          dropouts.set(i + 1, DROPOUT_PHASES[Math.floor(uniform() * DROPOUT_PHASES.length)]!);
      });
      if (options.dropBeyondThreshold !== true) {
        // A SecAgg round is sized for δn dropouts (min contributors n − ⌈δn⌉ = 4 of 5), a CKKS
        // round for 3 of 5; more are outside its threat model and abort it. The demo drops no
        // more than the round allows, counting the bank refused for its revoked consent.
        const tolerated =
          memberIds.length -
          (ckks ? CKKS_MIN_CONTRIBUTORS : 4) -
          (roundNumber === revokeInRound && options.rounds > 1 ? 1 : 0);
        for (const bank of [...dropouts.keys()].slice(Math.max(0, tolerated)))
          dropouts.delete(bank);
      }
      const openedAt = performance.now();
      let slowestHonestMs = 0;
      const reports = await Promise.all(
        banks.map((bank, i) =>
          tell(bank, {
            kind: 'round',
            roundId: opened.roundId,
            mode: ckks ? 'ckks' : 'secagg',
            weights: [...secure],
            dropBefore: dropouts.get(i + 1) ?? null,
          }).then((answer) => {
            if (answer.error === null && !dropouts.has(i + 1))
              slowestHonestMs = Math.max(slowestHonestMs, performance.now() - openedAt);
            return answer;
          }),
        ),
      );
      reports.forEach((report, i) => {
        if (report.error !== null) notes.push(`${BANKS[i]!.name} refused: ${report.error}`);
      });
      const failed = reports.filter((r) => r.error !== null);
      let finished: Round = await admin.waitForResult(opened.roundId);
      let aborted: string | null = null;
      let aggregateHash: string | null = null;
      let uploadsMerkleRoot: string | null = null;
      let modelHash: Buffer | null = null;
      if (finished.phase === Phase.PHASE_DONE) {
        const included = finished.included;
        const sum = ckks
          ? await admin.getCkksResult(opened.roundId)
          : dequantizeSum(await admin.getAggregate(opened.roundId), included.length, QUANTIZATION);
        secure = secure.map((weight, j) => weight + sum[j]! / included.length);
        const plainMean = new Float64Array(dimension);
        for (const index of included) {
          const local = trainLocally(plaintext, plainData[index - 1]!, 20, 0.5);
          local.forEach(
            (weight, j) => (plainMean[j]! += (weight - plaintext[j]!) / included.length),
          );
        }
        plaintext = plaintext.map((weight, j) => weight + plainMean[j]!);
        aggregateHash = toHex(finished.aggregateSha256);
        uploadsMerkleRoot = toHex(
          merkleRoot(finished.uploadSha256.map((digest) => new Uint8Array(digest))),
        );
        modelHash = createHash('sha256').update(new Uint8Array(secure.buffer)).digest();
        await admin.recordModelVersion(opened.roundId, modelHash);
        lastDone = { roundId: opened.roundId, included: finished.included };
      } else {
        aborted = finished.abortReason || failed.map((r) => r.error).join('; ');
      }
      const needed = ckks ? opened.params!.ckks!.minContributors : opened.params!.minContributors;
      if (aborted !== null && memberIds.length - dropouts.size >= needed) {
        deadlineMs = Math.min(2 * deadlineMs, MAX_DEADLINE_MS);
        notes.push(`too slow for its deadlines: the next rounds get ${deadlineMs} ms per phase`);
      } else if (ckks && aborted === null && slowestHonestMs > 0) {
        // An honest CKKS bank reports once uploaded, so this is its work, not others' dropouts.
        deadlineMs = Math.min(
          MAX_DEADLINE_MS,
          Math.max(MIN_CKKS_DEADLINE_MS, Math.ceil(3 * slowestHonestMs)),
        );
      }
      finished = finished.phase === Phase.PHASE_DONE ? finished : opened;
      const entry: ProcessDemoRound = {
        round: roundNumber,
        included: finished.included.map((index) => BANKS[index - 1]!.name),
        dropouts: [...dropouts].map(([index, phase]) =>
          ckks ? BANKS[index - 1]!.name : `${BANKS[index - 1]!.name}@${phase}`,
        ),
        aborted,
        secureAccuracy: accuracy(secure, testSet),
        plaintextAccuracy: accuracy(plaintext, testSet),
        maxWeightDifference: Math.max(
          ...secure.map((weight, j) => Math.abs(weight - plaintext[j]!)),
        ),
        participantSetHash: toHex(
          hashFields('veilsum/v1/participants', opened.roundId, finished.included.join(',')),
        ),
        aggregateHash,
        uploadsMerkleRoot,
        paramsHash: toHex(opened.paramsHash),
        modelHash: modelHash ? modelHash.toString('hex') : null,
        notes,
        wallMs: Math.round(performance.now() - started),
      };
      rounds.push(entry);
      report(entry);
    }
    // What a compliance officer can now show: the final model's lineage from the ledger, one
    // bank's inclusion proof checked against the root on the ledger, and the chain's integrity.
    await demoLedger.inStep();
    const opened = demoLedger.openAuditor({ caCertificate: local.pki.caCertificatePath });
    try {
      const auditor = opened.ledger;
      const lastModel = [...rounds].reverse().find((round) => round.modelHash !== null);
      if (lastModel && lastDone) {
        const lineage = await auditor.lineage(lastModel.modelHash!);
        const prover = memberIds[lastDone.included[0]! - 1]!;
        const proverClient = VeilsumClient.connect(profile(prover));
        const proof = await proverClient.proveInclusion(lastDone.roundId);
        proverClient.close();
        const keepDirectory = options.keepDirectory;
        if (keepDirectory !== undefined && demoLedger.backend === 'embedded')
          keep = () =>
            handoff(
              keepForConsole(keepDirectory, directory, local.pki, {
                round: lastDone.roundId,
                member: prover,
                uploadSha256: Buffer.from(proof.uploadSha256).toString('hex'),
                path: proof.path.map((step) => ({
                  sibling: Buffer.from(step.sibling).toString('hex'),
                  siblingOnLeft: step.siblingOnLeft,
                })),
              }),
            );
        const onLedger = await auditor.getRound(lastDone.roundId);
        const inclusionVerified =
          onLedger.uploadsMerkleRoot !== null &&
          verifyMerkleProof(
            new Uint8Array(proof.uploadSha256),
            proof.path.map((step) => ({
              sibling: new Uint8Array(step.sibling),
              siblingOnLeft: step.siblingOnLeft,
            })),
            Buffer.from(onLedger.uploadsMerkleRoot, 'hex'),
          );
        audit({
          model: lastModel.modelHash!,
          round: lineage.round.roundId,
          contributions: lineage.contributions.map((c) => ({
            member: c.memberId,
            dataset: c.consent.datasetId,
            consent: c.consent.consentId,
          })),
          inclusion: { member: prover, round: lastDone.roundId, verified: inclusionVerified },
          ledger: opened.description,
          ...(opened.embedded ? { chain: opened.embedded.verify() } : {}),
          ...(opened.fabric
            ? {
                fabric: {
                  blocks: await opened.fabric.chainHeight(),
                  readThrough: opened.fabric.peer.name,
                  writtenThrough: demoLedger.writtenThrough,
                },
              }
            : {}),
        });
      }
    } finally {
      opened.close();
    }
    admin.close();
    return rounds;
  } catch (error) {
    if (coordinatorLog.length > 0) console.error(coordinatorLog.slice(-10).join('\n'));
    throw error;
  } finally {
    for (const child of children) {
      if (child.connected) child.disconnect();
      child.kill('SIGTERM');
    }
    await demoLedger.close();
    try {
      keep?.();
    } catch (error) {
      console.error(`veilsum demo: could not keep the ledger for the console: ${String(error)}`);
    }
    rmSync(directory, { recursive: true, force: true });
  }
}
