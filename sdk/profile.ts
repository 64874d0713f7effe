import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { MEMBER_POLICY_DEFAULTS, type MemberThreatModel } from './round-verification.ts';
import type { ConnectOptions } from './veilsum-client.ts';

/**
 * A member's policy (SecAgg and CKKS) as a profile or the CLI states it: it may raise the defaults, never
 * lower γ or δ below them (only SDK callers such as test harnesses can). A semi-honest minimum
 * takes effect only with a ledger; without one a member takes semi-malicious rounds only.
 */
export const memberPolicySchema = z
  .object({
    minimumAdversary: z.enum(['semi-honest', 'semi-malicious']).optional(),
    minimumCorruptionRate: z
      .number()
      .min(
        MEMBER_POLICY_DEFAULTS.minimumCorruptionRate,
        `γ below ${MEMBER_POLICY_DEFAULTS.minimumCorruptionRate} assumes too few colluders`,
      )
      .lt(1)
      .optional(),
    minimumDropoutRate: z
      .number()
      .min(
        MEMBER_POLICY_DEFAULTS.minimumDropoutRate,
        `δ below ${MEMBER_POLICY_DEFAULTS.minimumDropoutRate} assumes too few dropouts`,
      )
      .lt(1)
      .optional(),
    minimumContributors: z.number().int().min(2).optional(),
    minimumKeyThreshold: z
      .number()
      .int()
      .min(
        MEMBER_POLICY_DEFAULTS.minimumKeyThreshold,
        'a key one keyholder decrypts alone protects nothing',
      )
      .optional(),
    trustedKeyholders: z.array(z.string().min(1)).min(1).optional(),
    pinnedKeyholders: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict();

/** Parses a member policy (profile field or CLI options), naming each bad field. */
export function parseMemberPolicy(raw: unknown, source: string): MemberThreatModel {
  const parsed = memberPolicySchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(
      `invalid member policy in ${source}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return Object.fromEntries(Object.entries(parsed.data).filter(([, value]) => value !== undefined));
}

/** A connection profile: where the coordinator is and which certificate to present. */
const profileSchema = z.object({
  address: z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port'),
  caCertificate: z.string().min(1),
  certificate: z.string().min(1),
  privateKey: z.string().min(1),
  serverName: z.string().optional(),
  /** The member's policy (MemberThreatModel: SecAgg γ, δ, adversary; CKKS key threshold and trusted keyholders); unset fields take the defaults. */
  secaggPolicy: z.unknown().optional(),
  /** The consortium's CKKS keyholders, pinned by `pki init`: a key held by others is refused. */
  keyholders: z.array(z.string().min(1)).min(1).optional(),
  /**
   * The consortium's member ids (`pki init` writes them): a SecAgg roster may list only these,
   * each once — without a ledger this list is what stops a coordinator filling slots itself.
   */
  members: z
    .array(z.string().min(1))
    .min(2)
    .refine((ids) => new Set(ids).size === ids.length, 'lists a member twice')
    .optional(),
});

export type Profile = z.infer<typeof profileSchema>;

export function loadProfile(path: string): ConnectOptions {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read profile ${path}: ${(error as Error).message}`);
  }
  const parsed = profileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(
      `invalid profile ${path}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  const base = dirname(resolve(path));
  const at = (file: string) => resolve(base, file);
  const profile = parsed.data;
  return {
    address: profile.address,
    caCertificate: at(profile.caCertificate),
    certificate: at(profile.certificate),
    privateKey: at(profile.privateKey),
    ...(profile.serverName ? { serverName: profile.serverName } : {}),
    ...(profile.members ? { consortiumMembers: profile.members } : {}),
    ...(profile.secaggPolicy !== undefined || profile.keyholders !== undefined
      ? {
          threatModel: parseMemberPolicy(
            {
              ...(profile.secaggPolicy as object | undefined),
              ...(profile.keyholders ? { pinnedKeyholders: profile.keyholders } : {}),
            },
            `profile ${path}`,
          ),
        }
      : {}),
  };
}
