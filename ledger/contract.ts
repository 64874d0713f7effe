import { createHash } from 'node:crypto';
import type {
  CollectiveKeyRecord,
  ConsentInForce,
  KeyDecryptionRecord,
  ConsentRecord,
  LedgerEvent,
  Lineage,
  MemberRecord,
  MisbehaviourRecord,
  ModelVersionRecord,
  Role,
  RoundManifest,
  RoundPhaseName,
  RoundPhaseRecord,
  RoundRecord,
  UploadReceipt,
} from './records.ts';
import { ROLES, ROUND_PHASES } from './records.ts';
import {
  decryptionCharge,
  requireDecryptionOfRound,
  requireKeyBudget,
  requireKeyLimits,
  sameKeyLimits,
} from './key-budget.ts';

/**
 * The consortium contract: consent, membership and roles, round commitments and lineage. It is
 * written once against a minimal transaction context, so the same code runs as Fabric chaincode
 * (chaincode/, over the stub) and in-process in the embedded ledger (ledger/embedded/). Every
 * transaction checks the caller's role; a refused transaction changes nothing.
 */
export interface WorldState {
  get(key: string): Promise<string | undefined>;
  put(key: string, value: string): Promise<void>;
  /** Values of every key starting with `prefix`, in key order. */
  list(prefix: string): Promise<string[]>;
}

export interface TransactionContext {
  readonly state: WorldState;
  /** The submitting organisation (Fabric MSP id; embedded: the configured identity). */
  readonly callerMspId: string;
  readonly timestamp: number;
  /**
   * The transaction's id, known to the contract while it runs (Fabric: the tx id; embedded: the
   * hash of the block's predecessor, caller, function and arguments). Seeds what must be fixed
   * by the ledger rather than chosen by a caller, such as the SecAgg+ graph seed.
   */
  readonly transactionId: string;
  emit(event: LedgerEvent): void;
}

export class ContractError extends Error {
  readonly kind: 'access-denied' | 'not-found' | 'conflict' | 'invalid';
  constructor(kind: ContractError['kind'], message: string) {
    super(message);
    this.kind = kind;
    this.name = 'ContractError';
  }
}

/**
 * Separates the ids of a composite state key. Ids may contain '/' (Fabric MSP ids, round ids
 * `<model>/round-<n>`) but never '|', so `member-consent/<member>|<consent>` names exactly one
 * (member, consent) pair: member `a` with consent `b/c` and member `a/b` with consent `c` no
 * longer write the same index key.
 */
const SEP = '|';

const key = {
  member: (mspId: string) => `member/${mspId}`,
  consent: (consentId: string) => `consent/${consentId}`,
  memberConsent: (memberId: string, consentId: string) =>
    `member-consent/${memberId}${SEP}${consentId}`,
  round: (roundId: string) => `round/${roundId}`,
  model: (modelHash: string) => `model/${modelHash}`,
  identityKey: (mspId: string) => `member-identity/${mspId}`,
  roundPhase: (roundId: string, phase: RoundPhaseName) => `round-phase/${roundId}/${phase}`,
  misbehaviour: (roundId: string, memberId: string) =>
    `round-misbehaviour/${roundId}${SEP}${memberId}`,
  collectiveKey: (keySha256: string) => `ckks-key/${keySha256}`,
  ceremony: (ceremonyId: string) => `ckks-ceremony/${ceremonyId}`,
  keyDecryptions: (keySha256: string) => `ckks-key-use/${keySha256}/`,
  keyDecryption: (keySha256: string, keyholder: string, aggregateSha256: string) =>
    `ckks-key-use/${keySha256}/${keyholder}/${aggregateSha256}`,
};

/** Starts the message of a decryption the key's limits refuse (`recordKeyDecryption`). */
export const KEY_EXHAUSTED = 'key exhausted:';

const ID = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;
/** Model ids name rounds (`<model>/round-<n>`) and key prefixes: no '/' in them. */
const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * The longest a consent may run: ten years. Longer ones are refused rather than stored, so every
 * expiry is a date every reader can print and compare.
 */
export const MAX_CONSENT_MS = 3_653 * 86_400_000;
const HEX64 = /^[0-9a-f]{64}$/;
const SIGNATURE_HEX = /^[0-9a-f]{128}$/;

function requireId(value: unknown, name: string): string {
  if (typeof value !== 'string' || !ID.test(value)) {
    throw new ContractError(
      'invalid',
      `${name} must be 1-128 characters of letters, digits, '.', '_', ':', '/' or '-'`,
    );
  }
  return value;
}

function requireModelId(value: unknown): string {
  if (typeof value !== 'string' || !MODEL_ID.test(value)) {
    throw new ContractError(
      'invalid',
      `modelId must be 1-128 characters of letters, digits, '.', '_', ':' or '-' (no '/': round ids are <model>/round-<n>)`,
    );
  }
  return value;
}

function requireHash(value: unknown, name: string): string {
  if (typeof value !== 'string' || !HEX64.test(value))
    throw new ContractError('invalid', `${name} must be 64 lowercase hex characters (SHA-256)`);
  return value;
}

async function read<T>(ctx: TransactionContext, stateKey: string): Promise<T | undefined> {
  const value = await ctx.state.get(stateKey);
  return value === undefined ? undefined : (JSON.parse(value) as T);
}

async function write(ctx: TransactionContext, stateKey: string, value: unknown): Promise<void> {
  await ctx.state.put(stateKey, JSON.stringify(value));
}

async function callerRoles(ctx: TransactionContext): Promise<readonly Role[]> {
  return (await read<MemberRecord>(ctx, key.member(ctx.callerMspId)))?.roles ?? [];
}

async function requireRole(ctx: TransactionContext, role: Role, action: string): Promise<void> {
  const roles = await callerRoles(ctx);
  if (!roles.includes(role)) {
    throw new ContractError(
      'access-denied',
      `${ctx.callerMspId} may not ${action}: it needs the ${role} role (it has ${roles.length ? roles.join(', ') : 'none'})`,
    );
  }
}

/** Receipts are optional (SecAgg); when present there is exactly one per included member. */
function requireReceipts(receipts: unknown, included: readonly string[]): UploadReceipt[] {
  if (!Array.isArray(receipts))
    throw new ContractError('invalid', 'receipts must be a list of upload receipts');
  if (receipts.length === 0) return [];
  const checked: UploadReceipt[] = [];
  const seen = new Set<string>();
  for (const receipt of receipts as Partial<UploadReceipt>[]) {
    const memberId = requireId(receipt?.memberId, 'receipt memberId');
    if (seen.has(memberId))
      throw new ContractError('invalid', `two upload receipts name member ${memberId}`);
    seen.add(memberId);
    if (!included.includes(memberId))
      throw new ContractError('invalid', `a receipt names ${memberId}, which is not included`);
    const uploadSha256 = requireHash(receipt.uploadSha256, 'receipt uploadSha256');
    if (typeof receipt.signature !== 'string' || !SIGNATURE_HEX.test(receipt.signature))
      throw new ContractError(
        'invalid',
        'a receipt signature must be 128 lowercase hex characters',
      );
    checked.push({ memberId, uploadSha256, signature: receipt.signature });
  }
  const missing = included.filter((memberId) => !seen.has(memberId));
  if (missing.length > 0)
    throw new ContractError('invalid', `no upload receipt for included ${missing.join(', ')}`);
  return checked;
}

const HEX_KEY = /^[0-9a-f]{64}$/;

function requireRate(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value >= 1)
    throw new ContractError('invalid', `manifest ${name} must be a number in [0, 1)`);
  return value;
}

function requireCount(value: unknown, name: string, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max)
    throw new ContractError('invalid', `manifest ${name} must be an integer in [${min}, ${max}]`);
  return value as number;
}

/** Checks a manifest's shape and its fit to the roster; returns a copy with only known fields. */
function requireManifest(value: unknown, rosterSize: number): RoundManifest {
  if (value === null || typeof value !== 'object')
    throw new ContractError('invalid', 'manifest must be an object');
  const m = value as Record<string, unknown>;
  if (m.mode !== 'secagg' && m.mode !== 'ckks')
    throw new ContractError('invalid', "manifest mode must be 'secagg' or 'ckks'");
  const keys = m.identityKeys;
  if (
    !Array.isArray(keys) ||
    keys.length !== rosterSize ||
    keys.some((k) => typeof k !== 'string' || !HEX_KEY.test(k))
  ) {
    throw new ContractError(
      'invalid',
      `manifest identityKeys must list one 64-hex-character Ed25519 key per roster member (${rosterSize})`,
    );
  }
  if (new Set(keys).size !== keys.length)
    throw new ContractError('invalid', 'manifest identityKeys lists one key for two members');
  const secagg = m.mode === 'secagg';
  if (
    secagg
      ? m.adversary !== 'semi-honest' && m.adversary !== 'semi-malicious'
      : m.adversary !== null
  )
    throw new ContractError(
      'invalid',
      "manifest adversary must be 'semi-honest' or 'semi-malicious' (null for CKKS)",
    );
  const q = m.quantization as Record<string, unknown> | null;
  if (secagg) {
    if (q === null || typeof q !== 'object')
      throw new ContractError('invalid', 'manifest quantization is required for SecAgg rounds');
    if (typeof q.clipRange !== 'number' || !Number.isFinite(q.clipRange) || q.clipRange <= 0)
      throw new ContractError('invalid', 'manifest quantization.clipRange must be positive');
    requireCount(q.modulusBits, 'quantization.modulusBits', 2, 32);
    requireCount(q.levelBits, 'quantization.levelBits', 1, q.modulusBits as number);
  } else if (q !== null) {
    throw new ContractError('invalid', 'manifest quantization must be null for CKKS rounds');
  }
  if (
    m.ckksKeySha256 !== null &&
    (typeof m.ckksKeySha256 !== 'string' || !HEX64.test(m.ckksKeySha256))
  )
    throw new ContractError('invalid', 'manifest ckksKeySha256 must be 64 hex characters or null');
  if (!secagg && m.ckksKeySha256 === null)
    throw new ContractError('invalid', 'manifest ckksKeySha256 is required for CKKS rounds');
  return {
    mode: m.mode,
    dimension: requireCount(m.dimension, 'dimension', 1, 2 ** 32 - 1),
    identityKeys: [...(keys as string[])],
    adversary: m.adversary as RoundManifest['adversary'],
    corruptionRate: requireRate(m.corruptionRate, 'corruptionRate'),
    dropoutRate: requireRate(m.dropoutRate, 'dropoutRate'),
    degree: secagg
      ? requireCount(m.degree, 'degree', 2, rosterSize - 1)
      : requireCount(m.degree, 'degree', 0, 0),
    threshold: secagg
      ? requireCount(m.threshold, 'threshold', 2, rosterSize)
      : requireCount(m.threshold, 'threshold', 0, 0),
    minContributors: requireCount(m.minContributors, 'minContributors', 2, rosterSize),
    quantization:
      q === null
        ? null
        : {
            clipRange: q.clipRange as number,
            levelBits: q.levelBits as number,
            modulusBits: q.modulusBits as number,
          },
    ckksKeySha256: m.ckksKeySha256 ?? null,
  };
}

/**
 * Every roster entry is a registered member holding the member role and no operator role
 * (coordinator, keyholder, auditor, or any role but member): an operator in a roster slot
 * receives a member's share of every neighbour's secrets, so the slots an operator could fill
 * would add to the colluders the threshold was chosen for.
 */
async function requireMemberRoster(ctx: TransactionContext, roster: readonly string[]) {
  for (const memberId of roster) {
    const record = await read<MemberRecord>(ctx, key.member(requireId(memberId, 'roster member')));
    if (record === undefined)
      throw new ContractError(
        'invalid',
        `roster entry ${memberId} is not a registered member; rosters list members only`,
      );
    const operator = record.roles.filter((role) => role !== 'member');
    if (!record.roles.includes('member') || operator.length > 0)
      throw new ContractError(
        'invalid',
        `roster entry ${memberId} holds ${operator.length > 0 ? `the operator role ${operator.join(', ')}` : 'no member role'}; rosters list members only`,
      );
  }
}

/**
 * The SecAgg+ graph seed: fixed by the ledger once the roster and manifest are, so the
 * coordinator cannot pick which members neighbour which. On Fabric the transaction id hashes a
 * nonce the submitter picks, so a coordinator running its own client could try many ids before
 * it submits one; see the README's threat model.
 */
export function graphSeedOf(
  transactionId: string,
  roundId: string,
  paramsHash: string,
  manifest: RoundManifest,
): string {
  return createHash('sha256')
    .update('veilsum/v1/graph-seed\0')
    .update(`${transactionId}\0${roundId}\0${paramsHash}\0`)
    .update(JSON.stringify(manifest))
    .digest('hex');
}

export function participantSetCommitment(included: readonly string[]): string {
  return createHash('sha256')
    .update('veilsum/v1/participants')
    .update([...included].sort().join(','))
    .digest('hex');
}

/**
 * A member's consents. The prefix `member-consent/<member>|` matches this member only (ids never
 * contain '|'); each record must still name the member itself.
 */
async function consentsOf(ctx: TransactionContext, memberId: string): Promise<ConsentRecord[]> {
  const records: ConsentRecord[] = [];
  for (const id of await ctx.state.list(`member-consent/${memberId}${SEP}`)) {
    const record = await read<ConsentRecord>(ctx, key.consent(id));
    if (record !== undefined && record.memberId === memberId) records.push(record);
  }
  return records;
}

/** The latest-granted of `records` in force for `purpose` at `at` (not revoked, not expired). */
function latestInForce(
  records: readonly ConsentRecord[],
  purpose: string,
  at: number,
): ConsentRecord | undefined {
  let best: ConsentRecord | undefined;
  for (const record of records) {
    const active =
      record.purpose === purpose &&
      record.revokedAt === null &&
      record.expiresAt > at &&
      record.grantedAt <= at;
    if (active && (best === undefined || record.grantedAt > best.grantedAt)) best = record;
  }
  return best;
}

/** Why `memberId` has no consent in force for `purpose` at `at`, from its latest consent. */
function noConsentReason(history: readonly ConsentRecord[], purpose: string, at: number): string {
  const latest = history
    .filter((record) => record.purpose === purpose)
    .sort((a, b) => a.grantedAt - b.grantedAt)
    .at(-1);
  if (latest === undefined) return `it never granted one for ${purpose}`;
  if (latest.revokedAt !== null && latest.revokedAt <= at)
    return `its latest, consent ${latest.consentId}, was revoked at ${isoTime(latest.revokedAt)}`;
  if (latest.expiresAt <= at)
    return `its latest, consent ${latest.consentId}, expired at ${isoTime(latest.expiresAt)}`;
  return `its latest, consent ${latest.consentId}, was granted at ${isoTime(latest.grantedAt)}, after this transaction's time`;
}

function isoTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} ms since the epoch` : date.toISOString();
}

/**
 * Records on each consent a round opens with that the round used it: a later revocation must be
 * dated at or after this, and on Fabric a revocation endorsed before the opening (so reading the
 * record without this mark) fails the version check when the two are committed.
 */
async function markConsentsUsed(
  ctx: TransactionContext,
  consents: readonly ConsentInForce[],
  roundId: string,
): Promise<void> {
  for (const { consentId } of consents) {
    const record = await read<ConsentRecord>(ctx, key.consent(consentId));
    if (record === undefined) continue;
    if (record.lastUsedAt !== undefined && record.lastUsedAt > ctx.timestamp) continue;
    await write(ctx, key.consent(consentId), {
      ...record,
      lastUsedAt: ctx.timestamp,
      lastUsedBy: roundId,
    });
  }
}

/** A member reads its own consents; auditors and coordinators read anyone's. */
async function requireConsentReader(ctx: TransactionContext, memberId: string): Promise<void> {
  if (memberId === ctx.callerMspId) return;
  const roles = await callerRoles(ctx);
  if (!roles.includes('auditor') && !roles.includes('coordinator'))
    throw new ContractError(
      'access-denied',
      `${ctx.callerMspId} may not read the consents of ${memberId}: a member reads its own; auditors and coordinators read anyone's`,
    );
}

/**
 * The consent each roster member contributes under: every one must have a consent in force for
 * the model at the transaction's time, or the round does not open (the contract, not only the
 * coordinator process, keeps a member's data out of a model it did not consent to).
 */
async function requireConsentsInForce(
  ctx: TransactionContext,
  roster: readonly string[],
  modelId: string,
): Promise<ConsentInForce[]> {
  const consents: ConsentInForce[] = [];
  const missing: string[] = [];
  for (const memberId of roster) {
    requireId(memberId, 'roster member');
    const history = await consentsOf(ctx, memberId);
    const consent = latestInForce(history, modelId, ctx.timestamp);
    if (consent)
      consents.push({ memberId, datasetId: consent.datasetId, consentId: consent.consentId });
    else missing.push(`${memberId} (${noConsentReason(history, modelId, ctx.timestamp)})`);
  }
  if (missing.length > 0)
    throw new ContractError(
      'conflict',
      `every roster member needs a consent in force for ${modelId}; none for ${missing.join('; ')}`,
    );
  return consents;
}

export const contract = {
  /**
   * Membership. The first registration bootstraps the consortium (it must give its caller the
   * coordinator role); afterwards only a coordinator registers members. Roles only grow: a
   * registration adds to what an identity holds and never removes a role (a coordinator that
   * could drop its role while a member checks who holds a key, then take it back, would pass that
   * check). A keyholder may never also be a coordinator or auditor, in either order: those roles
   * see the uploads and aggregates a key's shares would decrypt.
   */
  async registerMember(
    ctx: TransactionContext,
    mspId: string,
    roles: Role[],
  ): Promise<MemberRecord> {
    requireId(mspId, 'mspId');
    if (
      !Array.isArray(roles) ||
      roles.length === 0 ||
      roles.some((role) => !ROLES.includes(role))
    ) {
      throw new ContractError('invalid', `roles must be a non-empty list of ${ROLES.join(', ')}`);
    }
    const anyMember = (await ctx.state.list('member/')).length > 0;
    if (anyMember) await requireRole(ctx, 'coordinator', 'register members');
    else if (mspId !== ctx.callerMspId || !roles.includes('coordinator')) {
      throw new ContractError(
        'access-denied',
        'the first registration must register its caller with the coordinator role',
      );
    }
    const existing = await read<MemberRecord>(ctx, key.member(mspId));
    const held = [...new Set([...(existing?.roles ?? []), ...roles])];
    const conflicting = held.filter((role) => role === 'coordinator' || role === 'auditor');
    if (held.includes('keyholder') && conflicting.length > 0)
      throw new ContractError(
        'conflict',
        `${mspId} would hold the keyholder and the ${conflicting.join(' and ')} role: a keyholder may not also be a coordinator or auditor`,
      );
    const record: MemberRecord = {
      mspId,
      roles: held,
      registeredAt: existing?.registeredAt ?? ctx.timestamp,
    };
    await write(ctx, key.member(mspId), record);
    ctx.emit({ name: 'MemberRegistered', payload: { mspId, roles: held } });
    return record;
  },

  async getMember(ctx: TransactionContext, mspId: string): Promise<MemberRecord> {
    const record = await read<MemberRecord>(ctx, key.member(requireId(mspId, 'mspId')));
    if (record === undefined) throw new ContractError('not-found', `no member ${mspId}`);
    return record;
  },

  /** A member grants consent for one of its own datasets; the caller is the member. */
  async grantConsent(
    ctx: TransactionContext,
    consentId: string,
    datasetId: string,
    purpose: string,
    expiresAt: number,
  ): Promise<ConsentRecord> {
    await requireRole(ctx, 'member', 'grant consent');
    requireId(consentId, 'consentId');
    requireId(datasetId, 'datasetId');
    requireId(purpose, 'purpose');
    if (!Number.isSafeInteger(expiresAt) || expiresAt <= ctx.timestamp) {
      throw new ContractError(
        'invalid',
        `expiresAt must be a future time in ms since the epoch, got ${expiresAt}`,
      );
    }
    if (expiresAt - ctx.timestamp > MAX_CONSENT_MS) {
      throw new ContractError(
        'invalid',
        `expiresAt must be at most ${MAX_CONSENT_MS / 86_400_000} days (ten years) after the grant, got ${expiresAt} (${Math.floor((expiresAt - ctx.timestamp) / 86_400_000)} days); grant a new consent when it ends`,
      );
    }
    if ((await ctx.state.get(key.consent(consentId))) !== undefined) {
      throw new ContractError(
        'conflict',
        `consent ${consentId} already exists; consents are immutable — grant a new one`,
      );
    }
    const record: ConsentRecord = {
      consentId,
      memberId: ctx.callerMspId,
      datasetId,
      purpose,
      grantedAt: ctx.timestamp,
      expiresAt,
      revokedAt: null,
    };
    await write(ctx, key.consent(consentId), record);
    await ctx.state.put(key.memberConsent(ctx.callerMspId, consentId), consentId);
    ctx.emit({
      name: 'ConsentGranted',
      payload: { consentId, memberId: record.memberId, datasetId, purpose, expiresAt },
    });
    return record;
  },

  /** Only the member that granted a consent may revoke it. */
  async revokeConsent(ctx: TransactionContext, consentId: string): Promise<ConsentRecord> {
    const record = await read<ConsentRecord>(ctx, key.consent(requireId(consentId, 'consentId')));
    if (record === undefined) throw new ContractError('not-found', `no consent ${consentId}`);
    if (record.memberId !== ctx.callerMspId) {
      throw new ContractError(
        'access-denied',
        `${ctx.callerMspId} may not revoke consent ${consentId}: it belongs to ${record.memberId}`,
      );
    }
    if (record.revokedAt !== null)
      throw new ContractError('conflict', `consent ${consentId} was already revoked`);
    // The revocation's time is the submitter's (within the peers' clock skew on Fabric, the
    // writer's clock on the embedded ledger): never let it predate what the ledger already holds.
    if (ctx.timestamp < record.grantedAt)
      throw new ContractError(
        'conflict',
        `a revocation of consent ${consentId} may not be dated ${isoTime(ctx.timestamp)}, before its grant at ${isoTime(record.grantedAt)}`,
      );
    // Never dated before a round that used the consent opened, and never refused for it: a
    // revocation sent while a round dated a little ahead is opening takes effect at that round's
    // time (otherwise whoever dates rounds could keep a member from revoking; review).
    const revokedAt =
      record.lastUsedAt !== undefined ? Math.max(ctx.timestamp, record.lastUsedAt) : ctx.timestamp;
    const revoked: ConsentRecord = { ...record, revokedAt };
    await write(ctx, key.consent(consentId), revoked);
    ctx.emit({ name: 'ConsentRevoked', payload: { consentId, memberId: record.memberId } });
    return revoked;
  },

  /** A member reads its own consents; auditors and coordinators read anyone's. */
  async consentHistory(ctx: TransactionContext, memberId: string): Promise<ConsentRecord[]> {
    await requireConsentReader(ctx, requireId(memberId, 'memberId'));
    return (await consentsOf(ctx, memberId)).sort(
      (a, b) => a.grantedAt - b.grantedAt || a.consentId.localeCompare(b.consentId),
    );
  },

  /** Every member's consents, by member then grant time: for auditors and coordinators. */
  async listConsents(ctx: TransactionContext): Promise<ConsentRecord[]> {
    const roles = await callerRoles(ctx);
    if (!roles.includes('auditor') && !roles.includes('coordinator'))
      throw new ContractError(
        'access-denied',
        `${ctx.callerMspId} may not read every member's consents: it needs the auditor or coordinator role (a member reads its own with consentHistory)`,
      );
    return (await ctx.state.list('consent/'))
      .map((value) => JSON.parse(value) as ConsentRecord)
      .sort(
        (a, b) =>
          a.memberId.localeCompare(b.memberId) ||
          a.grantedAt - b.grantedAt ||
          a.consentId.localeCompare(b.consentId),
      );
  },

  /**
   * The consent a member's data may be used under for `purpose` at `at`, if any: read under the
   * same rule as consentHistory (by probing `at` anyone else would learn the grant and expiry).
   */
  async consentInForce(
    ctx: TransactionContext,
    memberId: string,
    purpose: string,
    at: number,
  ): Promise<ConsentRecord | undefined> {
    await requireConsentReader(ctx, requireId(memberId, 'memberId'));
    return latestInForce(await consentsOf(ctx, memberId), purpose, at);
  },

  /** Records a round's parameters and the consent each roster member contributes under. */
  async openRound(
    ctx: TransactionContext,
    roundId: string,
    modelId: string,
    roundNumber: number,
    paramsHash: string,
    roster: string[],
    manifest?: RoundManifest | null,
  ): Promise<RoundRecord> {
    await requireRole(ctx, 'coordinator', 'open rounds');
    requireId(roundId, 'roundId');
    requireModelId(modelId);
    requireHash(paramsHash, 'paramsHash');
    if (!Number.isSafeInteger(roundNumber) || roundNumber < 0)
      throw new ContractError('invalid', 'roundNumber must be a non-negative integer');
    if (!Array.isArray(roster) || roster.length === 0)
      throw new ContractError('invalid', 'roster must list the round members');
    if ((await ctx.state.get(key.round(roundId))) !== undefined)
      throw new ContractError('conflict', `round ${roundId} was already opened`);
    if (new Set(roster).size !== roster.length)
      throw new ContractError('invalid', 'roster lists a member twice');
    await requireMemberRoster(ctx, roster);
    const checked =
      manifest === undefined || manifest === null ? null : requireManifest(manifest, roster.length);
    if (checked?.mode === 'ckks') {
      const registered = await read<CollectiveKeyRecord>(
        ctx,
        key.collectiveKey(checked.ckksKeySha256!),
      );
      if (registered?.registeredAt === undefined || registered.registeredAt === null) {
        throw new ContractError(
          'conflict',
          `the manifest's CKKS key ${checked.ckksKeySha256!.slice(0, 16)}… is not a registered collective key: ` +
            (registered === undefined
              ? 'no keyholder attested it on the ledger'
              : `only ${registered.attestedBy.length} of its ${registered.participants.length} ceremony keyholders attested it`),
        );
      }
    }
    if (checked !== null) {
      for (const [i, memberId] of roster.entries()) {
        const pinned = await ctx.state.get(key.identityKey(requireId(memberId, 'roster member')));
        if (pinned !== undefined && pinned !== checked.identityKeys[i]) {
          throw new ContractError(
            'conflict',
            `the manifest's identity key for ${memberId} is not the key ${memberId} registered on the ledger`,
          );
        }
      }
    }
    const consents = await requireConsentsInForce(ctx, roster, modelId);
    const record: RoundRecord = {
      roundId,
      modelId,
      roundNumber,
      paramsHash,
      roster: [...roster],
      openedAt: ctx.timestamp,
      consents,
      status: 'open',
      closedAt: null,
      included: [],
      participantSetCommitment: null,
      uploadsMerkleRoot: null,
      aggregateHash: null,
      dropoutCount: null,
      ...(checked === null
        ? {}
        : {
            manifest: checked,
            graphSeed: graphSeedOf(ctx.transactionId, roundId, paramsHash, checked),
            openTransactionId: ctx.transactionId,
          }),
    };
    await write(ctx, key.round(roundId), record);
    await markConsentsUsed(ctx, consents, roundId);
    ctx.emit({
      name: 'RoundOpened',
      payload: {
        roundId,
        modelId,
        roundNumber,
        paramsHash,
        members: roster.length,
        consents: consents.length,
      },
    });
    return record;
  },

  /**
   * Closes a round with its commitments — one transaction whatever the number of clients. Every
   * included member must have had a consent in force for the model when the round opened. A CKKS
   * round also carries one member-signed upload receipt per included member; the contract checks
   * their shape and that they name exactly the included members, and keyholders verify the
   * signatures and that the aggregate is the sum of exactly those uploads before decrypting.
   */
  async closeRound(
    ctx: TransactionContext,
    roundId: string,
    included: string[],
    uploadsMerkleRoot: string,
    aggregateHash: string,
    dropoutCount: number,
    receipts: UploadReceipt[] = [],
  ): Promise<RoundRecord> {
    await requireRole(ctx, 'coordinator', 'close rounds');
    const record = await read<RoundRecord>(ctx, key.round(requireId(roundId, 'roundId')));
    if (record === undefined) throw new ContractError('not-found', `no round ${roundId}`);
    if (record.status !== 'open')
      throw new ContractError('conflict', `round ${roundId} is already closed`);
    requireHash(uploadsMerkleRoot, 'uploadsMerkleRoot');
    requireHash(aggregateHash, 'aggregateHash');
    if (!Number.isSafeInteger(dropoutCount) || dropoutCount < 0)
      throw new ContractError('invalid', 'dropoutCount must be a non-negative integer');
    const checkedReceipts = requireReceipts(receipts, included);
    const consented = new Set(record.consents.map((consent) => consent.memberId));
    for (const memberId of included) {
      if (!record.roster.includes(memberId))
        throw new ContractError('invalid', `${memberId} is not on the roster of round ${roundId}`);
      if (!consented.has(memberId)) {
        throw new ContractError(
          'conflict',
          `round ${roundId} cannot include ${memberId}: it had no consent in force for ${record.modelId} when the round opened`,
        );
      }
    }
    const closed: RoundRecord = {
      ...record,
      status: 'closed',
      closedAt: ctx.timestamp,
      included: [...included],
      participantSetCommitment: participantSetCommitment(included),
      uploadsMerkleRoot,
      aggregateHash,
      dropoutCount,
      receipts: checkedReceipts,
    };
    await write(ctx, key.round(roundId), closed);
    ctx.emit({
      name: 'RoundClosed',
      payload: {
        roundId,
        included: included.length,
        dropoutCount,
        uploadsMerkleRoot,
        aggregateHash,
        receipts: checkedReceipts,
      },
    });
    return closed;
  },

  /**
   * A member pins its own Ed25519 identity key (hex): later manifests must list exactly this key
   * for it. On Fabric the caller is proven by its MSP certificate.
   */
  async registerIdentityKey(ctx: TransactionContext, publicKey: string): Promise<string> {
    await requireRole(ctx, 'member', 'register an identity key');
    if (typeof publicKey !== 'string' || !HEX_KEY.test(publicKey))
      throw new ContractError('invalid', 'publicKey must be 64 lowercase hex characters (Ed25519)');
    const existing = await ctx.state.get(key.identityKey(ctx.callerMspId));
    if (existing !== undefined && existing !== publicKey)
      throw new ContractError(
        'conflict',
        `${ctx.callerMspId} already registered another identity key`,
      );
    await ctx.state.put(key.identityKey(ctx.callerMspId), publicKey);
    return publicKey;
  },

  /**
   * The coordinator commits one phase's participant set (U1 advertised, U2 shared, U3 masked) of
   * an open SecAgg round — once: the same set again is answered with the stored record (a
   * restarted coordinator), any other set is refused. Each set must lie within the previous
   * phase's. Members read it before they reveal anything: the broadcast the papers assume.
   */
  async commitRoundPhase(
    ctx: TransactionContext,
    roundId: string,
    phase: RoundPhaseName,
    members: number[],
  ): Promise<RoundPhaseRecord> {
    await requireRole(ctx, 'coordinator', 'commit round phases');
    const round = await contract.getRound(ctx, roundId);
    if (!ROUND_PHASES.includes(phase))
      throw new ContractError('invalid', `phase must be one of ${ROUND_PHASES.join(', ')}`);
    if (round.manifest?.mode !== 'secagg')
      throw new ContractError(
        'invalid',
        `round ${roundId} is not a SecAgg round opened with a manifest`,
      );
    if (round.status !== 'open')
      throw new ContractError('conflict', `round ${roundId} is already closed`);
    if (
      !Array.isArray(members) ||
      members.some(
        (m, i) =>
          !Number.isSafeInteger(m) ||
          m < 1 ||
          m > round.roster.length ||
          (i > 0 && m <= members[i - 1]!),
      )
    ) {
      throw new ContractError(
        'invalid',
        `members must be ascending, distinct roster indices in [1, ${round.roster.length}]`,
      );
    }
    const previous = ROUND_PHASES[ROUND_PHASES.indexOf(phase) - 1];
    if (previous !== undefined) {
      const before = await read<RoundPhaseRecord>(ctx, key.roundPhase(roundId, previous));
      if (before === undefined)
        throw new ContractError(
          'conflict',
          `round ${roundId} has no committed ${previous} set yet`,
        );
      const allowed = new Set(before.members);
      const outside = members.filter((m) => !allowed.has(m));
      if (outside.length > 0) {
        throw new ContractError(
          'invalid',
          `the ${phase} set of round ${roundId} lists [${outside.join(', ')}], which are not in its ${previous} set`,
        );
      }
    }
    const existing = await read<RoundPhaseRecord>(ctx, key.roundPhase(roundId, phase));
    if (existing !== undefined) {
      if (
        existing.members.length === members.length &&
        existing.members.every((m, i) => m === members[i])
      )
        return existing;
      throw new ContractError(
        'conflict',
        `round ${roundId} already committed its ${phase} set; one value per round and phase`,
      );
    }
    const record: RoundPhaseRecord = {
      roundId,
      phase,
      members: [...members],
      committedAt: ctx.timestamp,
    };
    await write(ctx, key.roundPhase(roundId, phase), record);
    ctx.emit({ name: 'RoundPhaseCommitted', payload: { roundId, phase, members: members.length } });
    return record;
  },

  async getRoundPhase(
    ctx: TransactionContext,
    roundId: string,
    phase: RoundPhaseName,
  ): Promise<RoundPhaseRecord> {
    requireId(roundId, 'roundId');
    if (!ROUND_PHASES.includes(phase))
      throw new ContractError('invalid', `phase must be one of ${ROUND_PHASES.join(', ')}`);
    const record = await read<RoundPhaseRecord>(ctx, key.roundPhase(roundId, phase));
    if (record === undefined)
      throw new ContractError('not-found', `round ${roundId} has no committed ${phase} set`);
    return record;
  },

  /** Names a roster member the coordinator caught misbehaving in a round (once per member). */
  async recordMisbehaviour(
    ctx: TransactionContext,
    roundId: string,
    memberId: string,
    reason: string,
    evidenceSha256: string,
  ): Promise<MisbehaviourRecord> {
    await requireRole(ctx, 'coordinator', 'record misbehaviour');
    const round = await contract.getRound(ctx, roundId);
    if (!round.roster.includes(memberId))
      throw new ContractError('invalid', `${memberId} is not on the roster of round ${roundId}`);
    if (typeof reason !== 'string' || reason.length === 0 || reason.length > 1000)
      throw new ContractError('invalid', 'reason must be 1-1000 characters');
    requireHash(evidenceSha256, 'evidenceSha256');
    const existing = await read<MisbehaviourRecord>(ctx, key.misbehaviour(roundId, memberId));
    if (existing !== undefined) return existing;
    const record: MisbehaviourRecord = {
      roundId,
      memberId,
      reason,
      evidenceSha256,
      recordedAt: ctx.timestamp,
    };
    await write(ctx, key.misbehaviour(roundId, memberId), record);
    ctx.emit({ name: 'MisbehaviourRecorded', payload: { roundId, memberId } });
    return record;
  },

  async roundMisbehaviour(ctx: TransactionContext, roundId: string): Promise<MisbehaviourRecord[]> {
    requireId(roundId, 'roundId');
    // The prefix also matches rounds whose id extends this one: keep only this round's.
    return (await ctx.state.list(`round-misbehaviour/${roundId}${SEP}`))
      .map((value) => JSON.parse(value) as MisbehaviourRecord)
      .filter((record) => record.roundId === roundId);
  },

  /**
   * A keyholder attests, with its own ledger identity, the collective CKKS key its ceremony
   * produced: key hash, ceremony id, threshold and the ceremony's keyholders. The key counts as
   * registered once every participant attested the same record; a CKKS round manifest may name
   * only a registered key. Attesting again is answered with the stored record.
   */
  async attestCollectiveKey(
    ctx: TransactionContext,
    keySha256: string,
    ceremonyId: string,
    threshold: number,
    participants: string[],
    limits: unknown,
  ): Promise<CollectiveKeyRecord> {
    await requireRole(ctx, 'keyholder', 'attest collective keys');
    requireHash(keySha256, 'keySha256');
    requireId(ceremonyId, 'ceremonyId');
    if (!Array.isArray(participants) || participants.length === 0 || participants.length > 256)
      throw new ContractError('invalid', 'participants must list 1-256 ceremony keyholders');
    for (const id of participants) requireId(id, 'participant');
    if (new Set(participants).size !== participants.length)
      throw new ContractError('invalid', 'participants lists a keyholder twice');
    // A key one keyholder can decrypt alone is no threshold key: honest keyholders never make
    // one (their ceremony refuses t < 2), and the ledger does not register one either.
    if (!Number.isSafeInteger(threshold) || threshold < 2 || threshold > participants.length)
      throw new ContractError(
        'invalid',
        participants.length < 2
          ? `a collective key needs at least 2 keyholders and a threshold of at least 2 (one keyholder could decrypt alone); got ${threshold} of ${participants.length}`
          : `threshold must be an integer in [2, ${participants.length}] (one keyholder must never decrypt alone)`,
      );
    const keyLimits = requireKeyLimits(limits, participants.length);
    if (!participants.includes(ctx.callerMspId))
      throw new ContractError(
        'access-denied',
        `${ctx.callerMspId} may not attest key ${keySha256.slice(0, 16)}…: it is not a participant of ceremony ${ceremonyId}`,
      );
    const ceremonyKey = await ctx.state.get(key.ceremony(ceremonyId));
    if (ceremonyKey !== undefined && ceremonyKey !== keySha256)
      throw new ContractError(
        'conflict',
        `ceremony ${ceremonyId} already attested another key (${ceremonyKey.slice(0, 16)}…)`,
      );
    const existing = await read<CollectiveKeyRecord>(ctx, key.collectiveKey(keySha256));
    if (
      existing !== undefined &&
      (existing.ceremonyId !== ceremonyId ||
        existing.threshold !== threshold ||
        existing.participants.join('\n') !== participants.join('\n'))
    ) {
      throw new ContractError(
        'conflict',
        `key ${keySha256.slice(0, 16)}… was attested with another ceremony, threshold or participants`,
      );
    }
    // Every keyholder attests the same limits: a key registers only with limits all agreed on.
    if (existing !== undefined && !sameKeyLimits(existing.limits, keyLimits))
      throw new ContractError(
        'conflict',
        `key ${keySha256.slice(0, 16)}… was attested with other limits (${JSON.stringify(existing.limits)}) than ${ctx.callerMspId}'s (${JSON.stringify(keyLimits)}); its keyholders must agree on the key's life, KL budget and flooding`,
      );
    if (existing?.attestedBy.includes(ctx.callerMspId)) return existing;
    const attestedBy = [...(existing?.attestedBy ?? []), ctx.callerMspId];
    const record: CollectiveKeyRecord = {
      keySha256,
      ceremonyId,
      threshold,
      participants: [...participants],
      attestedBy,
      registeredAt: attestedBy.length === participants.length ? ctx.timestamp : null,
      limits: keyLimits,
    };
    await write(ctx, key.collectiveKey(keySha256), record);
    await ctx.state.put(key.ceremony(ceremonyId), keySha256);
    ctx.emit({
      name: 'CollectiveKeyAttested',
      payload: {
        keySha256,
        ceremonyId,
        keyholder: ctx.callerMspId,
        registered: record.registeredAt !== null,
      },
    });
    return record;
  },

  async getCollectiveKey(ctx: TransactionContext, keySha256: string): Promise<CollectiveKeyRecord> {
    const record = await read<CollectiveKeyRecord>(
      ctx,
      key.collectiveKey(requireHash(keySha256, 'keySha256')),
    );
    if (record === undefined)
      throw new ContractError(
        'not-found',
        `no collective key ${keySha256.slice(0, 16)}… on the ledger`,
      );
    return record;
  },

  /**
   * A keyholder records, before it releases a partial decryption under `keySha256`, the round it
   * decrypts with the round's counts (key-budget.ts): only a participant of the key's ceremony,
   * only for itself, only a round opened under the key and closed with that aggregate, with the
   * ciphertexts its dimension takes and its included contributors. The contract computes the
   * charge from the key's attested limits and enforces them atomically with the record (two
   * keyholders answering at once cannot both take the last round): over all keyholders' records,
   * one charge per distinct aggregate; a new aggregate past the key's life or KL budget is
   * refused with KEY_EXHAUSTED. Recording the same decryption again is answered with the stored
   * record. Deterministic in its inputs and the ledger state.
   */
  async recordKeyDecryption(
    ctx: TransactionContext,
    keySha256: string,
    aggregateSha256: string,
    roundId: string,
    ciphertexts: number,
    contributors: number,
  ): Promise<KeyDecryptionRecord> {
    await requireRole(ctx, 'keyholder', 'record decryptions');
    requireHash(aggregateSha256, 'aggregateSha256');
    requireId(roundId, 'roundId');
    for (const [value, name] of [
      [ciphertexts, 'ciphertexts'],
      [contributors, 'contributors'],
    ] as const)
      if (!Number.isSafeInteger(value) || value < 1 || value > 2 ** 31)
        throw new ContractError('invalid', `${name} must be an integer in [1, 2^31]`);
    const collective = await contract.getCollectiveKey(ctx, keySha256);
    if (!collective.participants.includes(ctx.callerMspId))
      throw new ContractError(
        'access-denied',
        `${ctx.callerMspId} may not record decryptions under key ${keySha256.slice(0, 16)}…: it is not one of its keyholders`,
      );
    if (collective.registeredAt === null || collective.limits === undefined)
      throw new ContractError(
        'conflict',
        `key ${keySha256.slice(0, 16)}… is not registered: only ${collective.attestedBy.length} of its ${collective.participants.length} keyholders attested it`,
      );
    const { limits } = collective;
    const round = await contract.getRound(ctx, roundId);
    requireDecryptionOfRound(round, keySha256, limits, aggregateSha256, {
      ciphertexts,
      contributors,
    });
    const keyholders = collective.participants.length;
    const kl = decryptionCharge(limits, keyholders, ciphertexts, contributors);
    const at = key.keyDecryption(keySha256, ctx.callerMspId, aggregateSha256);
    const existing = await read<KeyDecryptionRecord>(ctx, at);
    if (existing !== undefined) {
      if (existing.roundId === roundId) return existing;
      throw new ContractError(
        'conflict',
        `${ctx.callerMspId} already recorded aggregate ${aggregateSha256.slice(0, 16)}… under key ${keySha256.slice(0, 16)}… for round ${existing.roundId}`,
      );
    }
    requireKeyBudget(
      KEY_EXHAUSTED,
      keySha256,
      limits,
      keyholders,
      await contract.keyDecryptions(ctx, keySha256),
      aggregateSha256,
      kl,
    );
    const record: KeyDecryptionRecord = {
      keySha256,
      keyholder: ctx.callerMspId,
      aggregateSha256,
      roundId,
      ciphertexts,
      contributors,
      kl,
      recordedAt: ctx.timestamp,
    };
    await write(ctx, at, record);
    return record;
  },

  /** Every decryption any keyholder recorded under `keySha256`. */
  async keyDecryptions(ctx: TransactionContext, keySha256: string): Promise<KeyDecryptionRecord[]> {
    return (await ctx.state.list(key.keyDecryptions(requireHash(keySha256, 'keySha256')))).map(
      (value) => JSON.parse(value) as KeyDecryptionRecord,
    );
  },

  async getRound(ctx: TransactionContext, roundId: string): Promise<RoundRecord> {
    const record = await read<RoundRecord>(ctx, key.round(requireId(roundId, 'roundId')));
    if (record === undefined) throw new ContractError('not-found', `no round ${roundId}`);
    return record;
  },

  async recordModelVersion(
    ctx: TransactionContext,
    modelHash: string,
    roundId: string,
  ): Promise<ModelVersionRecord> {
    await requireRole(ctx, 'coordinator', 'record model versions');
    requireHash(modelHash, 'modelHash');
    const round = await contract.getRound(ctx, roundId);
    if (round.status !== 'closed')
      throw new ContractError('conflict', `round ${roundId} is not closed`);
    if ((await ctx.state.get(key.model(modelHash))) !== undefined)
      throw new ContractError('conflict', `model ${modelHash} was already recorded`);
    const record: ModelVersionRecord = {
      modelHash,
      modelId: round.modelId,
      roundId,
      recordedAt: ctx.timestamp,
    };
    await write(ctx, key.model(modelHash), record);
    ctx.emit({ name: 'ModelVersionRecorded', payload: { ...record } });
    return record;
  },

  /** Which datasets, under which consents, fed this model version. */
  async lineage(ctx: TransactionContext, modelHash: string): Promise<Lineage> {
    const modelVersion = await read<ModelVersionRecord>(
      ctx,
      key.model(requireHash(modelHash, 'modelHash')),
    );
    if (modelVersion === undefined)
      throw new ContractError('not-found', `no model version ${modelHash}`);
    const round = await contract.getRound(ctx, modelVersion.roundId);
    const contributions = [];
    for (const memberId of round.included) {
      const inForce = round.consents.find((consent) => consent.memberId === memberId)!;
      contributions.push({
        memberId,
        consent: (await read<ConsentRecord>(ctx, key.consent(inForce.consentId)))!,
      });
    }
    return { modelVersion, round, contributions };
  },
};

export type ContractFunction = keyof typeof contract;
