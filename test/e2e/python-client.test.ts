import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';

/**
 * The Python package's pytest suite (clients/python/tests: unit tests and the integration tests
 * against real member peers and a real coordinator), run as a real process in the venv that
 * clients/python/ci/ensure-venv.sh creates from the registry, so `npm test` covers it.
 */
function run(command: string, args: string[], cwd: string, timeoutMs: number) {
  const result = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', VEILSUM_NODE: process.execPath },
  });
  return {
    status: result.status,
    stdout: result.stdout,
    output: `${result.stdout}${result.stderr}`,
  };
}

describe('the Python client package', () => {
  it('passes its whole pytest suite, nothing skipped', () => {
    const venv = run('bash', ['clients/python/ci/ensure-venv.sh'], '.', 600_000);
    if (venv.status !== 0) console.error(venv.output);
    expect(venv.status).toBe(0);
    const python = `${venv.stdout.trim()}/bin/python`;
    const pytest = run(
      python,
      ['-m', 'pytest', '-p', 'no:cacheprovider', '-rfEs', 'tests'],
      'clients/python',
      900_000,
    );
    if (pytest.status !== 0) console.error(pytest.output);
    expect(pytest.status).toBe(0);
    const summary = pytest.output.trim().split('\n').at(-1)!;
    expect(summary).toMatch(/ \d+ passed/);
    expect(summary).not.toMatch(/skipped|failed|error|deselected|xfail/);
  }, 1_500_000);
});
