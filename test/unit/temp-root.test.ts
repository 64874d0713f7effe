import { describe, expect, it } from '@jest/globals';
import { tmpdir } from 'node:os';
import { basename, dirname } from 'node:path';

/** The run folder of test/support/temp-root.ts is every test's temporary directory. */
describe('temporary directories of a test run', () => {
  it('go under the run folder that globalTeardown removes', () => {
    const root = process.env.VEILSUM_TEST_TMP_ROOT;
    expect(root).toBeDefined();
    expect(tmpdir()).toBe(root);
    expect(basename(root!)).toMatch(/^veilsum-jest-/);
    expect(dirname(root!)).not.toBe(root);
  });
});
