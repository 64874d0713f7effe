import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeConsoleConfig } from '../commands/console.ts';
import type { DevPki } from '../../services/pki/dev-ca.ts';
import { AUDITOR, CONSOLE } from './local-consortium.ts';

export interface ConsoleHandoff {
  readonly directory: string;
  /** The command that serves the compliance console on the demo's ledger. */
  readonly command: string;
  readonly address: string;
  /** The certificate and key an officer's browser presents (the auditor's). */
  readonly auditorCertificate: string;
  readonly auditorKey: string;
}

/**
 * Keeps what the compliance console needs once the demo's processes are gone: the ledger file
 * (with its WAL), the development PKI and a console config, in `target` (replaced each run).
 */
export function keepForConsole(
  target: string,
  demoDirectory: string,
  pki: DevPki,
  inclusionProof: unknown,
): ConsoleHandoff {
  const directory = resolve(target);
  rmSync(directory, { recursive: true, force: true });
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  for (const file of readdirSync(demoDirectory))
    if (file.startsWith('ledger.db')) cpSync(join(demoDirectory, file), join(directory, file));
  cpSync(join(demoDirectory, 'pki'), join(directory, 'pki'), { recursive: true });
  const inPki = (path: string) => join('pki', path.slice(join(demoDirectory, 'pki').length + 1));
  const consoleCertificate = pki.servers?.[CONSOLE];
  if (consoleCertificate === undefined) throw new Error('the demo PKI has no console certificate');
  writeConsoleConfig(join(directory, 'console.json'), {
    listen: '127.0.0.1:8443',
    ledger: 'ledger.db',
    identity: AUDITOR,
    tls: {
      caCertificate: inPki(pki.caCertificatePath),
      certificate: inPki(consoleCertificate.certificatePath),
      privateKey: inPki(consoleCertificate.privateKeyPath),
    },
  });
  writeFileSync(
    join(directory, 'inclusion-proof.json'),
    JSON.stringify(inclusionProof, null, 2) + '\n',
  );
  if (!existsSync(join(directory, 'ledger.db'))) throw new Error('the demo left no ledger file');
  const auditor = pki.officers![AUDITOR]!;
  return {
    directory,
    command: `npm exec -- node cli/veilsum.ts console --config ${join(directory, 'console.json')}`,
    address: 'https://127.0.0.1:8443/',
    auditorCertificate: join(directory, inPki(auditor.certificatePath)),
    auditorKey: join(directory, inPki(auditor.privateKeyPath)),
  };
}
