import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import { VeilsumError } from './errors.ts';

/**
 * A profile's certificate files, checked before anything dials: each file readable and of the
 * right kind, the certificate matching the private key and in its validity period. Each refusal names the file, the CA and the fix: what TLS would otherwise
 * report as "Failed to connect" or a line of OpenSSL text.
 */
export interface IdentityFiles {
  readonly caCertificate: Buffer;
  readonly certificate: Buffer;
  readonly privateKey: Buffer;
  readonly parsedCertificate: X509Certificate;
  readonly parsedKey: KeyObject;
}

const fail = (message: string): never => {
  throw new VeilsumError('connect', status.INVALID_ARGUMENT, message);
};

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    return fail(
      `cannot read the ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}; check the path in the profile`,
    );
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const oneLine = (name: string) => name.replace(/\n/g, ', ');

export function checkIdentityFiles(
  files: {
    readonly caCertificate: string;
    readonly certificate: string;
    readonly privateKey: string;
  },
  now = Date.now(),
): IdentityFiles {
  const caCertificate = read(files.caCertificate, 'CA certificate');
  const certificate = read(files.certificate, 'certificate');
  const privateKey = read(files.privateKey, 'private key');
  let parsedCertificate: X509Certificate;
  try {
    parsedCertificate = new X509Certificate(certificate);
  } catch {
    return fail(`${files.certificate} is not a PEM certificate`);
  }
  let parsedKey: KeyObject;
  try {
    parsedKey = createPrivateKey(privateKey);
  } catch {
    return fail(`${files.privateKey} is not a PEM private key (PKCS #8)`);
  }
  if (!parsedCertificate.checkPrivateKey(parsedKey))
    fail(
      `the certificate ${files.certificate} (subject ${oneLine(parsedCertificate.subject)}) does not belong to the private key ${files.privateKey}: point the profile at the key it was issued for`,
    );
  // The CA file is what this client trusts the server with; its own certificate may come from
  // another CA of the server's bundle, so that is the server's check, not this one.
  const authorities = caCertificate.toString('utf8').match(PEM_CERTIFICATE) ?? [];
  for (const pem of authorities.length > 0 ? authorities : [''])
    try {
      new X509Certificate(pem);
    } catch {
      fail(`${files.caCertificate} holds no readable PEM CA certificate`);
    }
  if (Date.parse(parsedCertificate.validTo) < now)
    fail(
      `the certificate ${files.certificate} expired on ${parsedCertificate.validTo}: ask the consortium's CA for a new one`,
    );
  if (Date.parse(parsedCertificate.validFrom) > now)
    fail(
      `the certificate ${files.certificate} is not valid before ${parsedCertificate.validFrom}: check this machine's clock`,
    );
  return { caCertificate, certificate, privateKey, parsedCertificate, parsedKey };
}
