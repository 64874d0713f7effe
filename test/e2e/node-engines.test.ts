import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { nodeVersionProblem } from '../../cli/node-version.js';

// The machine's node (Debian's Node 20) runs npm; veilsum runs on the Node 24 npm installs.
const SYSTEM_NODE = '/usr/bin/node';
const SYSTEM_NPM = '/usr/bin/npm';

function run(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const OLD_NODE_MESSAGE =
  'veilsum needs Node 24 and this is Node 20.20.2. `npm ci` installs Node 24 into the checkout; ' +
  'run veilsum on it from inside the checkout with `npm exec -- veilsum <command>`, or set ' +
  'V="$(npm prefix)/node_modules/.bin/node $(npm prefix)/cli/veilsum.ts" there once and run ' +
  '`$V <command>` from any folder.';

describe('Node versions: npm on the system node, veilsum on the Node 24 npm installs', () => {
  it('says how to run on Node 24 when started on an older node', () => {
    expect(nodeVersionProblem('v20.20.2')).toBe(OLD_NODE_MESSAGE);
    expect(nodeVersionProblem('v23.11.0')).toMatch(
      /^veilsum needs Node 24 and this is Node 23\.11\.0\./,
    );
    expect(nodeVersionProblem('v24.21.0')).toBeUndefined();
  });

  it('the `veilsum` command started by the system node prints that and exits 1', async () => {
    const { stdout: version } = await run(SYSTEM_NODE, ['--version']);
    const result = await run(SYSTEM_NODE, ['cli/veilsum.js', '--version']);
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `${nodeVersionProblem(version.trim())!}\n`,
    });
    // On Node 24 the same entry point runs the command.
    expect(await run(process.execPath, ['cli/veilsum.js', '--version'])).toMatchObject({
      code: 0,
      stdout: '0.1.0\n',
    });
  });

  it('`npm ci` run by the system node prints no engine warnings', async () => {
    // The system npm, with the system node first on PATH (as a person's shell has it).
    const env = { ...process.env, PATH: `/usr/bin:/bin:${process.env.PATH ?? ''}` };
    const result = await run(SYSTEM_NPM, ['ci', '--dry-run', '--offline', '--ignore-scripts'], env);
    expect(result.stderr).not.toContain('EBADENGINE');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  }, 120_000);
});
