import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { KeyholderClient, runKeyCeremony } from '../../services/keyholder/keyholder-client.ts';
import { type CollectiveKeyFile, writeKeyFile } from '../../services/keyholder/key-file.ts';
import { ADMIN, type LocalConsortium } from './local-consortium.ts';
import { startKeyholderProcess } from './processes.ts';

export interface RunningKeyholder {
  readonly id: string;
  readonly child: ChildProcess;
  readonly port: number;
  readonly logs: string[];
}

/**
 * Starts one process per keyholder of a local consortium, runs the threshold key ceremony among
 * them as the administrator, and writes the collective key file the coordinator is configured
 * with. Used by `veilsum demo --mode ckks`, bench:ckks --services and the CKKS end-to-end test.
 */
export async function startKeyholders(
  consortium: LocalConsortium,
  threshold: number,
  parameterSet: string,
): Promise<{ keyholders: Map<number, RunningKeyholder>; key: CollectiveKeyFile; keyFile: string }> {
  const keyholders = new Map<number, RunningKeyholder>();
  await consortium.registerKeyholders();
  await Promise.all(
    consortium.keyholders.map(async (id, i) => {
      const logs: string[] = [];
      const { child, port } = await startKeyholderProcess(
        consortium.keyholderConfig(id),
        join(consortium.directory, `${id}.json`),
        (line) => logs.push(line),
      );
      keyholders.set(i + 1, { id, child, port, logs });
    }),
  );
  const participants = consortium.keyholders.map((keyholderId, i) => {
    const address = `127.0.0.1:${keyholders.get(i + 1)!.port}`;
    return {
      keyholderId,
      address,
      client: KeyholderClient.connect({ ...consortium.profile(ADMIN, 0), address }),
    };
  });
  try {
    const outcome = await runKeyCeremony(participants, {
      ceremonyId: `ceremony-${Date.now()}`,
      parameterSet,
      threshold,
    });
    const key: CollectiveKeyFile = {
      ceremonyId: outcome.plan.ceremonyId,
      parameterSet,
      threshold,
      keyholders: outcome.keyholders,
      publicKey: outcome.publicKey,
      keySha256: outcome.keySha256,
    };
    const keyFile = join(consortium.directory, 'collective-key.json');
    writeKeyFile(keyFile, key);
    return { keyholders, key, keyFile };
  } finally {
    for (const participant of participants) participant.client.close();
  }
}

/** Stops a keyholder process the hard way (a crash, as far as the others can tell). */
export async function killKeyholder(keyholder: RunningKeyholder): Promise<void> {
  if (keyholder.child.exitCode !== null || keyholder.child.signalCode !== null) return;
  const exited = new Promise((resolve) => keyholder.child.once('exit', resolve));
  keyholder.child.kill('SIGKILL');
  await exited;
}
