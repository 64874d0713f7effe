/**
 * Jest globalSetup / globalTeardown: every temporary directory a test run makes goes under one
 * run folder, removed when the run ends. TMPDIR is set before the workers start, so os.tmpdir()
 * in every test file, fixture and child process they spawn (CLI services, Fabric nodes) points
 * into it: a fixture that forgets to clean up, or a test killed by a timeout before its
 * afterAll, leaves nothing behind in the system temp directory once the run is over. Fixtures
 * still remove their own folders as they go, so a long run does not fill the disk.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const RUN_ROOT = 'VEILSUM_TEST_TMP_ROOT';

export function setup(): void {
  if (process.env[RUN_ROOT] !== undefined) return;
  const root = mkdtempSync(join(tmpdir(), 'veilsum-jest-'));
  process.env[RUN_ROOT] = root;
  process.env.TMPDIR = root;
}

export function teardown(): void {
  const root = process.env[RUN_ROOT];
  if (root === undefined) return;
  rmSync(root, { recursive: true, force: true });
}
