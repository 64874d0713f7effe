import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { nativeCurve25519 as curve } from '../../crypto/curve25519-native.ts';
import { systemRandom } from '../../crypto/random.ts';
import { SecAggClient } from '../../crypto/secagg/client.ts';
import {
  createRoundContext,
  needsContributedSeed,
  type RoundContext,
} from '../../crypto/secagg/config.ts';
import { combineMasks } from '../../crypto/secagg/masks.ts';
import { merkleTree } from '../../crypto/merkle.ts';
import type { ShareBox, ShareComplaint, ShareKeysMessage } from '../../crypto/secagg/messages.ts';
import { sealShareBoxes } from '../../crypto/secagg/share-box.ts';
import { shareBoxesPayload, shareBoxLeaf } from '../../crypto/secagg/transcript.ts';
import type { Ledger } from '../../ledger/ledger.ts';
import type { RoundPhaseName } from '../../ledger/records.ts';
import { type Round, RoundAdminServiceClient } from '../../proto/gen/veilsum/v1/round.ts';
import {
  type ConsistencyCheckRequest,
  type KeysBroadcast,
  SecAggServiceClient,
  type SeedCommitments,
  type SharesDelivery,
  type UnmaskingRequest,
} from '../../proto/gen/veilsum/v1/secagg.ts';
import { secAggConfigOf } from '../../proto/round-wire.ts';
import {
  advertiseKeysToWire,
  complaintsToWire,
  keysBroadcastFromWire,
  seedRevealToWire,
  sharesDeliveryFromWire,
  shareKeysToWire,
  unmaskingRequestFromWire,
  consistencyCheckFromWire,
  unmaskToWire,
} from '../../proto/secagg-wire.ts';
import type { Consortium } from './consortium.ts';
import { memberIdentity } from './malicious-coordinator.ts';

const call = <T>(
  invoke: (done: (error: grpc.ServiceError | null, value?: T) => void) => void,
): Promise<T> =>
  new Promise((resolve, reject) =>
    invoke((error, value) => (error ? reject(error) : resolve(value as T))),
  );

export interface MemberTools {
  readonly context: RoundContext;
  readonly index: number;
  /** Seals `plaintext` for `peer` exactly as the client would (a box that opens). */
  readonly sealFor: (peer: number, plaintext: Uint8Array) => ShareBox;
  /**
   * Signs altered boxes with this member's identity key only: its own bad boxes, which the
   * coordinator accepts (the sealing key's signature, on the original root, no longer matches).
   */
  readonly resign: (message: ShareKeysMessage) => ShareKeysMessage;
  /** Signs altered boxes with both keys, as the client signs its own. */
  readonly sign: (message: ShareKeysMessage) => ShareKeysMessage;
}

export interface MemberLies {
  /** Rewrites the ShareKeys message before it is sent. */
  readonly shares?: (message: ShareKeysMessage, tools: MemberTools) => ShareKeysMessage;
  /** Goes silent once its ShareKeys message is sent (a dropout after dealing its shares). */
  readonly dropAfterShareKeys?: boolean;
  /** Rewrites the complaints sent with the masked input. */
  readonly complaints?: (
    honest: readonly ShareComplaint[],
    tools: MemberTools,
  ) => readonly ShareComplaint[];
}

/**
 * A malicious member: the real client state machine, driven over raw gRPC (mTLS as `member`),
 * with what it sends rewritten by `lies` first. `dimension` is the round's vector length.
 */
export async function maliciousMember(
  consortium: Consortium,
  member: string,
  port: number,
  ledger: Ledger,
  roundId: string,
  input: Uint32Array,
  lies: MemberLies,
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
    // Up to 5 minutes: a round of 100 members on a loaded machine closes its phases slowly.
    for (let attempt = 0; attempt < 1200; attempt++) {
      try {
        return [...(await ledger.getRoundPhase(roundId, phase)).members];
      } catch {
        await new Promise((resolve) => setTimeout(resolve, attempt < 200 ? 25 : 250));
      }
    }
    throw new Error(`no ${phase} set on the ledger`);
  };
  try {
    const round = await call<Round>((done) => admin.getRound({ roundId }, done));
    const index = round.roster.find((entry) => entry.memberId === member)!.index;
    const context = createRoundContext(secAggConfigOf(round));
    const client = new SecAggClient({
      context,
      index,
      identitySecretKey: memberIdentity(consortium, member).secretKey,
      curve,
      random: systemRandom,
    });
    const advertised = client.advertiseKeys();
    await call((done) => secagg.advertiseKeys(advertiseKeysToWire(roundId, advertised), done));
    if (needsContributedSeed(context)) {
      const { digest } = await call<SeedCommitments>((done) =>
        secagg.awaitSeedCommitments({ roundId }, done),
      );
      const reveal = client.revealSeed(
        { digest: new Uint8Array(digest) },
        await committed('advertised'),
      );
      await call((done) => secagg.revealSeed(seedRevealToWire(roundId, reveal), done));
    }
    const keys = await call<KeysBroadcast>((done) => secagg.awaitKeys({ roundId }, done));
    const honest = client.shareKeys(keysBroadcastFromWire(keys), await committed('advertised'));
    const identitySecretKey = memberIdentity(consortium, member).secretKey;
    // A malicious member runs any code: it reads its own client's sealing key (σ, A).
    const sealing = Reflect.get(client, 'sealing') as { seed: Uint8Array; publicKey: Uint8Array };
    const recipientKey = (peer: number) =>
      keys.keys.find((key) => key.sender === peer)!.encryptionPublicKey;
    const sealFor = (peer: number, plaintext: Uint8Array): ShareBox =>
      sealShareBoxes(
        context.binding,
        index,
        [{ recipient: peer, publicKey: recipientKey(peer), plaintext }],
        sealing,
        identitySecretKey,
        curve,
        systemRandom,
      ).encryptedShares[0]!;
    const payloadOf = (message: ShareKeysMessage) =>
      shareBoxesPayload(
        context.binding,
        index,
        sealing.publicKey,
        merkleTree(
          message.encryptedShares.map((box) =>
            shareBoxLeaf(box.peer, recipientKey(box.peer), box.ciphertext),
          ),
        ).root,
      );
    const resign = (message: ShareKeysMessage): ShareKeysMessage => ({
      ...message,
      signature: curve.sign(identitySecretKey, payloadOf(message)),
    });
    const sign = (message: ShareKeysMessage): ShareKeysMessage => ({
      ...resign(message),
      ephemeralSignature: curve.sign(sealing.seed, payloadOf(message)),
    });
    // The graph is the members' seed's: the client's context has it once ShareKeys ran.
    const tools: MemberTools = { context: client.roundContext, index, sealFor, resign, sign };
    const sent = lies.shares?.(honest, tools) ?? honest;
    await call((done) => secagg.shareKeys(shareKeysToWire(roundId, sent), done));
    if (lies.dropAfterShareKeys) return;
    const delivery = await call<SharesDelivery>((done) => secagg.awaitShares({ roundId }, done));
    const jobs = client.prepareMasks(sharesDeliveryFromWire(delivery), await committed('shared'));
    const masked = client.completeMaskedInput(input, combineMasks(jobs, input.length, curve));
    const complaints = lies.complaints?.(masked.complaints ?? [], tools) ?? masked.complaints ?? [];
    await new Promise<void>((resolve, reject) => {
      const stream = secagg.uploadMaskedInput((error) => (error ? reject(error) : resolve()));
      stream.write({
        content: {
          $case: 'header',
          value: {
            roundId,
            words: input.length,
            complaints: complaintsToWire(complaints),
          },
        },
      });
      stream.write({ content: { $case: 'data', value: Buffer.from(masked.maskedInput.buffer) } });
      stream.end();
    });
    // Excluded members are no longer asked to unmask; a false commitment's author still is.
    try {
      if (context.config.adversary === 'semi-malicious') {
        const check = await call<ConsistencyCheckRequest>((done) =>
          secagg.awaitConsistencyCheck({ roundId }, done),
        );
        const { signature } = client.signSurvivors(
          consistencyCheckFromWire(check),
          await committed('masked'),
        );
        await call((done) =>
          secagg.signSurvivors({ roundId, signature: Buffer.from(signature) }, done),
        );
      }
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
