import { existsSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { Command, InvalidArgumentError } from '@commander-js/extra-typings';
import { runService } from './run-service.ts';
import { loadProfile } from '../../sdk/profile.ts';
import { createDevPki } from '../../services/pki/dev-ca.ts';
import { type CallerRole, loadMemberConfig } from '../../services/member/config.ts';
import { MemberPeer } from '../../services/member/member-peer.ts';
import { withMemberNodeOptions } from '../../services/member/node-options.ts';

/** `--caller <cn>=<models|read>`: `alice=*`, `fraud-team=fraud,aml`, `auditor=read`. */
function parseCaller(value: string, previous: CallerRole[] = []): CallerRole[] {
  const match = /^([A-Za-z0-9][A-Za-z0-9._-]{0,63})=(.+)$/.exec(value);
  if (match === null)
    throw new InvalidArgumentError(
      'expected <name>=<models|read>, e.g. scientist=* or fraud-team=fraud,aml or auditor=read',
    );
  const [, commonName, rights] = match as unknown as [string, string, string];
  const caller: CallerRole =
    rights === 'read'
      ? { commonName, submit: [], read: true }
      : { commonName, submit: rights.split(',').map((model) => model.trim()), read: true };
  return [...previous, caller];
}

export function memberCommand(): Command {
  const member = new Command('member').description(
    "Run a bank's aggregation peer: it takes part in rounds for the bank with the updates its people submit",
  );
  member
    .command('start')
    .description(
      "Start the bank's peer from one config file; resumes or settles every update found in its data folder",
    )
    .requiredOption('--config <path>', 'member peer config (JSON)')
    .action(async (options) => {
      withMemberNodeOptions();
      await runService(() => new MemberPeer(loadMemberConfig(options.config)));
    });
  member
    .command('init-config')
    .description(
      "Write a bank peer's config next to a development caller CA (the bank's own trust domain) with one certificate per caller",
    )
    .requiredOption('--profile <path>', "the bank's profile, as `veilsum pki init` wrote it")
    .requiredOption('--dir <path>', 'folder for member.json, the caller CA and the certificates')
    .option('--listen <host:port>', 'where the bank’s people reach the peer', '127.0.0.1:7700')
    .option(
      '--caller <name=models|read>',
      'a caller (certificate CN) and what it may do: scientist=* (submit any model), team=fraud,aml, auditor=read; repeat for each (default: scientist=* and reader=read)',
      parseCaller,
    )
    .option(
      '--ledger <path>',
      "the bank's embedded ledger file (its view: consents checked there; default: none)",
    )
    .option('--key-file <path>', "CKKS: the consortium's published collective key file")
    .option('--metrics-listen <host:port>', 'serve Prometheus metrics here')
    .option('--json', 'print the created files as JSON')
    .action(async (options) => {
      const directory = resolve(options.dir);
      const configPath = join(directory, 'member.json');
      if (existsSync(configPath))
        throw new Error(`${configPath} exists already: use a new --dir or remove it first`);
      // Fails early, naming the file, if the profile is not one `pki init` wrote.
      loadProfile(options.profile);
      const callers = options.caller ?? [
        { commonName: 'scientist', submit: ['*'], read: true },
        { commonName: 'reader', submit: [], read: true },
      ];
      const bank = basename(options.profile, '.json').replace(/^profile-/, '');
      // ECDSA P-256 for the peer's server certificate and every caller: gRPC for Python
      // (BoringSSL) cannot use Ed25519 keys in TLS, and data scientists call the peer from Python.
      const pki = await createDevPki(directory, [], [], `CN=${bank} caller CA, O=${bank}`, {
        servers: ['peer'],
        officers: callers.map((caller) => caller.commonName),
      });
      const peerIdentity = pki.servers!['peer']!;
      const callerIdentity = (commonName: string) => pki.officers![commonName]!;
      const at = (path: string) => relative(directory, resolve(path)) || '.';
      const config = {
        profile: at(options.profile),
        listen: options.listen,
        tls: {
          callerCa: at(pki.caCertificatePath),
          certificate: at(peerIdentity.certificatePath),
          privateKey: at(peerIdentity.privateKeyPath),
        },
        callers,
        ...(options.ledger ? { ledger: { path: at(options.ledger) } } : {}),
        ...(options.keyFile ? { keyFile: at(options.keyFile) } : {}),
        ...(options.metricsListen ? { metricsListen: options.metricsListen } : {}),
        dataDir: 'peer-data',
      };
      writeFileSync(configPath, JSON.stringify(config, null, 2) + '\n');
      const created = {
        config: configPath,
        callerCa: pki.caCertificatePath,
        callers: Object.fromEntries(
          callers.map((caller) => [
            caller.commonName,
            {
              certificate: callerIdentity(caller.commonName).certificatePath,
              privateKey: callerIdentity(caller.commonName).privateKeyPath,
            },
          ]),
        ),
      };
      if (options.json) console.log(JSON.stringify(created));
      else {
        console.log(
          `wrote ${configPath}; start the peer with: veilsum member start --config ${configPath}`,
        );
        console.log(`callers trust ${pki.caCertificatePath} and present:`);
        for (const [name, files] of Object.entries(created.callers))
          console.log(`  ${name}: ${files.certificate} ${files.privateKey}`);
      }
    });
  return member;
}
