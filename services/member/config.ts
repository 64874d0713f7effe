import { z } from 'zod';
import {
  ledgerConfigSchema,
  resolveLedgerConfig,
  type LedgerConfig,
} from '../../ledger/ledger-factory.ts';
import { loadProfile, memberPolicySchema, parseMemberPolicy } from '../../sdk/profile.ts';
import type { ConnectOptions } from '../../sdk/veilsum-client.ts';
import type { MemberThreatModel } from '../../sdk/round-verification.ts';
import { loadJsonConfig } from '../common/config-file.ts';
import { ledgerClockIntervalSchema } from '../common/ledger-clock-ticker.ts';

const address = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:7700');

/**
 * A caller inside the bank, named by its certificate's subject CN (issued by the bank's own caller
 * CA): the models it may submit updates for ("*": any), and whether it may read rounds, results
 * and consents. Submitting implies reading the submitter's own updates.
 */
const callerSchema = z
  .object({
    commonName: z.string().min(1),
    submit: z.array(z.string().min(1)).default([]),
    read: z.boolean().default(false),
  })
  .strict();

/**
 * The bank's aggregation peer (`veilsum member start --config member.json`). Relative paths
 * resolve against the file's folder.
 */
export const memberConfigSchema = z
  .object({
    /** The bank's consortium profile as `veilsum pki init` writes it (coordinator, identity, members). */
    profile: z.string().min(1),
    /** Where the bank's people reach the peer. */
    listen: address.default('127.0.0.1:7700'),
    /**
     * The peer's own server certificate and the bank's caller CA: a trust domain of its own, not
     * the consortium's (a consortium certificate is no caller of this bank's peer).
     */
    tls: z
      .object({
        callerCa: z.string().min(1),
        certificate: z.string().min(1),
        privateKey: z.string().min(1),
      })
      .strict(),
    callers: z.array(callerSchema).min(1, 'list at least one caller'),
    /** The bank's policy (as `veilsum submit`'s profile and --min-* options state it). */
    policy: memberPolicySchema.default({}),
    /** CKKS: the consortium's published collective key file; rounds must use that key. */
    keyFile: z.string().min(1).optional(),
    /**
     * CKKS: the keyholders' decryption precision (their config's `precision`, default 5e-5):
     * the error bound GetResult reports for a CKKS sum is computed from it.
     */
    ckksPrecision: z.number().positive().lt(1).default(5e-5),
    /** The bank's own ledger view (embedded file or its Fabric peer), acting as the bank. */
    ledger: ledgerConfigSchema.optional(),
    /** Queue, journal and ledger checkpoint. */
    dataDir: z.string().min(1),
    /** How often the coordinator's rounds are polled for ones that list the bank. */
    pollIntervalMs: z.number().int().min(50).max(60_000).default(1_000),
    /** Fabric: how often the peer advances the ledger clock (0: off); services/common/ledger-clock-ticker.ts. */
    ledgerClockIntervalMs: ledgerClockIntervalSchema,
    metricsListen: address.optional(),
    logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  })
  .strict();

export type CallerRole = z.infer<typeof callerSchema>;

export interface MemberConfig {
  readonly profilePath: string;
  readonly connect: ConnectOptions;
  readonly listen: string;
  readonly tls: {
    readonly callerCa: string;
    readonly certificate: string;
    readonly privateKey: string;
  };
  readonly callers: readonly CallerRole[];
  readonly policy: MemberThreatModel;
  readonly keyFile: string | undefined;
  readonly ckksPrecision: number;
  readonly ledger: LedgerConfig | undefined;
  readonly dataDir: string;
  readonly pollIntervalMs: number;
  readonly ledgerClockIntervalMs?: number | undefined;
  readonly metricsListen: string | undefined;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export function loadMemberConfig(path: string): MemberConfig {
  const { config, at } = loadJsonConfig(path, memberConfigSchema, 'member');
  const profilePath = at(config.profile);
  const connect = loadProfile(profilePath);
  const dataDir = at(config.dataDir);
  return {
    profilePath,
    // The peer's own re-run journal (sdk/unmask-journal.ts) lives with its queue.
    connect: { ...connect, journal: `${dataDir}/journal` },
    listen: config.listen,
    tls: {
      callerCa: at(config.tls.callerCa),
      certificate: at(config.tls.certificate),
      privateKey: at(config.tls.privateKey),
    },
    callers: config.callers,
    // The profile's policy (and its pinned keyholders) stay; the config's policy overrides it,
    // never below the defaults (memberPolicySchema).
    policy: parseMemberPolicy(
      { ...connect.threatModel, ...config.policy },
      `member config ${path} (policy)`,
    ),
    keyFile: config.keyFile === undefined ? undefined : at(config.keyFile),
    ckksPrecision: config.ckksPrecision,
    ledger: config.ledger === undefined ? undefined : resolveLedgerConfig(config.ledger, at),
    dataDir,
    pollIntervalMs: config.pollIntervalMs,
    ledgerClockIntervalMs: config.ledgerClockIntervalMs,
    metricsListen: config.metricsListen,
    logLevel: config.logLevel,
  };
}
