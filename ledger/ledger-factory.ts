import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { identityIssuersOf } from '../crypto/certificate-bundle.ts';
import { EmbeddedLedgerDatabase, ledgerWriter } from './embedded/embedded-ledger.ts';
import { loadConnectionFile } from './fabric/connection-file.ts';
import { FabricLedger } from './fabric/fabric-ledger.ts';
import { Ledger, type ContractGateway } from './ledger.ts';

/**
 * Which ledger a service or command uses, from its configuration:
 *
 *   "ledger": { "path": "ledger.db", "identity": "veilsum-coordinator" }       embedded (default)
 *   "ledger": { "fabric": { "connection": "fabric/connection.json",
 *                           "identity": "veilsum-coordinator", "peer": "peer0…" } }
 *
 * On the embedded ledger the caller's certificate (EmbeddedAccess) names and signs: each block
 * carries the writer's certificate and signature, and the file is verified against the
 * consortium CA when opened; on Fabric the identity is the name of a client identity in the
 * connection file, and the member id the contract sees is that identity's MSP id, proven by its
 * certificate.
 */
export const embeddedLedgerConfigSchema = z
  .object({ path: z.string().min(1), identity: z.string().min(1).optional() })
  .strict();

export const fabricLedgerConfigSchema = z
  .object({
    fabric: z
      .object({
        /** Connection file written by `npm run fabric:up` or handed out by the consortium. */
        connection: z.string().min(1),
        identity: z.string().min(1),
        /** Peer (by name) whose Gateway to use; default: the identity's own peer. */
        peer: z.string().min(1).optional(),
        chaincode: z.string().min(1).optional(),
        endorsingOrganizations: z.array(z.string().min(1)).min(1).optional(),
      })
      .strict(),
  })
  .strict();

export const ledgerConfigSchema = z.union([embeddedLedgerConfigSchema, fabricLedgerConfigSchema]);

export type LedgerConfig = z.infer<typeof ledgerConfigSchema>;

/** Resolves the config's file paths against `at` (e.g. the config file's folder). */
export function resolveLedgerConfig(
  config: LedgerConfig,
  at: (file: string) => string,
): LedgerConfig {
  return 'fabric' in config
    ? { fabric: { ...config.fabric, connection: at(config.fabric.connection) } }
    : { ...config, path: at(config.path) };
}

export interface OpenLedger {
  readonly backend: 'embedded' | 'fabric';
  readonly ledger: Ledger;
  readonly gateway: ContractGateway;
  /** The member id the contract sees for this caller. */
  readonly memberId: string;
  /** Where it is written: the SQLite file, or the peer and channel. */
  readonly description: string;
  /** The embedded database, for what only it has (verify, onEvent). */
  readonly embedded?: EmbeddedLedgerDatabase;
  /** The Fabric client, for what only it has (checkpointed events). */
  readonly fabric?: FabricLedger;
  close(): void;
}

/**
 * What opening the embedded ledger needs: the consortium CA (PEM file) that its writers'
 * certificates must chain to, and — to write — the caller's certificate and Ed25519 key, which
 * sign its blocks. Without a certificate the ledger is opened read only.
 */
export interface EmbeddedAccess {
  readonly caCertificate: string;
  /**
   * The CAs that issue writers' certificates (every one counts: a CA rotation keeps both).
   * Without it, the `caCertificate` bundle's only CA; a bundle of several is refused.
   */
  readonly identityIssuer?: string | undefined;
  readonly certificate?: string;
  readonly privateKey?: string;
  /**
   * The caller's checkpoint file (ledger-head.ts `checkpointBeside`): the last head it verified.
   * A ledger that does not extend it is refused (LedgerRolledBackError).
   */
  readonly checkpoint?: string;
}

/**
 * Opens the configured ledger. `identity` overrides the configured one (the CLI's `--as`);
 * `defaultIdentity` is used on the embedded ledger when neither names one. The embedded ledger
 * needs `embedded` (a tampered file throws LedgerTamperedError here).
 */
export function openLedger(
  config: LedgerConfig,
  defaultIdentity: string,
  identity?: string,
  embedded?: EmbeddedAccess,
): OpenLedger {
  if ('fabric' in config) {
    const connection = loadConnectionFile(config.fabric.connection);
    const fabric = new FabricLedger({
      connection,
      identity: identity ?? config.fabric.identity,
      ...(config.fabric.peer ? { peer: config.fabric.peer } : {}),
      ...(config.fabric.chaincode ? { chaincode: config.fabric.chaincode } : {}),
      ...(config.fabric.endorsingOrganizations
        ? { endorsingOrganizations: config.fabric.endorsingOrganizations }
        : {}),
    });
    return {
      backend: 'fabric',
      ledger: new Ledger(fabric),
      gateway: fabric,
      memberId: fabric.mspId,
      description: `Fabric channel ${connection.channel} via ${fabric.peer.name} as ${fabric.identityName} (${fabric.mspId})`,
      fabric,
      close: () => fabric.close(),
    };
  }
  if (embedded === undefined)
    throw new Error(
      `the embedded ledger ${config.path} is verified against the consortium CA: name its certificate`,
    );
  const writer =
    embedded.certificate !== undefined && embedded.privateKey !== undefined
      ? ledgerWriter(embedded.certificate, embedded.privateKey)
      : undefined;
  // An empty name is no name (the CLI passes '' when --as is left out).
  const memberId = identity || config.identity || writer?.organisation || defaultIdentity;
  if (writer !== undefined && writer.organisation !== memberId)
    throw new Error(
      `the ledger identity is ${memberId} but the certificate ${embedded.certificate} that signs its blocks is O=${writer.organisation}; the two must agree`,
    );
  const issuers = identityIssuersOf(
    readFileSync(embedded.caCertificate),
    embedded.identityIssuer === undefined ? undefined : readFileSync(embedded.identityIssuer),
    `the CA bundle ${embedded.caCertificate}`,
  );
  const database = new EmbeddedLedgerDatabase(
    config.path,
    issuers.map((ca) => ca.toString()).join(''),
    embedded.checkpoint === undefined ? {} : { checkpoint: embedded.checkpoint },
  );
  const gateway = writer ? database.as(writer) : database.reader(memberId);
  return {
    backend: 'embedded',
    ledger: new Ledger(gateway),
    gateway,
    memberId,
    description: `embedded ledger ${config.path} as ${memberId}${writer ? '' : ' (read only)'}`,
    embedded: database,
    close: () => database.close(),
  };
}

/**
 * The CLI's `--ledger` value: a path to an embedded ledger file, or `fabric:<connection file>`
 * (optionally `fabric:<connection file>@<peer name>` to read through a chosen peer). The identity
 * comes from `--as`.
 */
export function parseLedgerOption(value: string, identity: string): LedgerConfig {
  if (!value.startsWith('fabric:')) {
    // Opening a missing file would create an empty ledger, and a mistyped path would then fail
    // later with a confusing "needs the member role": refuse it here, naming the path.
    if (!existsSync(value))
      throw new Error(
        `no embedded ledger at ${value}: check --ledger (\`veilsum pki init\` creates the ledger of a development consortium, \`veilsum ledger init\` one for your own PKI)`,
      );
    return { path: value, identity };
  }
  const rest = value.slice('fabric:'.length);
  const at = rest.lastIndexOf('@');
  const connection = at > 0 ? rest.slice(0, at) : rest;
  const peer = at > 0 ? rest.slice(at + 1) : undefined;
  if (connection === '') throw new Error('--ledger fabric:<connection file> needs a file');
  return { fabric: { connection, identity, ...(peer ? { peer } : {}) } };
}
