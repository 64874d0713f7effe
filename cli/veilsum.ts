#!/usr/bin/env node
// First: on a node older than 24 (Node 22.18+ loads .ts too) say how to run on the project's own.
import './require-node.ts';
import { Command, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import { coordinatorCommand } from './commands/coordinator.ts';
import { memberCommand } from './commands/member.ts';
import { auditCommand, consentCommand } from './commands/ledger-commands.ts';
import { ledgerCommand } from './commands/ledger-setup.ts';
import { modelCommand } from './commands/model.ts';
import { consoleCommand, verifyBundleCommand } from './commands/console.ts';
import { pkiCommand } from './commands/pki.ts';
import { keyholderCommand, keysCommand } from './commands/keys.ts';
import { roundCommand } from './commands/round.ts';
import { submitCommand } from './commands/submit.ts';
import { runProcessDemo, type DemoAudit } from './demo/process-demo.ts';
import type { ConsoleHandoff } from './demo/console-handoff.ts';
import { runDemo, type DemoRound } from './demo/run-demo.ts';
import { pythonDemo } from './demo/python-demo.ts';
import { readFileSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import { VeilsumError } from '../sdk/errors.ts';
import { onRetry } from '../sdk/retry.ts';

const packageVersion = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

const integer = (value: string): number => {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 1)
    throw new InvalidArgumentError('expected a positive integer');
  return parsed;
};
const rate = (value: string): number => {
  const parsed = Number(value);
  if (!(parsed >= 0 && parsed < 1)) throw new InvalidArgumentError('expected a rate in [0, 1)');
  return parsed;
};

const program = new Command()
  .name('veilsum')
  .description('Secure aggregation of model updates (SecAgg+, threshold CKKS) with an audit trail')
  .version(packageVersion, '-V, --version', 'print the veilsum version');

program
  .command('demo')
  .description(
    'Federated training of a fraud model: a coordinator and 5 bank processes on 127.0.0.1, SecAgg+ with dropouts, next to plaintext FedAvg',
  )
  .option('--rounds <n>', 'FedAvg rounds', integer, 6)
  .option('--seed <n>', 'seed for data and dropouts', integer, 7)
  .option('--dropout <rate>', 'probability that a bank drops in a round', rate, 0.25)
  .option(
    '--drop-beyond-threshold',
    'let more banks drop than a round tolerates (its rounds then abort and the demo exits 1)',
  )
  .option('--in-process', 'run every party in this process (no gRPC), for a quick look')
  .option(
    '--python',
    "each bank's aggregation peer (veilsum member start) and a Python data scientist per bank: scikit-learn through the Python client (clients/python)",
  )
  .addOption(
    new Option(
      '--mode <mode>',
      'secagg: masked sums; ckks: updates encrypted under a collective key, 3 of 5 keyholder processes decrypt the sum',
    )
      .choices(['secagg', 'ckks'] as const)
      .default('secagg' as const),
  )
  .addOption(
    new Option(
      '--ledger <ledger>',
      'embedded: a SQLite ledger file; fabric: a Fabric network (one peer per bank) started for the demo',
    )
      .choices(['embedded', 'fabric'] as const)
      .default('embedded' as const),
  )
  .option('--json', 'print one JSON object per round instead of a table')
  .option(
    '--keep <dir>',
    'keep the embedded ledger and the development PKI here for the compliance console (replaced each run)',
    '.veilsum/demo',
  )
  .action(async (options) => {
    if (options.python) {
      await pythonDemo(options);
      return;
    }
    if (options.inProcess && options.ledger === 'fabric')
      throw new InvalidArgumentError('--ledger fabric runs a Fabric network; drop --in-process');
    if (options.inProcess && options.mode === 'ckks')
      throw new InvalidArgumentError('--mode ckks runs keyholder processes; drop --in-process');
    if (!options.json) {
      console.log(
        options.mode === 'ckks'
          ? 'veilsum demo --mode ckks: coordinator, 5 bank and 5 keyholder processes on 127.0.0.1 over mTLS gRPC; updates encrypted under a collective CKKS key (N = 8192, 128-bit), 3 of 5 keyholders decrypt each sum'
          : options.inProcess
            ? 'veilsum demo (in-process): 5 banks, logistic-regression fraud model, SecAgg+ (complete graph, t = 4, semi-malicious)'
            : 'veilsum demo: coordinator + 5 bank processes on 127.0.0.1 over mTLS gRPC; fraud model; SecAgg+ (complete graph, t = 4, semi-malicious)',
      );
      console.log(
        'round  included  dropouts                                           secure-acc  plain-acc  max|Δw|    commitments',
      );
    }
    const print = (
      round: DemoRound & { uploadsMerkleRoot?: string | null; notes?: readonly string[] },
    ) => {
      if (options.json) {
        console.log(JSON.stringify(round));
        return;
      }
      const commitments = round.aborted
        ? `aborted: ${round.aborted}`
        : `aggregate ${round.aggregateHash!.slice(0, 12)}…` +
          (round.uploadsMerkleRoot ? ` uploads-root ${round.uploadsMerkleRoot.slice(0, 12)}…` : '');
      console.log(
        [
          String(round.round).padEnd(6),
          String(round.included.length).padEnd(9),
          (round.dropouts.join(', ') || '-').padEnd(50),
          round.secureAccuracy.toFixed(4).padEnd(11),
          round.plaintextAccuracy.toFixed(4).padEnd(10),
          round.maxWeightDifference.toExponential(2).padEnd(10),
          commitments,
        ].join(' '),
      );
      for (const note of round.notes ?? []) console.log(`       ${note}`);
    };
    const printAudit = (audit: DemoAudit) => {
      if (options.json) {
        console.log(JSON.stringify({ event: 'audit', ...audit }));
        return;
      }
      console.log(
        `audit (from the ledger): model ${audit.model.slice(0, 16)}… was trained in ${audit.round} on`,
      );
      for (const c of audit.contributions) {
        console.log(`  ${c.member.padEnd(10)} dataset ${c.dataset}  under consent ${c.consent}`);
      }
      console.log(
        `  inclusion proof of ${audit.inclusion.member} in ${audit.inclusion.round}: ` +
          (audit.inclusion.verified ? 'verified against the ledger root' : 'NOT VERIFIED'),
      );
      if (audit.chain)
        console.log(
          `  ledger chain: ${audit.chain.ok ? `intact, ${audit.chain.blocks} blocks` : `BROKEN at block ${audit.chain.block}`}`,
        );
      if (audit.fabric)
        console.log(
          `  Fabric ledger: ${audit.fabric.blocks} blocks; audit read through ${audit.fabric.readThrough}, the coordinator wrote through ${audit.fabric.writtenThrough}`,
        );
    };
    const demoOptions = {
      rounds: options.rounds,
      seed: options.seed,
      dropoutRate: options.dropout,
      dropBeyondThreshold: options.dropBeyondThreshold === true,
      mode: options.mode,
      ledger: options.ledger,
      keepDirectory: options.keep,
    };
    let keptForConsole: ConsoleHandoff | undefined;
    const printHandoff = (kept: ConsoleHandoff) => {
      if (options.json) {
        console.log(JSON.stringify({ event: 'console', ...kept }));
        return;
      }
      console.log(`compliance console on this demo's ledger (${kept.directory}):`);
      console.log(`  ${kept.command}`);
      console.log(
        `  then open ${kept.address} with the auditor's certificate ${kept.auditorCertificate} (key ${kept.auditorKey})`,
      );
    };
    const started = performance.now();
    const rounds = options.inProcess
      ? runDemo(demoOptions, print)
      : await runProcessDemo(demoOptions, print, printAudit, (kept) => (keptForConsole = kept));
    const last = rounds.at(-1)!;
    const aborted = rounds.filter((round) => round.aborted !== null);
    if (aborted.length > 0) {
      // A demo whose rounds abort did not show what it claims: say so, and fail.
      process.exitCode = 1;
      console.error(
        `veilsum demo: ${aborted.length} of ${rounds.length} rounds aborted (${aborted
          .map((round) => `round ${round.round}: ${round.aborted}`)
          .join('; ')}); the accuracy below covers the completed rounds only`,
      );
    }
    if (!options.json) {
      console.log(
        `final: secure ${last.secureAccuracy.toFixed(4)} vs plaintext ${last.plaintextAccuracy.toFixed(4)} accuracy; ` +
          `largest weight difference ${last.maxWeightDifference.toExponential(2)} (${options.mode === 'ckks' ? 'CKKS approximation' : `quantization step ${(16 / (2 ** 20 - 1)).toExponential(2)}`}); ` +
          `${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
    }
    if (keptForConsole !== undefined) printHandoff(keptForConsole);
  });

program.addCommand(pkiCommand());
program.addCommand(coordinatorCommand());
program.addCommand(memberCommand());
program.addCommand(keyholderCommand());
program.addCommand(keysCommand());
program.addCommand(roundCommand());
program.addCommand(submitCommand());
program.addCommand(consentCommand());
program.addCommand(auditCommand().addCommand(verifyBundleCommand()));
program.addCommand(ledgerCommand());
program.addCommand(modelCommand());
program.addCommand(consoleCommand());

// Retrying is not silent: say what failed and for how long it will be tried (at most every 10 s).
let lastRetryNotice = 0;
onRetry((notice) => {
  if (Date.now() - lastRetryNotice < 10_000) return;
  lastRetryNotice = Date.now();
  console.error(
    `veilsum: ${notice.step}: ${notice.code} (${notice.details}); retrying, for up to ${Math.round((notice.giveUpAfterMs - notice.elapsedMs) / 1000)} s more`,
  );
});

program.parseAsync().catch((error: unknown) => {
  console.error(`veilsum: ${(error as Error).message}`);
  if (error instanceof VeilsumError && error.code === status.UNAVAILABLE)
    console.error(
      "veilsum: the service did not answer. Check that it is running and that the profile's address is right; if it is, the TLS handshake may be failing: the server's certificate must come from the CA in the profile's caCertificate (with a SAN matching the address or serverName), and yours from a CA the server trusts.",
    );
  process.exitCode = 1;
});
