/**
 * A veilsum consortium as a Fabric network: what runs where. Pure (no I/O): the network scripts
 * turn a topology into cryptogen and configtxgen input, process settings and the connection file.
 *
 * Identity mapping (README "Fabric"): every bank is its own organisation with its own MSP (the
 * MSP id is the bank's member id on the ledger) and its own peer. Parties that endorse nothing —
 * the consortium operator running the coordinator and the keyholders, an auditor — are client
 * organisations: an MSP in the channel, no peer; they reach the ledger through a bank's peer.
 * Chaincode endorsement needs a majority of the bank organisations.
 */
export interface OrganisationSpec {
  /** MSP id = member id on the ledger. */
  readonly mspId: string;
  /** Client identities issued by this organisation's CA, by name (name → User<i>). */
  readonly users: readonly string[];
}

export interface TopologySpec {
  /** Peer organisations, one peer each: the banks. */
  readonly banks: readonly OrganisationSpec[];
  /** Organisations without a peer (operator, auditors). */
  readonly clients: readonly OrganisationSpec[];
  /**
   * The operator: the one organisation the chaincode lets bootstrap the ledger (become its
   * first coordinator). Default: the first client organisation.
   */
  readonly operator?: string;
  /** First of the ports the network listens on (all on 127.0.0.1). */
  readonly portBase: number;
  readonly channel: string;
  /** The orderer cuts a block after this long (ms) or `maxMessageCount` transactions. */
  readonly batchTimeoutMs: number;
  readonly maxMessageCount: number;
}

export const ORDERER_MSP = 'OrdererMSP';

/** The organisation each peer's chaincode lets bootstrap the ledger (VEILSUM_BOOTSTRAP_MSP). */
export function bootstrapOrganisation(spec: TopologySpec): string {
  const operator = spec.operator ?? spec.clients[0]?.mspId;
  if (operator === undefined)
    throw new Error('the topology names no operator organisation to bootstrap the ledger');
  return operator;
}
export const DEFAULT_PORT_BASE = 27050;
/** Ports one peer uses: listen, chaincode, operations. Peers are PEER_PORT_STRIDE apart. */
const PEER_PORT_STRIDE = 10;

export interface PeerNode {
  readonly name: string;
  readonly mspId: string;
  readonly domain: string;
  readonly port: number;
  readonly chaincodePort: number;
  readonly operationsPort: number;
}

export interface Layout {
  readonly orderer: {
    readonly host: string;
    readonly domain: string;
    readonly port: number;
    readonly adminPort: number;
    readonly operationsPort: number;
  };
  /** Where the chaincode-as-a-service server listens (the peers dial it over TLS). */
  readonly chaincodePort: number;
  readonly chaincodeDomain: string;
  readonly peers: readonly PeerNode[];
  /** Last port used, so a caller can check the range. */
  readonly lastPort: number;
}

const MSP_ID = /^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/;

/** A DNS label for an MSP id ("BankAMSP" → "bankamsp"); unique per topology. */
export function domainOf(mspId: string): string {
  return `${mspId.toLowerCase().replace(/[^a-z0-9-]/g, '-')}.veilsum.test`;
}

export function validateTopology(spec: TopologySpec): void {
  const all = [...spec.banks, ...spec.clients];
  if (spec.banks.length < 2)
    throw new Error('a consortium network needs at least two banks (peer organisations)');
  const seen = new Set<string>();
  for (const org of all) {
    if (!MSP_ID.test(org.mspId))
      throw new Error(
        `MSP id ${JSON.stringify(org.mspId)} must be 1-64 letters, digits, '.' or '-'`,
      );
    const domain = domainOf(org.mspId);
    if (seen.has(domain) || org.mspId === ORDERER_MSP)
      throw new Error(`MSP id ${org.mspId} clashes with another organisation`);
    seen.add(domain);
    if (org.users.length === 0) throw new Error(`organisation ${org.mspId} lists no users`);
  }
  const names = all.flatMap((org) => org.users);
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate !== undefined) throw new Error(`identity ${duplicate} is listed twice`);
  const operator = bootstrapOrganisation(spec);
  if (!all.some((org) => org.mspId === operator))
    throw new Error(`the operator ${operator} is none of the topology's organisations`);
  const { lastPort } = layoutOf(spec);
  if (spec.portBase < 1024 || lastPort > 65535)
    throw new Error(`ports ${spec.portBase}-${lastPort} do not fit in 1024-65535`);
}

export function layoutOf(spec: TopologySpec): Layout {
  const base = spec.portBase;
  const peers = spec.banks.map((bank, i): PeerNode => {
    const domain = domainOf(bank.mspId);
    const port = base + PEER_PORT_STRIDE * (i + 1);
    return {
      name: `peer0.${domain}`,
      mspId: bank.mspId,
      domain,
      port,
      chaincodePort: port + 1,
      operationsPort: port + 2,
    };
  });
  return {
    orderer: {
      host: 'orderer.orderer.veilsum.test',
      domain: 'orderer.veilsum.test',
      port: base,
      adminPort: base + 1,
      operationsPort: base + 2,
    },
    chaincodePort: base + 3,
    chaincodeDomain: 'chaincode.veilsum.test',
    peers,
    lastPort: base + PEER_PORT_STRIDE * spec.banks.length + 2,
  };
}

/** The chaincode endorsement policy: a majority of the bank organisations' peers. */
export function majorityOfBanks(spec: TopologySpec): string {
  const needed = Math.floor(spec.banks.length / 2) + 1;
  return `OutOf(${needed}, ${spec.banks.map((bank) => `'${bank.mspId}.peer'`).join(', ')})`;
}

/** cryptogen input (written as JSON, which YAML parsers read). */
export function cryptoConfig(spec: TopologySpec): unknown {
  const sans = ['localhost', '127.0.0.1'];
  const org = (o: OrganisationSpec, peers: number) => ({
    Name: o.mspId,
    Domain: domainOf(o.mspId),
    EnableNodeOUs: true,
    Template: { Count: peers, SANS: sans },
    Users: { Count: o.users.length },
  });
  return {
    OrdererOrgs: [
      {
        Name: 'Orderer',
        Domain: 'orderer.veilsum.test',
        EnableNodeOUs: true,
        Specs: [{ Hostname: 'orderer', SANS: sans }],
      },
    ],
    PeerOrgs: [
      ...spec.banks.map((bank) => org(bank, 1)),
      ...spec.clients.map((client) => org(client, 0)),
      // Not a channel member: the TLS CA and certificates of the peer ↔ chaincode link.
      {
        Name: 'Chaincode',
        Domain: 'chaincode.veilsum.test',
        EnableNodeOUs: false,
        Specs: [{ Hostname: 'server', SANS: sans }],
        Users: { Count: 1 },
      },
    ],
  };
}

/** configtxgen input for the channel genesis block (JSON, read as YAML by configtxgen). */
export function channelConfig(spec: TopologySpec, organisationsDir: string): unknown {
  const layout = layoutOf(spec);
  const signature = (rule: string) => ({ Type: 'Signature', Rule: rule });
  const implicit = (rule: string) => ({ Type: 'ImplicitMeta', Rule: rule });
  const peerOrg = (o: OrganisationSpec, peer: PeerNode | undefined) => ({
    Name: o.mspId,
    ID: o.mspId,
    MSPDir: `${organisationsDir}/peerOrganizations/${domainOf(o.mspId)}/msp`,
    Policies: {
      Readers: signature(`OR('${o.mspId}.admin', '${o.mspId}.peer', '${o.mspId}.client')`),
      Writers: signature(`OR('${o.mspId}.admin', '${o.mspId}.client')`),
      Admins: signature(`OR('${o.mspId}.admin')`),
      Endorsement: signature(`OR('${o.mspId}.peer')`),
    },
    // Anchor peers in the genesis block: cross-org gossip (hence discovery, hence the Gateway
    // finding other banks' endorsers) works without a later channel update.
    ...(peer ? { AnchorPeers: [{ Host: '127.0.0.1', Port: peer.port }] } : {}),
  });
  const ordererDir = `${organisationsDir}/ordererOrganizations/${layout.orderer.domain}`;
  const ordererTls = `${ordererDir}/orderers/${layout.orderer.host}/tls/server.crt`;
  const majority = majorityOfBanks(spec);
  return {
    Profiles: {
      VeilsumChannel: {
        Policies: {
          Readers: implicit('ANY Readers'),
          Writers: implicit('ANY Writers'),
          Admins: implicit('MAJORITY Admins'),
        },
        Capabilities: { V2_0: true },
        Orderer: {
          OrdererType: 'etcdraft',
          Addresses: [],
          EtcdRaft: {
            Consenters: [
              {
                Host: '127.0.0.1',
                Port: layout.orderer.port,
                ClientTLSCert: ordererTls,
                ServerTLSCert: ordererTls,
              },
            ],
            Options: {
              TickInterval: '500ms',
              ElectionTick: 10,
              HeartbeatTick: 1,
              MaxInflightBlocks: 5,
              SnapshotIntervalSize: '16 MB',
            },
          },
          BatchTimeout: `${spec.batchTimeoutMs}ms`,
          BatchSize: {
            MaxMessageCount: spec.maxMessageCount,
            AbsoluteMaxBytes: '99 MB',
            PreferredMaxBytes: '512 KB',
          },
          Organizations: [
            {
              Name: 'Orderer',
              ID: ORDERER_MSP,
              MSPDir: `${ordererDir}/msp`,
              Policies: {
                Readers: signature(`OR('${ORDERER_MSP}.member')`),
                Writers: signature(`OR('${ORDERER_MSP}.member')`),
                Admins: signature(`OR('${ORDERER_MSP}.admin')`),
              },
              OrdererEndpoints: [`127.0.0.1:${layout.orderer.port}`],
            },
          ],
          Policies: {
            Readers: implicit('ANY Readers'),
            Writers: implicit('ANY Writers'),
            Admins: implicit('MAJORITY Admins'),
            BlockValidation: implicit('ANY Writers'),
          },
          Capabilities: { V2_0: true },
        },
        Application: {
          Organizations: [
            ...spec.banks.map((bank, i) => peerOrg(bank, layout.peers[i])),
            ...spec.clients.map((client) => peerOrg(client, undefined)),
          ],
          // Chaincode definitions and (default) endorsement: a majority of the banks' peers.
          // Client organisations have no peer, so an ImplicitMeta MAJORITY over all
          // organisations could be unreachable.
          Policies: {
            Readers: implicit('ANY Readers'),
            Writers: implicit('ANY Writers'),
            Admins: implicit('MAJORITY Admins'),
            LifecycleEndorsement: signature(majority),
            Endorsement: signature(majority),
          },
          Capabilities: { V2_5: true },
        },
      },
    },
  };
}
