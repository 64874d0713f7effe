import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../fabric-network.ts';
import { run } from '../processes.ts';

/**
 * Builds statedb-edit (network/tools/statedb-edit/main.go) inside the cached Fabric source tree,
 * with Fabric's vendored goleveldb (offline), keyed by the tool's own SHA-256.
 */
export async function buildStatedbEditor(fabricHome: string): Promise<string> {
  const source = join(REPO_ROOT, 'network', 'tools', 'statedb-edit', 'main.go');
  const digest = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 16);
  const binary = join(fabricHome, 'tools', `statedb-edit-${digest}`);
  if (existsSync(binary)) return binary;
  const inTree = join(fabricHome, 'src', 'cmd', 'veilsum-statedb-edit');
  mkdirSync(inTree, { recursive: true });
  mkdirSync(join(fabricHome, 'tools'), { recursive: true });
  copyFileSync(source, join(inTree, 'main.go'));
  await run(
    'go',
    ['build', '-o', binary, './cmd/veilsum-statedb-edit'],
    {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      GOCACHE: join(fabricHome, 'go', 'cache'),
      GOMODCACHE: join(fabricHome, 'go', 'modcache'),
      GOFLAGS: '-mod=vendor',
      GOPROXY: 'off',
      CGO_ENABLED: '0',
      GOTOOLCHAIN: 'local',
    },
    join(fabricHome, 'src'),
  );
  return binary;
}
