import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { decodeBlock } from './fabric-blocks.ts';

/** The PEM certificates in a file's text (a bundle of one or more CAs). */
export function pemCertificates(text: string): X509Certificate[] {
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map(
    (match) => new X509Certificate(match[0]),
  );
}

/**
 * What the auditor pins, from its own knowledge of the consortium (never from the bundle): the
 * channel, the chaincode whose writes count, each MSP's root CA certificates by MSP id, which
 * MSPs are the ordering organisations and which are the banks whose endorsements make the
 * majority, and optionally the channel's genesis block hash.
 */
export interface FabricTrust {
  readonly channel: string;
  /** The chaincode (write-set namespace) whose writes count; default `veilsum`. */
  readonly chaincode?: string;
  /** SHA-256 of block 0's header (the hash block 1 points at), hex. */
  readonly genesis?: string;
  /** Ordering organisations: MSP id → its root CAs. Only these sign blocks. */
  readonly orderers: Readonly<Record<string, readonly X509Certificate[]>>;
  /** Banks: MSP id → its root CAs. A majority of these endorses every transaction that counts. */
  readonly banks: Readonly<Record<string, readonly X509Certificate[]>>;
  /** Other members of the channel (clients such as the coordinator or auditor): MSP id → root CAs. */
  readonly others?: Readonly<Record<string, readonly X509Certificate[]>>;
}

/**
 * A consortium's trust profile for Fabric evidence: everything `veilsum audit verify-bundle`
 * pins, in one file the consortium hands its auditors with its agreement (the network's bring-up
 * writes it): the channel, the chaincode, the genesis block's hash, and each organisation's root
 * CA certificates by MSP id and role. The certificates are in the file itself, so an auditor can
 * compare two copies byte for byte; nothing in it comes from a bundle.
 */
export const FABRIC_TRUST_PROFILE_FORMAT = 'veilsum-fabric-trust/1';

export interface FabricTrustProfile {
  readonly format: typeof FABRIC_TRUST_PROFILE_FORMAT;
  readonly channel: string;
  readonly chaincode: string;
  /** SHA-256 of block 0's header, hex. */
  readonly genesis: string;
  /** MSP id → its root CA certificates (PEM), per role. */
  readonly orderers: Readonly<Record<string, readonly string[]>>;
  readonly banks: Readonly<Record<string, readonly string[]>>;
  readonly others: Readonly<Record<string, readonly string[]>>;
}

/** A profile from the channel's genesis block (configtxgen's output) and each role's CA PEMs. */
export function buildTrustProfile(input: {
  channel: string;
  chaincode: string;
  genesisBlock: Uint8Array;
  orderers: Record<string, string>;
  banks: Record<string, string>;
  others: Record<string, string>;
}): FabricTrustProfile {
  const genesis = decodeBlock(input.genesisBlock);
  if (genesis.number !== 0)
    throw new Error(`the genesis block file holds block ${genesis.number}, not block 0`);
  const pems = (record: Record<string, string>) =>
    Object.fromEntries(
      Object.entries(record)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([mspId, text]) => [mspId, pemCertificates(text).map((cert) => cert.toString())]),
    );
  return {
    format: FABRIC_TRUST_PROFILE_FORMAT,
    channel: input.channel,
    chaincode: input.chaincode,
    genesis: genesis.hash,
    orderers: pems(input.orderers),
    banks: pems(input.banks),
    others: pems(input.others),
  };
}

const mspRecord = z.record(
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'an MSP id'),
  z.array(z.string()).min(1, 'at least one CA certificate'),
);

const profileSchema = z.strictObject({
  format: z.literal(FABRIC_TRUST_PROFILE_FORMAT),
  channel: z.string().regex(/^[a-z][a-z0-9.-]{0,248}$/, 'a Fabric channel name'),
  chaincode: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a chaincode name'),
  genesis: z.string().regex(/^[0-9a-f]{64}$/, '64 lower-case hex digits'),
  orderers: mspRecord.refine((r) => Object.keys(r).length > 0, 'at least one orderer MSP'),
  banks: mspRecord.refine((r) => Object.keys(r).length > 0, 'at least one bank MSP'),
  others: mspRecord,
});

/**
 * The pins of a profile's JSON text, checked: the format, every field, each certificate a CA
 * certificate, and each MSP id in one role only. `source` names the file in errors.
 */
export function trustFromProfile(text: string, source: string): FabricTrust {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(
      `${source} is not JSON: expected a trust profile (${FABRIC_TRUST_PROFILE_FORMAT})`,
    );
  }
  const parsed = profileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? issue.path.join('.') : 'the file';
    throw new Error(`${source}: ${where}: ${issue.message}`);
  }
  const profile = parsed.data;
  const certificates = (role: string, record: Record<string, string[]>) =>
    Object.fromEntries(
      Object.entries(record).map(([mspId, pems]) => [
        mspId,
        pems.map((pem, i) => {
          const found = pemCertificates(pem);
          if (found.length !== 1)
            throw new Error(`${source}: ${role}.${mspId}[${i}] is not one PEM certificate`);
          return found[0]!;
        }),
      ]),
    );
  return checkedPins(
    {
      channel: profile.channel,
      chaincode: profile.chaincode,
      genesis: profile.genesis,
      orderers: certificates('orderers', profile.orderers),
      banks: certificates('banks', profile.banks),
      others: certificates('others', profile.others),
    },
    source,
  );
}

/**
 * Pins as an auditor may give them, from a profile or one by one: each MSP id in one role only,
 * each pinned certificate a CA certificate. `source` names where they came from in errors.
 */
export function checkedPins(trust: FabricTrust, source: string): FabricTrust {
  const seen = new Map<string, string>();
  const roles = [
    ['orderers', trust.orderers],
    ['banks', trust.banks],
    ['others', trust.others ?? {}],
  ] as const;
  for (const [role, record] of roles)
    for (const [mspId, certs] of Object.entries(record)) {
      const other = seen.get(mspId);
      if (other !== undefined)
        throw new Error(
          `${source}: ${mspId} is pinned both as ${other} and as ${role}: an organisation has one role`,
        );
      seen.set(mspId, role);
      certs.forEach((cert: X509Certificate, i) => {
        if (!cert.ca)
          throw new Error(
            `${source}: ${role}.${mspId}[${i}] (${cert.subject.replace(/\n/g, ', ')}) is not a CA certificate`,
          );
      });
    }
  return trust;
}
