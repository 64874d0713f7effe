import { X509Certificate } from 'node:crypto';

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

/** identityOf, after checking that the consortium CA issued and signed it and that it is valid now. */
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
  const ca = new X509Certificate(caPem);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))
    throw new Error(`${what} was not issued by the consortium CA`);
  if (now < new Date(cert.validFrom) || now > new Date(cert.validTo))
    throw new Error(`${what} is not valid now (valid ${cert.validFrom} – ${cert.validTo})`);
  return identityOf(pem, what);
}
