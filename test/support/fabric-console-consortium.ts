import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { startConsole } from '../../cli/commands/console.ts';
import { ADMIN, AUDITOR, CONSOLE, createLocalConsortium } from '../../cli/demo/local-consortium.ts';
import { trustFromProfile, type FabricTrust } from '../../ledger/fabric/fabric-trust-profile.ts';
import { TRUST_PROFILE_FILE } from '../../network/fabric-network.ts';
import type { ComplianceConsole } from '../../services/console/console-server.ts';
import { FabricLedger } from '../../ledger/fabric/fabric-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import type { Coordinator } from '../../services/coordinator/coordinator.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { FIXTURE_POLICY } from './consortium.ts';
import {
  pinnedCaFiles,
  TEST_BANKS,
  type FabricTestNetwork,
} from '../ledger/fabric-network-fixture.ts';
import { quantizedInputs, secAggParams, startCoordinator } from '../faults/fault-harness.ts';

/**
 * A consortium on the Fabric test network for the console's tests: the local PKI (console
 * server and officer certificates), a coordinator writing as CoordinatorMSP, each bank writing
 * through its own peer with its consent for `model` granted (`<bank>-consent` on
 * `<bank>-loans`), the admin's and the banks' SDK clients. The officers' browser certificates
 * name veilsum-auditor; a console reads the channel as AuditorMSP: both hold the auditor role.
 * `closing` receives what the caller must close, in order.
 */
export async function fabricConsoleConsortium(
  net: FabricTestNetwork,
  directory: string,
  model: string,
  closing: (() => unknown)[],
): Promise<{
  local: Awaited<ReturnType<typeof createLocalConsortium>>;
  coordinator: Coordinator;
  admin: VeilsumClient;
  members: VeilsumClient[];
}> {
  const connectionFile = net.network.connectionFile;
  const local = await createLocalConsortium({
    directory,
    members: [...TEST_BANKS],
    ledgerFor: (identity) => ({
      fabric: {
        connection: connectionFile,
        identity: identity === 'veilsum-coordinator' ? 'CoordinatorMSP' : identity,
      },
    }),
  });
  const coordinator = await startCoordinator({
    ...local.coordinatorConfig,
    auditors: [AUDITOR, 'AuditorMSP'],
  });
  closing.push(() => coordinator.stop());
  // Each bank grants its consent through its own peer and checks rounds on its own view.
  const ledgers = TEST_BANKS.map((bank) => {
    const fabric = new FabricLedger({ connection: net.connection, identity: bank });
    closing.push(() => fabric.close());
    return new Ledger(fabric);
  });
  const expires = Date.now() + 365 * 86_400_000;
  await Promise.all(
    ledgers.map((ledger, i) =>
      ledger.grantConsent(`${TEST_BANKS[i]}-consent`, `${TEST_BANKS[i]}-loans`, model, expires),
    ),
  );
  await net.inStep();
  const connect = (id: string, ledger?: Ledger) => {
    const client = VeilsumClient.connect({
      ...local.profile(id, coordinator.port),
      retry: { totalMs: 60_000, initialDelayMs: 50, maxDelayMs: 1_000 },
      threatModel: FIXTURE_POLICY,
      ...(ledger ? { ledger } : {}),
    });
    closing.push(() => client.close());
    return client;
  };
  return {
    local,
    coordinator,
    admin: connect(ADMIN),
    members: TEST_BANKS.map((bank, i) => connect(bank, ledgers[i])),
  };
}

/** `veilsum <args>` as its own process. */
export const veilsumCli = (
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) =>
    execFile(process.execPath, ['cli/veilsum.ts', ...args], (error, stdout, stderr) =>
      resolve({ code: error ? ((error.code as number) ?? 1) : 0, stdout, stderr }),
    ),
  );

/**
 * A model version to export on the Fabric test network: one SecAgg round of the three banks for
 * `model`, its version recorded with hash `modelByte` × 32, the console started as an officer
 * starts it (through BankC's peer, reading as AuditorMSP), and an officer's `get`. What the
 * auditor pins: the trust profile the network wrote (`trust`, `profileFile`) and the same CAs as
 * single flags (`pinnedArgs`, `files`).
 */
export async function fabricEvidenceFixture(
  net: FabricTestNetwork,
  directory: string,
  model: string,
  modelByte: number,
  closing: (() => unknown)[],
): Promise<{
  console: ComplianceConsole;
  modelHash: string;
  get: (path: string) => Promise<{ status: number; body: Buffer }>;
  profileFile: string;
  trust: FabricTrust;
  pinnedArgs: string[];
  files: ReturnType<typeof pinnedCaFiles>;
}> {
  const { local, admin, members } = await fabricConsoleConsortium(net, directory, model, closing);
  const round = await admin.openRound(
    secAggParams(TEST_BANKS, 1, { dimension: 16, modelId: model }),
  );
  const inputs = quantizedInputs(TEST_BANKS.length, 16, 1);
  await Promise.all(members.map((member, i) => member.participateQuantized(round, inputs[i]!)));
  await admin.recordModelVersion(round.roundId, new Uint8Array(32).fill(modelByte));
  await net.inStep();
  const server = local.pki.servers![CONSOLE]!;
  const console_ = await startConsole({
    ledger: `fabric:${net.network.connectionFile}@${net.peerOf('BankCMSP')}`,
    listen: '127.0.0.1:0',
    identity: 'AuditorMSP',
    caCertificate: local.pki.caCertificatePath,
    certificate: server.certificatePath,
    privateKey: server.privateKeyPath,
  });
  closing.push(() => console_.stop());
  const officerFiles = local.pki.officers![AUDITOR]!;
  const officer = {
    cert: readFileSync(officerFiles.certificatePath),
    key: readFileSync(officerFiles.privateKeyPath),
  };
  const get = (path: string): Promise<{ status: number; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const call = request(
        // The console's server certificate is signed by the consortium's Ed25519 CA; what is
        // checked here is the console's side (the officer's certificate and role).
        { host: '127.0.0.1', port: console_.port, path, ...officer, rejectUnauthorized: false },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }),
          );
        },
      );
      call.on('error', reject);
      call.end();
    });
  const profileFile = join(net.directory, TRUST_PROFILE_FILE);
  const trust = trustFromProfile(readFileSync(profileFile, 'utf8'), profileFile);
  const files = pinnedCaFiles(net.directory);
  return {
    console: console_,
    modelHash: Buffer.alloc(32, modelByte).toString('hex'),
    get,
    profileFile,
    trust,
    pinnedArgs: ['--channel', trust.channel, '--chaincode', trust.chaincode!, ...files.args],
    files,
  };
}
