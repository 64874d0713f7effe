import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { sealAead } from '../../crypto/aead.ts';
import { nativeCurve25519 as curve } from '../../crypto/curve25519-native.ts';
import { deriveKey } from '../../crypto/kdf.ts';
import { systemRandom, type RandomSource } from '../../crypto/random.ts';
import { SecAggClient } from '../../crypto/secagg/client.ts';
import { createRoundContext } from '../../crypto/secagg/config.ts';
import { combineMasks } from '../../crypto/secagg/masks.ts';
import type { ShareKeysMessage } from '../../crypto/secagg/messages.ts';
import { shareBoxAssociatedData } from '../../crypto/secagg/transcript.ts';
import { SHARE_BYTES } from '../../crypto/shamir.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import type { RoundPhaseName } from '../../ledger/records.ts';
import {
  Adversary,
  Mode,
  Phase,
  type Round,
  RoundAdminServiceClient,
  type RoundParams,
} from '../../proto/gen/veilsum/v1/round.ts';
import {
  type KeysBroadcast,
  SecAggServiceClient,
  type SharesDelivery,
  type UnmaskingRequest,
} from '../../proto/gen/veilsum/v1/secagg.ts';
import { secAggConfigOf } from '../../proto/round-wire.ts';
import {
  advertiseKeysToWire,
  complaintsToWire,
  keysBroadcastFromWire,
  sharesDeliveryFromWire,
  shareKeysToWire,
  unmaskingRequestFromWire,
  unmaskToWire,
} from '../../proto/secagg-wire.ts';
import { Coordinator } from '../../services/coordinator/coordinator.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { ADMIN, type Consortium, createConsortium } from '../support/consortium.ts';
import { memberIdentity } from '../support/malicious-coordinator.ts';

/**
 * One malicious member against the real coordinator (gRPC services on 127.0.0.1, embedded
 * ledger) and five honest SDK members: its bad share box or false self-mask commitment must
 * not abort the round; the round completes, and the round record and the ledger name it.
 */
const DIMENSION = 64;
const MEMBERS = 6;

const call = <T>(
  invoke: (done: (error: grpc.ServiceError | null, value?: T) => void) => void,
): Promise<T> =>
  new Promise((resolve, reject) =>
    invoke((error, value) => (error ? reject(error) : resolve(value as T))),
  );

/** A RandomSource that remembers what it gave: the member learns its own round secrets. */
function recordingRandom(): { random: RandomSource; drawn: Uint8Array[] } {
  const drawn: Uint8Array[] = [];
  return {
    drawn,
    random: (length) => {
      const bytes = systemRandom(length);
      drawn.push(bytes);
      return bytes;
    },
  };
}

interface MemberTools {
  /** Seals `plaintext` to `peer` exactly as the client would (a box that opens). */
  readonly sealFor: (peer: number, plaintext: Uint8Array) => Uint8Array;
}

/**
 * The malicious member: the real client state machine, driven over raw gRPC, with its ShareKeys
 * message rewritten by `tamper` before it is sent.
 */
async function maliciousMember(
  consortium: Consortium,
  member: string,
  port: number,
  ledger: Ledger,
  roundId: string,
  input: Uint32Array,
  tamper: (message: ShareKeysMessage, tools: MemberTools) => ShareKeysMessage,
): Promise<void> {
  const identity = consortium.pki.members[member]!;
  const credentials = grpc.credentials.createSsl(
    readFileSync(consortium.pki.caCertificatePath),
    readFileSync(identity.privateKeyPath),
    readFileSync(identity.certificatePath),
  );
  const options = { 'grpc.ssl_target_name_override': 'localhost' };
  const admin = new RoundAdminServiceClient(`127.0.0.1:${port}`, credentials, options);
  const secagg = new SecAggServiceClient(`127.0.0.1:${port}`, credentials, options);
  const committed = async (phase: RoundPhaseName): Promise<number[]> => {
    for (let attempt = 0; attempt < 200; attempt++) {
      try {
        return [...(await ledger.getRoundPhase(roundId, phase)).members];
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
    throw new Error(`no ${phase} set on the ledger`);
  };
  try {
    const round = await call<Round>((done) => admin.getRound({ roundId }, done));
    const index = round.roster.find((entry) => entry.memberId === member)!.index;
    const { random, drawn } = recordingRandom();
    const context = createRoundContext(secAggConfigOf(round));
    const client = new SecAggClient({
      context,
      index,
      identitySecretKey: memberIdentity(consortium, member).secretKey,
      curve,
      random,
    });
    const advertised = client.advertiseKeys();
    const encryptionSecretKey = drawn[0]!; // the first draw of advertiseKeys
    await call((done) => secagg.advertiseKeys(advertiseKeysToWire(roundId, advertised), done));
    const keys = await call<KeysBroadcast>((done) => secagg.awaitKeys({ roundId }, done));
    const honest = client.shareKeys(keysBroadcastFromWire(keys), await committed('advertised'));
    const sealFor = (peer: number, plaintext: Uint8Array): Uint8Array => {
      const peerKey = keys.keys.find((key) => key.sender === peer)!.encryptionPublicKey;
      const boxKey = deriveKey(
        curve.x25519SharedSecret(encryptionSecretKey, peerKey),
        'secagg/share-encryption',
        context.binding,
        [index, peer],
        [advertised.encryptionPublicKey, peerKey],
      );
      return sealAead(
        boxKey,
        plaintext,
        shareBoxAssociatedData(context.binding, index, peer),
        systemRandom,
      );
    };
    const sent = tamper(honest, { sealFor });
    await call((done) => secagg.shareKeys(shareKeysToWire(roundId, sent), done));
    const delivery = await call<SharesDelivery>((done) => secagg.awaitShares({ roundId }, done));
    const jobs = client.prepareMasks(sharesDeliveryFromWire(delivery), await committed('shared'));
    const masked = client.completeMaskedInput(input, combineMasks(jobs, DIMENSION, curve));
    await new Promise<void>((resolve, reject) => {
      const stream = secagg.uploadMaskedInput((error) => (error ? reject(error) : resolve()));
      stream.write({
        content: {
          $case: 'header',
          value: {
            roundId,
            words: DIMENSION,
            complaints: complaintsToWire(masked.complaints ?? []),
          },
        },
      });
      stream.write({ content: { $case: 'data', value: Buffer.from(masked.maskedInput.buffer) } });
      stream.end();
    });
    // Excluded members are no longer asked to unmask; a false commitment's author still is.
    try {
      const request = await call<UnmaskingRequest>((done) =>
        secagg.awaitUnmasking({ roundId }, done),
      );
      const answer = client.unmask(unmaskingRequestFromWire(request), await committed('masked'));
      await call((done) => secagg.unmask(unmaskToWire(roundId, answer), done));
    } catch {
      // Refused by the coordinator or by its own client: fine for this member.
    }
  } finally {
    admin.close();
    secagg.close();
  }
}

describe('SecAgg+ against one malicious member', () => {
  let consortium: Consortium;
  let coordinator: Coordinator;
  let database: EmbeddedLedgerDatabase;
  let admin: VeilsumClient;
  let roundNumber = 0;

  beforeAll(async () => {
    consortium = await createConsortium(MEMBERS, 'mm');
    const ledgerPath = join(consortium.directory, 'ledger.db');
    coordinator = new Coordinator(
      {
        ...consortium.config,
        listen: '127.0.0.1:0',
        ledger: { path: ledgerPath, identity: 'veilsum-coordinator' },
      },
      pino({ level: 'silent' }),
    );
    await coordinator.start();
    database = new EmbeddedLedgerDatabase(
      ledgerPath,
      readFileSync(consortium.pki.caCertificatePath),
    );
    for (const member of consortium.members) {
      await new Ledger(database.as(consortium.local.ledgerWriter(member))).grantConsent(
        `consent-${member}`,
        `data-${member}`,
        'mm-model',
        Date.now() + 86_400_000,
      );
    }
    admin = VeilsumClient.connect(consortium.profile(ADMIN, coordinator.port));
  });

  afterAll(async () => {
    admin.close();
    database.close();
    await coordinator.stop();
  });

  const params = (): RoundParams => ({
    modelId: 'mm-model',
    roundNumber: ++roundNumber,
    mode: Mode.MODE_SECAGG,
    dimension: DIMENSION,
    quantization: { clipRange: 1, levelBits: 16, modulusBits: 32 },
    threshold: 3,
    degree: MEMBERS - 1,
    adversary: Adversary.ADVERSARY_SEMI_HONEST,
    members: consortium.members,
    deadlines: {
      advertiseKeysMs: 20_000,
      shareKeysMs: 20_000,
      maskedInputMs: 20_000,
      consistencyCheckMs: 20_000,
      unmaskingMs: 20_000,
    },
    corruptionRate: 0.05,
    dropoutRate: 0.2,
    minContributors: 0,
    ckks: undefined,
  });

  const inputs = Array.from({ length: MEMBERS }, (_, i) =>
    new Uint32Array(DIMENSION).fill(1000 * (i + 1)),
  );
  const sumOf = (members: number[]) =>
    new Uint32Array(DIMENSION).fill(members.reduce((total, m) => total + 1000 * m, 0));

  /** Five honest SDK members and the malicious member 6 run one round. */
  async function roundWith(
    tamper: Parameters<typeof maliciousMember>[6],
  ): Promise<{ finished: Round; misbehaviour: { memberId: string; reason: string }[] }> {
    const round = await admin.openRound(params());
    const honest = consortium.members.slice(0, MEMBERS - 1).map((member) =>
      VeilsumClient.connect({
        ...consortium.profile(member, coordinator.port),
        ledger: new Ledger(database.as(consortium.local.ledgerWriter(member))),
      }),
    );
    try {
      await Promise.all([
        ...honest.map((client, i) =>
          client.participateQuantized(round, inputs[i]!, { waitForResult: false }),
        ),
        maliciousMember(
          consortium,
          consortium.members[MEMBERS - 1]!,
          coordinator.port,
          new Ledger(database.as(consortium.local.ledgerWriter(consortium.members[MEMBERS - 1]!))),
          round.roundId,
          inputs[MEMBERS - 1]!,
          tamper,
        ),
      ]);
      const finished = await admin.waitForResult(round.roundId);
      const ledger = new Ledger(database.as(consortium.local.ledgerWriter('veilsum-coordinator')));
      let misbehaviour = await ledger.roundMisbehaviour(round.roundId);
      for (let i = 0; i < 100 && misbehaviour.length === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        misbehaviour = await ledger.roundMisbehaviour(round.roundId);
      }
      return { finished, misbehaviour };
    } finally {
      for (const client of honest) client.close();
    }
  }

  it('an undecryptable share box excludes its sender; the round completes with the others and names it', async () => {
    const { finished, misbehaviour } = await roundWith((message) => ({
      ...message,
      encryptedShares: message.encryptedShares.map((box, i) => {
        if (i !== 0) return box;
        const ciphertext = box.ciphertext.slice();
        ciphertext[30]! ^= 0xff;
        return { peer: box.peer, ciphertext };
      }),
    }));
    expect(finished.phase).toBe(Phase.PHASE_DONE);
    expect(finished.included).toEqual([1, 2, 3, 4, 5]);
    expect(await admin.getAggregate(finished.roundId)).toEqual(sumOf([1, 2, 3, 4, 5]));
    expect(finished.misbehaving).toEqual([
      expect.objectContaining({
        index: 6,
        memberId: 'mm-06',
        reason: expect.stringMatching(
          /its share box for client 1 did not open under the box key 1 revealed/,
        ),
      }),
    ]);
    expect(misbehaviour).toEqual([expect.objectContaining({ memberId: 'mm-06' })]);
  }, 60_000);

  it('a share box that opens but holds no valid share (x = 0) excludes its sender, verified with the revealed key', async () => {
    const { finished, misbehaviour } = await roundWith((message, { sealFor }) => ({
      ...message,
      encryptedShares: message.encryptedShares.map((box, i) =>
        i === 1
          ? { peer: box.peer, ciphertext: sealFor(box.peer, new Uint8Array(2 * SHARE_BYTES)) }
          : box,
      ),
    }));
    expect(finished.phase).toBe(Phase.PHASE_DONE);
    expect(finished.included).toEqual([1, 2, 3, 4, 5]);
    expect(await admin.getAggregate(finished.roundId)).toEqual(sumOf([1, 2, 3, 4, 5]));
    expect(finished.misbehaving.map((m) => [m.memberId, m.reason])).toEqual([
      [
        'mm-06',
        expect.stringMatching(/opened but held no valid share \(verified with the revealed key\)/),
      ],
    ]);
    expect(misbehaviour.map((m) => m.memberId)).toEqual(['mm-06']);
  }, 60_000);

  it('a false self-mask commitment does not abort the round: the member is named, its shares decide', async () => {
    const { finished, misbehaviour } = await roundWith((message) => ({
      ...message,
      selfMaskCommitment: new Uint8Array(32).fill(0xaa),
    }));
    expect(finished.phase).toBe(Phase.PHASE_DONE);
    // Its masked input is already in the sum when the lie shows; its b is what its shares say.
    expect(finished.included).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await admin.getAggregate(finished.roundId)).toEqual(sumOf([1, 2, 3, 4, 5, 6]));
    expect(finished.misbehaving.map((m) => [m.memberId, m.reason])).toEqual([
      [
        'mm-06',
        expect.stringMatching(
          /shares of its self-mask seed agree, but not with what it committed to/,
        ),
      ],
    ]);
    expect(misbehaviour.map((m) => m.memberId)).toEqual(['mm-06']);
  }, 60_000);
});
