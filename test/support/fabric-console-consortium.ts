import { ADMIN, AUDITOR, createLocalConsortium } from '../../cli/demo/local-consortium.ts';
import { FabricLedger } from '../../ledger/fabric/fabric-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import type { Coordinator } from '../../services/coordinator/coordinator.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { FIXTURE_POLICY } from './consortium.ts';
import { TEST_BANKS, type FabricTestNetwork } from '../ledger/fabric-network-fixture.ts';
import { startCoordinator } from '../faults/fault-harness.ts';

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
