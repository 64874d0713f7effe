import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Command, InvalidArgumentError } from '@commander-js/extra-typings';
import { loadProfile } from '../../sdk/profile.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';

/**
 * `veilsum model record`: the model version a round produced, recorded on the ledger by the
 * coordinator (RecordModelVersion; an administrator asks). Without it `audit lineage` has
 * nothing to answer for a model: the lineage runs model hash → round → (member, dataset,
 * consent).
 */
const sha256Hex = (value: string): string => {
  if (!/^[0-9a-f]{64}$/.test(value))
    throw new InvalidArgumentError('expected a SHA-256 as 64 lowercase hex characters');
  return value;
};

async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function modelCommand(): Command {
  const model = new Command('model').description('Model versions on the ledger');
  model
    .command('record')
    .description(
      'Record that a model version (its SHA-256) was trained from a closed round, for `audit lineage`',
    )
    .requiredOption('--profile <path>', "an administrator's connection profile")
    .requiredOption('--round <id>', 'the closed round the model version comes from')
    .option('--model-hash <sha256>', 'SHA-256 (hex) of the model version', sha256Hex)
    .option('--model-file <path>', 'the model file itself: its SHA-256 is recorded')
    .option('--json', 'print JSON')
    .action(async (options) => {
      if ((options.modelHash === undefined) === (options.modelFile === undefined))
        throw new InvalidArgumentError('give exactly one of --model-hash or --model-file');
      const modelHash = options.modelHash ?? (await fileSha256(options.modelFile!));
      const client = VeilsumClient.connect(loadProfile(options.profile));
      try {
        await client.recordModelVersion(options.round, Buffer.from(modelHash, 'hex'));
      } finally {
        client.close();
      }
      console.log(
        options.json
          ? JSON.stringify({ modelHash, roundId: options.round })
          : `recorded model ${modelHash} from ${options.round}; \`veilsum audit lineage --model ${modelHash}\` traces it`,
      );
    });
  return model;
}
