import { Command, Option } from '@commander-js/extra-typings';
import { SingleBar, Presets } from 'cli-progress';
import { checkpointBeside } from '../../ledger/embedded/ledger-head.ts';
import { loadProfile, parseMemberPolicy } from '../../sdk/profile.ts';
import { clippingReport, clippingWarning } from '../../sdk/clipping-report.ts';
import { readUpdateFile } from '../../sdk/update-file.ts';
import { VeilsumClient, type Progress } from '../../sdk/veilsum-client.ts';
import { roundSummary } from './round.ts';
import { readKeyFile } from '../../services/keyholder/key-file.ts';
import { readFileSync } from 'node:fs';
import { openLedger, parseLedgerOption } from '../../ledger/ledger-factory.ts';
import { identityOf } from '../../sdk/pki/certificates.ts';

export function submitCommand(): Command {
  return new Command('submit')
    .description(
      'Take part in a round with a model update (.npy, .safetensors, .f32, or pre-quantized .u32)',
    )
    .requiredOption('--profile <path>', "this member's connection profile")
    .requiredOption('--round <id>', 'round id')
    .requiredOption('--file <path>', 'the update')
    .option('--json', 'print progress and the result as JSON lines')
    .addOption(
      new Option('--mode <mode>', "the round's mode (checked against the round)")
        .choices(['secagg', 'ckks'] as const)
        .default('secagg' as const),
    )
    .option(
      '--ledger <path|fabric:file>',
      "this member's own view of the ledger (the embedded file, or fabric:<connection file>[@peer]); the round's parameters (SecAgg: and participant sets; CKKS: and the keyholder-attested key) are checked there",
    )
    .addOption(
      new Option(
        '--min-adversary <model>',
        'SecAgg policy: the weakest server model accepted (default semi-malicious; semi-honest only takes effect with --ledger)',
      ).choices(['semi-honest', 'semi-malicious'] as const),
    )
    .addOption(
      new Option(
        '--min-corruption-rate <γ>',
        'SecAgg policy: refuse rounds assuming fewer corrupt members (default and floor 0.05); (k, t) are recomputed from it',
      ).argParser(Number),
    )
    .addOption(
      new Option(
        '--min-dropout-rate <δ>',
        'SecAgg policy: refuse rounds assuming fewer dropouts (default and floor 0.05)',
      ).argParser(Number),
    )
    .addOption(
      new Option(
        '--min-contributors <n>',
        'SecAgg policy: refuse rounds releasing a sum of fewer inputs (default: all but ⌈δn⌉)',
      ).argParser(Number),
    )
    .addOption(
      new Option(
        '--min-key-threshold <t>',
        'CKKS policy: refuse a collective key fewer than t keyholders can decrypt (default and floor 2)',
      ).argParser(Number),
    )
    .addOption(
      new Option(
        '--trusted-keyholders <ids>',
        'CKKS policy: comma-separated keyholders this member trusts; refuse a key held by anyone else (default: any ledger keyholder that is not also a coordinator or auditor)',
      ).argParser((value: string) => value.split(',').map((id) => id.trim())),
    )
    .option(
      '--trained-from <id>',
      'what the update was trained from, e.g. the SHA-256 of the global model version: this member takes part with at most one update per value, so a re-run with a near copy is refused (recommended)',
    )
    .option(
      '--key-file <path>',
      "CKKS: the consortium's published collective key file; the round must use that key (CKKS needs --ledger or --key-file)",
    )
    .addOption(
      new Option('--drop-before <phase>', 'fault injection for tests: go silent before this phase')
        .choices([
          'advertise-keys',
          'share-keys',
          'masked-input',
          'consistency-check',
          'unmasking',
        ] as const)
        .hideHelp(),
    )
    .addOption(
      new Option('--delay-upload-ms <ms>', 'fault injection for tests: wait before uploading')
        .argParser(Number)
        .hideHelp(),
    )
    .action(async (options) => {
      const profile = loadProfile(options.profile);
      const memberId = identityOf(
        readFileSync(profile.certificate),
        `certificate ${profile.certificate}`,
      ).organisation;
      if (
        !options.ledger &&
        (options.trustedKeyholders !== undefined || options.minKeyThreshold !== undefined)
      )
        throw new Error(
          '--trusted-keyholders and --min-key-threshold are checked on the ledger: give --ledger too',
        );
      const ledger = options.ledger
        ? // The embedded file is verified against the profile's CA (its key signs what it writes).
          openLedger(parseLedgerOption(options.ledger, memberId), memberId, undefined, {
            ...profile,
            checkpoint: checkpointBeside(options.profile),
          })
        : undefined;
      // The profile's policy, raised (never lowered below the defaults) by the options.
      const threatModel = parseMemberPolicy(
        {
          ...profile.threatModel,
          ...(options.minAdversary ? { minimumAdversary: options.minAdversary } : {}),
          ...(options.minCorruptionRate !== undefined
            ? { minimumCorruptionRate: options.minCorruptionRate }
            : {}),
          ...(options.minDropoutRate !== undefined
            ? { minimumDropoutRate: options.minDropoutRate }
            : {}),
          ...(options.minContributors !== undefined
            ? { minimumContributors: options.minContributors }
            : {}),
          ...(options.minKeyThreshold !== undefined
            ? { minimumKeyThreshold: options.minKeyThreshold }
            : {}),
          ...(options.trustedKeyholders !== undefined
            ? { trustedKeyholders: options.trustedKeyholders }
            : {}),
        },
        'the profile and --min-* options',
      );
      const client = VeilsumClient.connect({
        ...profile,
        threatModel,
        ...(ledger ? { ledger: ledger.ledger } : {}),
      });
      const bar = options.json
        ? undefined
        : new SingleBar(
            { format: '{step} [{bar}] {percentage}% {value}/{total} bytes' },
            Presets.shades_classic,
          );
      let lastStep = '';
      const onProgress = (progress: Progress) => {
        if (options.json) {
          if (progress.step !== lastStep)
            console.log(JSON.stringify({ event: 'progress', ...progress }));
        } else if (progress.step === 'masked-input' && progress.totalBytes) {
          if (lastStep !== 'masked-input')
            bar!.start(progress.totalBytes, 0, { step: 'uploading' });
          bar!.update(progress.bytesSent ?? 0, { step: 'uploading' });
        } else {
          if (lastStep === 'masked-input') bar!.stop();
          console.log(`… ${progress.step}`);
        }
        lastStep = progress.step;
      };
      try {
        const update = readUpdateFile(options.file);
        const trainedFrom = options.trainedFrom ? { trainedFrom: options.trainedFrom } : {};
        const participation = {
          onProgress,
          ...trainedFrom,
          ...(options.dropBefore ? { dropBefore: options.dropBefore } : {}),
          ...(options.delayUploadMs ? { delayUploadMs: options.delayUploadMs } : {}),
        };
        if (options.mode === 'ckks' && update.kind !== 'float')
          throw new Error('CKKS rounds take float updates (.npy, .safetensors, .f32), not .u32');
        if (update.kind === 'float') {
          // Clipping is silent in the protocol: say here what it will change, and how to avoid it.
          const params = (await client.getRound(options.round)).params;
          const clipRange = params?.ckks?.clipRange || params?.quantization?.clipRange;
          const warning =
            clipRange !== undefined && clipRange > 0
              ? clippingWarning(clippingReport(update.values, clipRange))
              : undefined;
          if (warning !== undefined) {
            if (options.json) console.log(JSON.stringify({ event: 'warning', warning }));
            else console.error(`warning: ${warning}`);
          }
        }
        const result =
          options.mode === 'ckks'
            ? await client.participateCkks(options.round, update.values as Float32Array, {
                onProgress,
                ...trainedFrom,
                ...(options.keyFile
                  ? { expectedKeySha256: readKeyFile(options.keyFile).keySha256 }
                  : {}),
                ...(options.dropBefore === 'masked-input'
                  ? { dropBefore: 'masked-input' as const }
                  : {}),
              })
            : update.kind === 'float'
              ? await client.participate(options.round, update.values, participation)
              : await client.participateQuantized(
                  await client.getRound(options.round),
                  update.values,
                  participation,
                );
        const summary = {
          event: 'result',
          included: result.included,
          uploadSha256: result.uploadSha256
            ? Buffer.from(result.uploadSha256).toString('hex')
            : null,
          round: roundSummary(result.round),
        };
        if (options.json) console.log(JSON.stringify(summary));
        else
          console.log(
            result.included
              ? `included in ${summary.round.roundId}; aggregate sha256 ${summary.round.aggregateSha256}`
              : `not included in ${summary.round.roundId}`,
          );
      } finally {
        bar?.stop();
        client.close();
        ledger?.close();
      }
    });
}
