import type { Dataset } from './fraud-data.ts';

/**
 * Plain logistic regression with full-batch gradient descent: the local trainer each bank runs.
 * Weights are [w_1..w_m, intercept].
 */
export function predict(weights: Float64Array, x: Float64Array): number {
  let logit = weights[x.length]!;
  for (let j = 0; j < x.length; j++) logit += weights[j]! * x[j]!;
  return 1 / (1 + Math.exp(-logit));
}

export function trainLocally(
  start: Float64Array,
  data: Dataset,
  epochs: number,
  learningRate: number,
): Float64Array {
  const weights = start.slice();
  const m = weights.length - 1;
  const gradient = new Float64Array(weights.length);
  for (let epoch = 0; epoch < epochs; epoch++) {
    gradient.fill(0);
    data.features.forEach((x, row) => {
      const error = predict(weights, x) - data.labels[row]!;
      for (let j = 0; j < m; j++) gradient[j]! += error * x[j]!;
      gradient[m]! += error;
    });
    for (let j = 0; j <= m; j++)
      weights[j]! -= (learningRate * gradient[j]!) / data.features.length;
  }
  return weights;
}

export function accuracy(weights: Float64Array, data: Dataset): number {
  let correct = 0;
  data.features.forEach((x, row) => {
    if ((predict(weights, x) >= 0.5 ? 1 : 0) === data.labels[row]) correct++;
  });
  return correct / data.features.length;
}
