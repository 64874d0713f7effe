import { status } from '@grpc/grpc-js';
import { equalBytes } from '../crypto/bytes.ts';
import {
  assertSecureParameters,
  defaultMinContributors,
  type AdversaryModel,
  type ThreatModel,
} from '../crypto/secagg/parameters.ts';
import type { RoundRecord } from '../ledger/records.ts';
import { Adversary, type Round } from '../proto/gen/veilsum/v1/round.ts';
import { hasConsistentParamsHash, ledgerParamsHash } from '../proto/round-wire.ts';
import { verifiedIdentityOf } from '../services/pki/certificates.ts';
import { VeilsumError } from './errors.ts';

/**
 * What a member checks before it takes part in a SecAgg round: the round the coordinator serves
 * against the RoundOpened record on its own view of the ledger (roster, identity keys, adversary
 * model, γ, δ, k, t, min contributors, quantization, params hash, graph seed), the parameters
 * against its own threat model, and a neighbour's identity key against that neighbour's
 * certificate from the consortium CA. Each refusal names the first difference it found.
 */

/** The weakest threat model this member accepts, whatever a round's manifest says. */
export interface MemberThreatModel {
  /** Refuse rounds against a weaker server model (default: accept either). */
  readonly minimumAdversary?: AdversaryModel;
  /** Refuse rounds whose γ (corrupt fraction) is below this (default 0). */
  readonly minimumCorruptionRate?: number;
}

const refuse = (message: string): never => {
  throw new VeilsumError(
    'participate',
    status.FAILED_PRECONDITION,
    `refusing the round: ${message}`,
  );
};

const adversaryOf = (adversary: Adversary): AdversaryModel =>
  adversary === Adversary.ADVERSARY_SEMI_MALICIOUS ? 'semi-malicious' : 'semi-honest';

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
 * The round's (k, t) and min contributors against its threat model, recomputed here, and the
 * threat model against the member's own floor.
 */
export function checkThreatModel(round: Round, policy: MemberThreatModel = {}): void {
  const params = round.params!;
  const model: ThreatModel = {
    clients: round.roster.length,
    corruptionRate: params.corruptionRate,
    dropoutRate: params.dropoutRate,
    adversary: adversaryOf(params.adversary),
  };
  if (policy.minimumAdversary === 'semi-malicious' && model.adversary !== 'semi-malicious')
    refuse('the round assumes a semi-honest server; this member requires semi-malicious rounds');
  if (model.corruptionRate < (policy.minimumCorruptionRate ?? 0)) {
    refuse(
      `the round assumes γ = ${model.corruptionRate}, below this member's ${policy.minimumCorruptionRate}`,
    );
  }
  try {
    assertSecureParameters(model, params.degree, params.threshold);
  } catch (error) {
    refuse(`weak parameters: ${(error as Error).message}`);
  }
  let minimum = 0;
  try {
    minimum = defaultMinContributors(model);
  } catch (error) {
    refuse((error as Error).message);
  }
  if (params.minContributors < minimum) {
    refuse(
      `min contributors ${params.minContributors} is below ${minimum} (all but the ⌈δn⌉ expected to drop)`,
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
        identity = verifiedIdentityOf(pem, this.caPem, `the certificate served for ${memberId}`);
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
