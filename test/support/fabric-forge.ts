import { createHash, sign, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { common, ledger, msp, peer } from '@hyperledger/fabric-protos';
import { blockHeaderBytes } from '../../ledger/fabric/fabric-blocks.ts';
import type { FabricEvidenceBundle } from '../../services/console/fabric-evidence.ts';
import type { Lineage } from '../../ledger/records.ts';

/**
 * The forger's kit for evidence tests: mints X.509 material with the openssl CLI and builds Fabric
 * blocks byte for byte with fabric-protos, so a test can hand verifyFabricEvidenceBundle a chain
 * nobody's orderer ever saw. Nothing here touches a network.
 */

export interface Pki {
  readonly cert: string;
  readonly key: string;
  readonly x509: X509Certificate;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}

let serial = 1;

function extFile(directory: string, n: number, extensions: readonly string[]): string {
  const file = join(directory, `leaf${n}.ext`);
  writeFileSync(file, extensions.join('\n') + '\n');
  return file;
}

/** A self-signed ECDSA P-256 CA (an organisation's CA, as cryptogen makes them). */
export function makeCa(directory: string, name: string): Pki {
  const key = join(directory, `${name}.key`);
  const cert = join(directory, `${name}.pem`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    key,
    '-subj',
    `/O=${name}/CN=ca.${name}`,
    '-days',
    '30',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    '-out',
    cert,
  ]);
  const pem = readFileSync(cert, 'utf8');
  return { cert: pem, key: readFileSync(key, 'utf8'), x509: new X509Certificate(pem) };
}

/** A leaf certificate issued by `ca` with the given subject (e.g. /O=x/OU=peer/CN=peer0). */
export function issue(
  directory: string,
  ca: Pki,
  subject: string,
  extensions?: readonly string[],
): Pki {
  const n = serial++;
  const key = join(directory, `leaf${n}.key`);
  const csr = join(directory, `leaf${n}.csr`);
  const cert = join(directory, `leaf${n}.pem`);
  const caKey = join(directory, `leaf${n}-ca.key`);
  const caCert = join(directory, `leaf${n}-ca.pem`);
  writeFileSync(caKey, ca.key);
  writeFileSync(caCert, ca.cert);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  openssl(['req', '-new', '-key', key, '-subj', subject, '-out', csr]);
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    caCert,
    '-CAkey',
    caKey,
    '-set_serial',
    String(1000 + n),
    '-days',
    '20',
    '-out',
    cert,
    ...(extensions ? ['-extfile', extFile(directory, n, extensions)] : []),
  ]);
  const pem = readFileSync(cert, 'utf8');
  return { cert: pem, key: readFileSync(key, 'utf8'), x509: new X509Certificate(pem) };
}

export interface Signer {
  readonly mspId: string;
  readonly pki: Pki;
}

const serialized = (signer: Signer): Uint8Array => {
  const identity = new msp.SerializedIdentity();
  identity.setMspid(signer.mspId);
  identity.setIdBytes(Buffer.from(signer.pki.cert, 'utf8'));
  return identity.serializeBinary();
};

const ecdsa = (signer: Signer, bytes: Uint8Array): Buffer => sign('sha256', bytes, signer.pki.key);

export interface OrgDefinition {
  readonly mspId: string;
  /** The root CA certificate(s) the config names for this MSP. */
  readonly roots: readonly string[];
  readonly section: 'Application' | 'Orderer';
  /** Application organisations with anchor peers are the verifier's "banks". */
  readonly anchorPeers?: boolean;
  /** PEM CRLs the MSP publishes (FabricMSPConfig.revocation_list). */
  readonly revocationList?: readonly string[];
}

/** A CRL of `ca` revoking `leaves` (PEM), made with `openssl ca -gencrl`. */
export function revoke(directory: string, ca: Pki, leaves: readonly Pki[]): string {
  const n = serial++;
  const dir = join(directory, `crl${n}`);
  execFileSync('mkdir', ['-p', dir]);
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'crlnumber'), '01\n');
  writeFileSync(join(dir, 'ca.key'), ca.key);
  writeFileSync(join(dir, 'ca.pem'), ca.cert);
  writeFileSync(
    join(dir, 'ca.cnf'),
    `[ca]\ndefault_ca = CA_default\n[CA_default]\ndatabase = ${join(dir, 'index.txt')}\ncrlnumber = ${join(dir, 'crlnumber')}\ndefault_md = sha256\ndefault_crl_days = 30\n`,
  );
  const common = [
    '-config',
    join(dir, 'ca.cnf'),
    '-keyfile',
    join(dir, 'ca.key'),
    '-cert',
    join(dir, 'ca.pem'),
  ];
  for (const [i, leaf] of leaves.entries()) {
    writeFileSync(join(dir, `leaf${i}.pem`), leaf.cert);
    openssl(['ca', ...common, '-revoke', join(dir, `leaf${i}.pem`)]);
  }
  openssl(['ca', ...common, '-gencrl', '-out', join(dir, 'crl.pem')]);
  return readFileSync(join(dir, 'crl.pem'), 'utf8');
}

/** jspb.Map's declarations do not resolve for the linter: the one call used, typed here. */
interface SettableMap<V> {
  set(key: string, value: V): unknown;
}
const values = (group: common.ConfigGroup) =>
  group.getValuesMap() as unknown as SettableMap<common.ConfigValue>;
const groups = (group: common.ConfigGroup) =>
  group.getGroupsMap() as unknown as SettableMap<common.ConfigGroup>;

function configGroup(): common.ConfigGroup {
  return new common.ConfigGroup();
}

/** The envelope of a config transaction defining `orgs`, on `channel`. */
export function configEnvelope(channel: string, orgs: readonly OrgDefinition[]): Uint8Array {
  const channelGroup = configGroup();
  for (const section of ['Application', 'Orderer'] as const) {
    const sectionGroup = configGroup();
    for (const org of orgs.filter((o) => o.section === section)) {
      const group = configGroup();
      const fabricMsp = new msp.FabricMSPConfig();
      fabricMsp.setName(org.mspId);
      fabricMsp.setRootCertsList(org.roots.map((pem) => Buffer.from(pem, 'utf8')));
      if (org.revocationList)
        fabricMsp.setRevocationListList(org.revocationList.map((pem) => Buffer.from(pem, 'utf8')));
      const ous = new msp.FabricNodeOUs();
      ous.setEnable(true);
      const peerOu = new msp.FabricOUIdentifier();
      peerOu.setOrganizationalUnitIdentifier('peer');
      const ordererOu = new msp.FabricOUIdentifier();
      ordererOu.setOrganizationalUnitIdentifier('orderer');
      ous.setPeerOuIdentifier(peerOu);
      ous.setOrdererOuIdentifier(ordererOu);
      fabricMsp.setFabricNodeOus(ous);
      const mspConfig = new msp.MSPConfig();
      mspConfig.setType(0);
      mspConfig.setConfig(fabricMsp.serializeBinary());
      const mspValue = new common.ConfigValue();
      mspValue.setValue(mspConfig.serializeBinary());
      values(group).set('MSP', mspValue);
      if (org.anchorPeers) {
        const anchors = new peer.AnchorPeers();
        const anchor = new peer.AnchorPeer();
        anchor.setHost('127.0.0.1');
        anchor.setPort(7051);
        anchors.setAnchorPeersList([anchor]);
        const anchorValue = new common.ConfigValue();
        anchorValue.setValue(anchors.serializeBinary());
        values(group).set('AnchorPeers', anchorValue);
      }
      groups(sectionGroup).set(org.mspId, group);
    }
    groups(channelGroup).set(section, sectionGroup);
  }
  const config = new common.Config();
  config.setChannelGroup(channelGroup);
  const configEnvelope = new common.ConfigEnvelope();
  configEnvelope.setConfig(config);
  const channelHeader = new common.ChannelHeader();
  channelHeader.setType(1); // CONFIG
  channelHeader.setChannelId(channel);
  const header = new common.Header();
  header.setChannelHeader(channelHeader.serializeBinary());
  header.setSignatureHeader(new common.SignatureHeader().serializeBinary());
  const payload = new common.Payload();
  payload.setHeader(header);
  payload.setData(configEnvelope.serializeBinary());
  const envelope = new common.Envelope();
  envelope.setPayload(payload.serializeBinary());
  return envelope.serializeBinary();
}

export interface Write {
  readonly key: string;
  readonly value: string;
}

/** An endorser transaction writing `writes` in `namespace`, created and endorsed as given. */
export function endorserTransaction(options: {
  channel: string;
  txId: string;
  namespace: string;
  writes: readonly Write[];
  creator: Signer;
  endorsers: readonly Signer[];
}): Uint8Array {
  const kv = new ledger.rwset.kvrwset.KVRWSet();
  kv.setWritesList(
    options.writes.map(({ key, value }) => {
      const write = new ledger.rwset.kvrwset.KVWrite();
      write.setKey(key);
      write.setValue(Buffer.from(value, 'utf8'));
      return write;
    }),
  );
  const ns = new ledger.rwset.NsReadWriteSet();
  ns.setNamespace(options.namespace);
  ns.setRwset(kv.serializeBinary());
  const results = new ledger.rwset.TxReadWriteSet();
  results.setDataModel(0);
  results.setNsRwsetList([ns]);
  const chaincodeAction = new peer.ChaincodeAction();
  chaincodeAction.setResults(results.serializeBinary());
  const responsePayload = new peer.ProposalResponsePayload();
  responsePayload.setProposalHash(createHash('sha256').update(options.txId).digest());
  responsePayload.setExtension$(chaincodeAction.serializeBinary());
  const responseBytes = responsePayload.serializeBinary();
  const endorsed = new peer.ChaincodeEndorsedAction();
  endorsed.setProposalResponsePayload(responseBytes);
  endorsed.setEndorsementsList(
    options.endorsers.map((endorser) => {
      const endorsement = new peer.Endorsement();
      const identity = serialized(endorser);
      endorsement.setEndorser(identity);
      endorsement.setSignature(ecdsa(endorser, Buffer.concat([responseBytes, identity])));
      return endorsement;
    }),
  );
  const actionPayload = new peer.ChaincodeActionPayload();
  actionPayload.setAction(endorsed);
  const action = new peer.TransactionAction();
  action.setPayload(actionPayload.serializeBinary());
  const transaction = new peer.Transaction();
  transaction.setActionsList([action]);
  const channelHeader = new common.ChannelHeader();
  channelHeader.setType(3); // ENDORSER_TRANSACTION
  channelHeader.setChannelId(options.channel);
  channelHeader.setTxId(options.txId);
  const signatureHeader = new common.SignatureHeader();
  signatureHeader.setCreator(serialized(options.creator));
  signatureHeader.setNonce(Buffer.alloc(24, 7));
  const header = new common.Header();
  header.setChannelHeader(channelHeader.serializeBinary());
  header.setSignatureHeader(signatureHeader.serializeBinary());
  const payload = new common.Payload();
  payload.setHeader(header);
  payload.setData(transaction.serializeBinary());
  const payloadBytes = payload.serializeBinary();
  const envelope = new common.Envelope();
  envelope.setPayload(payloadBytes);
  envelope.setSignature(ecdsa(options.creator, payloadBytes));
  return envelope.serializeBinary();
}

export interface BuiltBlock {
  readonly number: number;
  readonly previousHash: string;
  readonly dataHash: string;
  readonly hash: string;
  readonly bytes: Uint8Array;
}

/**
 * A block: header, data, and metadata signed by `orderer` (none for the genesis block when
 * `orderer` is undefined), last config `lastConfig`, every transaction flagged VALID.
 */
export function block(options: {
  number: number;
  previousHash: string;
  envelopes: readonly Uint8Array[];
  orderer: Signer | undefined;
  lastConfig: number;
}): BuiltBlock {
  const dataHash = createHash('sha256').update(Buffer.concat(options.envelopes)).digest();
  const previous = Buffer.from(options.previousHash, 'hex');
  const header = new common.BlockHeader();
  header.setNumber(options.number);
  header.setPreviousHash(previous);
  header.setDataHash(dataHash);
  const headerBytes = blockHeaderBytes(options.number, previous, dataHash);
  const data = new common.BlockData();
  data.setDataList([...options.envelopes]);
  const signatures = new common.Metadata();
  if (options.orderer !== undefined) {
    const ordererMetadata = new common.OrdererBlockMetadata();
    const lastConfig = new common.LastConfig();
    lastConfig.setIndex(options.lastConfig);
    ordererMetadata.setLastConfig(lastConfig);
    const value = ordererMetadata.serializeBinary();
    signatures.setValue(value);
    const signatureHeader = new common.SignatureHeader();
    signatureHeader.setCreator(serialized(options.orderer));
    signatureHeader.setNonce(Buffer.alloc(24, 3));
    const signatureHeaderBytes = signatureHeader.serializeBinary();
    const metadataSignature = new common.MetadataSignature();
    metadataSignature.setSignatureHeader(signatureHeaderBytes);
    metadataSignature.setSignature(
      ecdsa(options.orderer, Buffer.concat([value, signatureHeaderBytes, headerBytes])),
    );
    signatures.setSignaturesList([metadataSignature]);
  }
  const metadata = new common.BlockMetadata();
  metadata.setMetadataList([
    options.orderer !== undefined ? signatures.serializeBinary() : new Uint8Array(),
    new Uint8Array(),
    new Uint8Array(options.envelopes.length), // TRANSACTIONS_FILTER: all VALID (0)
    new Uint8Array(),
    new Uint8Array(),
  ]);
  const built = new common.Block();
  built.setHeader(header);
  built.setData(data);
  built.setMetadata(metadata);
  return {
    number: options.number,
    previousHash: options.previousHash,
    dataHash: dataHash.toString('hex'),
    hash: createHash('sha256').update(headerBytes).digest('hex'),
    bytes: built.serializeBinary(),
  };
}

/** A lineage whose records are exactly the `Write`s a forger puts in a block. */
export function forgedLineage(
  modelHash: string,
  banks: readonly string[],
): {
  lineage: Lineage;
  writes: Write[];
} {
  const roundId = 'forged-round-1';
  const consents = banks.map((bank) => ({
    consentId: `${bank}-consent`,
    memberId: bank,
    datasetId: `${bank}-loans`,
    purpose: 'review-model',
    grantedAt: 1_700_000_000_000,
    expiresAt: 1_900_000_000_000,
    revokedAt: null,
  }));
  const round = {
    roundId,
    modelId: 'review-model',
    roundNumber: 1,
    paramsHash: 'ab'.repeat(32),
    roster: [...banks],
    openedAt: 1_700_000_100_000,
    consents: consents.map(({ memberId, datasetId, consentId }) => ({
      memberId,
      datasetId,
      consentId,
    })),
    status: 'closed' as const,
    closedAt: 1_700_000_200_000,
    included: [...banks],
    participantSetCommitment: 'cd'.repeat(32),
    uploadsMerkleRoot: 'ef'.repeat(32),
    aggregateHash: '12'.repeat(32),
    dropoutCount: 0,
  };
  const modelVersion = {
    modelHash,
    modelId: 'review-model',
    roundId,
    recordedAt: 1_700_000_300_000,
  };
  const lineage = {
    modelVersion,
    round,
    contributions: consents.map((consent) => ({ memberId: consent.memberId, consent })),
  } as unknown as Lineage;
  return {
    lineage,
    writes: [
      { key: `model/${modelHash}`, value: JSON.stringify(modelVersion) },
      { key: `round/${roundId}`, value: JSON.stringify(round) },
      ...consents.map((c) => ({ key: `consent/${c.consentId}`, value: JSON.stringify(c) })),
    ],
  };
}

/** The bundle a forger hands the regulator for `blocks` (all whole) and `lineage`. */
export function bundleOf(options: {
  channel: string;
  chaincode: string;
  modelHash: string;
  blocks: readonly BuiltBlock[];
  lineage: readonly Lineage[];
}): FabricEvidenceBundle {
  const head = options.blocks.at(-1)!;
  return {
    format: 'veilsum-fabric-evidence/1',
    modelHash: options.modelHash,
    channel: options.channel,
    chaincode: options.chaincode,
    head: { number: head.number, hash: head.hash },
    headers: options.blocks.map((b) => [b.number, b.previousHash, b.dataHash] as const),
    blocks: options.blocks.map((b) => ({
      number: b.number,
      bytes: Buffer.from(b.bytes).toString('base64'),
    })),
    transactions: [],
    msps: [],
    lineage: [...options.lineage],
    inclusionProofs: [],
  };
}
