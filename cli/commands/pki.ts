import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { loadCoordinatorConfig } from '../../services/coordinator/config.ts';
import { createDevPki } from '../../services/pki/dev-ca.ts';
import { registerConsortium } from './ledger-setup.ts';
import { writeConsoleConfig } from './console.ts';

const ADMIN_ID = 'veilsum-admin';
/** The compliance officers' organisation: the auditor role, and the console's reading identity. */
const AUDITOR_ID = 'veilsum-auditor';
const CONSOLE_ID = 'veilsum-console';

export function pkiCommand(): Command {
  const pki = new Command('pki').description('Certificates for a development consortium');
  pki
    .command('init')
    .description(
      'Create a development CA, a coordinator certificate, one certificate per member, and ready-to-use configs',
    )
    .requiredOption(
      '--members <ids>',
      'comma-separated member ids (each becomes a certificate subject O)',
    )
    .option('--dir <path>', 'output folder', '.veilsum')
    .option(
      '--listen <host:port>',
      'coordinator address written into the configs',
      '127.0.0.1:7443',
    )
    .option(
      '--keyholders <ids>',
      'comma-separated CKKS keyholder ids: a server certificate, config and sealing passphrase each',
    )
    .option('--json', 'print the created files as JSON')
    .action(async (options) => {
      const members = options.members
        .split(',')
        .map((id) => id.trim())
        .filter(Boolean);
      const directory = resolve(options.dir);
      const keyholders = (options.keyholders ?? '')
        .split(',')
        .map((id) => id.trim())
        .filter(Boolean);
      // A new CA cannot extend a ledger whose blocks were signed under the old one.
      if (existsSync(join(directory, 'ledger.db')))
        throw new Error(
          `${join(directory, 'ledger.db')} already exists, written under an earlier CA: use a new --dir, or remove the old consortium's files first`,
        );
      const created = await createDevPki(directory, [...members, ADMIN_ID], keyholders, undefined, {
        servers: [CONSOLE_ID],
        officers: [AUDITOR_ID],
      });
      const relative = (path: string) => basename(path);
      const coordinatorConfig = {
        listen: options.listen,
        dataDir: 'coordinator-data',
        tls: {
          caCertificate: relative(created.caCertificatePath),
          certificate: relative(created.server.certificatePath),
          privateKey: relative(created.server.privateKeyPath),
        },
        members: members.map((id) => ({
          id,
          certificate: relative(created.members[id]!.certificatePath),
        })),
        admins: [ADMIN_ID],
        auditors: [AUDITOR_ID],
        // The administrator is bound to its certificate, not to whatever CA writes its O.
        identityCertificates: [
          { id: ADMIN_ID, certificate: relative(created.members[ADMIN_ID]!.certificatePath) },
        ],
        ledger: { path: 'ledger.db', identity: 'veilsum-coordinator' },
      };
      writeFileSync(
        join(directory, 'coordinator.json'),
        JSON.stringify(coordinatorConfig, null, 2) + '\n',
      );
      writeConsoleConfig(join(directory, 'console.json'), {
        listen: '127.0.0.1:8443',
        ledger: 'ledger.db',
        identity: AUDITOR_ID,
        tls: {
          caCertificate: relative(created.caCertificatePath),
          certificate: relative(created.servers![CONSOLE_ID]!.certificatePath),
          privateKey: relative(created.servers![CONSOLE_ID]!.privateKeyPath),
        },
      });
      const profiles: Record<string, string> = {};
      for (const id of [...members, ADMIN_ID]) {
        const path = join(directory, `profile-${id}.json`);
        const identity = created.members[id]!;
        writeFileSync(
          path,
          JSON.stringify(
            {
              address: options.listen,
              caCertificate: relative(created.caCertificatePath),
              certificate: relative(identity.certificatePath),
              privateKey: relative(identity.privateKeyPath),
              // Every member pins the consortium's keyholders: a key attested by any other set
              // is refused until the member's own profile changes (sdk/ckks-round-verification).
              ...(keyholders.length > 0 && id !== ADMIN_ID ? { keyholders } : {}),
              // The consortium's members, pinned: rosters may list only these, each once.
              members,
            },
            null,
            2,
          ) + '\n',
        );
        profiles[id] = path;
      }
      const keyholderConfigs: Record<string, string> = {};
      keyholders.forEach((id, i) => {
        const passphraseFile = `passphrase-${id}`;
        writeFileSync(
          join(directory, passphraseFile),
          randomBytes(24).toString('base64url') + '\n',
          {
            mode: 0o600,
          },
        );
        const path = join(directory, `keyholder-${id}.json`);
        writeFileSync(
          path,
          JSON.stringify(
            {
              listen: `127.0.0.1:${7601 + i}`,
              dataDir: `keyholder-${id}-data`,
              tls: {
                caCertificate: relative(created.caCertificatePath),
                certificate: relative(created.keyholders[id]!.certificatePath),
                privateKey: relative(created.keyholders[id]!.privateKeyPath),
              },
              passphraseFile,
              admins: [ADMIN_ID],
              coordinators: ['veilsum-coordinator'],
              identityCertificates: [
                { id: ADMIN_ID, certificate: relative(created.members[ADMIN_ID]!.certificatePath) },
                {
                  id: 'veilsum-coordinator',
                  certificate: relative(created.server.certificatePath),
                },
              ],
              ledger: { path: 'ledger.db' },
            },
            null,
            2,
          ) + '\n',
        );
        keyholderConfigs[id] = path;
      });
      // The ledger, with every role a round needs: the coordinator, its members and the
      // keyholders (who attest collective keys), each registered in a block the coordinator signs.
      await registerConsortium(loadCoordinatorConfig(join(directory, 'coordinator.json')), [
        ...keyholders.map((id) => ({ id, role: 'keyholder' as const })),
        { id: AUDITOR_ID, role: 'auditor' as const },
      ]);
      const summary = {
        directory,
        ledger: join(directory, 'ledger.db'),
        coordinatorConfig: join(directory, 'coordinator.json'),
        consoleConfig: join(directory, 'console.json'),
        profiles,
        keyholderConfigs,
      };
      if (options.json) console.log(JSON.stringify(summary));
      else {
        console.log(`development PKI in ${directory}`);
        console.log(`  coordinator config: ${summary.coordinatorConfig}`);
        console.log(
          `  ledger: ${summary.ledger} (coordinator, members${keyholders.length ? ', keyholders' : ''} registered)`,
        );
        for (const [id, path] of Object.entries(profiles)) console.log(`  profile ${id}: ${path}`);
        for (const [id, path] of Object.entries(keyholderConfigs))
          console.log(`  keyholder ${id}: ${path}`);
        console.log(
          'These keys are for development only. A bank brings its own CA: see README, "Bring your own PKI".',
        );
      }
    });
  return pki;
}
