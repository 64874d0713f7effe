import { describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pkiCommand } from '../../cli/commands/pki.ts';
import { loadProfile } from '../../sdk/profile.ts';

describe('veilsum pki init', () => {
  it("writes the consortium's keyholder set into every member profile, pinned when loaded", async () => {
    const directory = mkdtempSync(join(tmpdir(), 'veilsum-pki-init-'));
    const print = jest.spyOn(console, 'log').mockImplementation(() => {});
    try {
      await pkiCommand().parseAsync(
        [
          'init',
          '--dir',
          directory,
          '--members',
          'aldbridge,brenmoor',
          '--keyholders',
          'kh-1,kh-2,kh-3',
          '--json',
        ],
        { from: 'user' },
      );
      for (const member of ['aldbridge', 'brenmoor']) {
        const path = join(directory, `profile-${member}.json`);
        expect(
          (JSON.parse(readFileSync(path, 'utf8')) as { keyholders: string[] }).keyholders,
        ).toEqual(['kh-1', 'kh-2', 'kh-3']);
        const profile = loadProfile(path);
        expect(profile.threatModel?.pinnedKeyholders).toEqual(['kh-1', 'kh-2', 'kh-3']);
        // The pin replaces nothing of the SecAgg defaults.
        expect(profile.threatModel?.minimumCorruptionRate).toBeUndefined();
      }
    } finally {
      print.mockRestore();
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
