#!/usr/bin/env node
import { Command, InvalidArgumentError } from '@commander-js/extra-typings';
import { coordinatorCommand } from './commands/coordinator.ts';
import { pkiCommand } from './commands/pki.ts';
import { roundCommand } from './commands/round.ts';
import { submitCommand } from './commands/submit.ts';
import { runDemo } from './demo/run-demo.ts';

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
  .description('Secure aggregation of model updates (SecAgg+, threshold CKKS) with an audit trail');

program
  .command('demo')
  .description(
    'Federated training of a fraud model across 5 banks over SecAgg+ with dropouts, next to plaintext FedAvg',
  )
  .option('--rounds <n>', 'FedAvg rounds', integer, 8)
  .option('--seed <n>', 'seed for data, keys and dropouts', integer, 7)
  .option('--dropout <rate>', 'probability that a bank drops in a round', rate, 0.25)
  .option('--json', 'print one JSON object per round instead of a table')
  .action((options) => {
    if (!options.json) {
      console.log(
        'veilsum demo: 5 banks, logistic-regression fraud model, SecAgg+ (complete graph, t = 3, semi-malicious)',
      );
      console.log(
        'round  included  dropouts                               secure-acc  plain-acc  max|Δw|     aggregate-hash',
      );
    }
    const rounds = runDemo(
      { rounds: options.rounds, seed: options.seed, dropoutRate: options.dropout },
      (round) => {
        if (options.json) {
          console.log(JSON.stringify(round));
          return;
        }
        console.log(
          [
            String(round.round).padEnd(6),
            String(round.included.length).padEnd(9),
            (round.dropouts.join(', ') || '-').padEnd(38),
            round.secureAccuracy.toFixed(4).padEnd(11),
            round.plaintextAccuracy.toFixed(4).padEnd(10),
            round.maxWeightDifference.toExponential(2).padEnd(11),
            round.aborted ? `aborted: ${round.aborted}` : `${round.aggregateHash!.slice(0, 16)}…`,
          ].join(' '),
        );
      },
    );
    const last = rounds.at(-1)!;
    if (!options.json) {
      console.log(
        `final: secure ${last.secureAccuracy.toFixed(4)} vs plaintext ${last.plaintextAccuracy.toFixed(4)} accuracy; ` +
          `largest weight difference ${last.maxWeightDifference.toExponential(2)} (quantization step ${(16 / (2 ** 20 - 1)).toExponential(2)})`,
      );
    }
  });

program.addCommand(pkiCommand());
program.addCommand(coordinatorCommand());
program.addCommand(roundCommand());
program.addCommand(submitCommand());

program.parseAsync().catch((error: unknown) => {
  console.error(`veilsum: ${(error as Error).message}`);
  process.exitCode = 1;
});
