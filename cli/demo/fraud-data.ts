import { seededRandom } from '../../crypto/random.ts';

/**
 * Seeded synthetic card-transaction data for the demo: each bank sees a different customer mix
 * (non-IID): its own fraud base rate and shifted feature distributions, over one shared ground
 * truth model of what makes a transaction fraudulent.
 */
export const FEATURE_NAMES = [
  'amount_z',
  'night_time',
  'merchant_risk',
  'distance_from_home',
  'card_not_present',
  'velocity_1h',
  'foreign_country',
  'account_age',
] as const;

/** Ground truth log-odds weights (last entry: intercept). */
const TRUE_WEIGHTS = [1.1, 0.7, 1.4, 0.9, 1.2, 1.0, 0.8, -0.9, -3.2];

export interface Dataset {
  readonly features: Float64Array[];
  readonly labels: Uint8Array;
}

export interface BankProfile {
  readonly name: string;
  readonly transactions: number;
  /** Mean shift per feature: this bank's customers differ. */
  readonly shift: readonly number[];
}

export const BANKS: readonly BankProfile[] = [
  { name: 'Aldbridge', transactions: 1600, shift: [0.4, 0, 0.2, 0, 0.3, 0, 0, 0] },
  { name: 'Brenmoor', transactions: 900, shift: [-0.3, 0.5, 0, 0, 0, 0.2, 0, 0.4] },
  { name: 'Corvale', transactions: 2200, shift: [0, 0, -0.4, 0.6, 0, 0, 0.5, -0.2] },
  { name: 'Dunmere', transactions: 700, shift: [0.2, -0.3, 0, 0, 0.6, 0.4, 0, 0] },
  { name: 'Eastlake', transactions: 1200, shift: [0, 0.2, 0.5, -0.3, 0, 0, -0.4, 0.3] },
];

export function generateDataset(size: number, shift: readonly number[], seed: number): Dataset {
  const gaussian = gaussianSource(seed);
  const uniform = uniformSource(seed + 1_000_003);
  const features: Float64Array[] = [];
  const labels = new Uint8Array(size);
  for (let row = 0; row < size; row++) {
    const x = Float64Array.from(FEATURE_NAMES, (_, j) => gaussian() + (shift[j] ?? 0));
    let logit = TRUE_WEIGHTS[FEATURE_NAMES.length]!;
    for (let j = 0; j < x.length; j++) logit += TRUE_WEIGHTS[j]! * x[j]!;
    labels[row] = uniform() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
    features.push(x);
  }
  return { features, labels };
}

function uniformSource(seed: number): () => number {
  const random = seededRandom(seed);
  return () => {
    const bytes = random(4);
    return new DataView(bytes.buffer, bytes.byteOffset).getUint32(0) / 2 ** 32;
  };
}

function gaussianSource(seed: number): () => number {
  const uniform = uniformSource(seed);
  // Box–Muller.
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}
