import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import {
  Adversary,
  Mode,
  Phase,
  phaseToJSON,
  type Round,
} from '../../proto/gen/veilsum/v1/round.ts';
import { encodeNpy, encodeSafetensors, floatAggregate } from '../../sdk/aggregate-result.ts';
import { loadProfile } from '../../sdk/profile.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';

export const positiveInteger = (value: string): number => {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 0)
    throw new InvalidArgumentError('expected a non-negative integer');
  return parsed;
};
const fraction = (value: string): number => {
  const parsed = Number(value);
  if (!(parsed >= 0 && parsed < 1)) throw new InvalidArgumentError('expected a number in [0, 1)');
  return parsed;
};
const positiveNumber = (value: string): number => {
  const parsed = Number(value);
  if (!(parsed > 0 && Number.isFinite(parsed)))
    throw new InvalidArgumentError('expected a positive number');
  return parsed;
};

export function phaseName(phase: Phase): string {
  return phaseToJSON(phase)
    .replace(/^PHASE_/, '')
    .toLowerCase()
    .replace(/_/g, '-');
}

/** JSON-friendly view of a round (bytes as hex). */
export function roundSummary(round: Round) {
  return {
    roundId: round.roundId,
    phase: phaseName(round.phase),
    modelId: round.params?.modelId,
    roundNumber: round.params?.roundNumber,
    dimension: round.params?.dimension,
    mode: round.params?.mode === Mode.MODE_CKKS ? 'ckks' : 'secagg',
    ...(round.params?.ckks
      ? {
          ckks: {
            parameterSet: round.params.ckks.parameterSet,
            keySha256: Buffer.from(round.params.ckks.keySha256).toString('hex'),
            minContributors: round.params.ckks.minContributors,
            clipRange: round.params.ckks.clipRange,
          },
        }
      : {}),
    members: round.roster.map((member) => member.memberId),
    degree: round.params?.degree,
    threshold: round.params?.threshold,
    paramsHash: Buffer.from(round.paramsHash).toString('hex'),
    phaseDeadline: round.phaseDeadlineMs ? new Date(round.phaseDeadlineMs).toISOString() : null,
    counts: {
      advertised: round.advertised.length,
      shared: round.shared.length,
      masked: round.masked.length,
      signed: round.signed.length,
      unmasked: round.unmasked.length,
    },
    included: round.included.map((index) => round.roster[index - 1]?.memberId ?? String(index)),
    aggregateSha256: round.aggregateSha256.length
      ? Buffer.from(round.aggregateSha256).toString('hex')
      : null,
    abortReason: round.abortReason || null,
    missing: round.missing.map((absent) => ({
      memberId: absent.memberId,
      index: absent.index,
      phase: phaseName(absent.phase),
      reason: absent.reason,
    })),
  };
}

function printRound(round: Round, json: boolean | undefined): void {
  const summary = roundSummary(round);
  if (json) {
    console.log(JSON.stringify(summary));
    return;
  }
  console.log(`${summary.roundId}  ${summary.phase}`);
  const c = summary.counts;
  if (summary.ckks) {
    console.log(
      `  CKKS ${summary.ckks.parameterSet}, key ${summary.ckks.keySha256.slice(0, 16)}…, members ${summary.members.length}, ` +
        `dimension ${summary.dimension}, clip ${summary.ckks.clipRange}, at least ${summary.ckks.minContributors} contributions`,
    );
    console.log(`  encrypted uploads ${c.masked}`);
  } else {
    console.log(
      `  members ${summary.members.length}, dimension ${summary.dimension}, degree ${summary.degree}, threshold ${summary.threshold}`,
    );
    console.log(
      `  advertised ${c.advertised}, shared ${c.shared}, masked ${c.masked}, signed ${c.signed}, unmasked ${c.unmasked}`,
    );
  }
  if (summary.phaseDeadline) console.log(`  phase deadline ${summary.phaseDeadline}`);
  if (summary.aggregateSha256)
    console.log(
      `  included ${summary.included.join(', ')}\n  aggregate sha256 ${summary.aggregateSha256}`,
    );
  if (summary.abortReason) console.log(`  aborted: ${summary.abortReason}`);
  for (const phase of new Set(summary.missing.map((absent) => absent.phase))) {
    console.log(`  missing in ${phase}:`);
    for (const absent of summary.missing.filter((entry) => entry.phase === phase))
      console.log(`    ${absent.memberId} (member ${absent.index}): ${absent.reason}`);
  }
}

export function roundCommand(): Command {
  const round = new Command('round').description('Open and inspect rounds');
  round
    .command('open')
    .description('Open a SecAgg+ or CKKS round (administrators only)')
    .requiredOption('--profile <path>', 'connection profile of an administrator')
    .requiredOption('--model <id>', 'model id')
    .requiredOption('--round <n>', 'round number', positiveInteger)
    .requiredOption('--dim <d>', 'update length', positiveInteger)
    .requiredOption('--members <ids>', 'comma-separated member ids, in index order')
    .option('--threshold <t>', 'Shamir threshold (0: from the threat model)', positiveInteger, 0)
    .option(
      '--degree <k>',
      'neighbours per client (0: from the threat model; members-1: complete graph)',
      positiveInteger,
      0,
    )
    .addOption(
      new Option('--adversary <model>', 'server threat model')
        .choices(['semi-honest', 'semi-malicious'] as const)
        .default('semi-malicious' as const),
    )
    .option(
      '--corruption-rate <γ>',
      'assumed corrupt fraction, for choosing k and t',
      fraction,
      0.1,
    )
    .option('--dropout-rate <δ>', 'expected dropout fraction, for choosing k and t', fraction, 0.1)
    .addOption(
      new Option('--mode <mode>', 'secagg: masked sums; ckks: encrypted sums, threshold decryption')
        .choices(['secagg', 'ckks'] as const)
        .default('secagg' as const),
    )
    .option(
      '--min-contributors <m>',
      'fewest updates a released sum may hold (SecAgg default: all members but ⌈δn⌉; CKKS default: half the members, at least 2)',
      positiveInteger,
      0,
    )
    .option('--clip <c>', 'clip updates to [-c, c]', positiveNumber, 1)
    .option('--level-bits <b>', 'quantization levels 2^b - 1', positiveInteger, 16)
    .option('--modulus-bits <b>', 'sum modulo 2^b', positiveInteger, 32)
    .option('--deadline-ms <ms>', 'deadline of every phase', positiveInteger, 60_000)
    .option('--json', 'print JSON')
    .action(async (options) => {
      const client = VeilsumClient.connect(loadProfile(options.profile));
      try {
        const members = options.members
          .split(',')
          .map((id) => id.trim())
          .filter(Boolean);
        const deadline = options.deadlineMs;
        const opened = await client.openRound({
          modelId: options.model,
          roundNumber: options.round,
          mode: options.mode === 'ckks' ? Mode.MODE_CKKS : Mode.MODE_SECAGG,
          dimension: options.dim,
          quantization: {
            clipRange: options.clip,
            levelBits: options.levelBits,
            modulusBits: options.modulusBits,
          },
          threshold: options.threshold,
          degree: options.degree,
          adversary:
            options.adversary === 'semi-honest'
              ? Adversary.ADVERSARY_SEMI_HONEST
              : Adversary.ADVERSARY_SEMI_MALICIOUS,
          members,
          deadlines: {
            advertiseKeysMs: deadline,
            shareKeysMs: deadline,
            maskedInputMs: deadline,
            consistencyCheckMs: deadline,
            unmaskingMs: deadline,
          },
          corruptionRate: options.corruptionRate,
          dropoutRate: options.dropoutRate,
          minContributors: options.mode === 'ckks' ? 0 : options.minContributors,
          // The coordinator fills in its key and parameter set and drops SecAgg-only fields.
          ckks:
            options.mode === 'ckks'
              ? {
                  parameterSet: '',
                  keySha256: Buffer.alloc(0),
                  minContributors: options.minContributors,
                  clipRange: options.clip,
                }
              : undefined,
        });
        printRound(opened, options.json);
      } finally {
        client.close();
      }
    });
  round
    .command('result')
    .description(
      "Write a finished round's aggregate as floats: the sum of the contributions (or their average), with the quantization error bound of a SecAgg sum",
    )
    .argument('<round-id>', 'the round, <model>/round-<n> (e.g. fraud/round-1)')
    .requiredOption('--profile <path>', 'connection profile')
    .requiredOption(
      '--out <path>',
      'file to write; its extension picks the format unless --format is given (.npy, .safetensors, .u32, otherwise .f64)',
    )
    .addOption(
      new Option(
        '--format <format>',
        'npy and f64 (little-endian float64): the sum, or the average with --average; safetensors: tensors "sum" and "average"; u32: the raw SecAgg sum modulo 2^b',
      ).choices(['npy', 'safetensors', 'f64', 'u32'] as const),
    )
    .option('--average', 'write the average of the contributions instead of their sum')
    .option('--json', 'print JSON')
    .action(async (roundId, options) => {
      const client = VeilsumClient.connect(loadProfile(options.profile));
      try {
        const round = await client.getRound(roundId);
        const format = options.format ?? formatOf(options.out);
        const contributions = round.included.length;
        const ckks = round.params?.mode === Mode.MODE_CKKS;
        let modularSum: Uint32Array | undefined;
        let aggregate: { sum: Float64Array; average: Float64Array; sumErrorBound?: number };
        if (ckks) {
          const sum = await client.getCkksResult(roundId);
          aggregate = { sum, average: sum.map((value) => value / contributions) };
          if (format === 'u32')
            throw new InvalidArgumentError(
              'a CKKS round has no modular sum: write npy, safetensors or f64',
            );
        } else {
          modularSum = await client.getAggregate(roundId);
          const quantization = round.params?.quantization;
          if (quantization === undefined)
            throw new Error(`round ${roundId} carries no quantization parameters`);
          aggregate = floatAggregate(modularSum, contributions, quantization);
        }
        const chosen = options.average ? aggregate.average : aggregate.sum;
        const bytes =
          format === 'u32'
            ? Buffer.from(modularSum!.buffer, modularSum!.byteOffset, modularSum!.byteLength)
            : format === 'npy'
              ? encodeNpy(chosen)
              : format === 'safetensors'
                ? encodeSafetensors({ sum: aggregate.sum, average: aggregate.average })
                : Buffer.from(chosen.buffer, chosen.byteOffset, chosen.byteLength);
        writeFileSync(options.out, bytes);
        const summary = {
          roundId,
          out: options.out,
          format,
          values: aggregate.sum.length,
          contributions,
          wrote:
            format === 'u32'
              ? 'modular sum'
              : format === 'safetensors'
                ? 'sum and average'
                : options.average
                  ? 'average'
                  : 'sum',
          ...(aggregate.sumErrorBound === undefined
            ? {}
            : {
                sumErrorBound: aggregate.sumErrorBound,
                averageErrorBound: aggregate.sumErrorBound / contributions,
              }),
        };
        if (options.json) console.log(JSON.stringify(summary));
        else
          console.log(
            `${summary.values} values (${summary.wrote} of ${contributions} contributions, ${format}) written to ${options.out}` +
              (summary.sumErrorBound === undefined
                ? ''
                : `; each sum value is within ${summary.sumErrorBound.toPrecision(3)} of the exact sum of the clipped updates (average: ${(summary.sumErrorBound / contributions).toPrecision(3)})`),
          );
      } finally {
        client.close();
      }
    });
  round
    .command('status')
    .description('Show one round')
    .argument('<round-id>', 'the round, <model>/round-<n> (e.g. fraud/round-1)')
    .requiredOption('--profile <path>', 'connection profile')
    .option('--watch', 'follow the round until it is done')
    .option('--json', 'print JSON')
    .action(async (roundId, options) => {
      const client = VeilsumClient.connect(loadProfile(options.profile));
      try {
        if (options.watch)
          for await (const update of client.watchRound(roundId)) printRound(update, options.json);
        else printRound(await client.getRound(roundId), options.json);
      } finally {
        client.close();
      }
    });
  round
    .command('list')
    .description('List rounds')
    .requiredOption('--profile <path>', 'connection profile')
    .option('--model <id>', 'only this model')
    .option('--json', 'print JSON')
    .action(async (options) => {
      const client = VeilsumClient.connect(loadProfile(options.profile));
      try {
        const rounds = await client.listRounds(options.model ?? '');
        if (options.json) console.log(JSON.stringify(rounds.map(roundSummary)));
        else
          for (const round of rounds)
            console.log(
              `${round.roundId}  ${phaseName(round.phase)}  included ${round.included.length}/${round.roster.length}`,
            );
      } finally {
        client.close();
      }
    });
  return round;
}

/** The format a result file's extension names; anything else is raw little-endian float64. */
function formatOf(path: string): 'npy' | 'safetensors' | 'f64' | 'u32' {
  if (path.endsWith('.npy')) return 'npy';
  if (path.endsWith('.safetensors')) return 'safetensors';
  if (path.endsWith('.u32')) return 'u32';
  return 'f64';
}
