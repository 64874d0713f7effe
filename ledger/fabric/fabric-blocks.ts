import { createHash, verify, X509Certificate } from 'node:crypto';
import { common, ledger, msp, peer } from '@hyperledger/fabric-protos';

/**
 * Fabric blocks as the peer delivers them (qscc GetBlockByNumber: the block's protobuf bytes),
 * decoded for evidence: the header's hash links, the data hash, each transaction's id, creator
 * and its signature, endorsements, validation code and write set, the orderer's signatures, and
 * the MSPs (root and intermediate CA certificates) a config block defines. Nothing here trusts
 * the peer: every hash and signature is recomputed from the bytes by the caller's checks.
 */

/** Metadata slots (common.BlockMetadataIndex). */
const SIGNATURES = 0;
const TRANSACTIONS_FILTER = 2;
/** common.HeaderType */
const CONFIG = 1;
const ENDORSER_TRANSACTION = 3;

export interface FabricIdentity {
  readonly mspId: string;
  /** The PEM certificate (SerializedIdentity.id_bytes). */
  readonly certificate: string;
  /** The SerializedIdentity bytes as signed over. */
  readonly serialized: Uint8Array;
}

export interface FabricSignature {
  readonly signer: FabricIdentity;
  /** The bytes the signature is over. */
  readonly signed: Uint8Array;
  readonly signature: Uint8Array;
}

export interface FabricWrite {
  readonly namespace: string;
  readonly key: string;
  /** undefined: the key was deleted. */
  readonly value: string | undefined;
}

export interface FabricTransaction {
  /** Index in the block's data. */
  readonly index: number;
  readonly txId: string;
  readonly type: number;
  /** The peer's validation code (0: VALID), from the block's TRANSACTIONS_FILTER metadata. */
  readonly validationCode: number;
  /** The creator's signature over the envelope's payload. */
  readonly creator: FabricSignature | undefined;
  /** Each endorser's signature over proposal_response_payload ‖ endorser. */
  readonly endorsements: readonly FabricSignature[];
  readonly writes: readonly FabricWrite[];
}

export interface DecodedBlock {
  readonly number: number;
  readonly previousHash: string;
  readonly dataHash: string;
  /** SHA-256 of the header (the next block's previous hash). */
  readonly hash: string;
  /** The data hash recomputed from the block's transactions (equal to dataHash if untouched). */
  readonly computedDataHash: string;
  readonly transactions: readonly FabricTransaction[];
  /** The orderers' signatures over metadata value ‖ signature header ‖ block header. */
  readonly ordererSignatures: readonly FabricSignature[];
  /** Index of the config block in force (from the orderer's signed metadata). */
  readonly lastConfig: number | undefined;
}

// --- ASN.1 DER of the block header (Fabric's protoutil.BlockHeaderBytes) ---

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function der(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}

function derInteger(value: number): Buffer {
  let hex = BigInt(value).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return der(0x02, bytes);
}

export function blockHeaderBytes(number: number, previousHash: Buffer, dataHash: Buffer): Buffer {
  return der(
    0x30,
    Buffer.concat([derInteger(number), der(0x04, previousHash), der(0x04, dataHash)]),
  );
}

export function blockHeaderHash(number: number, previousHash: string, dataHash: string): string {
  return createHash('sha256')
    .update(
      blockHeaderBytes(number, Buffer.from(previousHash, 'hex'), Buffer.from(dataHash, 'hex')),
    )
    .digest('hex');
}

// --- decoding ---

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

function identityOf(serialized: Uint8Array): FabricIdentity {
  const identity = msp.SerializedIdentity.deserializeBinary(serialized);
  return {
    mspId: identity.getMspid(),
    certificate: Buffer.from(identity.getIdBytes_asU8()).toString('utf8'),
    serialized,
  };
}

function decodeTransaction(
  index: number,
  bytes: Uint8Array,
  validationCode: number,
): FabricTransaction {
  const envelope = common.Envelope.deserializeBinary(bytes);
  const payload = common.Payload.deserializeBinary(envelope.getPayload_asU8());
  const header = payload.getHeader();
  const channelHeader = common.ChannelHeader.deserializeBinary(
    header?.getChannelHeader_asU8() ?? new Uint8Array(),
  );
  const signatureHeader = common.SignatureHeader.deserializeBinary(
    header?.getSignatureHeader_asU8() ?? new Uint8Array(),
  );
  const creatorBytes = signatureHeader.getCreator_asU8();
  const creator =
    creatorBytes.length > 0
      ? {
          signer: identityOf(creatorBytes),
          signed: envelope.getPayload_asU8(),
          signature: envelope.getSignature_asU8(),
        }
      : undefined;
  const endorsements: FabricSignature[] = [];
  const writes: FabricWrite[] = [];
  if (channelHeader.getType() === ENDORSER_TRANSACTION) {
    const transaction = peer.Transaction.deserializeBinary(payload.getData_asU8());
    for (const action of transaction.getActionsList()) {
      const actionPayload = peer.ChaincodeActionPayload.deserializeBinary(action.getPayload_asU8());
      const endorsed = actionPayload.getAction();
      if (endorsed === undefined) continue;
      const responsePayload = endorsed.getProposalResponsePayload_asU8();
      for (const endorsement of endorsed.getEndorsementsList()) {
        const endorser = endorsement.getEndorser_asU8();
        endorsements.push({
          signer: identityOf(endorser),
          signed: Buffer.concat([responsePayload, endorser]),
          signature: endorsement.getSignature_asU8(),
        });
      }
      const chaincodeAction = peer.ChaincodeAction.deserializeBinary(
        peer.ProposalResponsePayload.deserializeBinary(responsePayload).getExtension_asU8(),
      );
      const results = ledger.rwset.TxReadWriteSet.deserializeBinary(
        chaincodeAction.getResults_asU8(),
      );
      for (const ns of results.getNsRwsetList()) {
        const set = ledger.rwset.kvrwset.KVRWSet.deserializeBinary(ns.getRwset_asU8());
        for (const write of set.getWritesList())
          writes.push({
            namespace: ns.getNamespace(),
            key: write.getKey(),
            value: write.getIsDelete()
              ? undefined
              : Buffer.from(write.getValue_asU8()).toString('utf8'),
          });
      }
    }
  }
  return {
    index,
    txId: channelHeader.getTxId(),
    type: channelHeader.getType(),
    validationCode,
    creator,
    endorsements,
    writes,
  };
}

/** Decodes a block's bytes; throws (a protobuf error) if they are not a block. */
export function decodeBlock(bytes: Uint8Array): DecodedBlock {
  const block = common.Block.deserializeBinary(bytes);
  const header = block.getHeader();
  if (header === undefined) throw new Error('no block header');
  const data = block.getData()?.getDataList_asU8() ?? [];
  const metadata = block.getMetadata()?.getMetadataList_asU8() ?? [];
  const filter = metadata[TRANSACTIONS_FILTER] ?? new Uint8Array();
  const number = header.getNumber();
  const previousHash = hex(header.getPreviousHash_asU8());
  const dataHash = hex(header.getDataHash_asU8());
  const headerBytes = blockHeaderBytes(
    number,
    Buffer.from(header.getPreviousHash_asU8()),
    Buffer.from(header.getDataHash_asU8()),
  );
  const ordererSignatures: FabricSignature[] = [];
  let lastConfig: number | undefined;
  const signatures = metadata[SIGNATURES];
  if (signatures !== undefined && signatures.length > 0) {
    const signed = common.Metadata.deserializeBinary(signatures);
    const value = signed.getValue_asU8();
    if (value.length > 0)
      lastConfig = common.OrdererBlockMetadata.deserializeBinary(value).getLastConfig()?.getIndex();
    for (const signature of signed.getSignaturesList()) {
      const signatureHeader = signature.getSignatureHeader_asU8();
      ordererSignatures.push({
        signer: identityOf(
          common.SignatureHeader.deserializeBinary(signatureHeader).getCreator_asU8(),
        ),
        signed: Buffer.concat([value, signatureHeader, headerBytes]),
        signature: signature.getSignature_asU8(),
      });
    }
  }
  return {
    number,
    previousHash,
    dataHash,
    hash: createHash('sha256').update(headerBytes).digest('hex'),
    computedDataHash: createHash('sha256').update(Buffer.concat(data)).digest('hex'),
    transactions: data.map((bytes, index) => decodeTransaction(index, bytes, filter[index] ?? 255)),
    ordererSignatures,
    lastConfig,
  };
}

export interface ChannelMsp {
  readonly mspId: string;
  readonly rootCertificates: readonly string[];
  readonly intermediateCertificates: readonly string[];
  /** Application organisations with anchor peers: the banks whose endorsements count. */
  readonly hasPeers: boolean;
  readonly orderer: boolean;
  /**
   * The organisational units that mark a peer's and an orderer's certificate (Fabric's node
   * OUs); undefined when the MSP does not enable them (its roles cannot be told apart).
   */
  readonly nodeOus?: { readonly peer: string; readonly orderer: string };
}

interface ProtoMap<V> {
  get(key: string): V | undefined;
  forEach(callback: (value: V) => void): void;
}

interface ConfigGroupMaps {
  getGroupsMap(): ProtoMap<ConfigGroupMaps>;
  getValuesMap(): ProtoMap<{ getValue_asU8(): Uint8Array }>;
}

/** The MSPs a config block defines (application and orderer organisations). */
export function channelMsps(configBlock: Uint8Array): ChannelMsp[] {
  const block = common.Block.deserializeBinary(configBlock);
  const envelope = common.Envelope.deserializeBinary(block.getData()!.getDataList_asU8()[0]!);
  const payload = common.Payload.deserializeBinary(envelope.getPayload_asU8());
  const channelHeader = common.ChannelHeader.deserializeBinary(
    payload.getHeader()!.getChannelHeader_asU8(),
  );
  if (channelHeader.getType() !== CONFIG) throw new Error('not a config block');
  const config = common.ConfigEnvelope.deserializeBinary(payload.getData_asU8()).getConfig();
  // jspb.Map's declarations do not resolve for the linter: the two calls used, typed here.
  const channelGroup = config?.getChannelGroup() as unknown as ConfigGroupMaps | undefined;
  const result: ChannelMsp[] = [];
  for (const section of ['Application', 'Orderer'] as const) {
    const organisations = channelGroup?.getGroupsMap().get(section)?.getGroupsMap();
    organisations?.forEach((organisation) => {
      const values = organisation.getValuesMap();
      const mspValue = values.get('MSP');
      if (mspValue === undefined) return;
      const fabricMsp = msp.FabricMSPConfig.deserializeBinary(
        msp.MSPConfig.deserializeBinary(mspValue.getValue_asU8()).getConfig_asU8(),
      );
      const pem = (list: Uint8Array[]) => list.map((c) => Buffer.from(c).toString('utf8'));
      const nodeOus = fabricMsp.getFabricNodeOus();
      result.push({
        ...(nodeOus?.getEnable()
          ? {
              nodeOus: {
                peer: nodeOus.getPeerOuIdentifier()?.getOrganizationalUnitIdentifier() ?? 'peer',
                orderer:
                  nodeOus.getOrdererOuIdentifier()?.getOrganizationalUnitIdentifier() ?? 'orderer',
              },
            }
          : {}),
        mspId: fabricMsp.getName(),
        rootCertificates: pem(fabricMsp.getRootCertsList_asU8()),
        intermediateCertificates: pem(fabricMsp.getIntermediateCertsList_asU8()),
        hasPeers: section === 'Application' && values.get('AnchorPeers') !== undefined,
        orderer: section === 'Orderer',
      });
    });
  }
  return result.sort((a, b) => (a.mspId < b.mspId ? -1 : a.mspId > b.mspId ? 1 : 0));
}

/**
 * Why `signature` does not hold, or undefined: the signer's certificate must be issued (directly
 * or through an intermediate) by a root of its MSP in `msps` AND chain to a CA in `pinned` (the
 * CAs the auditor trusts, not the bundle's), and its key must have signed the bytes. With
 * `role`, the certificate must carry the MSP's organisational unit for that role (an endorsement
 * is a peer's, a block signature an orderer's: a bank's client certificate signs neither).
 */
export function signatureProblem(
  signature: FabricSignature,
  msps: ReadonlyMap<string, ChannelMsp>,
  pinned: readonly X509Certificate[],
  role?: 'peer' | 'orderer',
): string | undefined {
  const { mspId } = signature.signer;
  const channelMsp = msps.get(mspId);
  if (channelMsp === undefined) return `signed by ${mspId}, which is not an MSP of the channel`;
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(signature.signer.certificate);
  } catch {
    return `${mspId}'s signer certificate cannot be parsed`;
  }
  const issuedBy = (roots: readonly X509Certificate[]) => {
    for (const root of roots) {
      if (certificate.checkIssued(root) && certificate.verify(root.publicKey)) return true;
      for (const pem of channelMsp.intermediateCertificates) {
        const intermediate = new X509Certificate(pem);
        if (
          certificate.checkIssued(intermediate) &&
          certificate.verify(intermediate.publicKey) &&
          intermediate.checkIssued(root) &&
          intermediate.verify(root.publicKey)
        )
          return true;
      }
    }
    return false;
  };
  if (!issuedBy(channelMsp.rootCertificates.map((pem) => new X509Certificate(pem))))
    return `${mspId}'s signer (${certificate.subject.replaceAll('\n', ', ')}) is not issued by ${mspId}'s CA in the channel configuration`;
  if (role !== undefined) {
    const unit = channelMsp.nodeOus?.[role];
    if (unit === undefined)
      return `${mspId} does not mark its ${role}s' certificates (no node OUs in its MSP): a ${role}'s signature cannot be told from a client's`;
    const units = certificate.subject
      .split('\n')
      .filter((line) => line.startsWith('OU='))
      .map((line) => line.slice(3));
    if (!units.includes(unit))
      return `${mspId}'s signer (${certificate.subject.replaceAll('\n', ', ')}) is not a ${role} (its certificate lacks OU=${unit})`;
  }
  if (!issuedBy(pinned))
    return `${mspId}'s signer (${certificate.subject.replaceAll('\n', ', ')}) does not chain to a CA the auditor trusts (--trust)`;
  let valid = false;
  try {
    valid = verify('sha256', signature.signed, certificate.publicKey, signature.signature);
  } catch {
    valid = false;
  }
  return valid ? undefined : `${mspId}'s signature does not match the signed bytes`;
}
