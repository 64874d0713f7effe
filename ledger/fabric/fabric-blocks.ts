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
  /** The envelope's ChannelHeader.channel_id: the channel it was made for. */
  readonly channelId: string;
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
    channelId: channelHeader.getChannelId(),
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
  /** The MSP's certificate revocation lists (PEM or DER as the config holds them). */
  readonly revocationList?: readonly string[];
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
        // latin1, not UTF-8: a revocation list may be DER, which UTF-8 would not keep byte for
        // byte (crlRevocations reads either form back; PEM is ASCII in both).
        revocationList: fabricMsp
          .getRevocationListList_asU8()
          .map((c) => Buffer.from(c).toString('latin1')),
        hasPeers: section === 'Application' && values.get('AnchorPeers') !== undefined,
        orderer: section === 'Orderer',
      });
    });
  }
  return result.sort((a, b) => (a.mspId < b.mspId ? -1 : a.mspId > b.mspId ? 1 : 0));
}

// --- certificate revocation lists (FabricMSPConfig.revocation_list) ---

interface Der {
  readonly tag: number;
  /** The whole element (tag, length, content). */
  readonly raw: Buffer;
  readonly content: Buffer;
}

/** The DER elements in `bytes`, in order (a minimal reader: definite lengths only). */
function derElements(bytes: Buffer): Der[] {
  const result: Der[] = [];
  let at = 0;
  while (at < bytes.length) {
    const tag = bytes[at]!;
    let length = bytes[at + 1]!;
    let header = 2;
    if (length & 0x80) {
      const octets = length & 0x7f;
      if (octets === 0 || octets > 4) throw new Error('unsupported DER length');
      length = 0;
      for (let i = 0; i < octets; i++) length = length * 256 + bytes[at + 2 + i]!;
      header += octets;
    }
    const end = at + header + length;
    if (end > bytes.length) throw new Error('truncated DER');
    result.push({ tag, raw: bytes.subarray(at, end), content: bytes.subarray(at + header, end) });
    at = end;
  }
  return result;
}

/** An INTEGER's value as lower-case hex without leading zeros (X509Certificate.serialNumber's form). */
const serialHex = (content: Buffer) => content.toString('hex').replace(/^0+(?=.)/, '');

/** The issuer name (DER) and serial number of a certificate. */
function issuerAndSerial(certificate: X509Certificate): { issuer: string; serial: string } {
  const [tbs] = derElements(derElements(certificate.raw)[0]!.content);
  const fields = derElements(tbs!.content);
  const offset = fields[0]!.tag === 0xa0 ? 1 : 0; // [0] version
  return {
    serial: serialHex(fields[offset]!.content),
    issuer: fields[offset + 2]!.raw.toString('hex'),
  };
}

/**
 * The serial numbers a CRL revokes, by its issuer's name (DER hex). The CRL's own signature is
 * not needed: a revocation list in the channel's config can only make the check stricter.
 */
export function crlRevocations(crl: string): { issuer: string; serials: Set<string> } {
  const pem = /-----BEGIN X509 CRL-----([\s\S]+?)-----END X509 CRL-----/.exec(crl);
  const bytes = pem
    ? Buffer.from(pem[1]!.replace(/\s+/g, ''), 'base64')
    : Buffer.from(crl, 'latin1');
  const [tbs] = derElements(derElements(bytes)[0]!.content);
  const fields = derElements(tbs!.content);
  let at = fields[0]!.tag === 0x02 ? 1 : 0; // version
  at++; // signature algorithm
  const issuer = fields[at++]!.raw.toString('hex');
  at++; // thisUpdate
  if (fields[at] && (fields[at]!.tag === 0x17 || fields[at]!.tag === 0x18)) at++; // nextUpdate
  const serials = new Set<string>();
  const revoked = fields[at];
  if (revoked?.tag === 0x30)
    for (const entry of derElements(revoked.content))
      serials.add(serialHex(derElements(entry.content)[0]!.content));
  return { issuer, serials };
}

type Revocations = ReturnType<typeof crlRevocations>;
/** Each config MSP's parsed revocation lists (parsed once, not once per signature checked). */
const parsedRevocations = new WeakMap<ChannelMsp, readonly Revocations[]>();
function revocationsOf(msp: ChannelMsp): readonly Revocations[] {
  let parsed = parsedRevocations.get(msp);
  if (parsed === undefined) {
    parsed = (msp.revocationList ?? []).map(crlRevocations);
    parsedRevocations.set(msp, parsed);
  }
  return parsed;
}

/** The most intermediate certificates an MSP's config may list (each is parsed per signature). */
export const MAX_INTERMEDIATES = 8;

/**
 * Why `signature` does not hold, or undefined: the signer's certificate must be issued (directly
 * or through an intermediate) by a root of its MSP in `msps` AND chain to a CA in `pinned` (the
 * CAs the auditor pins for that MSP, not the bundle's), every issuer must be a CA (basic
 * constraints CA:TRUE), no certificate on the path may be on the MSP's revocation lists, and its
 * key must have signed the bytes. With `role`, the certificate must carry the MSP's
 * organisational unit for that role (an endorsement is a peer's, a block signature an
 * orderer's: a bank's client certificate signs neither).
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
  if (channelMsp.intermediateCertificates.length > MAX_INTERMEDIATES)
    return `${mspId} lists ${channelMsp.intermediateCertificates.length} intermediate CAs (at most ${MAX_INTERMEDIATES} are read)`;
  let certificate: X509Certificate;
  let intermediates: X509Certificate[];
  try {
    certificate = new X509Certificate(signature.signer.certificate);
    intermediates = channelMsp.intermediateCertificates.map((pem) => new X509Certificate(pem));
  } catch {
    return `${mspId}'s signer certificate or an intermediate CA cannot be parsed`;
  }
  const subject = certificate.subject.replaceAll('\n', ', ');
  // An issuer must be a CA (RFC 5280 basic constraints): an end-entity certificate from a
  // pinned CA, and its key, mint nothing.
  const issues = (issuer: X509Certificate, issued: X509Certificate) =>
    issuer.ca && issued.checkIssued(issuer) && issued.verify(issuer.publicKey);
  /** The certificates from the signer up to a root among `roots`, or undefined. */
  const pathTo = (roots: readonly X509Certificate[]): X509Certificate[] | undefined => {
    for (const root of roots) {
      if (issues(root, certificate)) return [certificate];
      for (const intermediate of intermediates)
        if (issues(intermediate, certificate) && issues(root, intermediate))
          return [certificate, intermediate];
    }
    return undefined;
  };
  let roots: X509Certificate[];
  try {
    roots = channelMsp.rootCertificates.map((pem) => new X509Certificate(pem));
  } catch {
    return `${mspId}'s root CA in the channel configuration cannot be parsed`;
  }
  const path = pathTo(roots);
  if (path === undefined)
    return `${mspId}'s signer (${subject}) is not issued by ${mspId}'s CA in the channel configuration`;
  if (role !== undefined) {
    const unit = channelMsp.nodeOus?.[role];
    if (unit === undefined)
      return `${mspId} does not mark its ${role}s' certificates (no node OUs in its MSP): a ${role}'s signature cannot be told from a client's`;
    const units = certificate.subject
      .split('\n')
      .filter((line) => line.startsWith('OU='))
      .map((line) => line.slice(3));
    if (!units.includes(unit))
      return `${mspId}'s signer (${subject}) is not a ${role} (its certificate lacks OU=${unit})`;
  }
  if (pathTo(pinned) === undefined)
    return `${mspId}'s signer (${subject}) does not chain to a CA the auditor pins for ${mspId} (--orderer, --bank, --trust or --profile)`;
  let revocations: readonly Revocations[];
  try {
    revocations = revocationsOf(channelMsp);
  } catch {
    return `${mspId}'s revocation list in the channel configuration cannot be parsed`;
  }
  for (const onPath of path) {
    const { issuer, serial } = issuerAndSerial(onPath);
    if (revocations.some((crl) => crl.issuer === issuer && crl.serials.has(serial)))
      return `${mspId}'s signer (${subject}) is revoked: ${onPath === certificate ? 'its certificate' : `its issuer ${onPath.subject.replaceAll('\n', ', ')}`} is on ${mspId}'s revocation list`;
  }
  let valid = false;
  try {
    valid = verify('sha256', signature.signed, certificate.publicKey, signature.signature);
  } catch {
    valid = false;
  }
  return valid ? undefined : `${mspId}'s signature does not match the signed bytes`;
}
