/**
 * Conversions between the wire types (proto/gen) and the protocol's message records
 * (crypto/secagg/messages.ts). The sender of a client message is never taken from the wire: the
 * coordinator supplies it from the caller's certificate.
 */
import type {
  AdvertiseKeysMessage,
  ConsistencySignatureMessage,
  EncryptedShare as EncryptedShareMessage,
  KeysBroadcast as KeysBroadcastMessage,
  SharesDelivery as SharesDeliveryMessage,
  ShareComplaint as ShareComplaintMessage,
  ShareKeysMessage,
  UnmaskingMessage,
  UnmaskingRequest as UnmaskingRequestMessage,
} from '../crypto/secagg/messages.ts';
import type {
  AdvertiseKeysRequest,
  EncryptedShare,
  KeysBroadcast,
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
});

const boxToWire = (box: EncryptedShareMessage): EncryptedShare => ({
  peer: box.peer,
  ephemeralPublicKey: buffer(box.ephemeralPublicKey),
  ciphertext: buffer(box.ciphertext),
  signature: buffer(box.signature),
  ephemeralSignature: buffer(box.ephemeralSignature),
});

export const advertiseKeysFromWire = (
  sender: number,
  request: AdvertiseKeysRequest,
): AdvertiseKeysMessage => ({
  sender,
  encryptionPublicKey: bytes(request.encryptionPublicKey),
  maskingPublicKey: bytes(request.maskingPublicKey),
  signature: bytes(request.signature),
});

export const advertiseKeysToWire = (
  roundId: string,
  message: AdvertiseKeysMessage,
): AdvertiseKeysRequest => ({
  roundId,
  encryptionPublicKey: buffer(message.encryptionPublicKey),
  maskingPublicKey: buffer(message.maskingPublicKey),
  signature: buffer(message.signature),
});

export const keysBroadcastToWire = (broadcast: KeysBroadcastMessage): KeysBroadcast => ({
  keys: broadcast.keys.map((key) => ({
    sender: key.sender,
    encryptionPublicKey: buffer(key.encryptionPublicKey),
    maskingPublicKey: buffer(key.maskingPublicKey),
    signature: buffer(key.signature),
  })),
});

export const keysBroadcastFromWire = (broadcast: KeysBroadcast): KeysBroadcastMessage => ({
  keys: broadcast.keys.map((key) => ({
    sender: key.sender,
    encryptionPublicKey: bytes(key.encryptionPublicKey),
    maskingPublicKey: bytes(key.maskingPublicKey),
    signature: bytes(key.signature),
  })),
});

export const shareKeysFromWire = (sender: number, request: ShareKeysRequest): ShareKeysMessage => ({
  sender,
  selfMaskCommitment: bytes(request.selfMaskCommitment),
  encryptedShares: request.encryptedShares.map(boxFromWire),
});

export const shareKeysToWire = (roundId: string, message: ShareKeysMessage): ShareKeysRequest => ({
  roundId,
  selfMaskCommitment: buffer(message.selfMaskCommitment),
  encryptedShares: message.encryptedShares.map(boxToWire),
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

export const unmaskingRequestToWire = (request: UnmaskingRequestMessage): UnmaskingRequest => ({
  survivors: [...request.survivors],
  signatures: request.signatures.map((s) => ({ sender: s.sender, signature: buffer(s.signature) })),
});

export const unmaskingRequestFromWire = (request: UnmaskingRequest): UnmaskingRequestMessage => ({
  survivors: request.survivors,
  signatures: request.signatures.map((s) => ({ sender: s.sender, signature: bytes(s.signature) })),
});

export const unmaskFromWire = (sender: number, request: UnmaskRequest): UnmaskingMessage => ({
  sender,
  selfMaskShares: request.selfMaskShares.map((s) => ({ owner: s.owner, share: bytes(s.share) })),
  maskingKeyShares: request.maskingKeyShares.map((s) => ({
    owner: s.owner,
    share: bytes(s.share),
  })),
  undecryptable: request.undecryptable,
});

export const unmaskToWire = (roundId: string, message: UnmaskingMessage): UnmaskRequest => ({
  roundId,
  selfMaskShares: message.selfMaskShares.map((s) => ({ owner: s.owner, share: buffer(s.share) })),
  maskingKeyShares: message.maskingKeyShares.map((s) => ({
    owner: s.owner,
    share: buffer(s.share),
  })),
  undecryptable: [...message.undecryptable],
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
