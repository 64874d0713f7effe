/**
 * One bank in `veilsum demo`: its own process holding its own data. Per round it trains locally
 * from the global weights it is sent and submits the update through the SDK; only the masked
 * update ever leaves the process.
 */
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { loadProfile } from '../../sdk/profile.ts';
import type { DropoutPhase } from '../../crypto/secagg/simulation.ts';
import { BANKS, generateDataset } from './fraud-data.ts';
import { trainLocally } from './logistic-regression.ts';

export interface BankInstruction {
  readonly roundId: string;
  readonly weights: number[];
  readonly dropBefore: DropoutPhase | null;
}

export interface BankReport {
  readonly roundId: string;
  readonly uploaded: boolean;
  readonly error: string | null;
}

const [profilePath, bankIndexText, seedText] = process.argv.slice(2);
const bankIndex = Number(bankIndexText);
const bank = BANKS[bankIndex]!;
const data = generateDataset(bank.transactions, bank.shift, Number(seedText) * 100 + bankIndex);
const client = VeilsumClient.connect(loadProfile(profilePath!));

process.on('message', (instruction: BankInstruction) => {
  const global = Float64Array.from(instruction.weights);
  const local = trainLocally(global, data, 20, 0.5);
  const update = Float32Array.from(local, (weight, j) => weight - global[j]!);
  client
    .participate(instruction.roundId, update, {
      ...(instruction.dropBefore ? { dropBefore: instruction.dropBefore } : {}),
      waitForResult: false,
    })
    .then((result) =>
      process.send!({
        roundId: instruction.roundId,
        uploaded: result.uploadSha256 !== undefined,
        error: null,
      }),
    )
    .catch((error: Error) =>
      process.send!({ roundId: instruction.roundId, uploaded: false, error: error.message }),
    );
});
process.on('disconnect', () => {
  client.close();
  process.exit(0);
});
