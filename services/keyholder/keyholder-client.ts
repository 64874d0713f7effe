import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import {
  type CeremonyAnswer,
  type CeremonyCheck,
  type CeremonyDealing,
  type CeremonyJoin,
  type CeremonyPlan,
  type KeyInfo,
  KeyholderServiceClient,
  KeyholderServiceService,
  type PartialDecryptionChunk,
  type PartialDecryptionHeader,
  type PrepareDecryptionHeader,
  type PrepareDecryptionReply,
  type PrepareDecryptionRequest,
} from '../../proto/gen/veilsum/v1/ckks.ts';
import { proofRange } from '../../crypto/ckks/encryption-proof.ts';
import { toVeilsumError, VeilsumError } from '../../sdk/errors.ts';
import { deadline, tlsChannel, type TlsIdentity, unary } from '../../sdk/grpc-channel.ts';
import { clientWithBytesSerializers } from '../../sdk/oneof-bytes-serializer.ts';

// A ceremony step proves or verifies every keyholder's 1.2 MB proof of knowledge.
const CEREMONY_DEADLINE_MS = 300_000;
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** The generated client, with every member's ciphertexts written to the streams in one copy. */
const Client = clientWithBytesSerializers<typeof KeyholderServiceClient>(
  KeyholderServiceService,
  'veilsum.v1.KeyholderService',
  { prepareDecryption: { ciphertext: 3, proof: 4 }, partialDecrypt: { ciphertext: 2 } },
);

/** A connection to one keyholder: ceremony steps, key info, partial decryptions. */
export class KeyholderClient {
  readonly address: string;
  private readonly client: KeyholderServiceClient;

  private constructor(identity: TlsIdentity) {
    const { credentials, channelOptions } = tlsChannel(identity, MAX_MESSAGE_BYTES);
    this.address = identity.address;
    this.client = new Client(identity.address, credentials, channelOptions);
  }

  static connect(identity: TlsIdentity): KeyholderClient {
    return new KeyholderClient(identity);
  }

  close(): void {
    this.client.close();
  }

  join(plan: CeremonyPlan): Promise<CeremonyJoin> {
    return this.call('JoinCeremony', (done) =>
      this.client.joinCeremony(plan, new grpc.Metadata(), deadline(CEREMONY_DEADLINE_MS), done),
    );
  }

  deal(plan: CeremonyPlan, joins: CeremonyJoin[]): Promise<CeremonyDealing> {
    return this.call('DealCeremony', (done) =>
      this.client.dealCeremony(
        { plan, joins },
        new grpc.Metadata(),
        deadline(CEREMONY_DEADLINE_MS),
        done,
      ),
    );
  }

  check(
    plan: CeremonyPlan,
    joins: CeremonyJoin[],
    dealings: CeremonyDealing[],
  ): Promise<CeremonyCheck> {
    return this.call('CheckCeremony', (done) =>
      this.client.checkCeremony(
        { plan, joins, dealings },
        new grpc.Metadata(),
        deadline(CEREMONY_DEADLINE_MS),
        done,
      ),
    );
  }

  /** The complaint round: reveals nothing unless one of this keyholder's own tests failed. */
  answer(plan: CeremonyPlan, checks: CeremonyCheck[]): Promise<CeremonyAnswer> {
    return this.call('AnswerCeremony', (done) =>
      this.client.answerCeremony(
        { plan, checks },
        new grpc.Metadata(),
        deadline(CEREMONY_DEADLINE_MS),
        done,
      ),
    );
  }

  finish(
    plan: CeremonyPlan,
    checks: CeremonyCheck[],
    answers: CeremonyAnswer[] = [],
  ): Promise<KeyInfo> {
    return this.call('FinishCeremony', (done) =>
      this.client.finishCeremony(
        { plan, checks, answers },
        new grpc.Metadata(),
        deadline(CEREMONY_DEADLINE_MS),
        done,
      ),
    );
  }

  /** The key with this SHA-256, or the keyholder's newest key. */
  getKey(keySha256: Uint8Array = new Uint8Array(0)): Promise<KeyInfo> {
    return this.call('GetKey', (done) =>
      this.client.getKey(
        { keySha256: Buffer.from(keySha256) },
        new grpc.Metadata(),
        deadline(30_000),
        done,
      ),
    );
  }

  /**
   * Streams the receipted uploads of a closed round (in the ledger's receipt order) so the
   * keyholder can check that the committed aggregate is their sum; `ciphertexts` is read when
   * its turn comes, so one upload at a time is in memory.
   */
  prepareDecryption(
    header: PrepareDecryptionHeader,
    uploads: readonly {
      memberId: string;
      certificate: Uint8Array;
      ciphertexts: () => Uint8Array[];
      /** Its encryption proofs in batch order; each covers the ciphertexts it names. */
      proofs: () => Uint8Array[];
    }[],
  ): Promise<PrepareDecryptionReply> {
    return new Promise((resolve, reject) => {
      // Once the keyholder has answered (a refusal can come early) nothing more is sent.
      let answered = false;
      let wake = () => {};
      const call = this.client.prepareDecryption(
        new grpc.Metadata(),
        deadline(10 * 60_000),
        (error, reply) => {
          answered = true;
          wake();
          if (error)
            reject(toVeilsumError(`PrepareDecryption at keyholder ${this.address}`, error));
          else resolve(reply);
        },
      );
      const send = async (message: PrepareDecryptionRequest) => {
        if (answered) throw new Error('answered');
        if (!call.write(message))
          await new Promise<void>((drained) => {
            wake = drained;
            call.once('drain', drained);
          });
      };
      void (async () => {
        await send({ content: { $case: 'header', value: header } });
        for (const upload of uploads) {
          await send({
            content: {
              $case: 'upload',
              value: { memberId: upload.memberId, certificate: Buffer.from(upload.certificate) },
            },
          });
          const ciphertexts = upload.ciphertexts();
          let sent = 0;
          const sendCiphertexts = async (until: number) => {
            for (; sent < Math.min(until, ciphertexts.length); sent++)
              await send({
                content: { $case: 'ciphertext', value: bufferView(ciphertexts[sent]!) },
              });
          };
          for (const proof of upload.proofs()) {
            await sendCiphertexts(sent + proofRange(proof).count);
            await send({ content: { $case: 'proof', value: bufferView(proof) } });
          }
          await sendCiphertexts(ciphertexts.length);
        }
        call.end();
      })().catch(() => call.cancel());
    });
  }

  /** Sends the header and the aggregate, then collects one partial per ciphertext, in order. */
  partialDecrypt(
    header: PartialDecryptionHeader,
    aggregate: readonly Uint8Array[],
  ): Promise<Uint8Array[]> {
    return new Promise((resolve, reject) => {
      const call = this.client.partialDecrypt(new grpc.Metadata(), deadline(10 * 60_000));
      const partials: Uint8Array[] = [];
      call.on('data', (chunk: PartialDecryptionChunk) => {
        partials[chunk.position] = chunk.partial;
      });
      call.on('error', (error) => reject(toVeilsumError('PartialDecrypt', error)));
      call.on('end', () => {
        if (partials.length !== aggregate.length || partials.some((p) => p === undefined)) {
          reject(
            new VeilsumError(
              'PartialDecrypt',
              grpc.status.DATA_LOSS,
              `keyholder at ${this.address} answered ${partials.length} of ${aggregate.length} partials`,
            ),
          );
        } else resolve(partials);
      });
      void (async () => {
        call.write({ content: { $case: 'header', value: header } });
        for (const ciphertext of aggregate) {
          if (!call.write({ content: { $case: 'ciphertext', value: Buffer.from(ciphertext) } }))
            await new Promise((drained) => call.once('drain', drained));
        }
        call.end();
      })();
    });
  }

  private async call<T>(
    step: string,
    run: (done: (error: grpc.ServiceError | null, value?: T) => void) => void,
  ): Promise<T> {
    try {
      return await unary<T>(run);
    } catch (error) {
      throw toVeilsumError(`${step} at keyholder ${this.address}`, error);
    }
  }
}

export interface CeremonyParticipant {
  readonly keyholderId: string;
  readonly address: string;
  readonly client: KeyholderClient;
}

export interface CeremonyOutcome {
  readonly plan: CeremonyPlan;
  readonly publicKey: Uint8Array;
  readonly keySha256: Uint8Array;
  readonly keyholders: readonly { keyholderId: string; index: number; address: string }[];
}

/**
 * Runs the threshold key ceremony among keyholders, relaying their messages (the relay sees
 * only signed public data, encrypted shares and flooded test partials): join (commitments),
 * deal (public shares with proofs, sealed shares), check (commitments, proofs, test partials),
 * answer (complaints: only a dealer whose test failed reveals anything), finish (test
 * decryptions, blame, seal, attest). Every keyholder must end with the same key.
 */
export async function runKeyCeremony(
  participants: readonly CeremonyParticipant[],
  options: { ceremonyId: string; parameterSet: string; threshold: number },
): Promise<CeremonyOutcome> {
  const plan: CeremonyPlan = {
    ceremonyId: options.ceremonyId,
    parameterSet: options.parameterSet,
    seed: randomBytes(32),
    threshold: options.threshold,
    keyholders: participants.map((p, i) => ({ keyholderId: p.keyholderId, index: i + 1 })),
  };
  const joins = await Promise.all(participants.map((p) => p.client.join(plan)));
  const dealings = await Promise.all(participants.map((p) => p.client.deal(plan, joins)));
  const checks = await Promise.all(participants.map((p) => p.client.check(plan, joins, dealings)));
  // The complaint round: empty answers unless a dealer's test failed (that dealer then reveals
  // the disputed shares' keys and leaves; finish names who is at fault).
  const answers = await Promise.all(participants.map((p) => p.client.answer(plan, checks)));
  const settled = await Promise.allSettled(
    participants.map((p) => p.client.finish(plan, checks, answers)),
  );
  // A dealer that answered a complaint has left the ceremony: the others' refusal names who is
  // at fault.
  const refusals = settled.flatMap((outcome, i) =>
    outcome.status === 'rejected' ? [{ reason: outcome.reason as unknown, i }] : [],
  );
  if (refusals.length > 0)
    throw (refusals.find(({ i }) => answers[i]!.revealed.length === 0) ?? refusals[0]!).reason;
  const infos = settled.map((outcome) => (outcome as PromiseFulfilledResult<KeyInfo>).value);
  const first = Buffer.from(infos[0]!.keySha256);
  const disagreeing = infos.findIndex((info) => !Buffer.from(info.keySha256).equals(first));
  if (disagreeing >= 0) {
    throw new VeilsumError(
      'KeyCeremony',
      grpc.status.DATA_LOSS,
      `keyholder ${participants[disagreeing]!.keyholderId} computed a different collective key; the ceremony failed`,
    );
  }
  return {
    plan,
    publicKey: infos[0]!.publicKey,
    keySha256: infos[0]!.keySha256,
    keyholders: participants.map((p, i) => ({
      keyholderId: p.keyholderId,
      index: i + 1,
      address: p.address,
    })),
  };
}

/** The same bytes as a Buffer, without copying them (the message encoder copies once anyway). */
const bufferView = (bytes: Uint8Array): Buffer =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
