import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as connectHttp2, type ClientHttp2Session } from 'node:http2';
import { CONNECTIONS_PER_CERTIFICATE } from '../../services/common/mtls-server.ts';
import { createDevPki } from '../../services/pki/dev-ca.ts';
import { type Consortium, CoordinatorProcess, createConsortium } from '../support/consortium.ts';

/**
 * Review of 9f181a3..9981012 (h/review). The new cap counts connections per client-certificate
 * SHA-256, but what TLS accepts is any certificate chaining to any CA of the bundle, and the
 * memory a connection can pin (partial messages, read before any handler checks the caller) does
 * not depend on who the caller is. The coordinator supports consortium CA bundles with several
 * CAs (members pinned by certificate, caller.ts; README "Bring your own PKI"): a member bank whose
 * own CA is in the bundle mints as many certificates as it likes, and each brings a fresh
 * allowance of CONNECTIONS_PER_CERTIFICATE × STREAMS_PER_CONNECTION streams. (With one CA, the
 * same holds for every certificate the CA has issued to a member and not yet expired: renewals.)
 */
let consortium: Consortium;
let coordinator: CoordinatorProcess;
let attackerCertificates: { cert: Buffer; key: Buffer }[];
const EXTRA = 3;

beforeAll(async () => {
  consortium = await createConsortium(2, 'many');
  // bank many-01 runs its own CA, which the consortium bundle trusts (multi-CA bundle).
  const attacker = await createDevPki(
    join(consortium.directory, 'attacker-pki'),
    Array.from({ length: EXTRA }, (_, i) => `many-01-extra-${i}`),
    [],
    'CN=many-01 CA, O=many-01',
  );
  const bundle = join(consortium.directory, 'bundle.pem');
  writeFileSync(
    bundle,
    readFileSync(consortium.config.tls.caCertificate, 'utf8') +
      readFileSync(attacker.caCertificatePath, 'utf8'),
  );
  consortium.config = {
    ...consortium.config,
    tls: {
      ...consortium.config.tls,
      caCertificate: bundle,
      identityIssuer: consortium.config.tls.caCertificate,
    },
  };
  writeFileSync(consortium.configPath, JSON.stringify(consortium.config));
  attackerCertificates = Object.values(attacker.members).map((identity) => ({
    cert: readFileSync(identity.certificatePath),
    key: readFileSync(identity.privateKeyPath),
  }));
  coordinator = await CoordinatorProcess.start(consortium);
}, 120_000);

afterAll(async () => {
  await coordinator?.stop();
});

async function openConnection(tls: { cert: Buffer; key: Buffer }): Promise<{
  session: ClientHttp2Session;
  open: boolean;
}> {
  const session = connectHttp2(`https://127.0.0.1:${coordinator.port}`, {
    ca: readFileSync(consortium.pki.caCertificatePath),
    ...tls,
    checkServerIdentity: () => undefined,
  });
  session.on('error', () => {});
  const open = await new Promise<boolean>((resolve) => {
    session.once('close', () => resolve(false));
    session.once('remoteSettings', () =>
      session.ping((error) => setTimeout(() => resolve(!error && !session.closed), 300)),
    );
  });
  return { session, open };
}

describe('the per-certificate connection cap and a member that can mint certificates', () => {
  it(`one member keeps more than ${CONNECTIONS_PER_CERTIFICATE} connections open`, async () => {
    const sessions: ClientHttp2Session[] = [];
    try {
      let open = 0;
      for (const tls of attackerCertificates)
        for (let i = 0; i < CONNECTIONS_PER_CERTIFICATE + 1; i++) {
          const connection = await openConnection(tls);
          sessions.push(connection.session);
          if (connection.open) open++;
        }
      // Today: EXTRA × CONNECTIONS_PER_CERTIFICATE = 12 (each certificate has its own allowance).
      expect(open).toBeLessThanOrEqual(CONNECTIONS_PER_CERTIFICATE);
    } finally {
      for (const session of sessions) session.destroy();
    }
  }, 60_000);
});
