import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProfile, parseMemberPolicy } from '../../sdk/profile.ts';

/** A member's SecAgg policy as profiles and `veilsum submit --min-*` state it. */
describe('member SecAgg policy from a profile or the CLI', () => {
  const directory = mkdtempSync(join(tmpdir(), 'veilsum-policy-'));
  const profile = (secaggPolicy?: unknown): string => {
    const path = join(directory, `profile-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(
      path,
      JSON.stringify({
        address: '127.0.0.1:1',
        caCertificate: 'ca.pem',
        certificate: 'member.pem',
        privateKey: 'member.key',
        ...(secaggPolicy === undefined ? {} : { secaggPolicy }),
      }),
    );
    return path;
  };

  it('a profile without a policy leaves the SDK defaults in force', () => {
    expect(loadProfile(profile()).threatModel).toBeUndefined();
  });

  it('a profile may raise the floors and its policy reaches ConnectOptions', () => {
    expect(
      loadProfile(
        profile({
          minimumAdversary: 'semi-malicious',
          minimumCorruptionRate: 0.1,
          minimumDropoutRate: 0.2,
          minimumContributors: 40,
        }),
      ).threatModel,
    ).toEqual({
      minimumAdversary: 'semi-malicious',
      minimumCorruptionRate: 0.1,
      minimumDropoutRate: 0.2,
      minimumContributors: 40,
    });
  });

  it('a profile cannot lower γ or δ below 0.05, nor pass the fixtures-only trust switch', () => {
    expect(() => loadProfile(profile({ minimumCorruptionRate: 0 }))).toThrow(
      /minimumCorruptionRate: γ below 0\.05 assumes too few colluders/,
    );
    expect(() => loadProfile(profile({ minimumDropoutRate: 0.01 }))).toThrow(
      /minimumDropoutRate: δ below 0\.05 assumes too few dropouts/,
    );
    expect(() => loadProfile(profile({ trustCoordinatorWithoutLedger: true }))).toThrow(
      /invalid member policy in profile .*Unrecognized key/,
    );
  });

  it('CLI options are checked the same way, naming the source', () => {
    expect(() =>
      parseMemberPolicy({ minimumCorruptionRate: Number('x') }, 'the --min-* options'),
    ).toThrow(/invalid member policy in the --min-\* options: minimumCorruptionRate/);
    expect(parseMemberPolicy({ minimumAdversary: 'semi-honest' }, 'options')).toEqual({
      minimumAdversary: 'semi-honest',
    });
  });

  it('CKKS: a profile may name its trusted keyholders and raise the key threshold, never below 2', () => {
    expect(
      loadProfile(profile({ minimumKeyThreshold: 3, trustedKeyholders: ['kh-a', 'kh-b', 'kh-c'] }))
        .threatModel,
    ).toEqual({ minimumKeyThreshold: 3, trustedKeyholders: ['kh-a', 'kh-b', 'kh-c'] });
    expect(() => loadProfile(profile({ minimumKeyThreshold: 1 }))).toThrow(
      /minimumKeyThreshold: a key one keyholder decrypts alone protects nothing/,
    );
    expect(() => loadProfile(profile({ trustedKeyholders: [] }))).toThrow(/trustedKeyholders/);
  });

  it('`pki init` pins the consortium members in every profile, and loadProfile hands them to the SDK', () => {
    const pkiDirectory = mkdtempSync(join(tmpdir(), 'veilsum-pki-'));
    try {
      const created = JSON.parse(
        execFileSync(
          process.execPath,
          [
            'cli/veilsum.ts',
            'pki',
            'init',
            '--members',
            'bank-a,bank-b,bank-c',
            '--dir',
            pkiDirectory,
            '--json',
          ],
          { encoding: 'utf8' },
        ),
      ) as { profiles: Record<string, string> };
      for (const path of Object.values(created.profiles))
        expect(loadProfile(path).consortiumMembers).toEqual(['bank-a', 'bank-b', 'bank-c']);
    } finally {
      rmSync(pkiDirectory, { recursive: true, force: true });
    }
    const twice = join(directory, 'twice.json');
    writeFileSync(
      twice,
      JSON.stringify({
        address: '127.0.0.1:1',
        caCertificate: 'ca.pem',
        certificate: 'member.pem',
        privateKey: 'member.key',
        members: ['bank-a', 'bank-a'],
      }),
    );
    expect(() => loadProfile(twice)).toThrow(/members: lists a member twice/);
  });
});
