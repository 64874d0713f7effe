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
interface CheckedWriter {
  readonly organisation: string;
  readonly key: KeyObject;
  readonly validFromMs: number;
  readonly validToMs: number;
}

type BlockHeader = { number: number; caller: string; timestamp: number; hash: string };

export class BlockSignatureVerifier {
  private readonly cas: readonly X509Certificate[];
  private readonly checked = new Map<string, CheckedWriter>();

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
    block: BlockHeader,
    certificatePem: string | null,
    signature: string | null,
    domain: Buffer = BLOCK_DOMAIN,
  ): string | undefined {
    const writer = this.writerOf(block, certificatePem, signature);
    if (typeof writer === 'string') return writer;
    let valid = false;
    try {
      valid = verifySignature(
        null,
        signedBytes(block.hash, domain),
        writer.key,
        Buffer.from(signature!, 'base64'),
      );
    } catch {
      valid = false;
    }
    return valid ? undefined : badSignature(block);
  }

  /**
   * As `problem`, with the signature verified on libuv's thread pool (node:crypto's callback
   * form): a caller that starts many of these at once has them verified on every core while it
   * does other work. The certificate checks run before this returns; only the signature waits.
   */
  problemAsync(
    block: BlockHeader,
    certificatePem: string | null,
    signature: string | null,
  ): Promise<string | undefined> {
    const writer = this.writerOf(block, certificatePem, signature);
    if (typeof writer === 'string') return Promise.resolve(writer);
    return new Promise((resolve) => {
      try {
        verifySignature(
          null,
          signedBytes(block.hash, BLOCK_DOMAIN),
          writer.key,
          Buffer.from(signature!, 'base64'),
          (error, valid) => resolve(error === null && valid ? undefined : badSignature(block)),
        );
      } catch {
        resolve(badSignature(block));
      }
    });
  }

  /**
   * Why the block's certificate does not make `caller` its writer at the block's time (issued by
   * a consortium CA, subject O = caller, valid then, a signature present), without verifying the
   * signature itself: for a block whose writer signed a later block (replay-worker.ts).
   */
  writerProblem(
    block: BlockHeader,
    certificatePem: string | null,
    signature: string | null,
  ): string | undefined {
    const writer = this.writerOf(block, certificatePem, signature);
    return typeof writer === 'string' ? writer : undefined;
  }

  /** The block's writer from its certificate, checked against the CAs, or why it is refused. */
  private writerOf(
    block: BlockHeader,
    certificatePem: string | null,
    signature: string | null,
  ): CheckedWriter | string {
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
      writer = {
        organisation,
        key: cert.publicKey,
        validFromMs: new Date(cert.validFrom).getTime(),
        validToMs: new Date(cert.validTo).getTime(),
      };
      this.checked.set(certificatePem, writer);
    }
    if (writer.organisation !== block.caller)
      return `block ${block.number} names ${block.caller} as its writer but carries the certificate of ${writer.organisation}`;
    // As Date comparisons did: a time outside the certificate's validity, or none (NaN), fails.
    if (!(block.timestamp >= writer.validFromMs && block.timestamp <= writer.validToMs))
      return `block ${block.number} was written when its writer's certificate was not valid`;
    return writer;
  }
}

function badSignature(block: BlockHeader): string {
  return `block ${block.number}'s signature does not verify under the certificate of ${block.caller}: the block was altered or re-hashed`;
}

function signedBytes(hash: string, domain: Buffer): Buffer {
  return Buffer.concat([domain, Buffer.from(hash, 'hex')]);
}

function organisationOf(certificate: X509Certificate, what: string): string {
  const organisation = /(?:^|\n)O=([^\n]+)/.exec(certificate.subject)?.[1];
  if (organisation === undefined) throw new Error(`${what} has no subject O (organisation)`);
  return organisation;
}
