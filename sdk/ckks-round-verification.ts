import { status } from '@grpc/grpc-js';
import { contributorFloor } from '../crypto/ckks/parameters.ts';
import type { CollectiveKeyRecord, RoundRecord } from '../ledger/records.ts';
import type { Round } from '../proto/gen/veilsum/v1/round.ts';
import { hasConsistentParamsHash } from '../proto/round-wire.ts';
import { VeilsumError } from './errors.ts';
import { MEMBER_POLICY_DEFAULTS, type MemberThreatModel } from './round-verification.ts';

/**
 * What a member checks before it encrypts its update in a CKKS round, on its own view of the
 * ledger: the served round is the one RoundOpened committed (roster, identity keys, dimension,
 * min contributors, params hash), and the key the coordinator serves is the manifest's key, which
 * every keyholder of its ceremony attested on the ledger. Each refusal names what differs.
 */
const refuse = (message: string): never => {
  throw new VeilsumError(
    'participateCkks',
    status.FAILED_PRECONDITION,
    `refusing the round: ${message}`,
  );
};

export function checkCkksRoundAgainstLedger(
  round: Round,
  record: RoundRecord,
  servedKeySha256: string,
  collectiveKey: CollectiveKeyRecord | undefined,
): void {
  const params = round.params!;
  const manifest = record.manifest;
  if (manifest === undefined || manifest === null || manifest.mode !== 'ckks')
    refuse(`the ledger's RoundOpened for ${round.roundId} carries no CKKS manifest`);
  const m = manifest!;
  const served = round.roster.map((member) => member.memberId);
  if (served.join('\n') !== record.roster.join('\n'))
    refuse(
      `the served roster [${served.join(', ')}] differs from the ledger's [${record.roster.join(', ')}]`,
    );
  round.roster.forEach((member, i) => {
    if (Buffer.from(member.identityKey).toString('hex') !== m.identityKeys[i])
      refuse(`the identity key served for member ${member.memberId} is not the one on the ledger`);
  });
  if (
    !hasConsistentParamsHash(round) ||
    Buffer.from(round.paramsHash).toString('hex') !== record.paramsHash
  )
    refuse('the served parameters do not hash to the params hash RoundOpened committed');
  if (params.dimension !== m.dimension)
    refuse(`the served dimension ${params.dimension} differs from the ledger's ${m.dimension}`);
  if (params.ckks!.minContributors !== m.minContributors)
    refuse(
      `the served min contributors ${params.ckks!.minContributors} differ from the ledger's ${m.minContributors}`,
    );
  if (m.ckksKeySha256 !== servedKeySha256)
    refuse(
      `the coordinator served the key ${servedKeySha256.slice(0, 16)}…, not the round's collective key ${String(m.ckksKeySha256).slice(0, 16)}… on the ledger; refusing to encrypt under it`,
    );
  if (collectiveKey === undefined || collectiveKey.registeredAt === null)
    refuse(
      `the round's key ${servedKeySha256.slice(0, 16)}… is not a collective key its keyholders attested on the ledger`,
    );
}

/**
 * Who holds the round's key, against this member's policy: at least max(2, minimumKeyThreshold)
 * keyholders must join to decrypt, every participant of the ceremony must be one of the member's
 * trusted keyholders (when it names them) or else of the keyholders its profile pins (pki init
 * writes the consortium's set into every member profile), and none may hold the coordinator or auditor role on
 * the member's ledger. The coordinator grants roles, so without its own list a member at least
 * keeps the coordinator from holding the key it would then decrypt every upload with.
 * `roles` gives each participant's roles as the member's own ledger records them.
 */
export function checkCkksKeyholders(
  collectiveKey: CollectiveKeyRecord,
  roles: ReadonlyMap<string, readonly string[] | undefined>,
  policy: MemberThreatModel = {},
): void {
  const key = `${collectiveKey.keySha256.slice(0, 16)}…`;
  const floor = Math.max(
    MEMBER_POLICY_DEFAULTS.minimumKeyThreshold,
    policy.minimumKeyThreshold ?? 0,
  );
  if (collectiveKey.threshold < floor)
    refuse(
      `the round's key ${key} decrypts with ${collectiveKey.threshold} of its ${collectiveKey.participants.length} keyholders; ` +
        `this member takes keys that need at least ${floor}`,
    );
  const trusted = policy.trustedKeyholders ?? policy.pinnedKeyholders;
  const which =
    policy.trustedKeyholders !== undefined
      ? 'trusted keyholders'
      : 'keyholders pinned in its profile';
  for (const participant of collectiveKey.participants) {
    if (trusted !== undefined && !trusted.includes(participant))
      refuse(
        `the round's key ${key} is held in part by ${participant}, who is not one of this member's ${which} (${trusted.join(', ')})` +
          (policy.trustedKeyholders === undefined
            ? "; it takes another keyholder set only once its own profile's keyholders change"
            : ''),
      );
    const held = roles.get(participant);
    if (held === undefined || !held.includes('keyholder'))
      refuse(
        `the round's key ${key} is held in part by ${participant}, who is not a registered keyholder on this member's ledger`,
      );
    const conflicting = held!.filter((role) => role === 'coordinator' || role === 'auditor');
    if (conflicting.length > 0)
      refuse(
        `the round's key ${key} is held in part by ${participant}, which also holds the ${conflicting.join(' and ')} role on the ledger: ` +
          'a coordinator holding key shares could decrypt the uploads it collects',
      );
  }
}

/**
 * The round's min contributors against this member's own floor, max(2, ⌈(1 − δ)·n⌉) for the
 * roster size n (the ledger's when the member has one) and its OWN δ (policy minimumDropoutRate,
 * default 0.05; minimumContributors raises it): the coordinator's choice may raise the floor,
 * never lower it. Below it, a round closed with this member and a colluder or two is a sum the
 * colluders subtract themselves from.
 */
export function checkCkksMinContributors(
  round: Round,
  rosterSize: number,
  policy: MemberThreatModel = {},
): void {
  const delta = policy.minimumDropoutRate ?? MEMBER_POLICY_DEFAULTS.minimumDropoutRate;
  const floor = contributorFloor(rosterSize, delta, policy.minimumContributors ?? 0);
  const asked = round.params!.ckks!.minContributors;
  if (asked < floor)
    refuse(
      `min contributors ${asked} is below this member's floor of ${floor} ` +
        `(max(2, ⌈(1 − δ)·n⌉) for n = ${rosterSize} roster members and its δ = ${delta}` +
        `${policy.minimumContributors ? `, raised to ${policy.minimumContributors}` : ''}); a sum that small could be this member's update plus colluders'`,
    );
}
