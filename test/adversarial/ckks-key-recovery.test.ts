import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, createPrivateKey } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  packCiphertext,
  packPartialDecryptionWords,
  unpackCiphertext,
  wireLength,
  wireResidueWords,
} from '../../crypto/ckks/ciphertext-wire.ts';
import {
  proofRange,
  verifyUploadProofs,
  type ProofStatement,
} from '../../crypto/ckks/encryption-proof.ts';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { keySha256 } from '../../crypto/ckks/key-ceremony.ts';
import { SUM_8192 } from '../../crypto/ckks/parameters.ts';
import { integerPolynomialToNtt } from '../../crypto/ckks/rns.ts';
import { signUploadReceipt } from '../../crypto/ckks/upload-receipt.ts';
import { nativeCurve25519 } from '../../crypto/curve25519-native.ts';
import { parseCiphertext, serializeCiphertext } from '../../crypto/ckks/seal-serialization.ts';
import { seededRandom } from '../../crypto/random.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { CkksServiceClient, type EncryptedUploadReceipt } from '../../proto/gen/veilsum/v1/ckks.ts';
import { type Round, type RoundParams } from '../../proto/gen/veilsum/v1/round.ts';
import { ckksRoundParams } from '../support/ckks-round-params.ts';
import { ceremonyInProcess } from '../support/ckks-keys.ts';
import { startKeyholders } from '../../cli/demo/ckks-services.ts';
import { tlsChannel } from '../../sdk/grpc-channel.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { CkksEncryptPool } from '../../sdk/compute/ckks-encrypt-pool.ts';
import { decodeProofList } from '../../services/coordinator/ckks-round.ts';
import {
  ADMIN,
  type Consortium,
  CoordinatorProcess,
  createConsortium,
} from '../support/consortium.ts';

/**
 * The key-recovery attack on threshold CKKS (issue 11): a member uploads a ciphertext whose c1 is
 * not an encryption's (c0 = 0, c1 = Δ·X^j), so the published sum c0 + c1·s = Δ·X^j·s hands it
 * the collective secret. With verified encryption every such upload is refused at the
 * coordinator by the proof check, over real gRPC, before anything is added or stored. Each
 * variant's attacker does the best it can without a witness: it encrypts an honest update with
 * the SDK's prover, then swaps its crafted ciphertext into the proved batch (or attaches another
 * member's proof). Without the proof check (today's main) every one of these uploads is accepted.
 */
const DIM = 10_000; // two ciphertexts, one proof batch
const MODEL = 'key-recovery';
const DELTA = 2n ** BigInt(SUM_8192.scaleBits);

let consortium: Consortium;
let coordinator: CoordinatorProcess;
let stopKeyholders: () => void = () => undefined;
let collectiveKey: Uint8Array;
let ledgerFile: EmbeddedLedgerDatabase;
let admin: VeilsumClient;
let engine: CkksEngine;
let pool: CkksEncryptPool;
let roundNumber = 0;

function ckksParams(): RoundParams {
  roundNumber++;
  return ckksRoundParams({
    modelId: MODEL,
    roundNumber,
    dimension: DIM,
    members: consortium.members,
    minContributors: 2,
  });
}

const honestUpdate = (seed: number) =>
  Float32Array.from({ length: DIM }, (_, i) => Math.sin(seed * 7919 + i) * 0.9);

/** What the SDK would send for `member`: ciphertexts and their proofs, bound to this round. */
async function honestUpload(round: Round, member: string, seed: number) {
  const statement: ProofStatement = {
    roundId: round.roundId,
    paramsHash: round.paramsHash,
    keySha256: keySha256(collectiveKey),
    memberId: member,
    totalCiphertexts: 2,
  };
  return pool.encryptAll(honestUpdate(seed), statement);
}

/**
 * A full ciphertext (c0, c1) from integer polynomials (coefficient form), on the wire (the
 * coordinator takes full ciphertexts as well as the SDK's compact ones).
 */
let template: Uint8Array | undefined;
function crafted(c0: bigint[], c1: bigint[]): Uint8Array {
  if (!template) {
    const key = engine.loadEncryptionKey(collectiveKey);
    template = engine.encryptWithWitnesses(key, new Float64Array(1), 1, seededRandom(1)).wires[0]!;
    key.delete();
  }
  const parsed = parseCiphertext(unpackCiphertext(template, engine.expectations));
  const { moduli, tables } = engine.dataRns;
  const data = new BigUint64Array(parsed.data.length);
  data.set(integerPolynomialToNtt(c0, moduli, tables), 0);
  data.set(integerPolynomialToNtt(c1, moduli, tables), c0.length * moduli.length);
  return packCiphertext(serializeCiphertext({ ...parsed, data }, parsed.version), moduli);
}

/**
 * A compact ciphertext's body: c1 as a one-polynomial wire body (the layout of a partial
 * decryption's), then the rounded c0 (ciphertext-wire.ts, `CompactC0`).
 */
const c1End = () => wireLength(engine.expectations, 1);

/** An honest (compact) ciphertext's c0 with a crafted c1 (integer coefficients). */
function withC1(honest: Uint8Array, c1: bigint[]): Uint8Array {
  const words = new Uint32Array(2 * engine.dataRns.moduli.length * SUM_8192.polyModulusDegree);
  wireResidueWords(crafted(zero(), c1), engine.expectations, 1, words);
  const out = honest.slice();
  out.set(packPartialDecryptionWords(words, engine.expectations).subarray(54), 54);
  return out;
}

/** c1 as another (compact) ciphertext's c1, with a c0 of the attacker's choosing (here: zero). */
function withForeignC1(victim: Uint8Array): Uint8Array {
  const out = victim.slice();
  out.fill(0, c1End());
  return out;
}

const monomial = (position: number, coefficient: bigint): bigint[] => {
  const poly = new Array<bigint>(SUM_8192.polyModulusDegree).fill(0n);
  poly[position] = coefficient;
  return poly;
};
const zero = () => new Array<bigint>(SUM_8192.polyModulusDegree).fill(0n);

/** The member's signature on its upload receipt (as the SDK makes it). */
function receiptSignature(member: string, round: Round, wires: readonly Uint8Array[]): Buffer {
  const jwk = createPrivateKey(readFileSync(consortium.profile(member, 0).privateKey)).export({
    format: 'jwk',
  });
  const digest = createHash('sha256');
  for (const wire of wires) digest.update(wire);
  return Buffer.from(
    signUploadReceipt(
      nativeCurve25519,
      new Uint8Array(Buffer.from(jwk.d!, 'base64url')),
      round.roundId,
      round.paramsHash,
      new Uint8Array(digest.digest()),
    ),
  );
}

/** Header, ciphertexts, then each proof after its batch: what the coordinator expects. */
function rawUpload(
  member: string,
  round: Round,
  wires: readonly Uint8Array[],
  proofs: readonly Uint8Array[],
): Promise<EncryptedUploadReceipt> {
  const roundId = round.roundId;
  const { credentials, channelOptions } = tlsChannel(consortium.profile(member, coordinator.port));
  const client = new CkksServiceClient(
    `127.0.0.1:${coordinator.port}`,
    credentials,
    channelOptions,
  );
  return new Promise<EncryptedUploadReceipt>((resolve, reject) => {
    const stream = client.uploadEncrypted((error, value) => {
      client.close();
      if (error) reject(error);
      else resolve(value);
    });
    stream.write({
      content: {
        $case: 'header',
        value: {
          roundId,
          ciphertexts: wires.length,
          keySha256: Buffer.from(keySha256(collectiveKey)),
          receiptSignature: receiptSignature(member, round, wires),
        },
      },
    });
    if (proofs.length === 0)
      for (const wire of wires)
        stream.write({ content: { $case: 'ciphertext', value: Buffer.from(wire) } });
    for (const proof of proofs) {
      const { first, count } = proofRange(proof);
      for (const wire of wires.slice(first, first + count))
        stream.write({ content: { $case: 'ciphertext', value: Buffer.from(wire) } });
      for (let offset = 0; offset < proof.length; offset += 1 << 20)
        stream.write({
          content: {
            $case: 'proof',
            value: Buffer.from(proof.subarray(offset, offset + (1 << 20))),
          },
        });
    }
    stream.end();
  });
}

async function expectRefused(upload: Promise<EncryptedUploadReceipt>, round: Round) {
  const error = (await upload.catch((e: unknown) => e)) as grpc.ServiceError;
  expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(error.details).toMatch(/^ciphertexts? [01](–1)?: the encryption proof does not verify/);
  // Nothing was added: the round still waits for every member.
  const status = await admin.getRound(round.roundId);
  expect(status.masked).toEqual([]);
}

beforeAll(async () => {
  consortium = await createConsortium(3, 'kra', { keyholders: 3, ledger: true });
  const started = await startKeyholders(consortium.local, 2, SUM_8192.name);
  stopKeyholders = () => {
    for (const { child } of started.keyholders.values())
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  collectiveKey = started.key.publicKey;
  consortium.config = { ...consortium.config, ckks: { keyFile: started.keyFile } };
  coordinator = await CoordinatorProcess.start(consortium);
  ledgerFile = new EmbeddedLedgerDatabase(
    join(consortium.directory, 'ledger.db'),
    readFileSync(consortium.pki.caCertificatePath),
  );
  for (const [i, member] of consortium.members.entries()) {
    await new Ledger(ledgerFile.as(consortium.local.ledgerWriter(member))).grantConsent(
      `consent-${member}`,
      `transactions-${i + 1}`,
      MODEL,
      Date.now() + 86_400_000,
    );
  }
  admin = VeilsumClient.connect(consortium.profile(ADMIN, coordinator.port));
  engine = await CkksEngine.create(SUM_8192);
  pool = await CkksEncryptPool.create(SUM_8192.name, collectiveKey, 2);
}, 180_000);

afterAll(async () => {
  await pool?.close();
  admin?.close();
  await coordinator?.stop();
  stopKeyholders();
  ledgerFile?.close();
});

describe('key recovery through crafted ciphertexts is refused at upload by the encryption proof', () => {
  const attacker = () => consortium.members[0]!;
  const victim = () => consortium.members[1]!;

  /** The attacker's honest batch with ciphertext 0 replaced by `forge(honest ciphertext 0)`. */
  async function attack(forge: (honest: Uint8Array) => Uint8Array) {
    const round = await admin.openRound(ckksParams());
    const { wires, proofs } = await honestUpload(round, attacker(), 1);
    const forged = [forge(wires[0]!), wires[1]!];
    return { round, upload: rawUpload(attacker(), round, forged, proofs) };
  }

  it('refuses c0 = 0, c1 = Δ·X^j (the published sum would be Δ·X^j·s: the secret key)', async () => {
    const { round, upload } = await attack(() => crafted(zero(), monomial(17, DELTA)));
    await expectRefused(upload, round);
  }, 120_000);

  it('refuses c0 = 0, c1 = Δ·X^{N/2}', async () => {
    const { round, upload } = await attack(() =>
      crafted(zero(), monomial(SUM_8192.polyModulusDegree / 2, DELTA)),
    );
    await expectRefused(upload, round);
  }, 120_000);

  it('refuses c1 scaled down below any bound on the result (c1 = 2^40·X^j)', async () => {
    const { round, upload } = await attack(() => crafted(zero(), monomial(5, 2n ** 40n)));
    await expectRefused(upload, round);
  }, 120_000);

  it('refuses a random combination of scaled monomials hidden behind an honest-looking c0', async () => {
    const random = seededRandom(11);
    const { round, upload } = await attack((honest) => {
      const c1 = zero();
      for (let k = 0; k < 16; k++) {
        const [position, scale, sign] = random(3);
        c1[(position! * 32 + k) % c1.length] =
          (sign! & 1 ? -1n : 1n) * (2n ** BigInt(36 + (scale! % 40)) + BigInt(scale!));
      }
      return withC1(honest, c1);
    });
    await expectRefused(upload, round);
  }, 120_000);

  it("refuses an honest c1 copied from another member's upload (with the attacker's own c0)", async () => {
    const round = await admin.openRound(ckksParams());
    const theirs = await honestUpload(round, victim(), 2);
    const mine = await honestUpload(round, attacker(), 1);
    const forged = [withForeignC1(theirs.wires[0]!), mine.wires[1]!];
    await expectRefused(rawUpload(attacker(), round, forged, mine.proofs), round);
  }, 120_000);

  it("refuses another member's whole upload replayed with its proof (the proof names its member)", async () => {
    const round = await admin.openRound(ckksParams());
    const theirs = await honestUpload(round, victim(), 2);
    await expectRefused(rawUpload(attacker(), round, theirs.wires, theirs.proofs), round);
  }, 120_000);

  it('refuses compact ciphertexts cut short, overlong, with a rounded c0 or a c1 residue out of range (INVALID_ARGUMENT, nothing added)', async () => {
    const round = await admin.openRound(ckksParams());
    const mine = await honestUpload(round, attacker(), 1);
    const honest = mine.wires[0]!;
    const overlong = new Uint8Array(honest.length + 1);
    overlong.set(honest);
    // The last 35-bit rounded c0 coefficient all ones: 2^35 − 1 > round((q0 − 1)/2^17).
    const outOfRange = honest.slice();
    outOfRange.fill(0xff, honest.length - 5);
    // c1's first residue with every bit set: 2^52 − 1 ≥ q0.
    const unreduced = honest.slice();
    unreduced.fill(0xff, 54, 58);
    const highs = 54 + 4 * 2 * SUM_8192.polyModulusDegree;
    unreduced[highs] = 0xff;
    unreduced[highs + 1] = 0xff;
    unreduced[highs + 2] = unreduced[highs + 2]! | 0x0f;
    for (const [bad, message] of [
      [honest.subarray(0, honest.length - 1), /is \d+ bytes; the round's parameters give/],
      [overlong, /is \d+ bytes; the round's parameters give/],
      [outOfRange, /rounded c0 coefficient 8191 is 34359738367, above/],
      [unreduced, /residue 0 of polynomial 0, prime 0 is not reduced/],
    ] as const) {
      const error = (await rawUpload(attacker(), round, [bad, mine.wires[1]!], mine.proofs).catch(
        (e: unknown) => e,
      )) as grpc.ServiceError;
      expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(error.details).toMatch(message);
    }
    expect((await admin.getRound(round.roundId)).masked).toEqual([]);
  }, 120_000);

  it('refuses an upload without its proof', async () => {
    const round = await admin.openRound(ckksParams());
    const mine = await honestUpload(round, attacker(), 1);
    const error = (await rawUpload(attacker(), round, mine.wires, []).catch(
      (e: unknown) => e,
    )) as grpc.ServiceError;
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/ciphertexts 0–1: no complete encryption proof arrived/);
  }, 120_000);

  it('accepts honest uploads with their proofs, from the SDK and raw', async () => {
    const round = await admin.openRound(ckksParams());
    const mine = await honestUpload(round, attacker(), 1);
    const receipt = await rawUpload(attacker(), round, mine.wires, mine.proofs);
    expect(receipt.ciphertexts).toBe(2);
    const member = VeilsumClient.connect({
      ...consortium.profile(victim(), coordinator.port),
      ledger: new Ledger(ledgerFile.as(consortium.local.ledgerWriter(victim()))),
      threatModel: { minimumDropoutRate: 0.5 }, // rounds of 2 of 3 in this fixture
    });
    try {
      const result = await member.participateCkks(round.roundId, honestUpdate(2), {
        expectedKeySha256: keySha256(collectiveKey),
        threads: 1,
        waitForResult: false,
      });
      expect(result.included).toBe(true);
    } finally {
      member.close();
    }
    const status = await admin.getRound(round.roundId);
    expect(status.masked).toEqual([1, 2]);

    // The coordinator kept each accepted upload's proofs beside it; re-verifying them from disk
    // (what keyholders do before they decrypt) passes for the member they name, and only for it.
    const blobs = readdirSync(join(consortium.directory, 'data'), { recursive: true })
      .map(String)
      .filter((path) => path.endsWith('upload-1.ckks'))
      .map((path) => join(consortium.directory, 'data', path));
    // Every other upload in this file was refused: this round's is the only one on disk.
    expect(blobs).toHaveLength(1);
    const stored = new Uint8Array(readFileSync(blobs[0]!));
    const size = stored.length / 2;
    const wires = [stored.subarray(0, size), stored.subarray(size)];
    const proofs = decodeProofList(new Uint8Array(readFileSync(`${blobs[0]!}.proofs`)));
    const key = engine.loadEncryptionKey(collectiveKey);
    const statement = (memberId: string): ProofStatement => ({
      roundId: round.roundId,
      paramsHash: round.paramsHash,
      keySha256: keySha256(collectiveKey),
      memberId,
      totalCiphertexts: 2,
    });
    expect(() =>
      verifyUploadProofs(engine, key, statement(attacker()), wires, proofs),
    ).not.toThrow();
    expect(() => verifyUploadProofs(engine, key, statement(victim()), wires, proofs)).toThrow(
      /does not verify/,
    );
    key.delete();
  }, 180_000);
});

/**
 * The SDK keeps the collective key between rounds (it fetched ~393 KB a member a round), by the
 * hash its OWN ledger view names for the round (RoundOpened's manifest), and recomputes that hash
 * from the key it holds before using it. The coordinator is played at the member's stub: once the
 * member holds the key, it serves another key for a round — with that key under the cached
 * hash in the member's cache too (what a cache keyed by the served or stored hash would take).
 */
describe("a member's cached collective key", () => {
  it('is fetched once per key, and a key other than the one its ledger names is refused even under the cached hash', async () => {
    const memberId = consortium.members[2]!;
    const member = VeilsumClient.connect({
      ...consortium.profile(memberId, coordinator.port),
      ledger: new Ledger(ledgerFile.as(consortium.local.ledgerWriter(memberId))),
      threatModel: { minimumDropoutRate: 0.5 },
    });
    type Done = (error: grpc.ServiceError | null, value?: unknown) => void;
    const inside = member as unknown as {
      ckks: { getEncryptionKey: (r: { roundId: string }, m: unknown, o: unknown, d: Done) => void };
      ckksKeys: Map<string, Uint8Array>;
    };
    const real = inside.ckks.getEncryptionKey.bind(inside.ckks);
    let fetches = 0;
    let served: Uint8Array | undefined;
    inside.ckks.getEncryptionKey = (request, metadata, options, done) => {
      fetches++;
      if (served === undefined) {
        real(request, metadata, options, done);
        return;
      }
      done(null, {
        roundId: request.roundId,
        parameterSet: SUM_8192.name,
        publicKey: Buffer.from(served),
        keySha256: Buffer.from(keySha256(served)),
        ciphertexts: 2,
        valuesPerCiphertext: SUM_8192.polyModulusDegree,
      });
    };
    const participate = async (seed: number) => {
      const round = await admin.openRound(ckksParams());
      const result = await member
        .participateCkks(round.roundId, honestUpdate(seed), { threads: 1, waitForResult: false })
        .catch((error: unknown) => error as Error);
      return { round, result };
    };
    const hash = Buffer.from(keySha256(collectiveKey)).toString('hex');
    try {
      const first = await participate(31);
      expect(first.result).toMatchObject({ included: true });
      expect(fetches).toBe(1);
      expect([...inside.ckksKeys.keys()]).toEqual([hash]);
      // The next round under the same key: no fetch, the upload accepted.
      const second = await participate(32);
      expect(second.result).toMatchObject({ included: true });
      expect(fetches).toBe(1);
      expect((await admin.getRound(second.round.roundId)).masked).toContain(3);

      // The coordinator's key, under the hash the member keeps and served for the round.
      const other = ceremonyInProcess(engine, 3, 2, 99).publicKey;
      inside.ckksKeys.set(hash, other);
      served = other;
      const third = await participate(33);
      expect(third.result).toBeInstanceOf(Error);
      expect((third.result as Error).message).toMatch(
        /served a public key that is not the round's collective key/,
      );
      expect(fetches).toBe(2);
      expect((await admin.getRound(third.round.roundId)).masked).toEqual([]);
    } finally {
      member.close();
    }
  }, 240_000);
});
