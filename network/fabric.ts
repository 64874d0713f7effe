/**
 * `npm run fabric:up` / `npm run fabric:down`: a native Fabric network for the demo consortium.
 *
 *   npm run fabric:up   [-- --dir DIR] [--banks a,b,c] [--clients operator,...]
 *   npm run fabric:down [-- --dir DIR] [--purge]
 *
 * DIR defaults to network/run (VEILSUM_FABRIC_DIR); the ports start at VEILSUM_FABRIC_PORT_BASE
 * (default 27050), so a test network can run beside a development one.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  buildFabric,
  purgeNetwork,
  REPO_ROOT,
  startNetwork,
  stopNetwork,
} from './fabric-network.ts';
import { demoTopology } from './demo-topology.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    dir: { type: 'string' },
    banks: { type: 'string' },
    purge: { type: 'boolean', default: false },
  },
});
const command = positionals[0];
const directory = resolve(
  values.dir ?? process.env.VEILSUM_FABRIC_DIR ?? join(REPO_ROOT, 'network', 'run'),
);

try {
  if (command === 'up') {
    const fabricHome = await buildFabric();
    const spec = demoTopology(values.banks?.split(',').filter(Boolean));
    const network = await startNetwork(spec, directory, fabricHome);
    console.log(
      `Fabric network ready in ${(network.state.networkReadyMs / 1000).toFixed(1)} s: ` +
        `${spec.banks.length} bank peers (${spec.banks.map((b) => b.mspId).join(', ')}), ` +
        `channel ${spec.channel}, chaincode veilsum (endorsement: a majority of banks)`,
    );
    console.log(`connection file: ${network.connectionFile}`);
    console.log(`logs: ${join(directory, 'logs')}; stop with: npm run fabric:down`);
  } else if (command === 'down') {
    const stopped = await stopNetwork(directory);
    console.log(stopped.length ? `stopped ${stopped.join(', ')}` : 'nothing was running');
    if (values.purge) {
      purgeNetwork(directory);
      console.log(`removed ${directory}`);
    }
  } else {
    console.error('usage: fabric.ts up|down [--dir DIR] [--banks a,b,c] [--purge]');
    process.exitCode = 2;
  }
} catch (error) {
  console.error(`fabric ${command}: ${(error as Error).message}`);
  process.exitCode = 1;
}
