import { z } from 'zod';
import { ledgerConfigSchema, resolveLedgerConfig } from '../../ledger/ledger-factory.ts';
import {
  identityCertificatesSchema,
  loadJsonConfig,
  resolveTls,
  tlsSchema,
} from '../common/config-file.ts';
import { ledgerClockIntervalSchema } from '../common/ledger-clock-ticker.ts';

/**
 * A keyholder's configuration file (JSON); relative paths are resolved against its folder.
 * The passphrase that seals the key share comes from `passphraseFile` (mode 600) or, when that
 * is absent, from the environment variable VEILSUM_KEYHOLDER_PASSPHRASE.
 */
const address = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:7600');

export const keyholderConfigSchema = z.object({
  listen: address.default('127.0.0.1:7600'),
  dataDir: z.string().min(1),
  tls: tlsSchema,
  passphraseFile: z.string().min(1).optional(),
  /** Certificate subject O values allowed to run key ceremonies. */
  admins: z.array(z.string().min(1)).default(['veilsum-admin']),
  /** Certificate subject O values allowed to ask for partial decryptions. */
  coordinators: z.array(z.string().min(1)).default(['veilsum-coordinator']),
  /**
   * Certificates that bind organisations (the administrators', the coordinator's): a caller
   * claiming one of these O values must present exactly this certificate; other callers must
   * hold a certificate of tls.identityIssuer.
   */
  identityCertificates: identityCertificatesSchema,
  /**
   * The consortium ledger the keyholder checks aggregates against (read only): an embedded file
   * `{ "path" }` or `{ "fabric": { "connection", "identity", "peer" } }` (ledger/ledger-factory.ts).
   */
  ledger: ledgerConfigSchema,
  /**
   * Fabric: how often the keyholder advances the ledger clock (services/common/
   * ledger-clock-ticker.ts), bounding how long a coordinator can hold an endorsed openRound;
   * 0 turns it off. The embedded ledger has no clock.
   */
  ledgerClockIntervalMs: ledgerClockIntervalSchema,
  /** Precision target of decrypted sums; sets the flooding noise (crypto/ckks/parameters.ts). */
  precision: z.number().positive().lt(1).default(5e-5),
  /**
   * R: the most rounds (distinct aggregates) one collective key decrypts; the flooding noise is
   * sized for the key's whole life (crypto/ckks/parameters.ts). At R the key refuses further
   * decryptions until a new ceremony.
   */
  keyLifeRounds: z.number().int().positive().default(1000),
  /**
   * δ: the fraction of a round's roster this keyholder expects to drop. It decrypts only rounds
   * whose min contributors (and included count) reach max(2, ⌈(1 − δ)·n⌉) for the ledger
   * roster's n — its own floor, whatever the coordinator chose (crypto/ckks/parameters.ts
   * contributorFloor).
   */
  ckksDropoutRate: z.number().min(0).lt(1).default(0.05),
  /** Raises that floor further (never lowers it below max(2, ⌈(1 − δ)·n⌉)). */
  ckksMinContributors: z.number().int().min(2).optional(),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

export type KeyholderConfig = z.infer<typeof keyholderConfigSchema>;

export function loadKeyholderConfig(path: string): KeyholderConfig {
  const { config, at } = loadJsonConfig(path, keyholderConfigSchema, 'keyholder');
  return {
    ...config,
    dataDir: at(config.dataDir),
    tls: resolveTls(config.tls, at),
    identityCertificates: config.identityCertificates.map((pin) => ({
      ...pin,
      certificate: at(pin.certificate),
    })),
    ...(config.passphraseFile ? { passphraseFile: at(config.passphraseFile) } : {}),
    ledger: resolveLedgerConfig(config.ledger, at),
  };
}
