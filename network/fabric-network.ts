import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConnectionFile, type ConnectionFile } from '../ledger/fabric/connection-file.ts';
import { openGatewayConnection } from '../ledger/fabric/gateway-connection.ts';
import { buildTrustProfile } from '../ledger/fabric/fabric-trust-profile.ts';
import { portOpen, run, startProcess, stopRecorded, waitFor } from './processes.ts';
import {
  bootstrapOrganisation,
  channelConfig,
  cryptoConfig,
  domainOf,
  layoutOf,
  majorityOfBanks,
  ORDERER_MSP,
  validateTopology,
  type Layout,
  type PeerNode,
  type TopologySpec,
} from './topology.ts';

/**
 * A native Fabric network (no containers) on 127.0.0.1 for a veilsum consortium: one etcdraft
 * orderer, one peer per bank organisation, TLS everywhere, the channel, and the veilsum
 * chaincode running as a service (CCaaS) that every peer dials over mutual TLS. Everything runtime
 * lives under one directory: crypto material, configs, ledgers, logs, recorded PIDs, and
 * `connection.json` for the clients (ledger/fabric/connection-file.ts).
 */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CHAINCODE_LABEL = 'veilsum_0.1.0';

/** Everything startNetwork writes in its directory. */
const NETWORK_FILES = [
  'organizations',
  'config',
  'data',
  'channel-artifacts',
  'chaincode-package',
  'logs',
  'pids',
  'crypto-config.yaml',
  'configtx.yaml',
  'connection.json',
  'network.json',
  'trust-profile.json',
];

export interface NetworkState {
  readonly spec: TopologySpec;
  readonly layout: Layout;
  readonly fabricHome: string;
  readonly packageId: string;
  /** Chaincode names deployed on the channel (each has its own world state). */
  readonly chaincodes: string[];
  readonly networkReadyMs: number;
  /**
   * Extra variables for the chaincode service (e.g. VEILSUM_MAX_CLOCK_SKEW_MS), kept here so a
   * restarted service gets them too; absent: the chaincode's defaults.
   */
  readonly chaincodeEnvironment?: Readonly<Record<string, string>>;
}

export interface StartNetworkOptions {
  /** Extra variables for the chaincode service; its address, TLS and bootstrap ones win. */
  readonly chaincodeEnvironment?: Readonly<Record<string, string>>;
}

export interface RunningNetwork {
  readonly directory: string;
  readonly state: NetworkState;
  readonly connectionFile: string;
}

/** Builds (or finds cached) Fabric binaries; the last line of build-fabric.sh is the folder. */
export function buildFabric(): Promise<string> {
  if (process.env.FABRIC_HOME) return Promise.resolve(process.env.FABRIC_HOME);
  return new Promise((resolvePath, reject) => {
    execFile(
      'bash',
      [join(REPO_ROOT, 'network', 'build-fabric.sh')],
      { maxBuffer: 16 * 1024 * 1024, timeout: 1_800_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(stderr.trim().split('\n').at(-1) ?? error.message));
        else resolvePath(stdout.trim().split('\n').at(-1)!);
      },
    );
  });
}

const organisations = (directory: string) => join(directory, 'organizations');
const peerOrgDir = (directory: string, mspId: string) =>
  join(organisations(directory), 'peerOrganizations', domainOf(mspId));

function baseEnv(fabricHome: string): NodeJS.ProcessEnv {
  return {
    PATH: `${fabricHome}/bin:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: process.env.HOME,
    FABRIC_LOGGING_SPEC: 'INFO',
  };
}

function ordererTlsCa(directory: string, layout: Layout): string {
  return join(
    organisations(directory),
    'ordererOrganizations',
    layout.orderer.domain,
    'tlsca',
    `tlsca.${layout.orderer.domain}-cert.pem`,
  );
}

function peerTlsCa(directory: string, peer: PeerNode): string {
  return join(peerOrgDir(directory, peer.mspId), 'tlsca', `tlsca.${peer.domain}-cert.pem`);
}

/** Environment for the `peer` CLI acting as an organisation's admin against its peer. */
function adminEnv(directory: string, state: NetworkState, peer: PeerNode): NodeJS.ProcessEnv {
  return {
    ...baseEnv(state.fabricHome),
    FABRIC_CFG_PATH: join(directory, 'config', peer.name),
    CORE_PEER_TLS_ENABLED: 'true',
    CORE_PEER_LOCALMSPID: peer.mspId,
    CORE_PEER_ADDRESS: `127.0.0.1:${peer.port}`,
    CORE_PEER_TLS_ROOTCERT_FILE: peerTlsCa(directory, peer),
    CORE_PEER_MSPCONFIGPATH: join(
      peerOrgDir(directory, peer.mspId),
      'users',
      `Admin@${peer.domain}`,
      'msp',
    ),
  };
}

function readState(directory: string): NetworkState {
  return JSON.parse(readFileSync(join(directory, 'network.json'), 'utf8')) as NetworkState;
}

function writeState(directory: string, state: NetworkState): void {
  writeFileSync(join(directory, 'network.json'), JSON.stringify(state, null, 2));
}

async function metric(port: number, name: string): Promise<string | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    const text = await response.text();
    return text
      .split('\n')
      .find((line) => line.startsWith(`${name} `))
      ?.split(' ')[1];
  } catch {
    return undefined;
  }
}

function startOrderer(directory: string, spec: TopologySpec, fabricHome: string): void {
  const { orderer } = layoutOf(spec);
  const node = join(
    organisations(directory),
    'ordererOrganizations',
    orderer.domain,
    'orderers',
    orderer.host,
  );
  const config = join(directory, 'config', 'orderer');
  mkdirSync(config, { recursive: true });
  // sampleconfig's orderer.yaml unchanged; everything node-specific is set below.
  copyFileSync(join(fabricHome, 'sampleconfig', 'orderer.yaml'), join(config, 'orderer.yaml'));
  const data = join(directory, 'data', 'orderer');
  const env: NodeJS.ProcessEnv = {
    ...baseEnv(fabricHome),
    FABRIC_CFG_PATH: config,
    ORDERER_GENERAL_LISTENADDRESS: '127.0.0.1',
    ORDERER_GENERAL_LISTENPORT: String(orderer.port),
    ORDERER_GENERAL_LOCALMSPID: ORDERER_MSP,
    ORDERER_GENERAL_LOCALMSPDIR: join(node, 'msp'),
    ORDERER_GENERAL_TLS_ENABLED: 'true',
    ORDERER_GENERAL_TLS_PRIVATEKEY: join(node, 'tls', 'server.key'),
    ORDERER_GENERAL_TLS_CERTIFICATE: join(node, 'tls', 'server.crt'),
    ORDERER_GENERAL_TLS_ROOTCAS: `[${join(node, 'tls', 'ca.crt')}]`,
    ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE: join(node, 'tls', 'server.crt'),
    ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY: join(node, 'tls', 'server.key'),
    ORDERER_GENERAL_CLUSTER_ROOTCAS: `[${join(node, 'tls', 'ca.crt')}]`,
    // No system channel: channels are joined through the participation API (mutual TLS).
    ORDERER_GENERAL_BOOTSTRAPMETHOD: 'none',
    ORDERER_CHANNELPARTICIPATION_ENABLED: 'true',
    ORDERER_ADMIN_LISTENADDRESS: `127.0.0.1:${orderer.adminPort}`,
    ORDERER_ADMIN_TLS_ENABLED: 'true',
    ORDERER_ADMIN_TLS_CERTIFICATE: join(node, 'tls', 'server.crt'),
    ORDERER_ADMIN_TLS_PRIVATEKEY: join(node, 'tls', 'server.key'),
    ORDERER_ADMIN_TLS_ROOTCAS: `[${join(node, 'tls', 'ca.crt')}]`,
    ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED: 'true',
    ORDERER_ADMIN_TLS_CLIENTROOTCAS: `[${join(node, 'tls', 'ca.crt')}]`,
    ORDERER_OPERATIONS_LISTENADDRESS: `127.0.0.1:${orderer.operationsPort}`,
    ORDERER_METRICS_PROVIDER: 'prometheus',
    // Off /var/hyperledger: everything under the network directory.
    ORDERER_FILELEDGER_LOCATION: data,
    ORDERER_CONSENSUS_WALDIR: join(data, 'etcdraft', 'wal'),
    ORDERER_CONSENSUS_SNAPDIR: join(data, 'etcdraft', 'snapshot'),
  };
  startProcess(directory, 'orderer', join(fabricHome, 'bin', 'orderer'), [], env);
}

function peerEnv(directory: string, fabricHome: string, peer: PeerNode): NodeJS.ProcessEnv {
  const node = join(peerOrgDir(directory, peer.mspId), 'peers', peer.name);
  const data = join(directory, 'data', peer.name);
  return {
    ...baseEnv(fabricHome),
    FABRIC_CFG_PATH: join(directory, 'config', peer.name),
    CORE_PEER_ID: peer.name,
    CORE_PEER_LISTENADDRESS: `127.0.0.1:${peer.port}`,
    CORE_PEER_ADDRESS: `127.0.0.1:${peer.port}`,
    CORE_PEER_CHAINCODELISTENADDRESS: `127.0.0.1:${peer.chaincodePort}`,
    CORE_PEER_CHAINCODEADDRESS: `127.0.0.1:${peer.chaincodePort}`,
    CORE_PEER_GOSSIP_BOOTSTRAP: `127.0.0.1:${peer.port}`,
    CORE_PEER_GOSSIP_EXTERNALENDPOINT: `127.0.0.1:${peer.port}`,
    // The first gossip dial to another org right after `channel join` fails TLS verification
    // (the channel's TLS CAs are trusted only after the gossip callback ran): retry in 2 s,
    // not the default 25 s.
    CORE_PEER_GOSSIP_RECONNECTINTERVAL: '2s',
    // How often gossip_membership_total_peers_known is refreshed (the readiness check reads it).
    CORE_PEER_GOSSIP_MEMBERSHIPTRACKERINTERVAL: '1s',
    CORE_PEER_LOCALMSPID: peer.mspId,
    CORE_PEER_MSPCONFIGPATH: join(node, 'msp'),
    CORE_PEER_TLS_ENABLED: 'true',
    CORE_PEER_TLS_CERT_FILE: join(node, 'tls', 'server.crt'),
    CORE_PEER_TLS_KEY_FILE: join(node, 'tls', 'server.key'),
    CORE_PEER_TLS_ROOTCERT_FILE: join(node, 'tls', 'ca.crt'),
    CORE_PEER_FILESYSTEMPATH: data,
    CORE_LEDGER_SNAPSHOTS_ROOTDIR: join(data, 'snapshots'),
    CORE_LEDGER_STATE_STATEDATABASE: 'goleveldb',
    CORE_OPERATIONS_LISTENADDRESS: `127.0.0.1:${peer.operationsPort}`,
    CORE_METRICS_PROVIDER: 'prometheus',
  };
}

/** Starts (or restarts) one peer; its core.yaml is written on first start. */
export function startPeer(directory: string, fabricHome: string, peer: PeerNode): void {
  const config = join(directory, 'config', peer.name);
  if (!existsSync(join(config, 'core.yaml'))) {
    mkdirSync(config, { recursive: true });
    // Two edits to sampleconfig's core.yaml: no Docker endpoint (an empty CORE_VM_ENDPOINT is
    // ignored, and the peer would then health-check a Docker daemon), and the ccaas builder's path.
    const core = readFileSync(join(fabricHome, 'sampleconfig', 'core.yaml'), 'utf8')
      .replace(/^(\s+endpoint:) unix:\/\/\/var\/run\/docker\.sock$/m, '$1')
      .replace('path: /opt/hyperledger/ccaas_builder', `path: ${join(fabricHome, 'ccaas')}`);
    if (
      core.includes('endpoint: unix:///var/run/docker.sock') ||
      !core.includes(join(fabricHome, 'ccaas'))
    )
      throw new Error(
        'sampleconfig core.yaml changed shape: cannot blank vm.endpoint or set the ccaas builder',
      );
    writeFileSync(join(config, 'core.yaml'), core);
  }
  startProcess(
    directory,
    peer.name,
    join(fabricHome, 'bin', 'peer'),
    ['node', 'start'],
    peerEnv(directory, fabricHome, peer),
  );
}

function nodeBinary(): string {
  const local = join(REPO_ROOT, 'node_modules', 'node', 'bin', 'node');
  return existsSync(local) ? local : process.execPath;
}

function chaincodeTls(directory: string) {
  const root = join(organisations(directory), 'peerOrganizations', 'chaincode.veilsum.test');
  return {
    ca: join(root, 'tlsca', 'tlsca.chaincode.veilsum.test-cert.pem'),
    serverCert: join(root, 'peers', 'server.chaincode.veilsum.test', 'tls', 'server.crt'),
    serverKey: join(root, 'peers', 'server.chaincode.veilsum.test', 'tls', 'server.key'),
    clientCert: join(root, 'users', 'User1@chaincode.veilsum.test', 'tls', 'client.crt'),
    clientKey: join(root, 'users', 'User1@chaincode.veilsum.test', 'tls', 'client.key'),
  };
}

/** Starts (or restarts) the chaincode server, with mutual TLS towards the peers. */
export function startChaincodeServer(directory: string, state: NetworkState): void {
  const tls = chaincodeTls(directory);
  startProcess(
    directory,
    'chaincode',
    nodeBinary(),
    [join(REPO_ROOT, 'chaincode', 'server.ts')],
    {
      ...state.chaincodeEnvironment,
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      CHAINCODE_SERVER_ADDRESS: `127.0.0.1:${state.layout.chaincodePort}`,
      CHAINCODE_ID: state.packageId,
      CHAINCODE_TLS_CERT_FILE: tls.serverCert,
      CHAINCODE_TLS_KEY_FILE: tls.serverKey,
      CHAINCODE_TLS_CLIENT_CA_FILE: tls.ca,
      VEILSUM_BOOTSTRAP_MSP: bootstrapOrganisation(state.spec),
    },
    REPO_ROOT,
  );
}

/** The CCaaS package: metadata.json (type ccaas) and code.tar.gz holding connection.json. */
async function packageChaincode(directory: string, state: NetworkState): Promise<string> {
  const tls = chaincodeTls(directory);
  const dir = join(directory, 'chaincode-package');
  mkdirSync(join(dir, 'src'), { recursive: true });
  const pem = (file: string) => readFileSync(file, 'utf8');
  writeFileSync(
    join(dir, 'src', 'connection.json'),
    JSON.stringify({
      address: `127.0.0.1:${state.layout.chaincodePort}`,
      dial_timeout: '10s',
      tls_required: true,
      client_auth_required: true,
      root_cert: pem(tls.ca),
      client_cert: pem(tls.clientCert),
      client_key: pem(tls.clientKey),
    }),
  );
  writeFileSync(
    join(dir, 'src', 'metadata.json'),
    JSON.stringify({ type: 'ccaas', label: CHAINCODE_LABEL }),
  );
  const tarball = join(dir, `${CHAINCODE_LABEL}.tar.gz`);
  await run('tar', ['-C', join(dir, 'src'), '-czf', join(dir, 'code.tar.gz'), 'connection.json'], {
    PATH: process.env.PATH,
  });
  await run(
    'tar',
    ['-C', join(dir, 'src'), '-czf', tarball, 'metadata.json', '-C', dir, 'code.tar.gz'],
    { PATH: process.env.PATH },
  );
  return tarball;
}

/**
 * Deploys a chaincode definition named `name` over the installed package: every bank approves,
 * then one commit endorsed by all banks. Each name has its own world state, so tests get a fresh
 * ledger per name on one network.
 */
export async function deployChaincode(directory: string, name: string): Promise<void> {
  const state = readState(directory);
  const { layout, spec } = state;
  const peerCli = join(state.fabricHome, 'bin', 'peer');
  const orderer = [
    '-o',
    `127.0.0.1:${layout.orderer.port}`,
    '--ordererTLSHostnameOverride',
    layout.orderer.host,
    '--tls',
    '--cafile',
    ordererTlsCa(directory, layout),
  ];
  const definition = [
    '--channelID',
    spec.channel,
    '--name',
    name,
    '--version',
    '0.1.0',
    '--sequence',
    '1',
    '--signature-policy',
    majorityOfBanks(spec),
  ];
  await Promise.all(
    layout.peers.map((peer) =>
      run(
        peerCli,
        [
          'lifecycle',
          'chaincode',
          'approveformyorg',
          ...orderer,
          ...definition,
          '--package-id',
          state.packageId,
        ],
        adminEnv(directory, state, peer),
      ),
    ),
  );
  const endorsers = layout.peers.flatMap((peer) => [
    '--peerAddresses',
    `127.0.0.1:${peer.port}`,
    '--tlsRootCertFiles',
    peerTlsCa(directory, peer),
  ]);
  await run(
    peerCli,
    ['lifecycle', 'chaincode', 'commit', ...orderer, ...definition, ...endorsers],
    adminEnv(directory, state, layout.peers[0]!),
  );
  writeState(directory, { ...state, chaincodes: [...state.chaincodes, name] });
  await waitForChaincode(directory, name);
}

/**
 * Ready = every bank's peer runs the chaincode, and each peer's Gateway can reach an endorser of
 * every bank (gossip and discovery work): an endorsement asked of all banks through each peer
 * comes back from every one of them with the chaincode's own answer.
 */
async function waitForChaincode(directory: string, name: string): Promise<void> {
  const connection = loadConnectionFile(join(directory, 'connection.json'));
  const state = readState(directory);
  const banks = state.spec.banks.map((bank) => bank.mspId);
  for (const bank of state.spec.banks) {
    const identity = connection.identities[bank.users[0]!]!;
    const peer = connection.peers.find((p) => p.mspId === bank.mspId)!;
    const connectionToPeer = openGatewayConnection(peer, identity);
    const { gateway } = connectionToPeer;
    try {
      const contract = gateway
        .getNetwork(connection.channel)
        .getContract(name, connection.contract);
      let last = '';
      await waitFor(
        () =>
          `chaincode ${name} to answer through ${peer.name} for ${banks.join(', ')} (last: ${last})`,
        async () => {
          try {
            await contract
              .newProposal('getMember', {
                arguments: [JSON.stringify('readiness-probe')],
                endorsingOrganizations: banks,
              })
              .endorse();
            return true;
          } catch (error) {
            const details = (error as { details?: { mspId: string; message: string }[] }).details;
            last = [
              (error as Error).message,
              ...(details ?? []).map((d) => `${d.mspId}: ${d.message}`),
            ].join('; ');
            const answered = new Set(
              (details ?? []).filter((d) => d.message.includes('[not-found]')).map((d) => d.mspId),
            );
            return banks.every((bank) => answered.has(bank));
          }
        },
        60_000,
        250,
      );
    } finally {
      connectionToPeer.close();
    }
  }
}

function writeConnectionFile(directory: string, spec: TopologySpec, layout: Layout): string {
  const identity = (mspId: string, index: number, peer: PeerNode) => {
    const domain = domainOf(mspId);
    const msp = join(peerOrgDir(directory, mspId), 'users', `User${index + 1}@${domain}`, 'msp');
    const keystore = join(msp, 'keystore');
    return {
      mspId,
      certificate: join(msp, 'signcerts', `User${index + 1}@${domain}-cert.pem`),
      privateKey: join(keystore, readdirSync(keystore)[0]!),
      peer: peer.name,
    };
  };
  const identities: ConnectionFile['identities'] = {};
  spec.banks.forEach((bank, b) =>
    bank.users.forEach((user, u) => (identities[user] = identity(bank.mspId, u, layout.peers[b]!))),
  );
  // Client organisations have no peer: their identities use the banks' peers, spread round.
  spec.clients.forEach((client, c) =>
    client.users.forEach(
      (user, u) =>
        (identities[user] = identity(
          client.mspId,
          u,
          layout.peers[(c + u) % layout.peers.length]!,
        )),
    ),
  );
  const connection: ConnectionFile = {
    channel: spec.channel,
    chaincode: 'veilsum',
    contract: 'veilsum',
    peers: layout.peers.map((peer) => ({
      name: peer.name,
      mspId: peer.mspId,
      endpoint: `127.0.0.1:${peer.port}`,
      tlsRootCertificate: peerTlsCa(directory, peer),
      hostNameOverride: peer.name,
    })),
    identities,
  };
  const file = join(directory, 'connection.json');
  writeFileSync(file, JSON.stringify(connection, null, 2));
  return file;
}

/**
 * The consortium's trust profile for auditors (`veilsum audit verify-bundle --profile`): the
 * channel, the chaincode, the genesis block's hash and each organisation's CA certificate by
 * role, written beside the crypto material as `trust-profile.json`.
 */
function writeTrustProfile(
  directory: string,
  spec: TopologySpec,
  layout: Layout,
  genesisBlock: string,
): void {
  const caOf = (kind: string, domain: string) =>
    readFileSync(
      join(organisations(directory), kind, domain, 'ca', `ca.${domain}-cert.pem`),
      'utf8',
    );
  const peerOrgs = (orgs: readonly { mspId: string }[]) =>
    Object.fromEntries(
      orgs.map((org) => [org.mspId, caOf('peerOrganizations', domainOf(org.mspId))]),
    );
  const profile = buildTrustProfile({
    channel: spec.channel,
    chaincode: 'veilsum',
    genesisBlock: readFileSync(genesisBlock),
    orderers: { [ORDERER_MSP]: caOf('ordererOrganizations', layout.orderer.domain) },
    banks: peerOrgs(spec.banks),
    others: peerOrgs(spec.clients),
  });
  writeFileSync(join(directory, TRUST_PROFILE_FILE), JSON.stringify(profile, null, 2) + '\n');
}

/** Where a network's folder holds its trust profile. */
export const TRUST_PROFILE_FILE = 'trust-profile.json';

export function networkState(directory: string): NetworkState {
  return readState(directory);
}

/**
 * Brings a network up from nothing in `directory` (which must not hold one) and returns once it
 * is ready (Raft leader, cross-org gossip, chaincode answering through every peer for every bank).
 * On any failure it stops what it started before rethrowing.
 */
export async function startNetwork(
  spec: TopologySpec,
  directory: string,
  fabricHome: string,
  options: StartNetworkOptions = {},
): Promise<RunningNetwork> {
  validateTopology(spec);
  if (existsSync(join(directory, 'network.json')))
    throw new Error(`${directory} already holds a network: run fabric:down (with --purge) first`);
  const layout = layoutOf(spec);
  const ports = [
    layout.orderer.port,
    layout.orderer.adminPort,
    layout.orderer.operationsPort,
    layout.chaincodePort,
    ...layout.peers.flatMap((p) => [p.port, p.chaincodePort, p.operationsPort]),
  ];
  for (const port of ports)
    if (await portOpen(port))
      throw new Error(
        `port ${port} on 127.0.0.1 is in use (another network?): move the range with VEILSUM_FABRIC_PORT_BASE`,
      );
  const started = Date.now();
  // What a failed earlier start left behind (never anything else in the folder).
  for (const leftover of NETWORK_FILES)
    rmSync(join(directory, leftover), { recursive: true, force: true });
  mkdirSync(directory, { recursive: true });
  const env = baseEnv(fabricHome);
  const bin = (tool: string) => join(fabricHome, 'bin', tool);
  try {
    writeFileSync(
      join(directory, 'crypto-config.yaml'),
      JSON.stringify(cryptoConfig(spec), null, 2),
    );
    await run(
      bin('cryptogen'),
      [
        'generate',
        `--config=${join(directory, 'crypto-config.yaml')}`,
        `--output=${organisations(directory)}`,
      ],
      env,
    );
    writeFileSync(
      join(directory, 'configtx.yaml'),
      JSON.stringify(channelConfig(spec, organisations(directory)), null, 2),
    );
    const block = join(directory, 'channel-artifacts', `${spec.channel}.block`);
    mkdirSync(dirname(block), { recursive: true });
    await run(
      bin('configtxgen'),
      ['-profile', 'VeilsumChannel', '-channelID', spec.channel, '-outputBlock', block],
      { ...env, FABRIC_CFG_PATH: directory },
    );
    writeTrustProfile(directory, spec, layout, block);
    let state: NetworkState = {
      spec,
      layout,
      fabricHome,
      packageId: '',
      chaincodes: [],
      networkReadyMs: 0,
      ...(options.chaincodeEnvironment && { chaincodeEnvironment: options.chaincodeEnvironment }),
    };
    writeState(directory, state);
    startOrderer(directory, spec, fabricHome);
    for (const peer of layout.peers) startPeer(directory, fabricHome, peer);

    const ordererOrg = join(
      organisations(directory),
      'ordererOrganizations',
      layout.orderer.domain,
    );
    await waitFor('the orderer admin endpoint', () => portOpen(layout.orderer.adminPort), 60_000);
    await run(
      bin('osnadmin'),
      [
        'channel',
        'join',
        '--channelID',
        spec.channel,
        '--config-block',
        block,
        '-o',
        `127.0.0.1:${layout.orderer.adminPort}`,
        '--ca-file',
        ordererTlsCa(directory, layout),
        '--client-cert',
        join(ordererOrg, 'users', `Admin@${layout.orderer.domain}`, 'tls', 'client.crt'),
        '--client-key',
        join(ordererOrg, 'users', `Admin@${layout.orderer.domain}`, 'tls', 'client.key'),
      ],
      env,
    );
    await Promise.all(
      layout.peers.map(async (peer) => {
        await waitFor(`${peer.name} to listen`, () => portOpen(peer.port), 60_000);
        await run(bin('peer'), ['channel', 'join', '-b', block], adminEnv(directory, state, peer));
      }),
    );
    // Ready: a Raft leader, and every peer sees every other bank's peer in channel gossip.
    const others = String(layout.peers.length - 1);
    await waitFor(
      'the Raft leader and cross-organisation gossip',
      async () => {
        const leader = await metric(
          layout.orderer.operationsPort,
          `consensus_etcdraft_is_leader{channel="${spec.channel}"}`,
        );
        if (leader !== '1') return false;
        for (const peer of layout.peers) {
          const known = await metric(
            peer.operationsPort,
            `gossip_membership_total_peers_known{channel="${spec.channel}"}`,
          );
          if (known !== others) return false;
        }
        return true;
      },
      120_000,
      200,
    );

    // The chaincode: package, install on every peer, start the server, define it on the channel.
    const tarball = await packageChaincode(directory, state);
    const packageId = (
      await run(
        bin('peer'),
        ['lifecycle', 'chaincode', 'calculatepackageid', tarball],
        adminEnv(directory, state, layout.peers[0]!),
      )
    ).trim();
    state = { ...state, packageId };
    writeState(directory, state);
    await Promise.all(
      layout.peers.map((peer) =>
        run(
          bin('peer'),
          ['lifecycle', 'chaincode', 'install', tarball],
          adminEnv(directory, state, peer),
        ),
      ),
    );
    startChaincodeServer(directory, state);
    await waitFor('the chaincode server', () => portOpen(layout.chaincodePort), 30_000);
    const connectionFile = writeConnectionFile(directory, spec, layout);
    await deployChaincode(directory, 'veilsum');
    state = { ...readState(directory), networkReadyMs: Date.now() - started };
    writeState(directory, state);
    return { directory, state, connectionFile };
  } catch (error) {
    await stopRecorded(directory);
    rmSync(join(directory, 'network.json'), { force: true });
    throw error;
  }
}

/** Stops the processes this directory's network started (by recorded PID). */
export function stopNetwork(directory: string): Promise<string[]> {
  return stopRecorded(directory);
}

/** Deletes what startNetwork wrote in `directory` (after stopNetwork). */
export function purgeNetwork(directory: string): void {
  for (const file of NETWORK_FILES) rmSync(join(directory, file), { recursive: true, force: true });
}

/** Stops one node of the network (a peer by name, 'orderer' or 'chaincode'). */
export async function stopNode(directory: string, name: string): Promise<void> {
  await stopRecorded(directory, name);
}

/** Kills one node of the network at once (SIGKILL), as a crash or a pulled plug would. */
export async function killNode(directory: string, name: string): Promise<void> {
  await stopRecorded(directory, name, 'SIGKILL');
}

/** Starts a stopped peer again (same config and ledger) and waits until it rejoined gossip. */
export async function restartPeer(directory: string, peerName: string): Promise<void> {
  const state = readState(directory);
  const peer = state.layout.peers.find((p) => p.name === peerName);
  if (peer === undefined) throw new Error(`no peer ${peerName} in this network`);
  startPeer(directory, state.fabricHome, peer);
  await waitFor(`${peer.name} to listen`, () => portOpen(peer.port), 60_000);
  const others = String(state.layout.peers.length - 1);
  await waitFor(
    `${peer.name} to see the other banks' peers again`,
    async () =>
      (await metric(
        peer.operationsPort,
        `gossip_membership_total_peers_known{channel="${state.spec.channel}"}`,
      )) === others,
    120_000,
    200,
  );
}

/** Where a peer keeps its LevelDB world state. */
export function peerStateDatabase(directory: string, peerName: string): string {
  return join(directory, 'data', peerName, 'ledgersData', 'stateLeveldb');
}
