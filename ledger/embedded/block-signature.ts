import {
  createPrivateKey,
  type KeyObject,
  sign,
  verify as verifySignature,
  X509Certificate,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { certificatesOf, issuerOf } from '../../crypto/certificate-bundle.ts';

/**
 * Who wrote a block, proven: every block of the embedded ledger carries its writer's consortium
 * certificate (subject O = the writer, Ed25519 key) and that key's signature over the block
 * hash. A chain rewritten by someone who can edit the SQLite file but holds no member's key —
 * however consistently its hashes are recomputed — fails here, at the first block it changed.
 */
const BLOCK_DOMAIN = Buffer.from('veilsum/v1/ledger-block\n');

export interface LedgerWriter {
  /** The writer's certificate (PEM), issued by the consortium CA; subject O is the writer. */
  readonly certificatePem: string;
  readonly privateKey: KeyObject;
  readonly organisation: string;
}

/** A writer from a certificate and its Ed25519 private key (PEM files, e.g. a profile's). */
export function ledgerWriter(certificatePath: string, privateKeyPath: string): LedgerWriter {
  const certificatePem = readFileSync(certificatePath, 'utf8');
  const privateKey = createPrivateKey(readFileSync(privateKeyPath));
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new Error(
      `${privateKeyPath} is not an Ed25519 private key; ledger blocks are Ed25519-signed`,
    );
  const certificate = new X509Certificate(certificatePem);
  if (!certificate.checkPrivateKey(privateKey))
    throw new Error(`${privateKeyPath} is not the private key of ${certificatePath}`);
  return { certificatePem, privateKey, organisation: organisationOf(certificate, certificatePath) };
}

export function signBlockHash(
  writer: LedgerWriter,
  hash: string,
  domain: Buffer = BLOCK_DOMAIN,
): string {
  return sign(null, signedBytes(hash, domain), writer.privateKey).toString('base64');
}

/**
 * Checks writers' certificates against the consortium CAs (the trust anchors come from the
 * verifier's own configuration, never from the ledger file: every CA of the identity issuer
 * bundle it is given, so a CA rotation keeps old and new blocks verifiable) and their block
 * signatures.
 */
export class BlockSignatureVerifier {
  private readonly cas: readonly X509Certificate[];
  private readonly checked = new Map<
    string,
    { organisation: string; key: KeyObject; cert: X509Certificate }
  >();

  constructor(caCertificatePem: string | Buffer) {
    this.cas = certificatesOf(caCertificatePem);
    if (this.cas.length === 0)
      throw new Error('the consortium CA file holds no PEM certificate to verify ledger blocks');
  }

  /**
   * Why the block's signature does not prove `caller` wrote it, or undefined when it does.
   * `domain` separates what is signed (blocks; exported heads use their own).
   */
  problem(
    block: { number: number; caller: string; timestamp: number; hash: string },
    certificatePem: string | null,
    signature: string | null,
    domain: Buffer = BLOCK_DOMAIN,
  ): string | undefined {
    if (!certificatePem || !signature)
      return `block ${block.number} is not signed by its writer ${block.caller}`;
    let writer = this.checked.get(certificatePem);
    if (writer === undefined) {
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(certificatePem);
      } catch {
        return `block ${block.number} carries no readable writer certificate`;
      }
      if (issuerOf(cert, this.cas) === undefined)
        return `block ${block.number}'s writer certificate (subject ${cert.subject.replace(/\n/g, ', ')}) was not issued by the consortium CA`;
      if (cert.publicKey.asymmetricKeyType !== 'ed25519')
        return `block ${block.number}'s writer certificate carries no Ed25519 key`;
      const organisation = /(?:^|\n)O=([^\n]+)/.exec(cert.subject)?.[1];
      if (organisation === undefined)
        return `block ${block.number}'s writer certificate has no subject O (organisation)`;
      writer = { organisation, key: cert.publicKey, cert };
      this.checked.set(certificatePem, writer);
    }
    if (writer.organisation !== block.caller)
      return `block ${block.number} names ${block.caller} as its writer but carries the certificate of ${writer.organisation}`;
    const at = new Date(block.timestamp);
    if (at < new Date(writer.cert.validFrom) || at > new Date(writer.cert.validTo))
      return `block ${block.number} was written when its writer's certificate was not valid`;
    let valid = false;
    try {
      valid = verifySignature(
        null,
        signedBytes(block.hash, domain),
        writer.key,
        Buffer.from(signature, 'base64'),
      );
    } catch {
      valid = false;
    }
    return valid
      ? undefined
      : `block ${block.number}'s signature does not verify under the certificate of ${block.caller}: the block was altered or re-hashed`;
  }
}

function signedBytes(hash: string, domain: Buffer): Buffer {
  return Buffer.concat([domain, Buffer.from(hash, 'hex')]);
}

function organisationOf(certificate: X509Certificate, what: string): string {
  const organisation = /(?:^|\n)O=([^\n]+)/.exec(certificate.subject)?.[1];
  if (organisation === undefined) throw new Error(`${what} has no subject O (organisation)`);
  return organisation;
}
