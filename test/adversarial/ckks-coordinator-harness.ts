import { createHash, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { keySha256 } from '../../crypto/ckks/key-ceremony.ts';
import { ciphertextsFor, SUM_8192 } from '../../crypto/ckks/parameters.ts';
import { signUploadReceipt } from '../../crypto/ckks/upload-receipt.ts';
import {
  isCompactWire,
  packCiphertext,
  unpackCiphertext,
} from '../../crypto/ckks/ciphertext-wire.ts';
import { systemRandom } from '../../crypto/random.ts';
import { integerPolynomialToNtt } from '../../crypto/ckks/rns.ts';
import { parseCiphertext, serializeCiphertext } from '../../crypto/ckks/seal-serialization.ts';
import { nativeCurve25519 } from '../../crypto/curve25519-native.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import type { UploadReceipt } from '../../ledger/records.ts';
import { RoundParams } from '../../proto/gen/veilsum/v1/round.ts';
import { ckksRoundParams } from '../support/ckks-round-params.ts';
import { roundManifest } from '../../services/coordinator/round-params.ts';
import { paramsHash } from '../../proto/round-wire.ts';
import { type RunningKeyholder, startKeyholders } from '../../cli/demo/ckks-services.ts';
import { startKeyholderProcess } from '../../cli/demo/processes.ts';
import { CkksEncryptPool } from '../../sdk/compute/ckks-encrypt-pool.ts';
import { KeyholderClient } from '../../services/keyholder/keyholder-client.ts';
import type { KeyholderConfig } from '../../services/keyholder/config.ts';
import { type Consortium, createConsortium } from '../support/consortium.ts';

export const MODEL = 'fraud-model';
export const DIM = 10_000; // two ciphertexts
export const COORDINATOR = 'veilsum-coordinator';
const uploadCiphertexts = ciphertextsFor(SUM_8192, DIM);

export const update = (member: number, round: number) =>
  Float32Array.from({ length: DIM }, (_, i) => Math.sin(member * 7919 + round * 104729 + i) * 0.9);

export interface Upload {
  readonly memberId: string;
  readonly ciphertexts: Uint8Array[];
  /** Encryption proofs, in batch order (crypto/ckks/encryption-proof.ts). */
  readonly proofs: Uint8Array[];
  readonly sha256: Uint8Array;
}

export type ReceiptedUpload = Upload & { readonly receipt: UploadReceipt };

export interface StagedRound {
  readonly roundId: string;
  readonly params: RoundParams;
  readonly graphSeed: Uint8Array;
  readonly paramsHash: Uint8Array;
}

/**
 * A malicious coordinator stand-in: it holds the coordinator's certificate and ledger role (on
 * the embedded ledger the coordinator writes rounds, as it does on Fabric), speaks the real
 * keyholder gRPC API, and is free to write whatever it likes to the ledger and send whatever it
 * likes to keyholders. Against it run real keyholder processes (2 of 3) that made their key in
 * a real ceremony; the members are honest and sign receipts only for what they uploaded.
 */
export class MaliciousCoordinator {
  readonly consortium: Consortium;
  readonly keyholders: Map<number, RunningKeyholder>;
  readonly publicKey: Uint8Array;
  readonly engine: CkksEngine;
  readonly ledger: Ledger;
  private readonly database: EmbeddedLedgerDatabase;
  private readonly clients = new Map<number, KeyholderClient>();
  private roundNumber = 0;

  private constructor(
    consortium: Consortium,
    keyholders: Map<number, RunningKeyholder>,
    publicKey: Uint8Array,
    engine: CkksEngine,
    database: EmbeddedLedgerDatabase,
  ) {
    this.consortium = consortium;
    this.keyholders = keyholders;
    this.publicKey = publicKey;
    this.engine = engine;
    this.database = database;
    this.ledger = new Ledger(database.as(consortium.local.ledgerWriter(COORDINATOR)));
  }

  /** `keyholderDropoutRate`: the keyholders' own δ (default: the test fixtures' 0.5). */
  static async start(keyholderDropoutRate?: number): Promise<MaliciousCoordinator> {
    const consortium = await createConsortium(3, 'bank', {
      keyholders: 3,
      ledger: true,
      ...(keyholderDropoutRate === undefined ? {} : { keyholderDropoutRate }),
    });
    const { keyholders, key } = await startKeyholders(consortium.local, 2, SUM_8192.name);
    const database = new EmbeddedLedgerDatabase(
      join(consortium.directory, 'ledger.db'),
      readFileSync(consortium.pki.caCertificatePath),
    );
    const harness = new MaliciousCoordinator(
      consortium,
      keyholders,
      key.publicKey,
      await CkksEngine.create(SUM_8192),
      database,
    );
    await harness.ledger.registerMember(COORDINATOR, ['coordinator']);
    for (const [i, member] of consortium.members.entries()) {
      await harness.ledger.registerMember(member, ['member']);
      await new Ledger(database.as(consortium.local.ledgerWriter(member))).grantConsent(
        `consent-${member}`,
        `transactions-${i + 1}`,
        MODEL,
        Date.now() + 86_400_000,
      );
    }
    return harness;
  }

  member(n: number): string {
    return this.consortium.members[n - 1]!;
  }

  /** A keyholder client with the coordinator's certificate. */
  keyholder(index: number): KeyholderClient {
    let client = this.clients.get(index);
    if (client === undefined) {
      client = KeyholderClient.connect({
        address: `127.0.0.1:${this.keyholders.get(index)!.port}`,
        caCertificate: this.consortium.pki.caCertificatePath,
        certificate: this.consortium.pki.server.certificatePath,
        privateKey: this.consortium.pki.server.privateKeyPath,
      });
      this.clients.set(index, client);
    }
    return client;
  }

  /** Opens a CKKS round on the ledger, as the coordinator does. */
  async openRound(minContributors = 2): Promise<StagedRound> {
    this.roundNumber++;
    const params = ckksRoundParams({
      modelId: MODEL,
      roundNumber: this.roundNumber,
      dimension: DIM,
      members: this.consortium.members,
      minContributors,
      uploadDeadlineMs: 60_000,
      parameterSet: SUM_8192.name,
      keySha256: keySha256(this.publicKey),
    });
    const graphSeed = new Uint8Array(32).fill(this.roundNumber);
    const hash = paramsHash(RoundParams.encode(params).finish(), graphSeed);
    const roundId = `${MODEL}/round-${this.roundNumber}`;
    await this.ledger.openRound(
      roundId,
      MODEL,
      this.roundNumber,
      Buffer.from(hash).toString('hex'),
      this.consortium.members,
      // The manifest binds the round to the key (the ledger records decryptions of its rounds
      // only); members' identity keys are placeholders, nothing here checks them. The ledger
      // takes no manifest below 2 contributors: a round staged with fewer (to test the
      // keyholders' own floor) names 2 there, the keyholders read the round's params.
      {
        ...roundManifest(
          params,
          this.consortium.members.map((_, i) => new Uint8Array(32).fill(i + 1)),
        ),
        minContributors: Math.max(2, minContributors),
      },
    );
    return { roundId, params, graphSeed, paramsHash: hash };
  }

  /** What honest member `n` does: encrypts its update (with its proofs) and signs the receipt. */
  async honestUpload(round: StagedRound, n: number): Promise<ReceiptedUpload> {
    const memberId = this.member(n);
    const pool = await CkksEncryptPool.create(SUM_8192.name, this.publicKey, 1);
    const { wires, proofs } = await pool.encryptAll(update(n, round.params.roundNumber), {
      roundId: round.roundId,
      paramsHash: round.paramsHash,
      keySha256: keySha256(this.publicKey),
      memberId,
      totalCiphertexts: uploadCiphertexts,
    });
    await pool.close();
    return this.signedUpload(round, n, wires, proofs);
  }

  /** Member `n` signs a receipt for whatever bytes it is given (a malicious member does). */
  signedUpload(
    round: StagedRound,
    n: number,
    ciphertexts: Uint8Array[],
    proofs: Uint8Array[],
  ): ReceiptedUpload {
    const memberId = this.member(n);
    const sha256 = sha256Of(ciphertexts);
    const jwk = createPrivateKey(
      readFileSync(this.consortium.profile(memberId, 0).privateKey),
    ).export({ format: 'jwk' });
    const signature = signUploadReceipt(
      nativeCurve25519,
      new Uint8Array(Buffer.from(jwk.d!, 'base64url')),
      round.roundId,
      round.paramsHash,
      sha256,
    );
    return {
      memberId,
      ciphertexts,
      proofs,
      sha256,
      receipt: {
        memberId,
        uploadSha256: Buffer.from(sha256).toString('hex'),
        signature: Buffer.from(signature).toString('hex'),
      },
    };
  }

  /** The key-recovery ciphertext of issue 11: `template`'s shape with c0 = 0, c1 = Δ·X^j. */
  keyRecoveryCiphertext(template: Uint8Array, j: number): Uint8Array {
    // An SDK upload's ciphertexts are compact (c0 rounded): the forgery is a full one.
    let full = template;
    if (isCompactWire(template)) {
      const key = this.engine.loadEncryptionKey(this.publicKey);
      full = this.engine.encryptWithWitnesses(key, new Float64Array(1), 1, systemRandom).wires[0]!;
      key.delete();
    }
    const parsed = parseCiphertext(unpackCiphertext(full, this.engine.expectations));
    const { moduli, tables } = this.engine.dataRns;
    const degree = SUM_8192.polyModulusDegree;
    const c1 = Array.from({ length: degree }, (_, i) =>
      i === j ? 2n ** BigInt(SUM_8192.scaleBits) : 0n,
    );
    const data = new BigUint64Array(parsed.data.length);
    data.set(integerPolynomialToNtt(c1, moduli, tables), degree * moduli.length);
    return packCiphertext(serializeCiphertext({ ...parsed, data }, parsed.version), moduli);
  }

  /** The homomorphic sum of uploads (plus, for a forgery, fresh encryptions of zero). */
  async sum(uploads: readonly Upload[], rerandomise = false): Promise<Uint8Array[]> {
    const sum = this.engine.newSum(uploads[0]!.ciphertexts.length);
    for (const upload of uploads) sum.add(upload.ciphertexts);
    if (rerandomise) {
      const pool = await CkksEncryptPool.create(SUM_8192.name, this.publicKey, 1);
      const { wires } = await pool.encryptAll(new Float32Array(DIM), {
        roundId: 'rerandomisation',
        paramsHash: new Uint8Array(32),
        keySha256: keySha256(this.publicKey),
        memberId: COORDINATOR,
        totalCiphertexts: uploadCiphertexts,
      });
      sum.add(wires);
      await pool.close();
    }
    const result = sum.result();
    sum.dispose();
    return result;
  }

  closeRound(
    round: StagedRound,
    included: string[],
    aggregate: Uint8Array[],
    receipts: UploadReceipt[],
  ) {
    const hex = Buffer.from(sha256Of(aggregate)).toString('hex');
    return this.ledger.closeRound(round.roundId, included, hex, hex, 0, receipts);
  }

  prepare(index: number, round: StagedRound, uploads: readonly Upload[]) {
    return this.keyholder(index).prepareDecryption(
      { roundId: round.roundId, params: round.params, graphSeed: Buffer.from(round.graphSeed) },
      uploads.map((upload) => ({
        memberId: upload.memberId,
        certificate: readFileSync(this.consortium.profile(upload.memberId, 0).certificate),
        ciphertexts: () => upload.ciphertexts,
        proofs: () => upload.proofs,
      })),
    );
  }

  partialDecrypt(
    index: number,
    round: StagedRound,
    aggregate: Uint8Array[],
    responders: number[],
  ): Promise<Uint8Array[]> {
    return this.keyholder(index).partialDecrypt(
      {
        roundId: round.roundId,
        params: round.params,
        graphSeed: Buffer.from(round.graphSeed),
        responders,
        ciphertexts: aggregate.length,
      },
      aggregate,
    );
  }

  /** Kills keyholder `index` (SIGKILL) and starts it again on its port, its data dir intact. */
  async restartKeyholder(index: number, overrides: Partial<KeyholderConfig> = {}): Promise<void> {
    const old = this.keyholders.get(index)!;
    const exited = new Promise((resolve) => old.child.once('exit', resolve));
    old.child.kill('SIGKILL');
    await exited;
    this.clients.get(index)?.close();
    this.clients.delete(index);
    const logs: string[] = [];
    const { child, port } = await startKeyholderProcess(
      {
        ...this.consortium.local.keyholderConfig(old.id),
        listen: `127.0.0.1:${old.port}`,
        ...overrides,
      },
      join(this.consortium.directory, `${old.id}-restarted-${Date.now()}.json`),
      (line) => logs.push(line),
    );
    this.keyholders.set(index, { id: old.id, child, port, logs });
  }

  /** Log lines in which keyholder `index` granted (or re-sent) a partial for `roundId`. */
  grants(index: number, roundId: string): string[] {
    return this.keyholders
      .get(index)!
      .logs.filter(
        (line) => line.includes('"event":"partial-decryption"') && line.includes(roundId),
      );
  }

  stop(): void {
    for (const client of this.clients.values()) client.close();
    for (const { child } of this.keyholders.values())
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    this.database.close();
  }
}

export function sha256Of(ciphertexts: readonly Uint8Array[]): Uint8Array {
  const hash = createHash('sha256');
  for (const ciphertext of ciphertexts) hash.update(ciphertext);
  return new Uint8Array(hash.digest());
}
