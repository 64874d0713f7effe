/**
 * One bank in `veilsum demo`: its own process holding its own data. Per round it trains locally
 * from the global weights it is sent and submits the update through the SDK; only the masked
 * update ever leaves the process.
 */
import { createHash } from 'node:crypto';
import { ledgerConfigSchema, openLedger } from '../../ledger/ledger-factory.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { checkpointBeside } from '../../ledger/embedded/ledger-head.ts';
import { loadProfile } from '../../sdk/profile.ts';
import type { DropoutPhase } from '../../crypto/secagg/simulation.ts';
import { BANKS, generateDataset } from './fraud-data.ts';
import { trainLocally } from './logistic-regression.ts';

export type BankInstruction =
  | {
      readonly kind: 'round';
      readonly roundId: string;
      readonly mode: 'secagg' | 'ckks';
      readonly weights: number[];
      readonly dropBefore: DropoutPhase | null;
    }
  /** Consent on the ledger, as this bank: grant a new one, or revoke the current one. */
  | { readonly kind: 'grant-consent'; readonly consentId: string; readonly purpose: string }
  | { readonly kind: 'revoke-consent'; readonly consentId: string };

export interface BankReport {
  readonly roundId: string;
  readonly uploaded: boolean;
  readonly error: string | null;
}

export const datasetOf = (memberId: string) => `${memberId}-card-transactions-2026`;

const [profilePath, bankIndexText, seedText, ledgerJson, memberId] = process.argv.slice(2);
const bankIndex = Number(bankIndexText);
const bank = BANKS[bankIndex]!;
const data = generateDataset(bank.transactions, bank.shift, Number(seedText) * 100 + bankIndex);
const profile = loadProfile(profilePath!);
const client = VeilsumClient.connect(profile);
// The bank writes its own consents: to the shared embedded file, each block signed with its
// certificate's key, or on Fabric as its own identity through its own peer.
const opened = openLedger(ledgerConfigSchema.parse(JSON.parse(ledgerJson!)), memberId!, undefined, {
  ...profile,
  checkpoint: checkpointBeside(profilePath!),
});
const ledger = opened.ledger;
// CKKS rounds are checked on the bank's own ledger view: the round and its keyholder-attested key.
const ckksClient = VeilsumClient.connect({ ...profile, ledger });

process.on('message', (instruction: BankInstruction) => {
  if (instruction.kind === 'grant-consent') {
    ledger
      .grantConsent(
        instruction.consentId,
        datasetOf(memberId!),
        instruction.purpose,
        Date.now() + 365 * 86_400_000,
      )
      .then(() => process.send!({ roundId: '', uploaded: false, error: null }))
      .catch((error: Error) =>
        process.send!({ roundId: '', uploaded: false, error: error.message }),
      );
    return;
  }
  if (instruction.kind === 'revoke-consent') {
    ledger
      .revokeConsent(instruction.consentId)
      .then(() => process.send!({ roundId: '', uploaded: false, error: null }))
      .catch((error: Error) =>
        process.send!({ roundId: '', uploaded: false, error: error.message }),
      );
    return;
  }
  const global = Float64Array.from(instruction.weights);
  const local = trainLocally(global, data, 20, 0.5);
  const update = Float32Array.from(local, (weight, j) => weight - global[j]!);
  // The training slot of the bank's re-run journal: the global model it trained from. A
  // coordinator re-running a round gets no second update trained from the same model, not even
  // a retrained near copy whose bytes differ (sdk/unmask-journal.ts).
  const trainedFrom = `global-model-sha256:${createHash('sha256').update(Buffer.from(global.buffer)).digest('hex')}`;
  // A CKKS round has one step, the encrypted upload: a bank that drops at any phase never uploads.
  const participation =
    instruction.mode === 'ckks'
      ? ckksClient.participateCkks(instruction.roundId, update, {
          ...(instruction.dropBefore ? { dropBefore: 'masked-input' as const } : {}),
          waitForResult: false,
          threads: 1,
          trainedFrom,
        })
      : client.participate(instruction.roundId, update, {
          ...(instruction.dropBefore ? { dropBefore: instruction.dropBefore } : {}),
          waitForResult: false,
          trainedFrom,
        });
  participation
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
  ckksClient.close();
  opened.close();
  process.exit(0);
});
