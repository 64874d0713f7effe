import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClientHttp2Session } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { UNBOUND_CONNECTIONS } from '../../services/common/mtls-server.ts';
import { RoundAdminServiceClient } from '../../proto/gen/veilsum/v1/round.ts';
import { createDevPki } from '../../services/pki/dev-ca.ts';
import {
  type Consortium,
  CoordinatorProcess,
  createConsortium,
  trustSecondCa,
} from '../support/consortium.ts';
import { openHttp2Connection } from '../support/http2-connection.ts';

/**
 * ATTACK (availability, found in review): the connection cap counted connections per client
 * certificate SHA-256, but TLS accepts any certificate chaining to any CA of the bundle, and the
 * coordinator supports bundles with several CAs (members pinned by certificate, caller.ts; README
 * "Bring your own PKI"). A member bank whose own CA is in the bundle minted certificates and got
 * a fresh allowance of connections for each (12 connections from 3 certificates).
 * Defence (services/common/mtls-server.ts): connections are admitted by the organisation the
 * certificate binds to; certificates that bind to none share UNBOUND_CONNECTIONS in all, and their
 * calls are refused when the metadata arrives — before any message is read, so they pin nothing.
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
  trustSecondCa(consortium, attacker.caCertificatePath);
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

const openConnection = (tls: { cert: Buffer; key: Buffer }) =>
  openHttp2Connection(coordinator.port, {
    caCertificatePath: consortium.pki.caCertificatePath,
    ...tls,
  });

describe('a member that can mint certificates gains no connections and pins nothing', () => {
  it(`certificates that bind to no organisation share ${UNBOUND_CONNECTIONS} connections, however many there are; members still connect`, async () => {
    const sessions: ClientHttp2Session[] = [];
    try {
      let open = 0;
      for (const tls of attackerCertificates)
        for (let i = 0; i < 4; i++) {
          const connection = await openConnection(tls);
          sessions.push(connection.session);
          if (connection.open) open++;
        }
      expect(attackerCertificates.length * 4).toBeGreaterThan(UNBOUND_CONNECTIONS);
      expect(open).toBe(UNBOUND_CONNECTIONS);
      // A member's own allowance is untouched by the flood.
      const profile = consortium.profile(consortium.members[1]!, coordinator.port);
      const member = await openConnection({
        cert: readFileSync(profile.certificate),
        key: readFileSync(profile.privateKey),
      });
      sessions.push(member.session);
      expect(member.open).toBe(true);
    } finally {
      for (const session of sessions) session.destroy();
    }
  }, 60_000);

  it("an unbound certificate's calls are refused before any message is read, with the reason", async () => {
    const { cert, key } = attackerCertificates[0]!;
    const client = new RoundAdminServiceClient(
      `127.0.0.1:${coordinator.port}`,
      grpc.credentials.createSsl(readFileSync(consortium.pki.caCertificatePath), key, cert),
      { 'grpc.ssl_target_name_override': 'localhost' },
    );
    try {
      // A client stream that never sends a message: refused on its metadata alone.
      const status = await new Promise<grpc.StatusObject>((resolve) => {
        const call = client.makeClientStreamRequest(
          '/veilsum.v1.CkksService/UploadEncrypted',
          (value: Buffer) => value,
          (value: Buffer) => value,
          new grpc.Metadata(),
          { deadline: Date.now() + 20_000 },
          () => {},
        );
        call.on('status', resolve);
        call.on('error', () => {});
      });
      expect(status.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(status.details).toMatch(/not by the identity issuer|another CA/);
    } finally {
      client.close();
    }
  }, 60_000);
});
