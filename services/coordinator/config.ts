import { z } from 'zod';
import { ledgerConfigSchema, resolveLedgerConfig } from '../../ledger/ledger-factory.ts';
import {
  identityCertificatesSchema,
  loadJsonConfig,
  resolveTls,
  tlsSchema,
} from '../common/config-file.ts';
import { DEFAULT_CONNECTION_LIMITS as CONNECTIONS } from '../common/mtls-server.ts';
import { DEFAULT_UPLOAD_LIMITS as LIMITS } from './upload-limits.ts';

/**
 * The coordinator's one configuration file (JSON). Relative paths are resolved against the
 * file's folder, so a config and its certificates can move together.
 */
const address = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:7443');

export const coordinatorConfigSchema = z.object({
  listen: address.default('127.0.0.1:7443'),
  dataDir: z.string().min(1),
  tls: tlsSchema,
  /** Every member that may take part in rounds: id (= certificate subject O) and certificate. */
  members: z
    .array(z.object({ id: z.string().min(1), certificate: z.string().min(1) }))
    .min(1, 'list at least one member'),
  /** Certificate subject O values allowed to open rounds. */
  admins: z.array(z.string().min(1)).default(['veilsum-admin']),
  /** Organisations the coordinator registers with the auditor role (compliance officers' console). */
  auditors: z.array(z.string().min(1)).optional(),
  /**
   * Certificates that bind organisations (e.g. the administrators'): a caller claiming one of
   * these O values must present exactly this certificate. Members are bound to their
   * `members[].certificate`; other callers to tls.identityIssuer.
   */
  identityCertificates: identityCertificatesSchema,
  /** Prometheus metrics over plain HTTP on this address (loopback by default). */
  metricsListen: address.optional(),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  /**
   * The consortium ledger (ledger/ledger-factory.ts). Embedded (the default for one machine): a
   * SQLite file with a hash-chained block log, written as `identity` (the coordinator's MSP id,
   * default veilsum-coordinator). Fabric: `{ "fabric": { "connection", "identity", "peer" } }`,
   * the coordinator's Fabric identity from the network's connection file.
   */
  ledger: ledgerConfigSchema.optional(),
  /**
   * CKKS rounds: the collective key written by `veilsum keys ceremony` (JSON: parameter set,
   * public key, key hash, keyholders with their addresses). CKKS rounds also need the ledger.
   */
  ckks: z.object({ keyFile: z.string().min(1) }).optional(),
  /**
   * What upload streams may hold: open streams and staged bytes per member and in all, and how
   * long a stream may stay idle or open. One member cannot starve the others of descriptors/disk.
   */
  uploads: z
    .object({
      streamsPerMember: z.number().int().min(1).default(LIMITS.streamsPerMember),
      streams: z.number().int().min(1).default(LIMITS.streams),
      bytesPerMember: z.number().int().min(1).default(LIMITS.bytesPerMember),
      bytes: z.number().int().min(1).default(LIMITS.bytes),
      idleMs: z.number().int().min(100).default(LIMITS.idleMs),
      totalMs: z.number().int().min(100).default(LIMITS.totalMs),
    })
    .optional(),
  /**
   * What one caller's connections may hold (services/common/mtls-server.ts): connections per
   * bound organisation, HTTP/2 streams per connection, and the keepalive that drops connections
   * whose peer vanished. Raise connectionsPerCaller for members that run many processes.
   */
  connections: z
    .object({
      connectionsPerCaller: z
        .number()
        .int()
        .min(1)
        .max(1024)
        .default(CONNECTIONS.connectionsPerCaller),
      streamsPerConnection: z
        .number()
        .int()
        .min(1)
        .max(1024)
        .default(CONNECTIONS.streamsPerConnection),
      keepaliveMs: z.number().int().min(1_000).default(CONNECTIONS.keepaliveMs),
    })
    .optional(),
  /** Threads that expand masks during unmasking. */
  maskThreads: z.number().int().min(1).max(64).default(2),
});

export type CoordinatorConfig = z.infer<typeof coordinatorConfigSchema>;

export function loadCoordinatorConfig(path: string): CoordinatorConfig {
  const { config, at } = loadJsonConfig(path, coordinatorConfigSchema, 'coordinator');
  return {
    ...config,
    dataDir: at(config.dataDir),
    tls: resolveTls(config.tls, at),
    members: config.members.map((member) => ({ ...member, certificate: at(member.certificate) })),
    identityCertificates: config.identityCertificates.map((pin) => ({
      ...pin,
      certificate: at(pin.certificate),
    })),
    ...(config.ledger ? { ledger: resolveLedgerConfig(config.ledger, at) } : {}),
    ...(config.ckks ? { ckks: { keyFile: at(config.ckks.keyFile) } } : {}),
  };
}
