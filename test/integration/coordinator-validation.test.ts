import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPrivateKey } from 'node:crypto';
import { readdirSync, readFileSync as readFile } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { pino } from 'pino';
import { nativeCurve25519 } from '../../crypto/curve25519-native.ts';
import { seededRandom } from '../../crypto/random.ts';
import { SecAggClient } from '../../crypto/secagg/client.ts';
import { createRoundContext } from '../../crypto/secagg/config.ts';
import { combineMasks } from '../../crypto/secagg/masks.ts';
import {
  Adversary,
  Mode,
  RoundAdminServiceClient,
  type Round,
  type RoundParams,
} from '../../proto/gen/veilsum/v1/round.ts';
import {
  SecAggServiceClient,
  type UploadChunk,
  type UploadReceipt,
} from '../../proto/gen/veilsum/v1/secagg.ts';
import {
  advertiseKeysToWire,
  keysBroadcastFromWire,
  sharesDeliveryFromWire,
  shareKeysToWire,
} from '../../proto/secagg-wire.ts';
import { secAggConfigOf } from '../../proto/round-wire.ts';
import { Coordinator } from '../../services/coordinator/coordinator.ts';
import { ADMIN, type Consortium, createConsortium } from '../support/consortium.ts';

const DIMENSION = 1000;

/** Raw generated clients, so tests can send what the SDK never would. */
class RawMember {
  readonly admin: RoundAdminServiceClient;
  readonly secagg: SecAggServiceClient;
  constructor(consortium: Consortium, member: string, port: number) {
    const identity = consortium.pki.members[member]!;
    const credentials = grpc.credentials.createSsl(
      readFile(consortium.pki.caCertificatePath),
      readFile(identity.privateKeyPath),
      readFile(identity.certificatePath),
    );
    const options = { 'grpc.ssl_target_name_override': 'localhost' };
    this.admin = new RoundAdminServiceClient(`127.0.0.1:${port}`, credentials, options);
    this.secagg = new SecAggServiceClient(`127.0.0.1:${port}`, credentials, options);
  }
  close(): void {
    this.admin.close();
    this.secagg.close();
  }
}

const call = <T>(
  invoke: (done: (error: grpc.ServiceError | null, value?: T) => void) => void,
): Promise<T> =>
  new Promise((resolve, reject) =>
    invoke((error, value) => (error ? reject(error) : resolve(value as T))),
  );

async function expectStatus(
  promise: Promise<unknown>,
  code: grpc.status,
  message?: RegExp,
): Promise<void> {
  try {
    await promise;
  } catch (error) {
    const serviceError = error as grpc.ServiceError;
    expect(grpc.status[serviceError.code]).toBe(grpc.status[code]);
    if (message) expect(serviceError.details).toMatch(message);
    return;
  }
  throw new Error(`expected ${grpc.status[code]}, but the call succeeded`);
}

function upload(member: RawMember, chunks: UploadChunk[]): Promise<UploadReceipt> {
  return new Promise((resolve, reject) => {
    const stream = member.secagg.uploadMaskedInput((error, receipt) =>
      error ? reject(error) : resolve(receipt),
    );
    for (const chunk of chunks) stream.write(chunk);
    stream.end();
  });
}

const header = (roundId: string, words: number): UploadChunk => ({
  content: { $case: 'header', value: { roundId, words, complaints: [] } },
});
const data = (bytes: Uint8Array): UploadChunk => ({
  content: { $case: 'data', value: Buffer.from(bytes) },
});

describe('coordinator: bad input gets the right status and changes nothing', () => {
  let consortium: Consortium;
  let coordinator: Coordinator;
  let port: number;
  const raw = new Map<string, RawMember>();
  const member = (id: string) => {
    let client = raw.get(id);
    if (client === undefined) raw.set(id, (client = new RawMember(consortium, id, port)));
    return client;
  };
  const params = (
    roundNumber: number,
    members: string[],
    deadlineMs = 60_000,
    advertiseMs = deadlineMs,
  ): RoundParams => ({
    modelId: 'validation',
    roundNumber,
    mode: Mode.MODE_SECAGG,
    dimension: DIMENSION,
    quantization: { clipRange: 1, levelBits: 16, modulusBits: 32 },
    threshold: 3,
    degree: members.length - 1,
    adversary: Adversary.ADVERSARY_SEMI_HONEST,
    members,
    deadlines: {
      advertiseKeysMs: advertiseMs,
      shareKeysMs: deadlineMs,
      maskedInputMs: deadlineMs,
      consistencyCheckMs: deadlineMs,
      unmaskingMs: deadlineMs,
    },
    corruptionRate: 0,
    // One of four may drop (min contributors 3): the deadline tests leave one silent.
    dropoutRate: 0.25,
    minContributors: 0,
    ckks: undefined,
  });
  const open = (p: RoundParams) =>
    call<Round>((done) => member(ADMIN).admin.openRound({ params: p }, done));

  /** Drives members through AdvertiseKeys and ShareKeys so the round waits for uploads. */
  async function roundAwaitingUploads(
    roundNumber: number,
  ): Promise<{ round: Round; clients: Map<string, SecAggClient> }> {
    const members = consortium.members.slice(0, 4);
    const round = await open(params(roundNumber, members));
    const context = createRoundContext(secAggConfigOf(round));
    const clients = new Map<string, SecAggClient>();
    const random = seededRandom(roundNumber);
    for (const [i, id] of members.entries()) {
      const key = grpcKey(consortium, id);
      const client = new SecAggClient({
        context,
        index: i + 1,
        identitySecretKey: key,
        curve: nativeCurve25519,
        random,
      });
      clients.set(id, client);
      await call((done) =>
        member(id).secagg.advertiseKeys(
          advertiseKeysToWire(round.roundId, client.advertiseKeys()),
          done,
        ),
      );
    }
    for (const id of members) {
      const keys = await call<Parameters<typeof keysBroadcastFromWire>[0]>((done) =>
        member(id).secagg.awaitKeys({ roundId: round.roundId }, done),
      );
      const message = clients.get(id)!.shareKeys(keysBroadcastFromWire(keys), [1, 2, 3, 4]);
      await call((done) =>
        member(id).secagg.shareKeys(shareKeysToWire(round.roundId, message), done),
      );
    }
    return { round, clients };
  }

  beforeAll(async () => {
    consortium = await createConsortium(5, 'val');
    coordinator = new Coordinator(
      { ...consortium.config, listen: '127.0.0.1:0', metricsListen: '127.0.0.1:0' },
      pino({ level: 'silent' }),
    );
    await coordinator.start();
    port = coordinator.port;
  });

  afterAll(async () => {
    for (const client of raw.values()) client.close();
    await coordinator.stop();
  });

  it('serves gRPC health (SERVING) and Prometheus metrics that count rejected requests', async () => {
    const Health = grpc.makeGenericClientConstructor(healthService, 'grpc.health.v1.Health');
    const identity = consortium.pki.members['val-01']!;
    const health = new Health(
      `127.0.0.1:${port}`,
      grpc.credentials.createSsl(
        readFile(consortium.pki.caCertificatePath),
        readFile(identity.privateKeyPath),
        readFile(identity.certificatePath),
      ),
      { 'grpc.ssl_target_name_override': 'localhost' },
    );
    const response = await call<{ status: string }>((done) =>
      (health as unknown as { check: (r: object, d: typeof done) => void }).check(
        { service: '' },
        done,
      ),
    );
    health.close();
    expect(response.status).toBe('SERVING');
    await expectStatus(
      call((done) => member(ADMIN).admin.getRound({ roundId: 'missing/round-1' }, done)),
      grpc.status.NOT_FOUND,
    );
    const metrics = await (
      await fetch(`http://127.0.0.1:${coordinator.metricsPort}/metrics`)
    ).text();
    expect(metrics).toMatch(/veilsum_requests_total\{method="GetRound",code="NOT_FOUND"\} [1-9]/);
    expect(metrics).toMatch(/veilsum_rounds/);
  });

  it('unknown round: NOT_FOUND', async () => {
    await expectStatus(
      call((done) => member(ADMIN).admin.getRound({ roundId: 'nope/round-1' }, done)),
      grpc.status.NOT_FOUND,
      /round "nope\/round-1" does not exist/,
    );
    await expectStatus(
      call((done) => member('val-01').secagg.awaitKeys({ roundId: 'nope/round-1' }, done)),
      grpc.status.NOT_FOUND,
    );
  });

  it('OpenRound: INVALID_ARGUMENT naming the bad parameter; PERMISSION_DENIED for a non-administrator; ALREADY_EXISTS twice', async () => {
    const members = consortium.members.slice(0, 4);
    await expectStatus(
      open({ ...params(10, members), dimension: 0 }),
      grpc.status.INVALID_ARGUMENT,
      /dimension must be between 1/,
    );
    await expectStatus(
      open({ ...params(10, [...members.slice(0, 3), 'ghost']) }),
      grpc.status.INVALID_ARGUMENT,
      /member "ghost" is not in the coordinator's member directory/,
    );
    await expectStatus(
      open({ ...params(10, members), degree: 2 }),
      grpc.status.INVALID_ARGUMENT,
      /a round of 4 members runs on the complete graph \(degree 3\); sparse graphs start at 50 members/,
    );
    await expectStatus(
      call((done) => member('val-01').admin.openRound({ params: params(10, members) }, done)),
      grpc.status.PERMISSION_DENIED,
      /may not open rounds/,
    );
    await open(params(11, members));
    await expectStatus(open(params(11, members)), grpc.status.ALREADY_EXISTS);
  });

  it('a certificate of a non-member: PERMISSION_DENIED, and nothing recorded', async () => {
    const round = await open(params(20, consortium.members.slice(0, 4)));
    await expectStatus(
      call((done) => member('outsider').admin.getRound({ roundId: round.roundId }, done)),
      grpc.status.PERMISSION_DENIED,
      /neither a member nor an administrator/,
    );
    // val-05 is a consortium member but not on this round's roster.
    const keys = {
      roundId: round.roundId,
      encryptionPublicKey: Buffer.alloc(32, 1),
      maskingPublicKey: Buffer.alloc(32, 2),
      maskingKeyProof: Buffer.alloc(0),
      sealingPublicKey: Buffer.alloc(32, 4),
      seedCommitment: Buffer.alloc(32, 3),
      signature: Buffer.alloc(64),
    };
    await expectStatus(
      call((done) => member('val-05').secagg.advertiseKeys(keys, done)),
      grpc.status.PERMISSION_DENIED,
      /not a member of round/,
    );
    const after = await call<Round>((done) =>
      member(ADMIN).admin.getRound({ roundId: round.roundId }, done),
    );
    expect(after.advertised).toEqual([]);
  });

  it('a bad signature: UNAUTHENTICATED, and the member can still advertise correctly', async () => {
    const round = await open(params(30, consortium.members.slice(0, 4)));
    const forged = {
      roundId: round.roundId,
      encryptionPublicKey: Buffer.from(
        nativeCurve25519.x25519PublicKey(new Uint8Array(32).fill(3)),
      ),
      maskingPublicKey: Buffer.from(nativeCurve25519.x25519PublicKey(new Uint8Array(32).fill(4))),
      maskingKeyProof: Buffer.alloc(0),
      sealingPublicKey: Buffer.from(nativeCurve25519.ed25519PublicKey(new Uint8Array(32).fill(6))),
      seedCommitment: Buffer.alloc(32, 5),
      signature: Buffer.alloc(64, 7),
    };
    await expectStatus(
      call((done) => member('val-01').secagg.advertiseKeys(forged, done)),
      grpc.status.UNAUTHENTICATED,
      /not signed by its identity key/,
    );
    const after = await call<Round>((done) =>
      member(ADMIN).admin.getRound({ roundId: round.roundId }, done),
    );
    expect(after.advertised).toEqual([]);
  });

  it('a masking-key proof that does not verify: INVALID_ARGUMENT naming the member, nothing recorded, and it can still advertise correctly', async () => {
    const members = consortium.members.slice(0, 4);
    const round = await open(params(35, members));
    const client = new SecAggClient({
      context: createRoundContext(secAggConfigOf(round)),
      index: 1,
      identitySecretKey: grpcKey(consortium, members[0]!),
      curve: nativeCurve25519,
      random: seededRandom(35),
    });
    const honest = advertiseKeysToWire(round.roundId, client.advertiseKeys());
    // Validly signed by its identity key (the proof is not in the signed payload): only the
    // proof is wrong, omitted or with one bit flipped.
    for (const maskingKeyProof of [
      Buffer.alloc(0),
      Buffer.from(honest.maskingKeyProof.map((b, i) => (i === 40 ? b ^ 4 : b))),
    ]) {
      await expectStatus(
        call((done) =>
          member(members[0]!).secagg.advertiseKeys({ ...honest, maskingKeyProof }, done),
        ),
        grpc.status.INVALID_ARGUMENT,
        /client 1's proof of possession of its masking key does not verify/,
      );
    }
    const refused = await call<Round>((done) =>
      member(ADMIN).admin.getRound({ roundId: round.roundId }, done),
    );
    expect(refused.advertised).toEqual([]);
    await call((done) => member(members[0]!).secagg.advertiseKeys(honest, done));
    const after = await call<Round>((done) =>
      member(ADMIN).admin.getRound({ roundId: round.roundId }, done),
    );
    expect(after.advertised).toEqual([1]);
  });

  it('a phase message after its deadline: FAILED_PRECONDITION', async () => {
    const members = consortium.members.slice(0, 4);
    const round = await open(params(40, members, 60_000, 1_500));
    const context = createRoundContext(secAggConfigOf(round));
    const clients = members.map(
      (id, i) =>
        new SecAggClient({
          context,
          index: i + 1,
          identitySecretKey: grpcKey(consortium, id),
          curve: nativeCurve25519,
          random: seededRandom(40 + i),
        }),
    );
    for (const [i, id] of members.slice(0, 3).entries()) {
      await call((done) =>
        member(id).secagg.advertiseKeys(
          advertiseKeysToWire(round.roundId, clients[i]!.advertiseKeys()),
          done,
        ),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await expectStatus(
      call((done) =>
        member(members[3]!).secagg.advertiseKeys(
          advertiseKeysToWire(round.roundId, clients[3]!.advertiseKeys()),
          done,
        ),
      ),
      grpc.status.FAILED_PRECONDITION,
      /phase share-keys, not advertise-keys/,
    );
  });

  it('uploads: wrong length, oversize, truncated and headerless streams are INVALID_ARGUMENT and store nothing; a second upload is ALREADY_EXISTS and the first is kept', async () => {
    const { round, clients } = await roundAwaitingUploads(50);
    const roundId = round.roundId;
    const uploadFor = async (id: string) => {
      const delivery = await call<Parameters<typeof sharesDeliveryFromWire>[0]>((done) =>
        member(id).secagg.awaitShares({ roundId }, done),
      );
      const client = clients.get(id)!;
      const jobs = client.prepareMasks(sharesDeliveryFromWire(delivery), [1, 2, 3, 4]);
      const masked = client.completeMaskedInput(
        new Uint32Array(DIMENSION).fill(5),
        combineMasks(jobs, DIMENSION, nativeCurve25519),
      ).maskedInput;
      return new Uint8Array(masked.buffer);
    };
    const bytes = await uploadFor('val-01');
    await expectStatus(
      upload(member('val-01'), [header(roundId, DIMENSION + 1), data(bytes)]),
      grpc.status.INVALID_ARGUMENT,
      /vector length 1001 does not match round length 1000/,
    );
    await expectStatus(
      upload(member('val-01'), [header(roundId, DIMENSION), data(bytes), data(new Uint8Array(4))]),
      grpc.status.INVALID_ARGUMENT,
      /longer than the round length/,
    );
    await expectStatus(
      upload(member('val-01'), [
        header(roundId, DIMENSION),
        data(bytes.subarray(0, bytes.length - 4)),
      ]),
      grpc.status.INVALID_ARGUMENT,
      /truncated: 3996 of 4000 bytes/,
    );
    await expectStatus(
      upload(member('val-01'), [data(bytes)]),
      grpc.status.INVALID_ARGUMENT,
      /must start with a header/,
    );
    await expectStatus(
      upload(member('val-01'), [header('nope/round-9', DIMENSION)]),
      grpc.status.NOT_FOUND,
    );

    const roundDirectory = readdirSync(join(consortium.config.dataDir, 'blobs')).map((name) =>
      join(consortium.config.dataDir, 'blobs', name),
    );
    const files = () => roundDirectory.flatMap((directory) => readdirSync(directory));
    expect(files().filter((name) => name.endsWith('.partial'))).toEqual([]);
    let state = await call<Round>((done) => member(ADMIN).admin.getRound({ roundId }, done));
    expect(state.masked).toEqual([]);

    const receipt = await upload(member('val-01'), [
      header(roundId, DIMENSION),
      data(bytes.subarray(0, 2000)),
      data(bytes.subarray(2000)),
    ]);
    expect(receipt.words).toBe(DIMENSION);
    const other = new Uint8Array(bytes.length).fill(9);
    await expectStatus(
      upload(member('val-01'), [header(roundId, DIMENSION), data(other)]),
      grpc.status.ALREADY_EXISTS,
      /first upload is kept/,
    );
    state = await call<Round>((done) => member(ADMIN).admin.getRound({ roundId }, done));
    expect(state.masked).toEqual([1]);
    expect(
      readFile(
        join(
          roundDirectory.find((d) => readdirSync(d).includes('upload-1.u32'))!,
          'upload-1.u32',
        ),
      ),
    ).toEqual(Buffer.from(bytes));
    expect(files().filter((name) => name.endsWith('.partial'))).toEqual([]);
  });
});

/** The raw Ed25519 secret of a member's certificate key. */
function grpcKey(consortium: Consortium, id: string): Uint8Array {
  const jwk = createPrivateKey(readFile(consortium.pki.members[id]!.privateKeyPath)).export({
    format: 'jwk',
  });
  return new Uint8Array(Buffer.from(jwk.d!, 'base64url'));
}
