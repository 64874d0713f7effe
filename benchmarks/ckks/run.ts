/**
 * A CKKS round in one process, timed per party, against raw node-seal measured in the same run.
 * Usage:
 *   npm run bench:ckks -- --clients 10 --dim 1000000 [--keyholders 5 --threshold 3 --workers 2]
 *                         [--openfhe ~/.cache/veilsum/openfhe/threshold-sum]
 * Clients encrypt and prove one after the other through the worker pool (each would run on its
 * own machine; here they share the cores), the coordinator verifies each upload's encryption
 * proofs and adds it as it arrives, then
 * t keyholders compute partial decryptions (timed one by one: in a deployment they run in
 * parallel on their own machines) and the coordinator combines them.
 * With --services the same round runs through the real services instead: a coordinator process,
 * one process per keyholder (after a real key ceremony), members' SDK clients uploading over
 * mTLS gRPC at the same time; roundMs is then open → decrypted result available.
 * The last line printed is one JSON object; it is also written to benchmarks/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { ceremonyInOneProcess } from '../../crypto/ckks/key-ceremony.ts';
import {
  proofBatches,
  proveEncryptions,
  verifyEncryptionProof,
  verifyUploadProofs,
  type ProofStatement,
} from '../../crypto/ckks/encryption-proof.ts';
import { keySha256 } from '../../crypto/ckks/key-ceremony.ts';
import {
  ciphertextsFor,
  floodingAnalysis,
  parameterSetNamed,
} from '../../crypto/ckks/parameters.ts';
import { seededRandom, systemRandom } from '../../crypto/random.ts';
import { EncryptedUploadHeader, EncryptionKey } from '../../proto/gen/veilsum/v1/ckks.ts';
import { CkksEncryptPool } from '../../sdk/compute/ckks-encrypt-pool.ts';
import { runOpenFheBaseline } from './openfhe-baseline.ts';
import { runServicesRound } from './services-round.ts';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '10' },
    dim: { type: 'string', default: '1000000' },
    keyholders: { type: 'string', default: '5' },
    threshold: { type: 'string', default: '3' },
    workers: { type: 'string', default: String(availableParallelism()) },
    params: { type: 'string', default: 'sum-8192' },
    precision: { type: 'string', default: '5e-5' },
    seed: { type: 'string', default: '42' },
    out: { type: 'string' },
    services: { type: 'boolean', default: false },
    // OpenFHE's threshold-sum binary (benchmarks/ckks/openfhe/build.sh): its 3-party decryption of
    // a sum of the same size runs in this run, on one thread and on every core.
    openfhe: { type: 'string' },
  },
});
const clients = Number(args.clients);
const dimension = Number(args.dim);
const keyholders = Number(args.keyholders);
const threshold = Number(args.threshold);
const workers = Number(args.workers);
const set = parameterSetNamed(args.params);
const random = seededRandom(Number(args.seed));
// CPU time of this process (ms): steadier than wall time on a shared machine (SEAL is
// single-threaded; the worker pool is idle while keyholders decrypt).
const cpuMs = <T>(work: () => T): [T, number] => {
  const start = process.cpuUsage();
  const result = work();
  const used = process.cpuUsage(start);
  return [result, (used.user + used.system) / 1000];
};
const time = <T>(work: () => T): [T, number] => {
  const start = performance.now();
  const result = work();
  return [result, performance.now() - start];
};
const timeAsync = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
  const start = performance.now();
  const result = await work();
  return [result, performance.now() - start];
};

const engine = await CkksEngine.create(set);
const indices = Array.from({ length: keyholders }, (_, i) => i + 1);
// Key ceremony (in a deployment each keyholder deals in parallel, in its own process).
const { publicKey, shares, dealMsPerKeyholder } = ceremonyInOneProcess(
  engine,
  keyholders,
  threshold,
  random,
);

// Raw node-seal, one thread: encode + encrypt + save (uncompressed) with the same parameters and
// SEAL's own CKKSEncoder, which packs N/2 slots per ciphertext (as TenSEAL does).
const encryptor = engine.encryptor(publicKey);
const rawEncoder = new engine.seal.CKKSEncoder(engine.context);
const rawSlots = set.polyModulusDegree / 2;
const rawCount = Math.min(ciphertextsFor(set, dimension), 40);
const perCiphertext = engine.valuesPerCiphertext;
const sample = Float64Array.from({ length: perCiphertext * rawCount }, () => Math.random() * 2 - 1);
const [, rawMs] = time(() => {
  for (let k = 0; k < rawCount; k++) {
    const plain = new engine.seal.Plaintext();
    rawEncoder.encode(sample.subarray(k * rawSlots, (k + 1) * rawSlots), 2 ** set.scaleBits, plain);
    const ct = new engine.seal.Ciphertext();
    encryptor.encrypt(plain, ct);
    ct.saveToArray(engine.seal.ComprModeType.none);
    ct.delete();
    plain.delete();
  }
});
const rawSealParamsPerSec = (rawCount * rawSlots) / (rawMs / 1000);

// The prover and verifier alone, one thread, on one proof batch as the pool cuts it (≤ 128).
const pool = await CkksEncryptPool.create(set.name, publicKey, workers);
const total = ciphertextsFor(set, dimension);
const batch = proofBatches(total)[0]!.count;
const encryptionKey = engine.loadEncryptionKey(publicKey);
const statementFor = (client: number): ProofStatement => ({
  roundId: 'bench/round-1',
  paramsHash: new Uint8Array(32),
  keySha256: keySha256(publicKey),
  memberId: `bank-${client}`,
  totalCiphertexts: total,
});
const { wires: batchWires, witnesses } = engine.encryptWithWitnesses(
  encryptionKey,
  sample.length >= batch * perCiphertext ? sample : new Float64Array(batch * perCiphertext),
  batch,
  systemRandom,
  { compact: engine.expectations.compactC0 !== undefined },
);
const proveRuns: number[] = [];
let batchProof: Uint8Array = new Uint8Array(0);
for (let run = 0; run < 3; run++) {
  const [proof, ms] = time(() =>
    proveEncryptions(
      engine,
      encryptionKey,
      statementFor(0),
      0,
      batchWires,
      witnesses,
      systemRandom,
    ),
  );
  batchProof = proof;
  proveRuns.push(ms);
}
const [, verifyBatchMs] = time(() =>
  verifyEncryptionProof(engine, encryptionKey, statementFor(0), 0, batchWires, batchProof),
);

// Message sizes as they travel: a gRPC frame (5 bytes) around a message of one bytes field.
const varintLength = (value: number) => Math.max(1, Math.ceil(Math.log2(value + 1) / 7));
const framed = (payload: number) => 5 + 1 + varintLength(payload) + payload;
const framedAdd = (sum: number, payload: number) => sum + framed(payload);
const PROOF_PIECE_BYTES = 1 << 20; // sdk/veilsum-client.ts: proofs travel in 1 MiB pieces
const proofPieces = (length: number) =>
  Array.from({ length: Math.ceil(length / PROOF_PIECE_BYTES) }, (_, k) =>
    Math.min(PROOF_PIECE_BYTES, length - k * PROOF_PIECE_BYTES),
  );
// A member fetches the round's key (GetEncryptionKey) once per key: its first round under it.
const keyFetchBytes = framed(
  EncryptionKey.encode({
    roundId: 'bench/round-1',
    parameterSet: set.name,
    publicKey: Buffer.from(publicKey),
    keySha256: Buffer.from(keySha256(publicKey)),
    ciphertexts: total,
    valuesPerCiphertext: perCiphertext,
  }).finish().length,
);
const uploadHeaderBytes = framed(
  EncryptedUploadHeader.encode({
    roundId: 'bench/round-1',
    ciphertexts: total,
    keySha256: Buffer.from(keySha256(publicKey)),
    receiptSignature: Buffer.alloc(64),
  }).finish().length,
);
// A member certificate (PEM) as PrepareDecryption re-sends it with each upload.
const CERTIFICATE_PEM_BYTES = 800;

// The round.
const expected = new Float64Array(dimension);
const sum = engine.newSum(total);
const encryptMs: number[] = [];
const updates: Float32Array[] = [];
let addMs = 0;
let verifyMs = 0;
let wireBytes = 0;
let proofBytes = 0;
// What travels, message by message (gRPC frame + protobuf field), not just the payloads.
let uploadMessageBytes = 0;
let uploadPayloadLengths: number[] = [];
const roundStart = performance.now();
for (let client = 0; client < clients; client++) {
  const bytes = random(4 * dimension);
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, dimension);
  const update = Float32Array.from(words, (w) => (w / 2 ** 32) * 2 - 1);
  if (args.services) updates.push(update);
  for (let i = 0; i < dimension; i++) expected[i] = expected[i]! + update[i]!;
  const [{ wires, proofs }, ms] = await timeAsync(() =>
    pool.encryptAll(update, statementFor(client)),
  );
  encryptMs.push(ms);
  wireBytes += wires.reduce((sum, wire) => sum + wire.length, 0);
  proofBytes += proofs.reduce((sum, proof) => sum + proof.length, 0);
  uploadPayloadLengths = [
    ...wires.map((wire) => wire.length),
    ...proofs.flatMap((proof) => proofPieces(proof.length)),
  ];
  uploadMessageBytes += uploadHeaderBytes + uploadPayloadLengths.reduce(framedAdd, 0);
  verifyMs += time(() =>
    verifyUploadProofs(engine, encryptionKey, statementFor(client), wires, proofs),
  )[1];
  addMs += time(() => sum.add(wires))[1];
}
await pool.close();
const [aggregate, resultMs] = time(() => sum.result());
sum.dispose();
const responders = indices.slice(0, threshold);
const flooding = floodingAnalysis(set, threshold, Number(args.precision), {
  rounds: 1000,
  ciphertextsPerRound: total,
  contributors: clients,
  keyholders,
});
const partialMs: number[] = [];
const partialCpuMs: number[] = [];
const partials = responders.map((index) => {
  const [[partial, cpu], ms] = time(() =>
    cpuMs(() =>
      engine.partialDecrypt(
        aggregate,
        shares[index - 1]!,
        index,
        responders,
        flooding.sigma,
        systemRandom,
      ),
    ),
  );
  partialMs.push(ms);
  partialCpuMs.push(cpu);
  return partial;
});
const [[decoded, combineCpuMs], combineMs] = time(() =>
  cpuMs(() => engine.combine(aggregate, partials, dimension)),
);
// Coordinator ⇄ each responding keyholder per round: PrepareDecryption re-streams every upload
// (certificate, ciphertexts, proofs) for the keyholder to re-verify, PartialDecrypt sends the
// aggregate and the partials come back.
const perKeyholderInBytes =
  clients * (framed(CERTIFICATE_PEM_BYTES + 40) + uploadPayloadLengths.reduce(framedAdd, 0)) +
  aggregate.reduce((sum, ct) => sum + framed(ct.length), 0);
const perKeyholderOutBytes = partials[0]!.reduce((sum, p) => sum + framed(p.length + 4), 0);
const roundMs = performance.now() - roundStart;
let maxAbsError = 0;
for (let i = 0; i < dimension; i++)
  maxAbsError = Math.max(maxAbsError, Math.abs(decoded[i]! - expected[i]!));

// The same round through the services (coordinator, keyholder processes, gRPC uploads).
const services = args.services
  ? await runServicesRound({ clients, updates, keyholders, threshold, set })
  : undefined;
let servicesMaxAbsError = 0;
if (services)
  for (let i = 0; i < dimension; i++)
    servicesMaxAbsError = Math.max(
      servicesMaxAbsError,
      Math.abs(services.result[i]! - expected[i]!),
    );

// OpenFHE on the same machine in the same minutes (its decryption on one thread compares with a
// keyholder's partial and the coordinator's combine here, which are single-threaded).
const openfhe =
  args.openfhe === undefined
    ? undefined
    : {
        oneThread: await runOpenFheBaseline(args.openfhe, clients, dimension, { threads: 1 }),
        allCores: await runOpenFheBaseline(args.openfhe, clients, dimension),
      };

const median = (values: number[]) => [...values].sort((x, y) => x - y)[values.length >> 1]!;
const clientEncryptParamsPerSec = dimension / (median(encryptMs) / 1000);
const round = (value: number, digits = 1) => Number(value.toFixed(digits));
const report = {
  benchmark: 'ckks-round-in-process',
  params: set.name,
  clients,
  dim: dimension,
  keyholders,
  threshold,
  workers,
  floodingSigmaLog2: round(flooding.sigmaLog2, 2),
  // −log2 of the KL divergence over 1 000 rounds of this size, against extracted witnesses of
  // `clients` adversarial members (parameters.ts); honestSecurityBits: against honest noise.
  statSecurityBits: round(flooding.statSecurityBits, 1),
  // The same key life as a statistical distance (Pinsker on the KL, plus the sampler's tail cut).
  statisticalDistanceLog2: round(flooding.statisticalDistanceLog2, 1),
  honestSecurityBits: round(flooding.honestSecurityBits, 1),
  ciphertextsPerUpdate: aggregate.length,
  proofBatch: batch,
  wireBytesPerParam: round(wireBytes / clients / dimension, 2),
  proofBytesPerParam: round(proofBytes / clients / dimension, 2),
  // What one member sends and fetches per round, per parameter: its upload as framed messages
  // (ciphertexts + proofs + header), and the round key (GetEncryptionKey) only when it does not
  // hold it yet. The SDK keeps the key by the hash its own ledger names for the round
  // (sdk/veilsum-client.ts `ckksKeys`), so it fetches it once per key (R = 1 000 rounds):
  // uploadBytesPerParam is a member's second and later rounds under a key, the first round's
  // (with the fetch) is uploadBytesPerParamFirstRound, the fetch alone keyFetchBytes.
  keyFetchBytes,
  uploadBytesPerParam: round(uploadMessageBytes / clients / dimension, 2),
  uploadBytesPerParamFirstRound: round(
    (uploadMessageBytes / clients + keyFetchBytes) / dimension,
    2,
  ),
  // Coordinator → each responding keyholder (uploads re-streamed + aggregate) and back
  // (partials), per round and per parameter of the sum; t keyholders answer.
  keyholderInBytesPerRound: perKeyholderInBytes,
  keyholderOutBytesPerRound: perKeyholderOutBytes,
  keyholderBytesPerParam: round(
    (threshold * (perKeyholderInBytes + perKeyholderOutBytes)) / dimension,
    2,
  ),
  partialBytes: partials[0]!.reduce((sum, p) => sum + p.length, 0),
  // One thread each, one batch of `proofBatch` ciphertexts.
  proveParamsPerSec: Math.round((batch * perCiphertext) / (median(proveRuns) / 1000)),
  verifyParamsPerSec: Math.round((batch * perCiphertext) / (verifyBatchMs / 1000)),
  coordinatorVerifyParamsPerSec: Math.round((clients * dimension) / (verifyMs / 1000)),
  clientEncryptMs: round(median(encryptMs)),
  clientEncryptParamsPerSec: Math.round(clientEncryptParamsPerSec),
  rawSealParamsPerSec: Math.round(rawSealParamsPerSec),
  clientThroughputRatio: round(clientEncryptParamsPerSec / rawSealParamsPerSec, 2),
  addParamsPerSec: Math.round((clients * dimension) / ((addMs + resultMs) / 1000)),
  keyDealMsPerKeyholder: round(dealMsPerKeyholder),
  partialDecryptMs: round(median(partialMs)),
  combineMs: round(combineMs),
  // The same in CPU time of this process: what a keyholder or the coordinator spends.
  partialDecryptCpuMs: round(median(partialCpuMs)),
  combineCpuMs: round(combineCpuMs),
  // Load average while this ran: the machine may be shared.
  loadAverage1m: round(loadavg()[0]!, 2),
  // Keyholders answer in parallel: one partial, then the combination.
  decryptMs: round(median(partialMs) + combineMs),
  roundMs: round(roundMs),
  maxAbsError,
  ...(services
    ? {
        servicesRoundMs: round(services.roundMs),
        servicesVerifyMs: services.verifyMs,
        servicesDecryptMs: services.decryptMs,
        keyholderVerifyMs: services.keyholderVerifyMs,
        keyholderCheckingMs: services.keyholderCheckingMs,
        servicesCpuSeconds: services.cpuSeconds,
        servicesMaxAbsError,
        coordinatorPeakRssMb: services.coordinatorPeakRssMb,
      }
    : {}),
  ...(openfhe ? { openfhe } : {}),
  node: process.version,
};
const out =
  args.out ??
  `benchmarks/results/ckks-n${clients}-d${dimension}-${set.name}-t${threshold}${services ? '-services' : ''}.json`;
mkdirSync('benchmarks/results', { recursive: true });
writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
console.log(
  `${clients} clients × ${dimension} params (${set.name}, ${threshold}-of-${keyholders}): ` +
    `client ${report.clientEncryptMs} ms (${report.clientThroughputRatio}× raw node-seal), ` +
    `${report.wireBytesPerParam} + ${report.proofBytesPerParam} (proof) B/param, upload ${report.uploadBytesPerParam} B/param (${report.uploadBytesPerParamFirstRound} with the key fetch), ` +
    `flooding 2^${report.floodingSigmaLog2} (${report.statSecurityBits} bits), decrypt ${report.decryptMs} ms, round ${report.roundMs} ms, ` +
    `max error ${maxAbsError.toExponential(2)}` +
    (services ? `; through the services: round ${report.servicesRoundMs} ms` : ''),
);
console.log(JSON.stringify(report));
