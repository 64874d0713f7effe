import { X509Certificate } from 'node:crypto';

/**
 * CA bundles: a PEM file may hold several CA certificates (a CA rotation holds the old and the
 * new one). Every certificate of the bundle counts, not only the first.
 */

/** PEM certificates of a bundle, in order. */
export function certificatesOf(pem: string | Buffer): X509Certificate[] {
  const text = typeof pem === 'string' ? pem : pem.toString('utf8');
  return (text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
    (block) => new X509Certificate(block),
  );
}

/** The CA of `issuers` that issued and signed `certificate`, if any. */
export function issuerOf(
  certificate: X509Certificate,
  issuers: readonly X509Certificate[],
): X509Certificate | undefined {
  return issuers.find((ca) => certificate.checkIssued(ca) && certificate.verify(ca.publicKey));
}

/**
 * The CAs whose certificates may name a consortium identity (services/common/caller.ts): the
 * identity issuer bundle when one is named, otherwise the trust bundle's only CA. A trust bundle
 * of several CAs with no issuer named is refused — any of its CAs could write any O.
 */
export function identityIssuersOf(
  trustBundlePem: string | Buffer,
  identityIssuerPem?: string | Buffer,
  what = 'the CA bundle',
): X509Certificate[] {
  if (identityIssuerPem !== undefined) {
    const issuers = certificatesOf(identityIssuerPem);
    if (issuers.length === 0) throw new Error('the identity issuer file holds no PEM certificate');
    return issuers;
  }
  const bundle = certificatesOf(trustBundlePem);
  if (bundle.length === 0) throw new Error(`${what} holds no PEM certificate`);
  if (bundle.length > 1)
    throw new Error(
      `${what} holds ${bundle.length} CAs and no identity issuer is named, so none of them can be trusted to name consortium identities: set tls.identityIssuer to the CA(s) that issue them`,
    );
  return bundle;
}
