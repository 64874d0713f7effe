import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { dealKeyShare, ceremonyReferencePolynomial } from '../../crypto/ckks/key-ceremony.ts';
import { floodingSigmaFor, parameterSetNamed } from '../../crypto/ckks/parameters.ts';
import { seededRandom } from '../../crypto/random.ts';
import {
  CeremonyCheck,
  CeremonyCheckRequest,
  CeremonyDealing,
  CeremonyDealRequest,
  CeremonyFinishRequest,
  CeremonyJoin,
  type CeremonyPlan,
} from '../../proto/gen/veilsum/v1/ckks.ts';
import { KeyholderCeremony } from '../../services/keyholder/ceremony.ts';
import { createDevPki } from '../../services/pki/dev-ca.ts';

/**
 * What the ceremony's defences against active keyholders cost (commitments, proofs of knowledge,
 * dealer test decryptions): the real KeyholderCeremony of n keyholders run step by step in this
 * process (no gRPC, so the times are CPU per keyholder, not queueing), and the bytes of every
 * message as the proto encodes it. `dealOnlyMs` is what a dealing cost before (sample s_i, e_i,
 * Shamir-share s_i), for comparison.
 *
 *   npm exec -- node benchmarks/ckks/ceremony.ts --keyholders 5 --threshold 3
 */
const { values: args } = parseArgs({
  options: {
    keyholders: { type: 'string', default: '3' },
    threshold: { type: 'string', default: '2' },
    params: { type: 'string', default: 'sum-8192' },
  },
});
const n = Number(args.keyholders);
const threshold = Number(args.threshold);
const set = parameterSetNamed(args.params);
const engine = await CkksEngine.create(set);
const directory = mkdtempSync(join(tmpdir(), 'veilsum-bench-ceremony-'));
try {
  const ids = Array.from({ length: n }, (_, i) => `keyholder-${i + 1}`);
  const pki = await createDevPki(directory, [], ids);
  const caPem = readFileSync(pki.caCertificatePath, 'utf8');
  const sigma = floodingSigmaFor(set, threshold, 5e-5);
  const keyholders = ids.map((keyholderId) => {
    const issued = pki.keyholders[keyholderId]!;
    const jwk = createPrivateKey(readFileSync(issued.privateKeyPath)).export({ format: 'jwk' });
    return new KeyholderCeremony(
      {
        keyholderId,
        certificatePem: readFileSync(issued.certificatePath, 'utf8'),
        signingKey: new Uint8Array(Buffer.from(jwk.d!, 'base64url')),
        caPem,
      },
      () => Promise.resolve(engine),
      () => sigma,
    );
  });
  const plan: CeremonyPlan = {
    ceremonyId: 'bench',
    parameterSet: set.name,
    seed: Buffer.alloc(32, 7),
    threshold,
    keyholders: ids.map((keyholderId, i) => ({ keyholderId, index: i + 1 })),
  };
  const timed = async <T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> => {
    const started = performance.now();
    const value = await run();
    return { value, ms: performance.now() - started };
  };
  const steps = { joinMs: [] as number[], dealMs: [] as number[], checkMs: [] as number[] };
  const finishMs: number[] = [];
  const joins: CeremonyJoin[] = [];
  for (const keyholder of keyholders) {
    const { value, ms } = await timed(() => keyholder.join(plan));
    joins.push(value);
    steps.joinMs.push(ms);
  }
  const dealings: CeremonyDealing[] = [];
  for (const keyholder of keyholders) {
    const { value, ms } = await timed(() => keyholder.deal(plan, joins));
    dealings.push(value);
    steps.dealMs.push(ms);
  }
  const checks: CeremonyCheck[] = [];
  for (const keyholder of keyholders) {
    const { value, ms } = await timed(() => keyholder.check(plan, joins, dealings));
    checks.push(value);
    steps.checkMs.push(ms);
  }
  let keySha256 = '';
  for (const keyholder of keyholders) {
    const { value, ms } = await timed(() => keyholder.finish(plan, checks));
    keySha256 = Buffer.from(value.keySha256).toString('hex');
    finishMs.push(ms);
  }
  const a = ceremonyReferencePolynomial(engine.keyRns, plan.seed);
  const before = performance.now();
  dealKeyShare(
    a,
    engine.keyRns,
    engine.dataRns,
    threshold,
    plan.keyholders.map((k) => k.index),
    seededRandom(1),
  );
  const dealOnlyMs = performance.now() - before;
  const bytes = {
    join: CeremonyJoin.encode(joins[0]!).finish().length,
    dealing: CeremonyDealing.encode(dealings[0]!).finish().length,
    proof: dealings[0]!.publicShareProof.length,
    check: Math.max(...checks.map((c) => CeremonyCheck.encode(c).finish().length)),
    // What the relay sends each keyholder, step by step.
    dealRequest: CeremonyDealRequest.encode({ plan, joins }).finish().length,
    checkRequest: CeremonyCheckRequest.encode({ plan, joins, dealings }).finish().length,
    finishRequest: CeremonyFinishRequest.encode({ plan, checks, answers: [] }).finish().length,
  };
  const relayedBytes =
    n * (bytes.dealRequest + bytes.checkRequest + bytes.finishRequest) +
    joins.length * bytes.join +
    dealings.reduce((sum, d) => sum + CeremonyDealing.encode(d).finish().length, 0) +
    checks.reduce((sum, c) => sum + CeremonyCheck.encode(c).finish().length, 0);
  const mean = (xs: number[]) => Math.round(xs.reduce((s, x) => s + x, 0) / xs.length);
  console.log(
    JSON.stringify({
      keyholders: n,
      threshold,
      parameterSet: set.name,
      keySha256,
      perKeyholderMs: {
        join: mean(steps.joinMs),
        deal: mean(steps.dealMs),
        check: mean(steps.checkMs),
        finish: mean(finishMs),
      },
      dealOnlyMs: Math.round(dealOnlyMs),
      bytes,
      relayedBytes,
    }),
  );
} finally {
  rmSync(directory, { recursive: true, force: true });
}
