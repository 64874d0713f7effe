import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { runService } from './run-service.ts';
import { loadProfile } from '../../sdk/profile.ts';
import { KeyholderClient, runKeyCeremony } from '../../services/keyholder/keyholder-client.ts';
import { loadKeyholderConfig } from '../../services/keyholder/config.ts';
import { HeldKeys } from '../../services/keyholder/held-keys.ts';
import { assertKeyFileFree, writeKeyFile } from '../../services/keyholder/key-file.ts';
import { Keyholder } from '../../services/keyholder/keyholder.ts';

const positiveInteger = (value: string): number => {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new Error(`expected a positive integer, got ${value}`);
  return n;
};

export function keyholderCommand(): Command {
  const keyholder = new Command('keyholder').description('Run a CKKS keyholder');
  keyholder
    .command('start')
    .description('Start a keyholder from its config; its key shares stay sealed at rest')
    .requiredOption('--config <path>', 'keyholder config (JSON)')
    .action(async (options) => {
      await runService(() => new Keyholder(loadKeyholderConfig(options.config)));
    });
  return keyholder;
}

export function keysCommand(): Command {
  const keys = new Command('keys').description('Collective CKKS keys');
  keys
    .command('ceremony')
    .description(
      'Run the threshold key ceremony among keyholders (t of n can decrypt, t-1 cannot) and write the public key file',
    )
    .requiredOption('--profile <path>', "an administrator's connection profile (its certificate)")
    .requiredOption(
      '--keyholders <list>',
      'comma-separated id=host:port of every keyholder, in index order',
    )
    .requiredOption('--threshold <t>', 'keyholders needed to decrypt', positiveInteger)
    .option(
      '--ceremony <id>',
      'ceremony id, never used before by these keyholders (default: the date and a random suffix)',
    )
    .option('--params <name>', 'CKKS parameter set', 'sum-8192')
    .option('--out <path>', 'collective key file to write', 'collective-key.json')
    .option('--json', 'print JSON')
    .action(async (options) => {
      // Checked before any keyholder is asked: the old key file stays as it is.
      assertKeyFileFree(options.out);
      const ceremonyId =
        options.ceremony ??
        `ceremony-${new Date().toISOString().slice(0, 10)}-${randomBytes(4).toString('hex')}`;
      const profile = loadProfile(options.profile);
      const participants = options.keyholders.split(',').map((entry) => {
        const [keyholderId, address] = entry.split('=');
        if (!keyholderId || !address)
          throw new Error(`--keyholders entries are id=host:port, got "${entry}"`);
        return {
          keyholderId,
          address,
          client: KeyholderClient.connect({ ...profile, address }),
        };
      });
      try {
        const outcome = await runKeyCeremony(participants, {
          ceremonyId,
          parameterSet: options.params,
          threshold: options.threshold,
        });
        writeKeyFile(options.out, {
          ceremonyId: outcome.plan.ceremonyId,
          parameterSet: outcome.plan.parameterSet,
          threshold: outcome.plan.threshold,
          keyholders: outcome.keyholders,
          publicKey: outcome.publicKey,
          keySha256: outcome.keySha256,
        });
        const summary = {
          ceremonyId: outcome.plan.ceremonyId,
          keySha256: Buffer.from(outcome.keySha256).toString('hex'),
          threshold: outcome.plan.threshold,
          keyholders: outcome.keyholders.map((k) => k.keyholderId),
          keyFile: options.out,
        };
        if (options.json) console.log(JSON.stringify(summary));
        else
          console.log(
            `collective key ${summary.keySha256} (${summary.threshold} of ${summary.keyholders.length}: ${summary.keyholders.join(', ')}) written to ${options.out}`,
          );
      } finally {
        for (const p of participants) p.client.close();
      }
    });
  keys
    .command('retire')
    .description(
      "Retire a keyholder's key share: its sealed file moves to keys/retired/ (kept, no longer loaded); takes effect when the keyholder next starts",
    )
    .requiredOption('--config <path>', 'keyholder config (JSON)')
    .requiredOption('--ceremony <id>', 'the ceremony whose key to retire')
    .option('--json', 'print JSON')
    .action((options) => {
      const config = loadKeyholderConfig(options.config);
      // Retiring needs no passphrase: the file is moved, not opened.
      const moved = new HeldKeys(join(config.dataDir, 'keys'), '').retire(options.ceremony);
      if (options.json)
        console.log(JSON.stringify({ ceremonyId: options.ceremony, retired: moved }));
      else
        console.log(
          `key of ceremony ${options.ceremony} retired to ${moved}; restart the keyholder`,
        );
    });
  return keys;
}
