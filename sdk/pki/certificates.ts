import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { certificatesOf, identityIssuersOf, issuerOf } from '../../crypto/certificate-bundle.ts';

/**
 * What veilsum reads from a consortium certificate: the organisation (subject O — the member,
 * keyholder or coordinator id) and the certificate's Ed25519 key, which also signs protocol
 * messages (SecAgg rounds, key ceremonies).
 */
export interface CertificateIdentity {
  readonly organisation: string;
  readonly identityKey: Uint8Array;
}

export function identityOf(pem: string | Buffer, what: string): CertificateIdentity {
  const cert = new X509Certificate(pem);
  const organisation = /(?:^|\n)O=([^\n]+)/.exec(cert.subject)?.[1];
  if (organisation === undefined) throw new Error(`${what} has no subject O (organisation)`);
  if (cert.publicKey.asymmetricKeyType !== 'ed25519')
    throw new Error(`${what} must carry an Ed25519 key (it signs protocol messages)`);
  const jwk = cert.publicKey.export({ format: 'jwk' });
  return { organisation, identityKey: new Uint8Array(Buffer.from(jwk.x!, 'base64url')) };
}

/**
 * identityOf, after checking that a consortium CA issued and signed it (any CA of the `caPem`
 * bundle: the identity issuers, old and new during a rotation) and that it is valid now.
 */
export function verifiedIdentityOf(
  pem: string | Buffer,
  caPem: string | Buffer,
  what: string,
  now = new Date(),
): CertificateIdentity {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    throw new Error(`${what} is not a PEM certificate`);
  }
  if (issuerOf(cert, certificatesOf(caPem)) === undefined)
    throw new Error(`${what} was not issued by the consortium CA`);
  if (now < new Date(cert.validFrom) || now > new Date(cert.validTo))
    throw new Error(`${what} is not valid now (valid ${cert.validFrom} – ${cert.validTo})`);
  return identityOf(pem, what);
}

/**
 * The identity issuers of a service's TLS section, as one PEM bundle for verifiedIdentityOf and
 * the ledger: every CA of `tls.identityIssuer`, or the trust bundle's only CA (a trust bundle of
 * several CAs with no issuer named is refused, as services/common/caller.ts refuses its callers).
 */
export function identityIssuersPem(tls: {
  readonly caCertificate: string;
  readonly identityIssuer?: string | undefined;
}): string {
  return identityIssuersOf(
    readFileSync(tls.caCertificate),
    tls.identityIssuer === undefined ? undefined : readFileSync(tls.identityIssuer),
    `the CA bundle ${tls.caCertificate}`,
  )
    .map((ca) => ca.toString())
    .join('');
}
