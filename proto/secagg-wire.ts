/**
 * Conversions between the wire types (proto/gen) and the protocol's message records
 * (crypto/secagg/messages.ts). The sender of a client message is never taken from the wire: the
 * coordinator supplies it from the caller's certificate.
 */
import type {
  AdvertiseKeysMessage,
  ConsistencyCheckRequest as ConsistencyCheckRequestMessage,
  ConsistencySignatureMessage,
  Conviction as ConvictionMessage,
  EncryptedShare as EncryptedShareMessage,
  KeysBroadcast as KeysBroadcastMessage,
  SeedCommitmentsMessage,
  SeedRevealMessage,
  SharesDelivery as SharesDeliveryMessage,
  ShareComplaint as ShareComplaintMessage,
  ShareKeysMessage,
  UnmaskingMessage,
  UnmaskingRequest as UnmaskingRequestMessage,
  PairwiseReveal,
  PairwiseRevealMessage,
  PairwiseRevealRequest as PairwiseRevealRequestMessage,
} from '../crypto/secagg/messages.ts';
import type {
  PairwiseRevealRequest,
  PairwiseSecret,
  RevealPairwiseRequest,
  AdvertiseKeysRequest,
  ConsistencyCheckRequest,
  Conviction,
  EncryptedShare,
  KeysBroadcast,
  RevealSeedRequest,
  SeedCommitments,
  SharesDelivery,
  ShareComplaint,
  ShareKeysRequest,
  SignSurvivorsRequest,
  UnmaskingRequest,
  UnmaskRequest,
} from './gen/veilsum/v1/secagg.ts';

const bytes = (buffer: Uint8Array): Uint8Array =>
  new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
const buffer = (data: Uint8Array): Buffer =>
  Buffer.from(data.buffer, data.byteOffset, data.byteLength);

const boxFromWire = (box: EncryptedShare): EncryptedShareMessage => ({
  peer: box.peer,
  ephemeralPublicKey: bytes(box.ephemeralPublicKey),
  ciphertext: bytes(box.ciphertext),
  signature: bytes(box.signature),
  ephemeralSignature: bytes(box.ephemeralSignature),
  path: box.path.map((step) => ({
    sibling: bytes(step.sibling),
    siblingOnLeft: step.siblingOnLeft,
  })),
});

const boxToWire = (box: EncryptedShareMessage): EncryptedShare => ({
  peer: box.peer,
  ephemeralPublicKey: buffer(box.ephemeralPublicKey),
  ciphertext: buffer(box.ciphertext),
  signature: buffer(box.signature),
  ephemeralSignature: buffer(box.ephemeralSignature),
  path: box.path.map((step) => ({
    sibling: buffer(step.sibling),
    siblingOnLeft: step.siblingOnLeft,
  })),
});

/** An absent proof (empty on the wire) stays absent: the server then refuses the AdvertiseKeys. */
const optionalProof = (proof: Uint8Array | undefined): { maskingKeyProof?: Uint8Array } =>
  proof === undefined || proof.length === 0 ? {} : { maskingKeyProof: bytes(proof) };

export const advertiseKeysFromWire = (
  sender: number,
  request: AdvertiseKeysRequest,
): AdvertiseKeysMessage => ({
  sender,
  encryptionPublicKey: bytes(request.encryptionPublicKey),
  maskingPublicKey: bytes(request.maskingPublicKey),
  ...optionalProof(request.maskingKeyProof),
  sealingPublicKey: bytes(request.sealingPublicKey),
  seedCommitment: bytes(request.seedCommitment),
  signature: bytes(request.signature),
});

export const advertiseKeysToWire = (
  roundId: string,
  message: AdvertiseKeysMessage,
): AdvertiseKeysRequest => ({
  roundId,
  encryptionPublicKey: buffer(message.encryptionPublicKey),
  maskingPublicKey: buffer(message.maskingPublicKey),
  maskingKeyProof: buffer(message.maskingKeyProof ?? new Uint8Array(0)),
  sealingPublicKey: buffer(message.sealingPublicKey),
  seedCommitment: buffer(message.seedCommitment),
  signature: buffer(message.signature),
});

export const keysBroadcastToWire = (broadcast: KeysBroadcastMessage): KeysBroadcast => ({
  keys: broadcast.keys.map((key) => ({
    sender: key.sender,
    encryptionPublicKey: buffer(key.encryptionPublicKey),
    maskingPublicKey: buffer(key.maskingPublicKey),
    maskingKeyProof: buffer(key.maskingKeyProof ?? new Uint8Array(0)),
    sealingPublicKey: buffer(key.sealingPublicKey),
    seedCommitment: buffer(key.seedCommitment),
    signature: buffer(key.signature),
  })),
  seedReveals: (broadcast.seedReveals ?? []).map((reveal) => ({
    sender: reveal.sender,
    contribution: buffer(reveal.contribution),
  })),
});

export const keysBroadcastFromWire = (broadcast: KeysBroadcast): KeysBroadcastMessage => ({
  keys: broadcast.keys.map((key) => ({
    sender: key.sender,
    encryptionPublicKey: bytes(key.encryptionPublicKey),
    maskingPublicKey: bytes(key.maskingPublicKey),
    ...optionalProof(key.maskingKeyProof),
    sealingPublicKey: bytes(key.sealingPublicKey),
    seedCommitment: bytes(key.seedCommitment),
    signature: bytes(key.signature),
  })),
  seedReveals: broadcast.seedReveals.map((reveal) => ({
    sender: reveal.sender,
    contribution: bytes(reveal.contribution),
  })),
});

export const seedCommitmentsToWire = (message: SeedCommitmentsMessage): SeedCommitments => ({
  digest: buffer(message.digest),
});

export const seedRevealFromWire = (
  sender: number,
  request: RevealSeedRequest,
): SeedRevealMessage => ({ sender, contribution: bytes(request.contribution) });

export const seedRevealToWire = (
  roundId: string,
  message: SeedRevealMessage,
): RevealSeedRequest => ({
  roundId,
  contribution: buffer(message.contribution),
});

export const shareKeysFromWire = (sender: number, request: ShareKeysRequest): ShareKeysMessage => ({
  sender,
  selfMaskCommitment: bytes(request.selfMaskCommitment),
  encryptedShares: request.encryptedShares.map((box) => ({
    peer: box.peer,
    ciphertext: bytes(box.ciphertext),
  })),
  signature: bytes(request.signature),
  ephemeralSignature: bytes(request.ephemeralSignature),
});

export const shareKeysToWire = (roundId: string, message: ShareKeysMessage): ShareKeysRequest => ({
  roundId,
  selfMaskCommitment: buffer(message.selfMaskCommitment),
  encryptedShares: message.encryptedShares.map((box) => ({
    peer: box.peer,
    ciphertext: buffer(box.ciphertext),
  })),
  signature: buffer(message.signature),
  ephemeralSignature: buffer(message.ephemeralSignature),
});

export const sharesDeliveryToWire = (delivery: SharesDeliveryMessage): SharesDelivery => ({
  encryptedShares: delivery.encryptedShares.map(boxToWire),
});

export const sharesDeliveryFromWire = (delivery: SharesDelivery): SharesDeliveryMessage => ({
  encryptedShares: delivery.encryptedShares.map(boxFromWire),
});

export const signSurvivorsFromWire = (
  sender: number,
  request: SignSurvivorsRequest,
): ConsistencySignatureMessage => ({
  sender,
  signature: bytes(request.signature),
});

const convictionsToWire = (convictions: readonly ConvictionMessage[] = []): Conviction[] =>
  convictions.map(({ accuser, box, recipientPublicKey, complaint }) => ({
    accuser,
    box: boxToWire(box),
    recipientKey: buffer(recipientPublicKey),
    complaint: complaintsToWire([complaint])[0]!,
  }));

/** A conviction without a box or complaint cannot be judged: it is kept so that the member refuses it. */
const convictionsFromWire = (convictions: readonly Conviction[]): ConvictionMessage[] =>
  convictions.map(({ accuser, box, recipientKey, complaint }) => ({
    accuser,
    box: boxFromWire(
      box ?? {
        peer: 0,
        ciphertext: EMPTY,
        ephemeralPublicKey: EMPTY,
        signature: EMPTY,
        ephemeralSignature: EMPTY,
        path: [],
      },
    ),
    recipientPublicKey: bytes(recipientKey),
    complaint: complaintsFromWire([
      complaint ?? { accused: 0, publicPoint: EMPTY, sharedPoint: EMPTY, proof: EMPTY },
    ])[0]!,
  }));

export const consistencyCheckToWire = (
  request: ConsistencyCheckRequestMessage,
): ConsistencyCheckRequest => ({
  survivors: [...request.survivors],
  convictions: convictionsToWire(request.convictions),
});

export const consistencyCheckFromWire = (
  request: ConsistencyCheckRequest,
): ConsistencyCheckRequestMessage => ({
  survivors: request.survivors,
  convictions: convictionsFromWire(request.convictions),
});

export const unmaskingRequestToWire = (request: UnmaskingRequestMessage): UnmaskingRequest => ({
  survivors: [...request.survivors],
  signatures: request.signatures.map((s) => ({ sender: s.sender, signature: buffer(s.signature) })),
  convictions: convictionsToWire(request.convictions),
});

export const unmaskingRequestFromWire = (request: UnmaskingRequest): UnmaskingRequestMessage => ({
  survivors: request.survivors,
  signatures: request.signatures.map((s) => ({ sender: s.sender, signature: bytes(s.signature) })),
  convictions: convictionsFromWire(request.convictions),
});

export const unmaskFromWire = (sender: number, request: UnmaskRequest): UnmaskingMessage => ({
  sender,
  selfMaskShares: request.selfMaskShares.map((s) => ({ owner: s.owner, share: bytes(s.share) })),
  maskingKeyShares: request.maskingKeyShares.map((s) => ({
    owner: s.owner,
    share: bytes(s.share),
  })),
  undecryptable: request.undecryptable,
  pairwiseSecrets: pairwiseSecretsFromWire(request.pairwiseSecrets),
});

export const unmaskToWire = (roundId: string, message: UnmaskingMessage): UnmaskRequest => ({
  roundId,
  selfMaskShares: message.selfMaskShares.map((s) => ({ owner: s.owner, share: buffer(s.share) })),
  maskingKeyShares: message.maskingKeyShares.map((s) => ({
    owner: s.owner,
    share: buffer(s.share),
  })),
  undecryptable: [...message.undecryptable],
  pairwiseSecrets: pairwiseSecretsToWire(message.pairwiseSecrets ?? []),
});

const pairwiseSecretsFromWire = (secrets: readonly PairwiseSecret[]): PairwiseReveal[] =>
  secrets.map((reveal) => ({
    peer: reveal.peer,
    evidence: {
      publicPoint: bytes(reveal.publicPoint),
      sharedPoint: bytes(reveal.sharedPoint),
      proof: bytes(reveal.proof),
    },
  }));

const pairwiseSecretsToWire = (reveals: readonly PairwiseReveal[]): PairwiseSecret[] =>
  reveals.map(({ peer, evidence }) => ({
    peer,
    publicPoint: buffer(evidence.publicPoint),
    sharedPoint: buffer(evidence.sharedPoint),
    proof: buffer(evidence.proof),
  }));

export const pairwiseRevealRequestToWire = (
  request: PairwiseRevealRequestMessage,
): PairwiseRevealRequest => ({ dropped: [...request.dropped] });

export const pairwiseRevealRequestFromWire = (
  request: PairwiseRevealRequest,
): PairwiseRevealRequestMessage => ({ dropped: request.dropped });

export const revealPairwiseFromWire = (
  sender: number,
  request: RevealPairwiseRequest,
): PairwiseRevealMessage => ({
  sender,
  pairwiseSecrets: pairwiseSecretsFromWire(request.pairwiseSecrets),
});

export const revealPairwiseToWire = (
  roundId: string,
  message: PairwiseRevealMessage,
): RevealPairwiseRequest => ({
  roundId,
  pairwiseSecrets: pairwiseSecretsToWire(message.pairwiseSecrets),
});

const EMPTY = Buffer.alloc(0);

export const complaintsToWire = (complaints: readonly ShareComplaintMessage[]): ShareComplaint[] =>
  complaints.map(({ accused, evidence }) => ({
    accused,
    publicPoint: evidence ? buffer(evidence.publicPoint) : EMPTY,
    sharedPoint: evidence ? buffer(evidence.sharedPoint) : EMPTY,
    proof: evidence ? buffer(evidence.proof) : EMPTY,
  }));

/** All three evidence fields empty: a complaint about an invalid ephemeral key, with none. */
export const complaintsFromWire = (
  complaints: readonly ShareComplaint[],
): ShareComplaintMessage[] =>
  complaints.map(({ accused, publicPoint, sharedPoint, proof }) =>
    publicPoint.length === 0 && sharedPoint.length === 0 && proof.length === 0
      ? { accused }
      : {
          accused,
          evidence: {
            publicPoint: bytes(publicPoint),
            sharedPoint: bytes(sharedPoint),
            proof: bytes(proof),
          },
        },
  );
