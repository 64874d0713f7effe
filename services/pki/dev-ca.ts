import { webcrypto } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import 'reflect-metadata'; // @peculiar/x509's dependency injection needs it loaded first
import * as x509 from '@peculiar/x509';

/**
 * A development PKI: one Ed25519 CA, server certificates for the coordinator and the keyholders
 * (SAN localhost and 127.0.0.1) and one client certificate per member whose subject O is the member id (= its
 * Fabric MSP id later). A member's certificate key is also its SecAgg identity key: the roster's
 * identity keys are read from the certificates. A bank plugs in its own PKI by pointing the
 * configuration at its CA bundle and certificates instead (README, "Bring your own PKI").
 */
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type KeyPair = webcrypto.CryptoKeyPair;

const ALGORITHM = { name: 'Ed25519' } as const;
const VALIDITY_DAYS = 365;

export interface IssuedIdentity {
  readonly certificatePath: string;
  readonly privateKeyPath: string;
}

export interface DevPki {
  readonly caCertificatePath: string;
  readonly server: IssuedIdentity;
  readonly members: Record<string, IssuedIdentity>;
  /** Keyholder server certificates (SAN localhost, 127.0.0.1; subject O = keyholder id). */
  readonly keyholders: Record<string, IssuedIdentity>;
  /** Web-facing server certificates (the compliance console's), ECDSA P-256, by subject O. */
  readonly servers?: Record<string, IssuedIdentity>;
  /** Compliance officers' client certificates for a browser, ECDSA P-256, by subject O. */
  readonly officers?: Record<string, IssuedIdentity>;
}

/**
 * Browsers neither sign with Ed25519 client keys nor accept Ed25519 server keys, so what a
 * browser touches (the console's server certificate, officers' client certificates) gets ECDSA
 * P-256 keys; the CA still signs with Ed25519, which the console's Node TLS verifies (a
 * browser outside the tests needs the console's certificate from a CA it supports: --cert).
 */
export interface WebIdentities {
  readonly servers?: readonly string[];
  readonly officers?: readonly string[];
}

export async function createDevPki(
  directory: string,
  memberIds: readonly string[],
  keyholderIds: readonly string[] = [],
  /** The CA's subject (distinct CAs in one bundle need distinct names). */
  caName = 'CN=veilsum development CA, O=veilsum-dev',
  web: WebIdentities = {},
): Promise<DevPki> {
  for (const id of [...memberIds, ...keyholderIds]) assertMemberId(id);
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + VALIDITY_DAYS * 86_400_000);

  const caKeys = (await webcrypto.subtle.generateKey(ALGORITHM, true, [
    'sign',
    'verify',
  ])) as KeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: caName,
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
    ],
  });
  const caCertificatePath = join(directory, 'ca.crt');
  writeFileSync(caCertificatePath, ca.toString('pem') + '\n');

  const issue = async (
    name: string,
    subject: string,
    usage: 'server' | 'client',
    keyAlgorithm: 'Ed25519' | 'P-256' = 'Ed25519',
  ): Promise<IssuedIdentity> => {
    // Servers (coordinator, keyholders) also call other services, so they can authenticate as clients.
    const keys = (
      keyAlgorithm === 'Ed25519'
        ? await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])
        : await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
            'sign',
            'verify',
          ])
    ) as KeyPair;
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(
        usage === 'server'
          ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]
          : [x509.ExtendedKeyUsage.clientAuth],
        false,
      ),
    ];
    if (usage === 'server') {
      extensions.push(
        new x509.SubjectAlternativeNameExtension([
          { type: 'dns', value: 'localhost' },
          { type: 'ip', value: '127.0.0.1' },
        ]),
      );
    }
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject,
      issuer: ca.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: ALGORITHM,
      extensions,
    });
    const certificatePath = join(directory, `${name}.crt`);
    const privateKeyPath = join(directory, `${name}.key`);
    writeFileSync(certificatePath, certificate.toString('pem') + '\n');
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    writeFileSync(privateKeyPath, toPem(pkcs8, 'PRIVATE KEY'), { mode: 0o600 });
    chmodSync(privateKeyPath, 0o600);
    return { certificatePath, privateKeyPath };
  };

  const server = await issue('coordinator', 'CN=localhost, O=veilsum-coordinator', 'server');
  const members: Record<string, IssuedIdentity> = {};
  for (const id of memberIds)
    members[id] = await issue(`member-${id}`, `CN=${id}, O=${id}`, 'client');
  const keyholders: Record<string, IssuedIdentity> = {};
  for (const id of keyholderIds)
    keyholders[id] = await issue(`keyholder-${id}`, `CN=localhost, O=${id}`, 'server');
  const servers: Record<string, IssuedIdentity> = {};
  for (const id of web.servers ?? [])
    servers[id] = await issue(id, `CN=localhost, O=${id}`, 'server', 'P-256');
  const officers: Record<string, IssuedIdentity> = {};
  for (const id of web.officers ?? [])
    officers[id] = await issue(`officer-${id}`, `CN=${id}, O=${id}`, 'client', 'P-256');
  const pki: DevPki = {
    caCertificatePath,
    server,
    members,
    keyholders,
    ...(web.servers?.length ? { servers } : {}),
    ...(web.officers?.length ? { officers } : {}),
  };
  writeFileSync(join(directory, 'pki.json'), JSON.stringify(pki, null, 2) + '\n');
  return pki;
}

/** Member ids become certificate subjects and file names: keep them to a safe alphabet. */
export function assertMemberId(id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(id)) {
    throw new Error(
      `member id "${id}" must be 1-64 characters of letters, digits, '.', '_' or '-'`,
    );
  }
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex');
}

function toPem(der: Buffer, label: string): string {
  const body = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${body}${body.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}
