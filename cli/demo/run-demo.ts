import { hashFields } from '../../crypto/commitment.ts';
import { toHex } from '../../crypto/bytes.ts';
import { nativeCurve25519 as curve } from '../../crypto/curve25519-native.ts';
import { dequantizeSum, quantize, type QuantizationParams } from '../../crypto/quantize.ts';
import { seededRandom } from '../../crypto/random.ts';
import { createRoundContext } from '../../crypto/secagg/config.ts';
import { SecAggError } from '../../crypto/secagg/errors.ts';
import { type DropoutPhase, simulateRound } from '../../crypto/secagg/simulation.ts';
import { BANKS, FEATURE_NAMES, generateDataset } from './fraud-data.ts';
import { accuracy, trainLocally } from './logistic-regression.ts';

export interface DemoOptions {
  readonly rounds: number;
  readonly seed: number;
  readonly dropoutRate: number;
  /**
   * Drop banks beyond what a round tolerates (default false: the demo caps dropouts at the
   * round's threat model so its rounds complete). True shows what an aborted round looks like.
   */
  readonly dropBeyondThreshold?: boolean;
  /** secagg (default): masked sums; ckks: encrypted sums decrypted by 3 of 5 keyholders. */
  readonly mode?: 'secagg' | 'ckks';
  /** embedded (default): a SQLite file; fabric: a Fabric network the demo starts and stops. */
  readonly ledger?: 'embedded' | 'fabric';
  /**
   * Embedded ledger: keep the ledger and the development PKI here when the demo ends (replacing
   * what an earlier run kept), with a config that opens the compliance console on them.
   */
  readonly keepDirectory?: string;
}

export interface DemoRound {
  readonly round: number;
  readonly included: string[];
  readonly dropouts: string[];
  readonly aborted: string | null;
  readonly secureAccuracy: number;
  readonly plaintextAccuracy: number;
  readonly maxWeightDifference: number;
  readonly participantSetHash: string;
  readonly aggregateHash: string | null;
}

const PHASES: DropoutPhase[] = ['advertise-keys', 'share-keys', 'masked-input', 'unmasking'];

/**
 * FedAvg of a fraud model across five banks, every round aggregated with SecAgg+ (in-process,
 * real cryptography) next to the same training aggregated in the clear. Both see the same
 * dropouts; their models must agree to quantization precision.
 */
export function runDemo(options: DemoOptions, report: (round: DemoRound) => void): DemoRound[] {
  const dimension = FEATURE_NAMES.length + 1;
  const banks = BANKS.map((bank, i) => ({
    ...bank,
    data: generateDataset(bank.transactions, bank.shift, options.seed * 100 + i),
  }));
  const testSet = generateDataset(
    4000,
    new Array<number>(FEATURE_NAMES.length).fill(0),
    options.seed * 100 + 99,
  );
  // Local updates stay well inside ±8; 20-bit levels give a step of 1.5e-5, and 5 × (2^20 − 1) < 2^24.
  const quantization: QuantizationParams = { clipRange: 8, levelBits: 20, modulusBits: 24 };
  const random = seededRandom(options.seed);
  const identitySecretKeys = banks.map(() => random(32));
  const identityKeys = identitySecretKeys.map((key) => curve.ed25519PublicKey(key));
  const uniform = () => random(1)[0]! / 256;

  let secure = new Float64Array(dimension);
  let plaintext = new Float64Array(dimension);
  const rounds: DemoRound[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    const context = createRoundContext({
      roundId: `demo-fraud-model/round-${round}`,
      paramsHash: random(32),
      // One colluder among five against a semi-malicious server: t > (n + γn)/2; one may drop.
      minContributors: banks.length - 1,
      clients: banks.length,
      threshold: 4,
      degree: banks.length - 1,
      graphSeed: random(32),
      dimension,
      quantization,
      adversary: 'semi-malicious',
      identityKeys,
    });
    const dropouts = new Map<number, DropoutPhase>();
    for (let index = 1; index <= banks.length; index++) {
      if (uniform() < options.dropoutRate)
        dropouts.set(index, PHASES[Math.floor(uniform() * PHASES.length)]!);
    }
    if (options.dropBeyondThreshold !== true) {
      // The round is sized for one dropout (min contributors 4 of 5), as the process demo's are:
      // more are outside its threat model and abort it, so the demo drops no more than that.
      const tolerated = banks.length - context.config.minContributors;
      for (const bank of [...dropouts.keys()].slice(tolerated)) dropouts.delete(bank);
    }
    const secureUpdates = banks.map((bank) =>
      delta(trainLocally(secure, bank.data, 20, 0.5), secure),
    );
    const plainUpdates = banks.map((bank) =>
      delta(trainLocally(plaintext, bank.data, 20, 0.5), plaintext),
    );
    const inputs = secureUpdates.map((update) => quantize(update, quantization, random));

    let included: number[] = [];
    let aborted: string | null = null;
    let aggregateHash: string | null = null;
    try {
      const { result } = simulateRound({
        context,
        identitySecretKeys,
        inputs,
        dropouts,
        curve,
        random,
      });
      included = [...result.included];
      const sum = dequantizeSum(result.sum, included.length, quantization);
      secure = secure.map((weight, j) => weight + sum[j]! / included.length);
      const plainMean = new Float64Array(dimension);
      for (const index of included)
        plainUpdates[index - 1]!.forEach((value, j) => (plainMean[j]! += value / included.length));
      plaintext = plaintext.map((weight, j) => weight + plainMean[j]!);
      aggregateHash = toHex(
        hashFields(
          'veilsum/v1/aggregate',
          context.config.roundId,
          new Uint8Array(result.sum.buffer),
        ),
      );
    } catch (error) {
      if (!(error instanceof SecAggError)) throw error;
      aborted = error.message; // both models stay unchanged, as a real aborted round would leave them
    }
    const entry: DemoRound = {
      round,
      included: included.map((index) => banks[index - 1]!.name),
      dropouts: [...dropouts].map(([index, phase]) => `${banks[index - 1]!.name}@${phase}`),
      aborted,
      secureAccuracy: accuracy(secure, testSet),
      plaintextAccuracy: accuracy(plaintext, testSet),
      maxWeightDifference: Math.max(...secure.map((weight, j) => Math.abs(weight - plaintext[j]!))),
      participantSetHash: toHex(
        hashFields('veilsum/v1/participants', context.config.roundId, included.join(',')),
      ),
      aggregateHash,
    };
    rounds.push(entry);
    report(entry);
  }
  return rounds;
}

function delta(local: Float64Array, global: Float64Array): Float64Array {
  return local.map((weight, j) => weight - global[j]!);
}
