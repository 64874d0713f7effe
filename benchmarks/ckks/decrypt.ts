/**
 * Threshold decryption alone, for profiling (`--cpu-prof`): one aggregate of `--dim` values, t
 * partial decryptions and the combine, each timed in CPU ms and wall ms.
 *   npm exec -- node benchmarks/ckks/decrypt.ts --dim 1000000 [--runs 3]
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { ceremonyInOneProcess } from '../../crypto/ckks/key-ceremony.ts';
import {
  ciphertextsFor,
  floodingAnalysis,
  parameterSetNamed,
} from '../../crypto/ckks/parameters.ts';
import { seededRandom, systemRandom } from '../../crypto/random.ts';

const { values: args } = parseArgs({
  options: {
    dim: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '3' },
    params: { type: 'string', default: 'sum-8192' },
  },
});
const dimension = Number(args.dim);
const set = parameterSetNamed(args.params);
const engine = await CkksEngine.create(set);
const random = seededRandom(7);
const { publicKey, shares } = ceremonyInOneProcess(engine, 5, 3, random);
const key = engine.loadEncryptionKey(publicKey);
const total = ciphertextsFor(set, dimension);
const values = Float64Array.from({ length: dimension }, (_, i) => Math.sin(i));
const sum = engine.newSum(total);
sum.add(engine.encryptWithWitnesses(key, values, total, random).wires);
const aggregate = sum.result();
const responders = [1, 2, 3];
const sigma = floodingAnalysis(set, 3, 5e-5, {
  rounds: 1000,
  ciphertextsPerRound: total,
  contributors: 10,
  keyholders: 5,
}).sigma;
const measure = <T>(work: () => T): [T, number, number] => {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const result = work();
  const used = process.cpuUsage(cpu);
  return [result, performance.now() - start, (used.user + used.system) / 1000];
};
for (let run = 0; run < Number(args.runs); run++) {
  const partialTimes: string[] = [];
  const partials = responders.map((index) => {
    const [partial, wall, cpu] = measure(() =>
      engine.partialDecrypt(aggregate, shares[index - 1]!, index, responders, sigma, systemRandom),
    );
    partialTimes.push(`${wall.toFixed(0)}/${cpu.toFixed(0)}`);
    return partial;
  });
  const [decoded, wall, cpu] = measure(() => engine.combine(aggregate, partials, dimension));
  let maxError = 0;
  for (let i = 0; i < dimension; i++)
    maxError = Math.max(maxError, Math.abs(decoded[i]! - values[i]!));
  console.log(
    `partials wall/cpu ms ${partialTimes.join(' ')}; combine ${wall.toFixed(0)}/${cpu.toFixed(0)}; ` +
      `maxAbsError ${maxError.toExponential(2)}; load ${loadavg()[0]!.toFixed(2)}`,
  );
}
key.delete();
