import { describe, expect, it } from '@jest/globals';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { consoleCommand, verifyBundleCommand } from '../../cli/commands/console.ts';
import { coordinatorCommand } from '../../cli/commands/coordinator.ts';
import { keyholderCommand, keysCommand } from '../../cli/commands/keys.ts';
import { auditCommand, consentCommand } from '../../cli/commands/ledger-commands.ts';
import { ledgerCommand } from '../../cli/commands/ledger-setup.ts';
import { modelCommand } from '../../cli/commands/model.ts';
import { pkiCommand } from '../../cli/commands/pki.ts';
import { roundCommand } from '../../cli/commands/round.ts';
import { submitCommand } from '../../cli/commands/submit.ts';

/** What `--help` prints of a command (commander's Command, structurally). */
interface HelpNode {
  name(): string;
  description(): string;
  readonly options: readonly { flags: string; description: string }[];
  readonly registeredArguments: readonly { name(): string; description: string }[];
  readonly commands: readonly HelpNode[];
}

/** `veilsum <path> --help` lacks these: a command, option or argument without a description. */
function undescribed(command: HelpNode, path: string): string[] {
  const name = `${path} ${command.name()}`;
  return [
    ...(command.description() ? [] : [name]),
    ...command.options.filter((option) => !option.description).map((o) => `${name} ${o.flags}`),
    ...command.registeredArguments
      .filter((argument) => !argument.description)
      .map((argument) => `${name} <${argument.name()}>`),
    ...command.commands.flatMap((sub) => undescribed(sub, name)),
  ];
}

function veilsum(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['cli/veilsum.ts', ...args], (error, stdout, stderr) =>
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
    );
  });
}

describe('what a newcomer meets first on the command line', () => {
  it('prints the package version for --version', async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    const result = await veilsum(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(version);
  });

  it('keeps the private keys pki init writes under .veilsum/ out of git', () => {
    // git check-ignore exits 0 and echoes the path when it is ignored, 1 when it is not.
    const ignored = execFileSync('git', ['check-ignore', '.veilsum/bank-a.key'], {
      encoding: 'utf8',
    });
    expect(ignored.trim()).toBe('.veilsum/bank-a.key');
  });

  it('explains every option of consent grant, with examples', async () => {
    const result = await veilsum(['consent', 'grant', '--help']);
    expect(result.stdout).toBe(
      [
        'Usage: veilsum consent grant [options]',
        '',
        'Record on the ledger, as a member, its consent that a dataset may train a model:',
        'rounds of that model open with the member on their roster only while a consent',
        'is in force',
        '',
        'Options:',
        '  --ledger <ledger>  the ledger: an embedded ledger file, or fabric:<connection',
        '                     file>[@<peer>] for a Fabric network (e.g.',
        '                     .veilsum/ledger.db)',
        '  --as <member>      Fabric: the client identity in the connection file that',
        '                     grants, i.e. the member (e.g. --as eastlake)',
        "  --profile <path>   embedded ledger: the granting member's profile from `pki",
        '                     init`; its key signs the block (e.g.',
        '                     .veilsum/profile-bank-a.json)',
        '  --consent <id>     a new id for this consent, unique on the ledger; revoke',
        '                     names it (e.g. bank-a-c1)',
        '  --dataset <id>     the dataset the consent covers, as lineage and audits name',
        '                     it (e.g. bank-a-cards)',
        '  --purpose <model>  the model id the data may train: rounds of this model only',
        '                     (e.g. fraud)',
        '  --days <n>         how long the consent stays in force, in days (e.g. 90)',
        '                     (default: 365)',
        '  --json             print the recorded consent as JSON instead of a sentence',
        '  -h, --help         display help for command',
        '',
        'Examples:',
        '  embedded ledger, as bank-a:',
        '    veilsum consent grant --ledger .veilsum/ledger.db --profile .veilsum/profile-bank-a.json \\',
        '      --consent bank-a-c1 --dataset bank-a-cards --purpose fraud --days 90',
        '  Fabric, as eastlake through its own peer:',
        '    veilsum consent grant --ledger fabric:network/run/connection.json@peer0.eastlake.veilsum.test \\',
        '      --as eastlake --consent eastlake-c1 --dataset eastlake-cards --purpose fraud',
        'Prints: granted bank-a-c1: bank-a/bank-a-cards for fraud until <date>',
      ].join('\n') + '\n',
    );
  });

  it('explains every option of consent revoke, with examples', async () => {
    const result = await veilsum(['consent', 'revoke', '--help']);
    expect(result.stdout).toBe(
      [
        'Usage: veilsum consent revoke [options]',
        '',
        'Revoke, as the member that granted it, a consent on the ledger: no new round',
        "opens with the member under it, and a round already open refuses the member's",
        'upload',
        '',
        'Options:',
        '  --ledger <ledger>  the ledger: an embedded ledger file, or fabric:<connection',
        '                     file>[@<peer>] for a Fabric network (e.g.',
        '                     .veilsum/ledger.db)',
        '  --as <member>      Fabric: the client identity in the connection file, i.e.',
        '                     the member that granted it (e.g. --as eastlake)',
        "  --profile <path>   embedded ledger: the granting member's profile; its key",
        '                     signs the block (e.g. .veilsum/profile-bank-a.json)',
        '  --consent <id>     the id given to consent grant (e.g. bank-a-c1); `veilsum',
        '                     audit consent-history` lists them',
        '  --json             print the revoked consent as JSON instead of a sentence',
        '  -h, --help         display help for command',
        '',
        'Examples:',
        '  embedded ledger, as bank-a:',
        '    veilsum consent revoke --ledger .veilsum/ledger.db --profile .veilsum/profile-bank-a.json --consent bank-a-c1',
        '  Fabric, as eastlake:',
        '    veilsum consent revoke --ledger fabric:network/run/connection.json --as eastlake --consent eastlake-c1',
        'Prints: revoked bank-a-c1 at <date>',
      ].join('\n') + '\n',
    );
  });

  it('describes every command, option and argument in --help', () => {
    const commands = [
      pkiCommand(),
      coordinatorCommand(),
      keyholderCommand(),
      keysCommand(),
      roundCommand(),
      submitCommand(),
      consentCommand(),
      auditCommand().addCommand(verifyBundleCommand()),
      ledgerCommand(),
      modelCommand(),
      consoleCommand(),
    ];
    expect(commands.flatMap((command) => undescribed(command, 'veilsum'))).toEqual([]);
  });
});
