import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startKeyholderProcess } from '../../cli/demo/processes.ts';
import { Adversary, Mode, type RoundParams } from '../../proto/gen/veilsum/v1/round.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { KeyholderClient } from '../../services/keyholder/keyholder-client.ts';
import { createDevPki, type DevPki } from '../../services/pki/dev-ca.ts';
import {
  ADMIN,
  type Consortium,
  CoordinatorProcess,
  createConsortium,
  grantConsents,
  trustSecondCa,
} from '../support/consortium.ts';
import { refusalOf } from '../support/refusal.ts';

/**
 * Fault: any CA in the bundle could mint any identity. Identity was the certificate's subject O
 * alone, so a second CA in the CA bundle (another consortium's, a CA added during a rotation)
 * issued O=veilsum-admin and opened rounds. Here the coordinator's and a keyholder's bundles hold
 * the consortium CA and a foreign CA; the foreign CA issues certificates carrying a member's, the
 * administrator's and the coordinator's O, and every call with them over real mTLS gRPC is
 * refused with a status naming why. The coordinator binds its administrator to the identity
 * issuer (tls.identityIssuer) and its members to their configured certificates; the keyholder
 * binds the administrator and the coordinator to their configured certificates.
 */
const MEMBER = 'fca-01';
const COORDINATOR_ID = 'veilsum-coordinator';

let consortium: Consortium;
let foreign: DevPki;
let coordinator: CoordinatorProcess;
let keyholder: { child: ChildProcess; port: number };

const asForeign = (identity: string, port: number) => ({
  address: `127.0.0.1:${port}`,
  caCertificate: consortium.pki.caCertificatePath,
  certificate: foreign.members[identity]!.certificatePath,
  privateKey: foreign.members[identity]!.privateKeyPath,
});

function roundParams(): RoundParams {
  return {
    modelId: 'fraud-model',
    roundNumber: 1,
    mode: Mode.MODE_SECAGG,
    dimension: 16,
    quantization: { clipRange: 1, levelBits: 16, modulusBits: 32 },
    threshold: 3,
    degree: 2,
    adversary: Adversary.ADVERSARY_SEMI_MALICIOUS,
    members: consortium.members,
    deadlines: {
      advertiseKeysMs: 60_000,
      shareKeysMs: 60_000,
      maskedInputMs: 60_000,
      consistencyCheckMs: 60_000,
      unmaskingMs: 60_000,
    },
    corruptionRate: 0,
    dropoutRate: 0,
    minContributors: 0,
    ckks: undefined,
  };
}

beforeAll(async () => {
  consortium = await createConsortium(3, 'fca', { keyholders: 1, ledger: true });
  foreign = await createDevPki(
    join(consortium.directory, 'foreign-pki'),
    [MEMBER, ADMIN, COORDINATOR_ID],
    [],
    'CN=another consortium CA, O=elsewhere',
  );
  const bundle = trustSecondCa(consortium, foreign.caCertificatePath);
  // The administrator is bound by issuer here (no identityCertificates), the members by certificate.
  consortium.config = { ...consortium.config, identityCertificates: [] };
  coordinator = await CoordinatorProcess.start(consortium);
  await grantConsents(consortium, 'fraud-model');
  const keyholderConfig = consortium.local.keyholderConfig(consortium.keyholders[0]!);
  keyholder = await startKeyholderProcess(
    {
      ...keyholderConfig,
      // Its ledger and ceremony checks bind identities to the consortium CA as its callers are.
      tls: {
        ...keyholderConfig.tls,
        caCertificate: bundle,
        identityIssuer: consortium.pki.caCertificatePath,
      },
    },
    join(consortium.directory, 'keyholder.json'),
    () => {},
  );
}, 60_000);

afterAll(async () => {
  await coordinator?.stop();
  if (keyholder && keyholder.child.exitCode === null) keyholder.child.kill('SIGTERM');
});

describe('fault: a second CA in the bundle cannot mint consortium identities', () => {
  it('the coordinator refuses a foreign-CA certificate with O=veilsum-admin, naming the issuer', async () => {
    const impostor = VeilsumClient.connect(asForeign(ADMIN, coordinator.port));
    try {
      const refused = await refusalOf(impostor.openRound(roundParams()));
      expect(refused.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(refused.message).toMatch(
        /the certificate presented for O=veilsum-admin was issued by CN=another consortium CA, O=elsewhere, not by the identity issuer CN=veilsum development CA, O=veilsum-dev; another CA in the bundle cannot name consortium identities/,
      );
    } finally {
      impostor.close();
    }
    const admin = VeilsumClient.connect(consortium.profile(ADMIN, coordinator.port));
    try {
      expect(await admin.listRounds()).toHaveLength(0);
      // The genuine administrator (same O, the consortium CA's certificate) is served.
      const round = await admin.openRound(roundParams());
      expect(round.roundId).toBe('fraud-model/round-1');
    } finally {
      admin.close();
    }
  });

  it("the coordinator refuses a foreign-CA certificate with a member's O, on unary and streaming calls", async () => {
    const impostor = VeilsumClient.connect(asForeign(MEMBER, coordinator.port));
    try {
      const refused = await refusalOf(impostor.getRound('fraud-model/round-1'));
      expect(refused.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(refused.message).toMatch(
        new RegExp(
          `the certificate presented for O=${MEMBER} .* is not the certificate configured for ${MEMBER}`,
        ),
      );
      const streamed = await refusalOf(
        impostor.participate('fraud-model/round-1', new Float32Array(16).fill(0.1)),
      );
      expect(streamed.code).toBe(grpc.status.PERMISSION_DENIED);
    } finally {
      impostor.close();
    }
    const genuine = VeilsumClient.connect(consortium.profile(MEMBER, coordinator.port));
    try {
      expect((await genuine.getRound('fraud-model/round-1')).roundId).toBe('fraud-model/round-1');
    } finally {
      genuine.close();
    }
  });

  it('a keyholder refuses foreign-CA certificates with the administrator’s and the coordinator’s O', async () => {
    const address = keyholder.port;
    const fakeAdmin = KeyholderClient.connect(asForeign(ADMIN, address));
    const fakeCoordinator = KeyholderClient.connect(asForeign(COORDINATOR_ID, address));
    const admin = KeyholderClient.connect(consortium.profile(ADMIN, address));
    try {
      const join = await refusalOf(
        fakeAdmin.join({
          ceremonyId: 'foreign-ceremony',
          parameterSet: 'sum-8192',
          seed: Buffer.alloc(32, 1),
          threshold: 2,
          keyholders: [
            { keyholderId: consortium.keyholders[0]!, index: 1 },
            { keyholderId: 'keyholder-x', index: 2 },
          ],
        }),
      );
      expect(join.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(join.message).toMatch(
        /the certificate presented for O=veilsum-admin .* is not the certificate configured for veilsum-admin/,
      );
      const decrypt = await refusalOf(
        fakeCoordinator.partialDecrypt(
          {
            roundId: 'fraud-model/round-1',
            params: undefined,
            graphSeed: Buffer.alloc(0),
            ciphertexts: 0,
            responders: [],
          },
          [],
        ),
      );
      expect(decrypt.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(decrypt.message).toMatch(/not the certificate configured for veilsum-coordinator/);
      // The genuine administrator gets past authentication (this keyholder holds no key yet).
      const genuine = await refusalOf(admin.getKey());
      expect(genuine.code).toBe(grpc.status.FAILED_PRECONDITION);
    } finally {
      for (const client of [fakeAdmin, fakeCoordinator, admin]) client.close();
    }
  });
});
