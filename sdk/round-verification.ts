import { status } from '@grpc/grpc-js';
import { equalBytes } from '../crypto/bytes.ts';
import {
  assertSecureParameters,
  defaultMinContributors,
  SPARSE_MIN_CLIENTS,
  type AdversaryModel,
  type ThreatModel,
} from '../crypto/secagg/parameters.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { RoundRecord } from '../ledger/records.ts';
import { Adversary, type Round } from '../proto/gen/veilsum/v1/round.ts';
import { hasConsistentParamsHash, ledgerParamsHash } from '../proto/round-wire.ts';
import { identityIssuersOf } from '../crypto/certificate-bundle.ts';
import { verifiedIdentityOf } from './pki/certificates.ts';
import { VeilsumError } from './errors.ts';

/**
 * What a member checks before it takes part in a SecAgg round: the round the coordinator serves
 * against the RoundOpened record on its own view of the ledger (roster, identity keys, adversary
 * model, γ, δ, k, t, min contributors, quantization, params hash, graph seed), the parameters
 * against its own threat model, and a neighbour's identity key against that neighbour's
 * certificate from the consortium CA. Each refusal names the first difference it found.
 */

/**
 * The weakest threat model this member accepts, whatever a round's manifest says: the member's
 * own consortium policy (profile `secaggPolicy`, `veilsum submit --min-*`, ConnectOptions).
 * Unset fields take MEMBER_POLICY_DEFAULTS. The coordinator writes the manifest, so a member
 * recomputes (k, t) and min contributors from n and max(served, own) γ, δ and refuses anything
 * weaker, naming the field.
 */
export interface MemberThreatModel {
  /** Refuse rounds against a weaker server model (default semi-malicious). */
  readonly minimumAdversary?: AdversaryModel;
  /** Refuse rounds whose γ (corrupt fraction) is below this (default 0.05). */
  readonly minimumCorruptionRate?: number;
  /** Refuse rounds whose δ (dropout fraction) is below this (default 0.05). */
  readonly minimumDropoutRate?: number;
  /** Refuse rounds releasing a sum of fewer inputs than this (default: the local floor only). */
  readonly minimumContributors?: number;
  /**
   * CKKS: refuse a collective key that fewer than this many keyholders must join to decrypt
   * (default and floor 2): a 1-of-n key is one any single keyholder decrypts alone.
   */
  readonly minimumKeyThreshold?: number;
  /**
   * CKKS: the keyholders this member trusts not to collude t at a time (its consortium's
   * agreement). When set, every keyholder of a round's key must be one of them; unset, any
   * identity that holds the keyholder role on the member's ledger — and not the coordinator or
   * auditor role — is taken.
   */
  readonly trustedKeyholders?: readonly string[];
  /**
   * CKKS: the keyholder set the consortium's PKI wrote into this member's profile (`pki init`,
   * profile field `keyholders`): the default pin. Checked like trustedKeyholders, on the member's
   * own ledger view, whenever trustedKeyholders does not replace it; a key attested by any other
   * keyholder is refused until the member's own profile changes. Without a ledger the member's
   * trust anchor is the consortium's key file (expectedKeySha256) instead.
   */
  readonly pinnedKeyholders?: readonly string[];
  /**
   * Without a ledger that is an agreement channel (none, or the embedded one) the survivor sets
   * are the coordinator's word and may differ per member, so only a semi-malicious
   * complete-graph round (signed survivor sets, t > (n + γn)/2) is taken.
   * True trusts the coordinator to serve every member the same sets (a semi-honest coordinator):
   * test fixtures only; never offered by the CLI or profiles.
   */
  readonly trustCoordinatorWithoutLedger?: boolean;
}

/** The member policy defaults (issue 10): semi-malicious server, γ ≥ 0.05, δ ≥ 0.05. */
export const MEMBER_POLICY_DEFAULTS = {
  minimumAdversary: 'semi-malicious',
  minimumCorruptionRate: 0.05,
  minimumDropoutRate: 0.05,
  minimumKeyThreshold: 2,
} as const satisfies MemberThreatModel;

const refuse = (message: string): never => {
  throw new VeilsumError(
    'participate',
    status.FAILED_PRECONDITION,
    `refusing the round: ${message}`,
  );
};

const adversaryOf = (adversary: Adversary): AdversaryModel =>
  adversary === Adversary.ADVERSARY_SEMI_MALICIOUS ? 'semi-malicious' : 'semi-honest';

/**
 * An honest roster: each slot a distinct consortium member. Ids and identity keys are distinct
 * (so n, and γn, count distinct organisations), and every entry is a member and no operator
 * (coordinator, keyholder, auditor, administrator): a coordinator listing identities it holds in
 * many slots would receive that many shares of every member's secrets. With a ledger the roles
 * are read there (ConnectOptions.ledger); without one the member's own pinned list of the
 * consortium's members decides (profile `members`, written by `pki init`).
 */
export async function checkRoster(
  round: Round,
  pinned: { readonly ledger?: Ledger; readonly consortiumMembers?: readonly string[] },
): Promise<void> {
  const ids = new Set<string>();
  const keys = new Set<string>();
  for (const entry of round.roster) {
    if (ids.has(entry.memberId))
      refuse(`the roster lists member ${entry.memberId} in more than one slot`);
    ids.add(entry.memberId);
    const key = Buffer.from(entry.identityKey).toString('hex');
    if (keys.has(key))
      refuse(`the roster lists the identity key of ${entry.memberId} in more than one slot`);
    keys.add(key);
  }
  if (pinned.consortiumMembers !== undefined) {
    const consortium = new Set(pinned.consortiumMembers);
    const outside = [...ids].filter((id) => !consortium.has(id));
    if (outside.length > 0)
      refuse(
        `the roster lists ${outside.join(', ')}, not among this member's consortium members (profile "members")`,
      );
  } else if (pinned.ledger === undefined) {
    refuse(
      'without a ledger this member needs its consortium\'s member list to check the roster (profile "members", written by `veilsum pki init`; ConnectOptions.consortiumMembers)',
    );
  }
  if (pinned.ledger !== undefined) await checkRosterRoles(pinned.ledger, [...ids]);
}

const ROLE_READS_AT_ONCE = 64;

/** Every roster entry holds the member role on the ledger and no other. */
async function checkRosterRoles(ledger: Ledger, ids: readonly string[]): Promise<void> {
  for (let from = 0; from < ids.length; from += ROLE_READS_AT_ONCE) {
    const batch = ids.slice(from, from + ROLE_READS_AT_ONCE);
    const records = await Promise.all(
      batch.map((id) =>
        ledger.getMember(id).catch((error: unknown) => {
          if ((error as { kind?: string })?.kind === 'not-found') return undefined;
          throw new VeilsumError(
            'ledger GetMember',
            status.UNAVAILABLE,
            `cannot read the roles of roster entry ${id}: ${(error as Error).message}`,
          );
        }),
      ),
    );
    records.forEach((record, i) => {
      const id = batch[i]!;
      if (record === undefined) refuse(`roster entry ${id} is not a member on the ledger`);
      const operator = record!.roles.filter((role) => role !== 'member');
      if (!record!.roles.includes('member') || operator.length > 0)
        refuse(
          `roster entry ${id} holds ${operator.length > 0 ? `the operator role ${operator.join(', ')}` : 'no member role'} on the ledger; rosters list members only`,
        );
    });
  }
}

/** The served round must be the one RoundOpened committed, field by field. */
export function checkRoundAgainstLedger(round: Round, record: RoundRecord): void {
  const params = round.params!;
  const manifest = record.manifest;
  if (manifest === undefined || manifest === null || manifest.mode !== 'secagg')
    refuse(`the ledger's RoundOpened for ${round.roundId} carries no SecAgg manifest`);
  const m = manifest!;
  const served = round.roster.map((member) => member.memberId);
  if (served.join('\n') !== record.roster.join('\n')) {
    refuse(
      `the served roster [${served.join(', ')}] differs from the ledger's [${record.roster.join(', ')}]`,
    );
  }
  round.roster.forEach((member, i) => {
    if (member.index !== i + 1)
      refuse(`member ${member.memberId} is served with index ${member.index}, not ${i + 1}`);
    if (Buffer.from(member.identityKey).toString('hex') !== m.identityKeys[i])
      refuse(`the identity key served for member ${member.memberId} is not the one on the ledger`);
  });
  const fields: [string, unknown, unknown][] = [
    ['adversary model', adversaryOf(params.adversary), m.adversary],
    ['corruption rate γ', params.corruptionRate, m.corruptionRate],
    ['dropout rate δ', params.dropoutRate, m.dropoutRate],
    ['degree k', params.degree, m.degree],
    ['threshold t', params.threshold, m.threshold],
    ['min contributors', params.minContributors, m.minContributors],
    ['dimension', params.dimension, m.dimension],
    ['quantization clip range', params.quantization?.clipRange, m.quantization?.clipRange],
    ['quantization level bits', params.quantization?.levelBits, m.quantization?.levelBits],
    ['quantization modulus bits', params.quantization?.modulusBits, m.quantization?.modulusBits],
  ];
  for (const [name, servedValue, ledgerValue] of fields) {
    if (servedValue !== ledgerValue)
      refuse(
        `the served ${name} ${String(servedValue)} differs from the ledger's ${String(ledgerValue)}`,
      );
  }
  if (Buffer.from(ledgerParamsHash(params)).toString('hex') !== record.paramsHash)
    refuse('the served parameters do not hash to the params hash RoundOpened committed');
  if (record.graphSeed === undefined || record.graphSeed === null)
    refuse('the ledger holds no graph seed for the round');
  if (Buffer.from(round.graphSeed).toString('hex') !== record.graphSeed)
    refuse(
      "the served graph seed is not the ledger's (derived from the RoundOpened transaction); the coordinator chose its own",
    );
  if (!hasConsistentParamsHash(round)) refuse('the round parameters do not match their hash');
}

/**
 * The round's (k, t) and min contributors against its threat model, recomputed here from n and
 * max(served, own) γ and δ, the served threat model against the member's own floor, and — for a
 * member whose ledger is no agreement channel — whether survivor sets can differ per member.
 * `agreement`: the member reads the sets from a ledger no single party can write past the
 * contract or rewind (Fabric). Without one (no ledger, or the embedded ledger, whose owner can
 * show each member another fork) only a semi-malicious complete-graph round is taken: signed
 * survivor sets with t > (n + γn)/2 let at most one survivor set reach t signatures.
 */
export function checkThreatModel(
  round: Round,
  policy: MemberThreatModel = {},
  context: { readonly agreement: boolean } = { agreement: false },
): void {
  const params = round.params!;
  const n = round.roster.length;
  const served = adversaryOf(params.adversary);
  const minimumAdversary = policy.minimumAdversary ?? MEMBER_POLICY_DEFAULTS.minimumAdversary;
  const minimumGamma = policy.minimumCorruptionRate ?? MEMBER_POLICY_DEFAULTS.minimumCorruptionRate;
  const minimumDelta = policy.minimumDropoutRate ?? MEMBER_POLICY_DEFAULTS.minimumDropoutRate;
  const complete = params.degree === n - 1;
  if (!complete && n < SPARSE_MIN_CLIENTS) {
    refuse(
      `degree k ${params.degree}: a round of ${n} members runs on the complete graph (k = ${n - 1}); this member takes sparse graphs only from ${SPARSE_MIN_CLIENTS} members`,
    );
  }
  if (!context.agreement && policy.trustCoordinatorWithoutLedger !== true) {
    if (served !== 'semi-malicious') {
      refuse(
        "adversary model semi-honest is a downgrade this member refuses without a ledger that is an agreement channel: the survivor sets would be the coordinator's word and could differ per member (split views reveal both shares of an input); take part with a Fabric --ledger (ConnectOptions.ledger), or the round must be semi-malicious on the complete graph",
      );
    }
    if (!complete) {
      refuse(
        `degree k ${params.degree}: a sparse semi-malicious round needs the ledger to agree on the survivor sets (take part with a Fabric --ledger / ConnectOptions.ledger; the embedded ledger is one file its owner can fork, so it does not count); without one only the complete graph (k = ${n - 1}) with t > (n + γn)/2 is safe`,
      );
    }
  }
  if (minimumAdversary === 'semi-malicious' && served !== 'semi-malicious')
    refuse(
      'adversary model: the round assumes a semi-honest server; this member requires semi-malicious rounds (a downgrade)',
    );
  if (!(params.corruptionRate >= minimumGamma)) {
    refuse(
      `corruption rate γ ${params.corruptionRate} is below this member's floor ${minimumGamma}`,
    );
  }
  if (!(params.dropoutRate >= minimumDelta)) {
    refuse(`dropout rate δ ${params.dropoutRate} is below this member's floor ${minimumDelta}`);
  }
  const model: ThreatModel = {
    clients: n,
    corruptionRate: Math.max(params.corruptionRate, minimumGamma),
    dropoutRate: Math.max(params.dropoutRate, minimumDelta),
    adversary: minimumAdversary === 'semi-malicious' ? 'semi-malicious' : served,
  };
  try {
    assertSecureParameters(model, params.degree, params.threshold);
  } catch (error) {
    refuse(`weak parameters: ${(error as Error).message}`);
  }
  let minimum = 0;
  try {
    minimum = Math.max(defaultMinContributors(model), policy.minimumContributors ?? 0);
  } catch (error) {
    refuse((error as Error).message);
  }
  if (params.minContributors < minimum) {
    refuse(
      `min contributors ${params.minContributors} is below ${minimum} (all but the ⌈δn⌉ expected to drop, or this member's floor)`,
    );
  }
}

/**
 * A peer's identity key must be the Ed25519 key of a certificate the consortium CA issued to
 * that member (subject O). Verified once per certificate and member.
 */
export class IdentityKeyVerifier {
  private readonly caPem: string;
  private readonly verified = new Map<string, Uint8Array>();

  constructor(caPem: string) {
    this.caPem = caPem;
  }

  check(memberId: string, identityKey: Uint8Array, certificate: Uint8Array): void {
    const pem = Buffer.from(certificate).toString('utf8');
    const cacheKey = `${memberId}\n${pem}`;
    let key = this.verified.get(cacheKey);
    if (key === undefined) {
      if (pem.length === 0) refuse(`no certificate was served for member ${memberId}`);
      let identity;
      try {
        // The profile's bundle names identities only if it holds one CA (caller.ts's rule).
        const issuers = identityIssuersOf(this.caPem, undefined, "this member's CA bundle");
        identity = verifiedIdentityOf(
          pem,
          issuers.map((ca) => ca.toString()).join(''),
          `the certificate served for ${memberId}`,
        );
      } catch (error) {
        return refuse((error as Error).message);
      }
      if (identity.organisation !== memberId)
        refuse(`the certificate served for ${memberId} names O=${identity.organisation}`);
      key = identity.identityKey;
      this.verified.set(cacheKey, key);
    }
    if (!equalBytes(key, identityKey))
      refuse(`the identity key of member ${memberId} is not the key of its CA-issued certificate`);
  }
}
