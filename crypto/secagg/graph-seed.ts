import { concatBytes, encodeFields, equalBytes } from '../bytes.ts';
import { hashFields } from '../commitment.ts';
import { sha256 } from '../sha256.ts';
import { LedgerMismatchError, MalformedMessageError } from './errors.ts';
import { encodeIndexSet, isAscending } from './transcript.ts';

/**
 * The SecAgg+ graph seed, contributed by the members (commit, then reveal: Blum's coin flip).
 *
 * The sparse graph decides who holds whose shares, so whoever chooses the seed chooses which
 * members are isolated: a seed derived from values one party picks (a transaction id, a nonce)
 * can be ground until the graph suits it. Here every member u of U1 draws a fresh 32-byte
 * contribution r_u and commits to it in its signed AdvertiseKeys:
 *
 *   c_u = H(seed-commitment, binding, u, r_u)
 *
 * Once AdvertiseKeys has closed (and U1 is committed), the coordinator shows each member
 *
 *   D = H(seed-commitments, binding, U1, c_1 ‖ … ‖ c_n)   (U1 in ascending order)
 *
 * and only then does a member reveal r_u. Every member then receives all of U1's reveals and
 * takes as seed
 *
 *   seed = H(graph-seed, binding, U1, r_1 ‖ … ‖ r_n)
 *
 * after checking that the reveals hash back to D and that its own r_u is the one it drew.
 *
 * Why that is enough, without checking anyone else's signature: D fixes every r_i (SHA-256 is
 * binding) before this member has revealed r_u, and r_u is uniform and unknown to everyone else
 * until then; so the seed in this member's view is uniform to whoever fixed D, whatever the other
 * entries are (even ones the coordinator made up). What is left to an adversary is to abort:
 * a member that withholds its reveal — or a coordinator that omits one — gets no seed computed
 * without it (that would let it choose between two seeds); the round stops, and a new round has
 * a new binding and fresh contributions. Each such try costs a whole round, in the open.
 *
 * (The commitment is in the member's signed AdvertiseKeys as well, so its neighbours check that
 * the reveal used for it is the one it signed — evidence, not what the argument above rests on.)
 */
export const SEED_CONTRIBUTION_BYTES = 32;

const LABEL = 'veilsum/v1/secagg';

/** One member's reveal, as the coordinator relays it. */
export interface SeedReveal {
  readonly sender: number;
  readonly contribution: Uint8Array;
}

export const seedCommitment = (
  binding: Uint8Array,
  member: number,
  contribution: Uint8Array,
): Uint8Array => hashFields(`${LABEL}/seed-commitment`, binding, member, contribution);

/**
 * seedCommitment for many members at once: a member checks all of U1's (n of them), so the
 * shared prefix (label, binding) is encoded once. Same bytes as seedCommitment.
 */
export function seedCommitments(
  binding: Uint8Array,
  contributions: ReadonlyMap<number, Uint8Array>,
): Map<number, Uint8Array> {
  const prefix = encodeFields(`${LABEL}/seed-commitment`, binding);
  const out = new Map<number, Uint8Array>();
  // encodeFields(label, binding, member, contribution), written into one buffer reused for every
  // member (a member checks n of these; one-shot hash, no Hash object each).
  let buffer = new Uint8Array(0);
  let view = new DataView(buffer.buffer);
  for (const [member, contribution] of contributions) {
    const length = prefix.length + 12 + contribution.length;
    if (buffer.length !== length) {
      buffer = new Uint8Array(length);
      buffer.set(prefix, 0);
      view = new DataView(buffer.buffer);
      view.setUint32(prefix.length, 4);
      view.setUint32(prefix.length + 8, contribution.length);
    }
    view.setUint32(prefix.length + 4, member >>> 0);
    buffer.set(contribution, prefix.length + 12);
    out.set(member, sha256(buffer));
  }
  return out;
}

/** D over U1's commitments, in ascending member order. */
export const seedCommitmentsDigest = (
  binding: Uint8Array,
  commitments: ReadonlyMap<number, Uint8Array>,
): Uint8Array => hashByMember('seed-commitments', binding, commitments);

/** The graph seed from U1's reveals (every one of them), in ascending member order. */
export const contributedGraphSeed = (
  binding: Uint8Array,
  contributions: ReadonlyMap<number, Uint8Array>,
): Uint8Array => hashByMember('graph-seed', binding, contributions);

function hashByMember(
  purpose: string,
  binding: Uint8Array,
  values: ReadonlyMap<number, Uint8Array>,
): Uint8Array {
  const members = [...values.keys()];
  if (!isAscending(members)) members.sort((a, b) => a - b);
  return hashFields(
    `${LABEL}/${purpose}`,
    binding,
    encodeIndexSet(members),
    concatBytes(...members.map((member) => values.get(member)!)),
  );
}

/**
 * A member's check of the reveals it was served: exactly one 32-byte reveal from each member of
 * U1 and from no one else, its own among them unchanged, and all of them together opening the
 * digest D it saw before it revealed. Returns the graph seed; throws on anything else — a
 * missing reveal is never skipped (the seed without it would be a second seed to choose from).
 */
export function checkSeedReveals(options: {
  readonly binding: Uint8Array;
  readonly self: number;
  readonly ownContribution: Uint8Array;
  readonly committedDigest: Uint8Array;
  readonly advertised: readonly number[];
  readonly reveals: readonly SeedReveal[];
}): {
  seed: Uint8Array;
  contributions: ReadonlyMap<number, Uint8Array>;
  /** Each reveal's commitment c_u (what each member signed in its AdvertiseKeys, if honest). */
  commitments: ReadonlyMap<number, Uint8Array>;
} {
  const { binding, self, ownContribution, committedDigest, advertised, reveals } = options;
  const u1 = new Set(advertised);
  const contributions = new Map<number, Uint8Array>();
  for (const { sender, contribution } of reveals) {
    if (!u1.has(sender)) {
      throw new LedgerMismatchError(
        `the coordinator relayed a graph-seed reveal of client ${sender}, which is not in U1; refusing the seed`,
      );
    }
    if (contributions.has(sender))
      throw new MalformedMessageError(`two graph-seed reveals of client ${sender}`);
    if (!(contribution instanceof Uint8Array) || contribution.length !== SEED_CONTRIBUTION_BYTES) {
      throw new MalformedMessageError(
        `client ${sender}'s graph-seed reveal is not ${SEED_CONTRIBUTION_BYTES} bytes`,
      );
    }
    contributions.set(sender, contribution);
  }
  const missing = advertised.filter((member) => !contributions.has(member));
  if (missing.length > 0) {
    throw new LedgerMismatchError(
      `the graph-seed reveals of U1 member(s) ${missing.join(', ')} are missing; a seed without ` +
        `them would be a second seed to choose from, so the round stops here`,
    );
  }
  if (!equalBytes(contributions.get(self) ?? new Uint8Array(0), ownContribution)) {
    throw new LedgerMismatchError(
      `the coordinator relayed another graph-seed contribution for client ${self} than the one it revealed; refusing the seed`,
    );
  }
  const commitments = seedCommitments(binding, contributions);
  if (!equalBytes(seedCommitmentsDigest(binding, commitments), committedDigest)) {
    throw new LedgerMismatchError(
      'the graph-seed reveals do not open the commitments shown before this member revealed ' +
        '(a reveal was substituted after the fact); refusing the seed',
    );
  }
  return { seed: contributedGraphSeed(binding, contributions), contributions, commitments };
}
